"""Configuration errors that point at the exact place in the user's YAML."""

from __future__ import annotations

from dataclasses import dataclass


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


class SpecValueError(ValueError):
    """A spec validator's refusal with the fix to suggest: the loader reports ``hint`` after the message.

    Raised inside pydantic validators like any ValueError; pydantic keeps the exception in the
    error's context, where the loader finds the hint.
    """

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class PipelineConfigError(ValueError):
    """Raised when a pipeline file is not valid; carries every issue found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))
