"""What every spec model shares: strictness, identifier and parameter types, import-path checks.

Every model forbids unknown keys: a typo such as ``test_sise`` must be an error that names
the field, not a silently ignored setting.
"""

import re

from pydantic import BaseModel, ConfigDict, ValidationInfo

from airflow_mlops.errors import SpecValueError

IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_]*$"
DEFAULT_ALLOWED_IMPORT_PREFIXES = ("sklearn.",)
ParamValue = str | int | float | bool | None | list[str | int | float | bool | None]


class StrictModel(BaseModel):
    """The base of every spec model: unknown keys are errors, and specs never change once loaded."""

    # inf and nan are valid YAML floats but never a valid setting (a timedelta cannot hold them).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_DOTTED = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+"


def check_import_path(value: str, info: ValidationInfo, *, example: str, function: bool = False) -> str:
    """An import path from YAML must have the right shape and an allowed prefix.

    The prefix list is an administrator's decision (``[mlops] allowed_import_prefixes``), so a
    pipeline author cannot make a worker import arbitrary code.
    """
    pattern = _DOTTED + (r":[A-Za-z_]\w*" if function else "")
    if not re.fullmatch(pattern, value):
        shape = "package.module:function, with a colon before the function" if function else "package.module.Name"
        raise SpecValueError(f"must be an import path such as {example}", f"write it as {shape}")
    allowed = (info.context or {}).get("allowed_import_prefixes", DEFAULT_ALLOWED_IMPORT_PREFIXES)
    if not value.startswith(tuple(allowed)):
        raise SpecValueError(
            f"{value!r} is outside the allowed import prefixes {list(allowed)}; "
            "an administrator can extend [mlops] allowed_import_prefixes",
            "use a path under one of these prefixes, or have its prefix added to "
            "AIRFLOW__MLOPS__ALLOWED_IMPORT_PREFIXES on every Airflow component",
        )
    return value
