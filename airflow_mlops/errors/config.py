"""Errors raised while a pipeline file is read or a spec checked: no Airflow import, so they cost nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class MlopsException(Exception):
    """The root of every error airflow-mlops raises (see :mod:`airflow_mlops.errors`)."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one file: where it is, which field, what is wrong, how to fix it."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class SpecValueError(MlopsException, ValueError):
    """A spec validator's refusal with the fix to suggest: the loader reports ``hint`` after the message.

    Raised inside pydantic validators like any ValueError; pydantic keeps the exception in the
    error's context, where the loader finds the hint.
    """

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class PipelineConfigError(MlopsException, ValueError):
    """Raised when a pipeline file is not valid; carries every issue found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class PipelineNotLoaded(PipelineConfigError):
    """The import error of a loader: every issue, and which pipeline(s) were not loaded because of them.

    Airflow lists import errors per Python file (the loader), and shows the exception's text for
    it, after a traceback unless ``[core] dagbag_import_error_tracebacks`` is off. Each issue line
    gives file:line:column and field; ``headline`` (before them) or ``footer`` (after) names the
    pipelines, by dag id, or by file name when the dag id cannot be read.
    """

    def __init__(
        self, issues: list[ConfigIssue], pipelines: Sequence[str], *, headline: str = "", footer: str = ""
    ) -> None:
        super().__init__(issues)
        self.pipelines = list(pipelines)
        self.args = ("\n".join(part for part in (headline, self.args[0], footer) if part),)


class UnknownExpectationError(MlopsException, ValueError):
    """A spec names an expectation that this GX version does not ship.

    Raised before any data is touched, with the closest real names, because the usual cause
    is a typo or a name from the GX 0.x API that 1.x renamed or dropped.
    """

    def __init__(self, type_name: str, suggestions: Sequence[str] = ()) -> None:
        self.type_name = type_name
        self.suggestions = list(suggestions)
        message = f"unknown expectation type {type_name!r}"
        if self.suggestions:
            message += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        else:
            message += "; expectation types are snake_case GX 1.x names such as 'expect_column_to_exist'"
        super().__init__(message)


class DriftInputError(MlopsException, ValueError):
    """The two samples cannot be compared as asked (a feature is missing, a sample is empty)."""
