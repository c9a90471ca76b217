"""Tests for the pipeline YAML loader (``airflow_mlops.spec.loader``).

Each file in ``tests/fixtures/invalid`` is a copy of the example pipeline with one defect and
a header that states what the loader must report:

    # expect: <field path> | <substring of the message>   (empty field: a file-level error)
    # line: <N>                                            (line of the offending key/value)
    # hint: <substring of the hint>                        (optional)
    # file: <path relative to the fixture>                 (optional: the issue is in another file)
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from airflow_mlops.errors import ConfigIssue, PipelineConfigError
from airflow_mlops.spec.loader import load_pipeline_spec
from airflow_mlops.spec.models_promotion import ChampionRuleSpec, ThresholdRuleSpec

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "dags" / "pipelines" / "breast_cancer.yaml"
EXAMPLE_SUITE = REPO / "dags" / "pipelines" / "suites" / "breast_cancer.yaml"
INVALID = REPO / "tests" / "fixtures" / "invalid"
FIXTURES = sorted(INVALID.glob("*.yaml"))

_DIRECTIVE = re.compile(r"^# (expect|line|hint|file):(.*)$")


@dataclass(frozen=True)
class Expected:
    field: str
    message: str
    line: int | None
    hint: str
    file: Path


def expected_of(fixture: Path) -> Expected:
    """Parse the ``# expect:`` header of a fixture."""
    found: dict[str, str] = {}
    for text in fixture.read_text(encoding="utf-8").splitlines():
        match = _DIRECTIVE.match(text)
        if match is None:
            break
        found[match.group(1)] = match.group(2).strip()
    field, sep, message = found["expect"].partition("|")
    assert sep and message.strip(), f"{fixture}: '# expect:' needs '<field> | <message>'"
    return Expected(
        field=field.strip(),
        message=message.strip(),
        line=int(found["line"]) if "line" in found else None,
        hint=found.get("hint", ""),
        file=(fixture.parent / found["file"]).resolve() if "file" in found else fixture,
    )


def load_error(path: Path, **kwargs: object) -> PipelineConfigError:
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline_spec(path, **kwargs)  # type: ignore[arg-type]
    return info.value


def write_example(tmp_path: Path, *replacements: tuple[str, str], append: str = "") -> Path:
    """A copy of the example pipeline (and its suite) in tmp_path, with text replaced."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "suites").mkdir(exist_ok=True)
    (tmp_path / "suites" / "breast_cancer.yaml").write_text(EXAMPLE_SUITE.read_text(encoding="utf-8"))
    path = tmp_path / "pipeline.yaml"
    path.write_text(text + append, encoding="utf-8")
    return path


def by_field(issues: list[ConfigIssue]) -> dict[str, ConfigIssue]:
    return {issue.field: issue for issue in issues}


# ---------------------------------------------------------------- the fixture set


def test_fixture_set_covers_enough_defects() -> None:
    assert len(FIXTURES) >= 30
    for fixture in FIXTURES:
        expected = expected_of(fixture)
        assert expected.line is not None, f"{fixture.name} should state '# line:'"


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_invalid_fixture_is_reported_at_the_right_place(fixture: Path) -> None:
    expected = expected_of(fixture)
    err = load_error(fixture)

    matches = [
        issue
        for issue in err.issues
        if issue.field == expected.field and expected.message in issue.message and issue.file == str(expected.file)
    ]
    assert matches, f"no issue {expected.field!r} / {expected.message!r} in {expected.file}; got:\n{err}"
    issue = matches[0]
    assert issue.line is not None
    assert issue.column is not None
    if expected.line is not None:
        assert issue.line == expected.line, str(issue)
    if expected.hint:
        assert expected.hint in issue.hint, str(issue)
    # The report always leads with the file that was loaded, with a line number.
    assert re.match(re.escape(str(fixture)) + r":\d+:\d+: ", str(err)), str(err)
    assert str(issue) in str(err)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_every_issue_of_an_invalid_fixture_has_a_hint(fixture: Path) -> None:
    err = load_error(fixture)

    assert err.issues
    for issue in err.issues:
        assert issue.hint.strip(), f"no hint: {issue}"
        assert str(issue).endswith(f" (hint: {issue.hint})")


@pytest.mark.parametrize(
    ("schedule", "message", "hint"),
    [
        ("61 * * * *", "the minute field '61' is out of range", "0-59"),
        ("0 24 * * *", "the hour field '24' is out of range", "0-23"),
        ("0 3 0 * *", "the day-of-month field '0' is out of range", "1-31"),
        ("0 3 * 13 *", "the month field '13' is out of range", "1-12 or JAN-DEC"),
        ("0 3 * * 8", "the day-of-week field '8' is out of range", "0-6 or SUN-SAT"),
        ("*/0 * * * *", "the minute field '*/0' is not valid", "0-59"),
        ("0 3 * * FOO", "the day-of-week field 'FOO' is not valid", "SUN-SAT"),
        ("0 3 31 4 *", "never matches a date", "no 30 or 31 with month 2"),
        ("0 3 * *", "is neither a cron expression", "five fields"),
        ("@dayly", "is neither a cron expression", "did you mean '@daily'?"),
    ],
)
def test_cron_is_checked_like_airflow_checks_it(tmp_path: Path, schedule: str, message: str, hint: str) -> None:
    path = write_example(tmp_path, ('schedule: "0 3 * * *"', f'schedule: "{schedule}"'))

    [issue] = load_error(path).issues

    assert (issue.field, issue.line, issue.column) == ("schedule", 5, 1)
    assert issue.message.startswith(repr(schedule)) and message in issue.message, issue
    assert hint in issue.hint, issue


@pytest.mark.parametrize(
    "schedule", ["0 3 * * *", "*/15 0-6 * * MON-FRI", "0 0 L * *", "0 0 29 2 *", "0 3 * * * 30", "0 0 1 1 * 0 2099"]
)
def test_cron_expressions_airflow_accepts_load(tmp_path: Path, schedule: str) -> None:
    from airflow.sdk import CronTriggerTimetable

    CronTriggerTimetable(schedule, timezone="UTC").validate()  # Airflow's own check agrees
    path = write_example(tmp_path, ('schedule: "0 3 * * *"', f'schedule: "{schedule}"'))

    assert load_pipeline_spec(path).schedule == schedule


def test_the_cron_shortcut_skips_the_date_search_only_where_a_date_surely_exists() -> None:
    """``_every_month_or_day`` lets most schedules skip croniter's search; it must never hide a February 30."""
    from datetime import datetime

    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    from airflow_mlops.spec.cron import _every_month_or_day

    days = ["*", "?", "1", "15", "28", "29", "30", "31", "L", "1-31", "30,31", "*/2", "31W"]
    months = ["*", "1", "2", "4", "2,4", "FEB", "*/3", "1-12", "2-4"]
    skipped = searched = 0
    for day, month, tail in itertools.product(days, months, ["", " 0", " 0 *", " 0 2050"]):
        value = f"0 3 {day} {month} *{tail}"
        try:
            croniter(value)
        except (CroniterBadCronError, CroniterBadDateError):
            continue
        if not _every_month_or_day(value.split()):
            searched += 1
            continue
        skipped += 1
        start = datetime(1970, 1, 1)
        assert croniter(value, start_time=start, max_years_between_matches=130).get_next(datetime), value
    assert skipped > 50 and searched > 50  # both branches were exercised


@pytest.mark.parametrize("schedule", ["61 * * * *", "foo bar baz qux quux", "0 24 * * *", "*/0 * * * *"])
def test_cron_expressions_airflow_refuses_are_refused(tmp_path: Path, schedule: str) -> None:
    from airflow.sdk import CronTriggerTimetable
    from airflow.sdk.exceptions import AirflowTimetableInvalid

    with pytest.raises(AirflowTimetableInvalid):
        CronTriggerTimetable(schedule, timezone="UTC").validate()
    path = write_example(tmp_path, ('schedule: "0 3 * * *"', f'schedule: "{schedule}"'))

    [issue] = load_error(path).issues
    assert issue.field == "schedule" and "is not a valid cron expression" in issue.message


@pytest.mark.parametrize(
    ("old", "new", "field", "hint"),
    [
        ("test_size: 0.25", "test_size: 1.5", "data.split.test_size", "a number greater than 0 and less than 1"),
        ("seed: 42", "seed: 1.5", "data.split.seed", "a whole number such as 3, without quotes (default: 42)"),
        ("stratify: true", "stratify: maybe", "data.split.stratify", "true or false"),
        ("first_run: promote", "first_run: promot", "gate.first_run", "did you mean 'promote'?"),
        ("on_failure: fail", "on_failure: explode", "validation.on_failure", "write one of: fail, warn"),
        ("  split: {test_size: 0.25, seed: 42, stratify: true}", "  split: 3", "data.split",
         "its keys: test_size, seed, stratify"),
        ("  - name: logreg", "  - name: 1logreg", "models[0].name", "start with a letter"),
        ("  target: target\n", "", "data.target", "add 'target:' to this file or to a defaults.yaml above it"),
        ("tags: [demo]", "tags: [demo]\ntimeouts: {train: -1}", "timeouts.train", "greater than 0 and at most 10080"),
        ("tags: [demo]", "tags: [demo]\nstart_date: soon", "start_date", "YYYY-MM-DD"),
        ("tags: [demo]", "tags: [demo]\nretries: {delay_seconds: .inf}", "retries.delay_seconds", "finite number"),
        ("{metric: roc_auc, min: 0.95}", "{metric: roc_auc, min: 0.95, max: 0.5}", "gate.metrics[1]",
         "swap the two bounds"),
        ("  alias: champion", "  alias: champion\n  previous_alias: champion", "registry", "rename one of them"),
    ],
)  # fmt: skip
def test_type_range_and_rule_errors_say_what_to_write(
    tmp_path: Path, old: str, new: str, field: str, hint: str
) -> None:
    path = write_example(tmp_path, (old, new))

    [issue] = load_error(path).issues

    assert issue.field == field, issue
    assert hint in issue.hint, issue


def test_fixture_header_parsing() -> None:
    """The header parser itself: a wrong parse would make the parametrized test vacuous."""
    unknown = expected_of(INVALID / "unknown_nested_key.yaml")
    assert unknown == Expected(
        field="data.split.test_sise",
        message="unknown key 'test_sise'",
        line=17,
        hint="did you mean 'test_size'?",
        file=INVALID / "unknown_nested_key.yaml",
    )
    empty = expected_of(INVALID / "empty_file.yaml")
    assert (empty.field, empty.message, empty.line) == ("", "found an empty file", 1)
    suite = expected_of(INVALID / "suite_bad_expectation_name.yaml")
    assert suite.file == INVALID / "suites" / "bad_expectation_name.yaml"


def test_issue_string_format() -> None:
    issue = ConfigIssue("p.yaml", 3, 5, "data.path", "bad", "fix it")
    assert str(issue) == "p.yaml:3:5: data.path: bad (hint: fix it)"
    assert str(ConfigIssue("p.yaml", None, None, "", "gone")) == "p.yaml: gone"


# ---------------------------------------------------------------- the example and focused cases


def test_example_pipeline_loads_with_its_suite_inlined() -> None:
    spec = load_pipeline_spec(EXAMPLE)

    assert spec.pipeline == "breast_cancer_retrain"
    assert spec.schedule == "0 3 * * *"
    assert [m.name for m in spec.models] == ["logreg", "forest"]
    assert spec.models[1].preprocessing.scale == "none"
    assert spec.data.split.test_size == 0.25
    assert spec.select_by == "f1"
    assert [type(rule) for rule in spec.gate.metrics] == [ThresholdRuleSpec, ThresholdRuleSpec, ChampionRuleSpec]
    assert spec.registry.model_name == "breast_cancer_classifier"

    assert spec.validation.suite == "suites/breast_cancer.yaml"
    expectations = spec.validation.expectations
    assert expectations is not None
    raw = yaml.safe_load(EXAMPLE_SUITE.read_text(encoding="utf-8"))["expectations"]
    assert [(e.type, e.kwargs) for e in expectations] == [next(iter(item.items())) for item in raw]
    assert expectations[0].type == "expect_table_row_count_to_be_between"
    assert expectations[0].kwargs == {"min_value": 100}


@pytest.mark.parametrize(
    "tagged",
    [
        '!!python/object/apply:os.system ["touch {marker}"]',
        '!!python/object/apply:subprocess.check_call [["touch", "{marker}"]]',
        "!!python/name:os.system",
    ],
)
def test_python_tags_are_refused_never_executed(tmp_path: Path, tagged: str) -> None:
    marker = tmp_path / "executed"
    path = write_example(
        tmp_path,
        ("description: Retrain", f"description: {tagged.format(marker=marker)}\nnotes: Retrain"),
    )

    err = load_error(path)

    assert not marker.exists()
    [issue] = err.issues
    assert issue.field == ""
    assert issue.message.startswith("YAML syntax error: could not determine a constructor for the tag")
    assert "python/" in issue.message
    assert issue.line == 4  # the description line
    assert str(err).startswith(f"{path}:4:")


def test_non_utf8_file_gives_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("pipeline: café\n".encode("latin-1"))

    err = load_error(path)

    assert err.issues == [ConfigIssue(str(path), None, None, "", "file is not UTF-8 text")]
    assert str(err) == f"{path}: file is not UTF-8 text"


def test_missing_file_gives_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"

    err = load_error(path)

    [issue] = err.issues
    assert issue.file == str(path)
    assert issue.message == "cannot read file: No such file or directory"
    assert str(err) == f"{path}: cannot read file: No such file or directory"


def test_all_independent_errors_in_one_file_are_reported(tmp_path: Path) -> None:
    path = write_example(
        tmp_path,
        ('schedule: "0 3 * * *"', 'schedule: "every day"'),  # line 5
        ("test_size: 0.25", "test_size: 1.5"),  # line 14
        ("sklearn.linear_model.LogisticRegression", "os.system"),  # line 22
        ("first_run: promote", "first_run: maybe"),  # line 35
        ("  alias: champion", "  alias: champion\n  aliaz: x"),  # line 40
    )

    err = load_error(path)

    issues = by_field(err.issues)
    assert sorted(issues) == [
        "data.split.test_size",
        "gate.first_run",
        "models[0].estimator",
        "registry.aliaz",
        "schedule",
    ]
    assert {field: issue.line for field, issue in issues.items()} == {
        "schedule": 5,
        "data.split.test_size": 14,
        "models[0].estimator": 22,
        "gate.first_run": 35,
        "registry.aliaz": 40,
    }
    assert issues["registry.aliaz"].hint == "did you mean 'alias'?"
    assert len(str(err).splitlines()) == 5


def test_several_duplicate_keys_are_all_reported(tmp_path: Path) -> None:
    path = write_example(
        tmp_path, ("  rev: main\n", "  rev: main\n  rev: v2\n"), ("select_by: f1\n", "select_by: f1\nselect_by: f1\n")
    )

    err = load_error(path)

    assert [(i.field, i.line, i.message) for i in err.issues] == [
        ("data.rev", 13, "duplicate key"),
        ("select_by", 31, "duplicate key"),
    ]


def test_custom_import_prefixes_allow_and_refuse(tmp_path: Path) -> None:
    acme = write_example(
        tmp_path,
        ("sklearn.linear_model.LogisticRegression", "acme.models.Foo"),
        ("sklearn.ensemble.RandomForestClassifier", "acme.models.Bar"),
    )

    spec = load_pipeline_spec(acme, allowed_import_prefixes=("acme.",))
    assert [m.estimator for m in spec.models] == ["acme.models.Foo", "acme.models.Bar"]

    # The default prefixes (sklearn.) refuse the same file.
    default_err = load_error(acme)
    assert sorted(i.field for i in default_err.issues) == ["models[0].estimator", "models[1].estimator"]

    mixed = write_example(
        tmp_path,
        ("sklearn.linear_model.LogisticRegression", "sklearn.svm.SVC"),
        ("sklearn.ensemble.RandomForestClassifier", "acme.models.Bar"),
    )
    err = load_error(mixed, allowed_import_prefixes=("acme.",))
    [issue] = err.issues
    assert issue.field == "models[0].estimator"
    assert issue.line == 22
    assert "'sklearn.svm.SVC' is outside the allowed import prefixes ['acme.']" in issue.message


def test_inline_expectations_instead_of_a_suite(tmp_path: Path) -> None:
    path = write_example(
        tmp_path,
        (
            "  suite: suites/breast_cancer.yaml\n",
            "  expectations:\n"
            "    - expect_column_to_exist: {column: target}\n"
            "    - expect_table_row_count_to_be_between:\n",
        ),
    )

    spec = load_pipeline_spec(path)

    assert spec.validation.suite is None
    assert [(e.type, e.kwargs) for e in spec.validation.expectations or []] == [
        ("expect_column_to_exist", {"column": "target"}),
        ("expect_table_row_count_to_be_between", {}),
    ]


def test_suite_errors_lead_with_the_pipeline_line(tmp_path: Path) -> None:
    path = write_example(tmp_path, ("suites/breast_cancer.yaml", "suites/bad.yaml"))
    suite = tmp_path / "suites" / "bad.yaml"
    suite.write_text("expectations:\n  - expect_column_to_exist: {column: a}\n  - {one: 1, two: 2}\n")

    err = load_error(path)

    head, detail = err.issues
    assert (head.file, head.line, head.field) == (str(path), 17, "validation.suite")
    assert str(suite.resolve()) in head.message
    assert (detail.file, detail.line, detail.field) == (str(suite.resolve()), 3, "expectations[1]")
    assert "exactly one key" in detail.message
