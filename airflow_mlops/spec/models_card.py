"""The ``card:`` section: what a model card says that the record cannot know by itself.

The record gives the data, the validation, the metrics, the gate and the lineage; only the
people who own a model can say what it is for, who answers for it and where it must not be used.

Annotations are evaluated as the classes are defined (no ``from __future__ import
annotations``), as in the other spec modules.
"""

from typing import Annotated

from pydantic import Field

from airflow_mlops.spec.models_base import StrictModel

_Text = Annotated[str, Field(max_length=2000)]


class CardSpec(StrictModel):
    """Intended use, owners and known limits, printed on every version's model card."""

    intended_use: _Text = Field("", description="What the model is for, and for whom.")
    owners: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, description="Who answers for the model: teams, people or addresses."
    )
    out_of_scope: _Text = Field("", description="Uses the model was not built or checked for.")
    limitations: _Text = Field("", description="What is known to be weak: data gaps, populations, conditions.")
    ethical_considerations: _Text = Field("", description="Risks to people, and how they are handled.")
