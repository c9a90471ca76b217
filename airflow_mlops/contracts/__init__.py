"""What one task hands the next through XCom, as typed dictionaries.

A TypedDict is a plain ``dict`` at run time, so XCom stores the same JSON and the UI plugin reads
the same keys; only mypy sees the types. Each operator's ``execute()`` returns one of these and
types its inputs with the ones it consumes, so ``mypy --strict`` checks the pipeline's data flow
end to end: a key renamed by one task is an error in the task that reads it.

Imported by every operator at DAG parse time: the standard library's ``typing`` only. One module
per stage (data, training, registry, monitoring); every name is importable from here.
"""

from __future__ import annotations

from airflow_mlops.contracts.data import (
    DataDigest as DataDigest,
)
from airflow_mlops.contracts.data import (
    DataRef as DataRef,
)
from airflow_mlops.contracts.data import (
    PipelineRecord as PipelineRecord,
)
from airflow_mlops.contracts.data import (
    PreparedDataset as PreparedDataset,
)
from airflow_mlops.contracts.data import (
    ValidationDigest as ValidationDigest,
)
from airflow_mlops.contracts.data import (
    ValidationFailure as ValidationFailure,
)
from airflow_mlops.contracts.monitoring import (
    DriftDigest as DriftDigest,
)
from airflow_mlops.contracts.monitoring import (
    DriftEvent as DriftEvent,
)
from airflow_mlops.contracts.monitoring import (
    DriftSummary as DriftSummary,
)
from airflow_mlops.contracts.monitoring import (
    FeatureMove as FeatureMove,
)
from airflow_mlops.contracts.monitoring import (
    ModelRef as ModelRef,
)
from airflow_mlops.contracts.monitoring import (
    ScoringResult as ScoringResult,
)
from airflow_mlops.contracts.registry import (
    ApprovalRecord as ApprovalRecord,
)
from airflow_mlops.contracts.registry import (
    Deployment as Deployment,
)
from airflow_mlops.contracts.registry import (
    EnvironmentApproval as EnvironmentApproval,
)
from airflow_mlops.contracts.registry import (
    GateResult as GateResult,
)
from airflow_mlops.contracts.registry import (
    OutcomeRecord as OutcomeRecord,
)
from airflow_mlops.contracts.registry import (
    Promotion as Promotion,
)
from airflow_mlops.contracts.registry import (
    PromotionAcross as PromotionAcross,
)
from airflow_mlops.contracts.registry import (
    Registration as Registration,
)
from airflow_mlops.contracts.registry import (
    ServingCheckResult as ServingCheckResult,
)
from airflow_mlops.contracts.registry import (
    ServingOutcomeRecord as ServingOutcomeRecord,
)
from airflow_mlops.contracts.registry import (
    VerdictRecord as VerdictRecord,
)
from airflow_mlops.contracts.training import (
    ChampionScore as ChampionScore,
)
from airflow_mlops.contracts.training import (
    DroppedCandidate as DroppedCandidate,
)
from airflow_mlops.contracts.training import (
    EvaluatedCandidate as EvaluatedCandidate,
)
from airflow_mlops.contracts.training import (
    Evaluation as Evaluation,
)
from airflow_mlops.contracts.training import (
    TrainedCandidate as TrainedCandidate,
)
from airflow_mlops.contracts.training import (
    TunedShare as TunedShare,
)
