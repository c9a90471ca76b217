"""The data contract: the columns a pipeline trains on, their types, its target and its policies.

Three builders say where a contract comes from: :meth:`DataContract.from_spec` (what the
pipeline YAML declares), :meth:`DataContract.from_signature` (what the champion was trained
on, from its MLflow signature) and :meth:`DataContract.from_frame` (what a dataset holds, the
contract recorded on the version it trains). The checks compare a frame with the first two.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``), as pydantic needs them; pandas types are written as strings.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_mlops.data_contract.types import column_types, parse_logical_type
from airflow_mlops.data_contract.vocabulary import ColumnPolicy, LogicalType

if TYPE_CHECKING:
    import pandas as pd

ContractSource = Literal["frame", "spec", "signature"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnContract(_Frozen):
    """One input column; ``type`` None accepts any type (the YAML named the column but not its type)."""

    name: str
    type: LogicalType | None = None
    required: bool = True


class ContractPolicies(_Frozen):
    """What a difference from the contract does to the run; every default stops it (see ColumnPolicy)."""

    on_new_columns: ColumnPolicy = "fail"
    on_missing_columns: ColumnPolicy = "fail"
    on_type_change: ColumnPolicy = "fail"
    categorical: tuple[str, ...] = Field((), description="Text columns declared fit to one-hot encode.")
    id_columns: tuple[str, ...] = Field((), description="Identifiers: never trained on, never id-like issues.")


class DataContract(_Frozen):
    """The columns of a pipeline's data.

    ``closed`` says whether ``columns`` lists every feature: then a feature not listed is a new
    column. A YAML without ``features`` leaves the contract open (any column may be a feature);
    a frame or a signature always closes it.
    """

    source: ContractSource
    target: str | None = None
    target_type: LogicalType | None = None
    columns: tuple[ColumnContract, ...] = ()
    closed: bool = False
    policies: ContractPolicies = ContractPolicies()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> ColumnContract | None:
        return next((column for column in self.columns if column.name == name), None)

    def declared_categorical(self, name: str) -> bool:
        """Whether the YAML says this text column may be one-hot encoded or is an identifier."""
        column = self.column(name)
        return (
            name in self.policies.categorical
            or name in self.policies.id_columns
            or (column is not None and column.type == "category")
        )

    @classmethod
    def from_frame(
        cls,
        frame: "pd.DataFrame",
        target: str | None,
        features: Sequence[str] | None = None,
        policies: ContractPolicies | None = None,
    ) -> "DataContract":
        """What a frame holds: every feature (default: every column but the target and ids) with its type."""
        return cls.from_kinds(column_types(frame), target, features, policies)

    @classmethod
    def from_kinds(
        cls,
        kinds: Mapping[str, LogicalType],
        target: str | None,
        features: Sequence[str] | None = None,
        policies: ContractPolicies | None = None,
    ) -> "DataContract":
        """:meth:`from_frame` given the frame's logical type per column (read once by the contract check)."""
        policies = policies or ContractPolicies()
        names = (
            list(features)
            if features is not None
            else [c for c in kinds if c != target and c not in policies.id_columns]
        )
        columns = tuple(ColumnContract(name=name, type=kinds[name]) for name in names if name in kinds)
        target_type = kinds.get(target) if target is not None else None
        return cls(
            source="frame", target=target, target_type=target_type, columns=columns, closed=True, policies=policies
        )

    @classmethod
    def from_spec(
        cls,
        target: str,
        features: Sequence[str] | None = None,
        columns: Mapping[str, str] | None = None,
        policies: ContractPolicies | None = None,
    ) -> "DataContract":
        """What the YAML declares: ``features`` (if given, the complete list) and ``columns`` (types)."""
        types = {name: parse_logical_type(kind) for name, kind in (columns or {}).items()}
        named = list(features) if features is not None else [n for n in types if n != target]
        return cls(
            source="spec",
            target=target,
            target_type=types.get(target),
            columns=tuple(ColumnContract(name=name, type=types.get(name)) for name in named),
            closed=features is not None,
            policies=policies or ContractPolicies(),
        )

    @classmethod
    def from_signature(cls, signature: Any) -> "DataContract":
        """The inputs of a logged model, from its MLflow signature in any of its plain forms.

        Accepts ``signature.inputs.to_dict()`` (a list of ``{"name", "type", "required"}``),
        that list as JSON, or ``signature.to_dict()`` (whose ``inputs`` is such a JSON string),
        so no MLflow import is needed. A signature without column names (tensors) gives an
        open contract with no columns: there is nothing to compare by name.
        """
        specs = _input_specs(signature)
        columns = tuple(
            ColumnContract(
                name=str(spec["name"]),
                type=parse_logical_type(str(spec.get("type", "string"))),
                required=bool(spec.get("required", True)),
            )
            for spec in specs
            if isinstance(spec, Mapping) and spec.get("name") is not None
        )
        return cls(source="signature", columns=columns, closed=bool(columns))

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> "DataContract":
        return cls.model_validate_json(text)


def _input_specs(signature: Any) -> Iterable[Any]:
    if isinstance(signature, str | bytes):
        signature = json.loads(signature)
    if isinstance(signature, Mapping):
        inputs = signature.get("inputs")
        return _input_specs(inputs) if inputs is not None else []
    return list(signature or [])
