"""The model card: built from a version's recorded lineage, rendered as Markdown and escaped HTML."""

from __future__ import annotations

from typing import Any

from airflow_mlops.card.model import ModelCard, build_card
from airflow_mlops.card.render import md, to_html, to_html_fragment, to_markdown
from airflow_mlops.gates.metrics import slice_key
from airflow_mlops.record.lineage import VersionLineage

HOSTILE = "<script>alert(1)</script> | **bold** [link](javascript:x)"


def _lineage(**overrides: Any) -> VersionLineage:
    metrics = {
        "f1": 0.93,
        "recall": 0.91,
        "log_loss": 0.2,
        slice_key("recall", "region", "north"): 0.97,
        slice_key("recall", "region", "south east"): 0.81,
        slice_key("recall", "region", "west"): 0.9,
        slice_key("log_loss", "region", "north"): 0.1,
        slice_key("log_loss", "region", "west"): 0.4,
    }
    verdict = {
        "decision": "promote",
        "candidate": "forest",
        "champion_version": "3",
        "first_run": False,
        "n_test": 143,
        "summary": "PROMOTE forest: 1/1 rules passed",
        "outcomes": [{"rule": "f1 >= 0.9", "passed": True, "reason": "f1 0.9300 is within bounds"}],
    }
    tags = VersionLineage.from_pipeline(
        dag_id="bc",
        run_id="manual__1",
        data={"repo": "git@example/repo", "path": "data/bc.csv", "rev": "v2", "commit": "c0ffee", "md5": "abc"},
        validation={
            "success": True,
            "statistics": {"evaluated_expectations": 12, "successful_expectations": 12, "success_percent": 100.0},
        },
        gate={
            "candidate": {
                "candidate": "forest",
                "estimator": "sklearn.ensemble.RandomForestClassifier",
                "params": {"n_estimators": 25},
                "mlflow_run_id": "run123",
                "metrics": metrics,
            },
            "verdict": verdict,
        },
        code={"spec_sha256": "feed", "package_version": "0.1.0"},
        approval=overrides.pop("approval", {"by": "alice", "decision": "approved"}),
    ).to_tags()
    return VersionLineage.from_tags(tags)  # the card reads what the registry keeps, not XCom


PURPOSE = {"intended_use": "Screening support for clinicians.", "owners": ["ml-team@example.com", "Dr. Who"],
           "limitations": "Trained on one hospital's data."}  # fmt: skip


def test_the_card_carries_the_record_and_the_purpose() -> None:
    card = build_card("bc_model", "4", _lineage(), PURPOSE)
    assert card.purpose.owners == ["ml-team@example.com", "Dr. Who"]
    assert (card.dag_id, card.run_id, card.candidate, card.training_run_id) == ("bc", "manual__1", "forest", "run123")
    assert card.data.commit == "c0ffee" and card.validation_success is True
    assert card.validation["successful_expectations"] == 12
    assert card.n_test == 143
    assert list(card.metrics) == ["f1", "recall", "log_loss"]  # whole-set only, in the usual order
    assert (card.gate_decision, card.champion_version) == ("promote", "3")
    assert card.approval == {"by": "alice", "decision": "approved"}
    assert card.code["spec_sha256"] == "feed"
    (table,) = card.slices
    assert table.column == "region" and table.metrics == ["recall", "log_loss"]
    assert [value for value, _ in table.rows] == ["north", "south east", "west"]
    # The widest gap first; log_loss is lower-is-better, so its worst slice is the highest.
    assert [(g.metric, g.worst, g.best) for g in card.gaps] == [
        ("log_loss", "west", "north"),
        ("recall", "south east", "north"),
    ]
    assert card.widest_gap is not None and round(card.widest_gap.gap, 4) == 0.3
    assert ModelCard.model_validate(card.model_dump(mode="json")) == card  # what register stores reads back


def test_markdown_has_every_section_and_the_numbers() -> None:
    text = to_markdown(build_card("bc_model", "4", _lineage(), PURPOSE))
    for heading in ("# Model card: bc\\_model version 4", "## Intended use", "## Data", "## Metrics on the test set",
                    "## Metrics per slice", "### By region", "## Where the slices differ most", "## Gate and approval",
                    "## Lineage"):  # fmt: skip
        assert heading in text, heading
    assert "| recall | 0.9100 |" in text
    assert "| south east | 0.8100 | - |" in text
    assert "| recall | region | south east (0.8100) | north (0.9700) | 0.1600 |" in text
    assert "12/12 expectations met" in text and "commit c0ffee" in text
    assert "Screening support for clinicians." in text and "Dr. Who" in text


def test_a_card_without_slices_or_purpose_says_what_is_missing() -> None:
    lineage = VersionLineage.from_tags({})  # a version registered by hand
    text = to_markdown(build_card("m", "1", lineage))
    assert "Not stated" in text and "No slices" in text and "not recorded" in text
    assert "Not stated" in to_html(build_card("m", "1", lineage))


def test_no_recorded_text_reaches_html_or_markdown_as_markup() -> None:
    card = build_card("bc_model", "4", _lineage(approval={"by": HOSTILE}), {**PURPOSE, "intended_use": HOSTILE})
    for html in (to_html(card), to_html_fragment(card)):
        assert "<script>" not in html and "&lt;script&gt;" in html
    text = to_markdown(card)
    assert "<script>" not in text and "&lt;script>" in text
    assert "[link](" not in text and "**bold**" not in text and " | **" not in text
    assert md("a|b\nc") == "a\\|b c"
