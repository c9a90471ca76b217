"""Tests for ``airflow-mlops validate``: exit codes, ``file:line`` reports, no tracebacks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_mlops.cli import main

REPO = Path(__file__).resolve().parents[2]
PIPELINES = REPO / "dags" / "pipelines"
EXAMPLE = PIPELINES / "breast_cancer.yaml"
INVALID = REPO / "tests" / "fixtures" / "invalid"
FIXTURES = sorted(INVALID.glob("*.yaml"))
_LINE = re.compile(r"^# line: (\d+)$", re.M)
_FILE = re.compile(r"^# file: ", re.M)


def expected_location(fixture: Path) -> str:
    """``file:line:`` the report must contain for ``fixture``.

    Fixtures whose issue lives in another file (``# file:``) still lead with a line of their own,
    so for them only ``file:<some line>:`` is required.
    """
    text = fixture.read_text(encoding="utf-8")
    match = _LINE.search(text)
    assert match is not None, fixture
    if _FILE.search(text):
        return rf"{re.escape(str(fixture))}:\d+:\d+: "
    return rf"{re.escape(str(fixture))}:{match.group(1)}:\d+: "


def assert_every_fixture_reported(stderr: str) -> None:
    missing = [f.name for f in FIXTURES if not re.search(expected_location(f), stderr, re.M)]
    assert not missing, f"not reported with file:line: {missing}\n{stderr}"


def test_in_process_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(PIPELINES)]) == 0

    out, err = capsys.readouterr()
    assert f"{EXAMPLE}: ok (breast_cancer_retrain, retraining, 2 candidates)\n" in out
    assert out.count(": ok (") == len(list(PIPELINES.glob("*.yaml")))
    assert err == ""


def test_in_process_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(INVALID)]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert_every_fixture_reported(err)
    assert f"{INVALID / 'unknown_nested_key.yaml'}:17:" in err
    assert "(hint: did you mean 'test_size'?)" in err


def test_in_process_single_invalid_file(capsys: pytest.CaptureFixture[str]) -> None:
    fixture = INVALID / "estimator_os_system.yaml"

    assert main(["validate", str(fixture)]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"{fixture}:27:5: models[1].estimator: 'os.system' is outside the allowed import prefixes")


def test_every_reported_error_has_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(INVALID)]) == 1

    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) >= len(FIXTURES)
    missing = [line for line in lines if not re.search(r" \(hint: .+\)$", line)]
    assert not missing, "errors without a hint:\n" + "\n".join(missing)


def test_invalid_cron_is_reported_before_airflow_sees_it(capsys: pytest.CaptureFixture[str]) -> None:
    """Airflow would drop these DAGs with AirflowTimetableInvalid, naming no file or line."""
    out_of_range = INVALID / "bad_cron_out_of_range.yaml"
    text_fields = INVALID / "bad_cron_text_fields.yaml"

    assert main(["validate", str(out_of_range), str(text_fields)]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{out_of_range}:8:1: schedule: '61 * * * *' is not a valid cron expression: the minute field '61' is out of "
        "range (hint: the minute field takes 0-59, '*', lists (1,15), ranges (1-5) and steps (*/10))",
        f"{text_fields}:8:1: schedule: 'foo bar baz qux quux' is not a valid cron expression: the minute field 'foo' "
        "is not valid (hint: the minute field takes 0-59, '*', lists (1,15), ranges (1-5) and steps (*/10))",
    ]
