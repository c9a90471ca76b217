"""Where each artifact of the record lives inside its MLflow run.

Writers (the operators) and readers (report, governance, the UI plugin) import these paths, so
a document moved to another path is found by everyone that reads it.
"""

from __future__ import annotations

#: The full Great Expectations result, on the pipeline run.
VALIDATION_RESULT = "validation/result.json"
#: The data contract the split was checked against, and every issue the check found, on the pipeline run.
DATA_CONTRACT = "data/contract.json"
#: Every candidate's and the champion's test metrics, on the pipeline run.
EVALUATION_RESULT = "evaluation/result.json"
#: The gate's verdict, on the pipeline run and on the winning candidate's run.
GATE_VERDICT = "gate/verdict.json"
#: The offline predictions ``evaluate`` made on the first test rows, on each candidate's run: what the
#: serving check compares the served predictions with (``{"rows": n, "predictions": [...]}``).
OFFLINE_PREDICTIONS = "evaluation/predictions.json"
#: The serving check's verdict (the gate's winner in a real model server), on the pipeline run and the
#: winner's run.
SERVING_VERDICT = "serving/verdict.json"
#: The rules the gate applied, so `airflow-mlops promote` can re-apply them later.
GATE_RULES = "gate/rules.json"
#: The full drift report, on the drift run.
DRIFT_REPORT = "drift/report.json"
#: Where a candidate's model is logged inside its run.
MODEL = "model"
#: A registered version's model card, on the version's own run (the candidate's): its data, as the
#: CLI and the UI read it back, and the two renderings people open (see airflow_mlops.card).
MODEL_CARD_DATA = "model_card/model_card.json"
MODEL_CARD_MARKDOWN = "model_card/model_card.md"
MODEL_CARD_HTML = "model_card/model_card.html"
#: Beside a DVC file an ``ingestion`` pipeline wrote (``data/orders.parquet`` -> ``data/orders.parquet.lineage.json``,
#: git-tracked in the same commit): the snapshot's lineage, which ``resolve_data`` adds to the data ref.
SNAPSHOT_LINEAGE_SUFFIX = ".lineage.json"


def cache_entry(step: str) -> str:
    """A step's reusable result and the whole key it was computed under (record/cache.py), on the run holding it."""
    return f"cache/{step}.json"
