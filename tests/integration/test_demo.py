"""`make demo` runs `airflow-mlops demo`; CI runs it too, so the README's first command cannot rot.

Issue #2 names what the summary must show: the data version, the validation result, each
candidate's metrics, the gate verdict with its reasons, the registered version and where
``@champion`` points. Every one of those is checked on both runs against facts the test works
out itself (the data repo's tags, the data's md5, the example YAML). The demo data makes run 2
promote deterministically (a fixed shuffle of the data scikit-learn ships, a seeded split, a
deterministic solver), which the README shows; the on-call drill (lineage, rollback, lineage)
then runs against the demo's own record, as the README tells a newcomer to do.

The demo deploys each new champion to a local endpoint (its defaults.yaml) and leaves it serving.
The demo runs where a newcomer's clone would be (a folder with ``.venv`` and ``.demo`` in it), so
the README's request and stop commands, read from the README's fenced blocks, run here verbatim.

The tests run in file order and share one demo run with test_ui.py (``demo_clone`` in
conftest.py; test_ui.py's tests run first, as they only read it); the drill rolls @champion back,
and the last one stops the endpoint with the README's command (the fixture stops whatever a
failure left).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_mlops.demo.datasets import data_versions, to_csv_bytes
from airflow_mlops.deploy import processes
from tests.integration.demo_clone import DemoClone

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO_ROOT / "dags" / "pipelines" / "breast_cancer.yaml").read_text())
SUITE = yaml.safe_load((REPO_ROOT / "dags" / "pipelines" / "suites" / "breast_cancer.yaml").read_text())
# What the demo adds to the example: its deployment: section (airflow_mlops/demo/defaults.yaml).
DEPLOYMENT = yaml.safe_load((REPO_ROOT / "airflow_mlops" / "demo" / "defaults.yaml").read_text())["deployment"]
README = (REPO_ROOT / "README.md").read_text()
DAG = EXAMPLE["pipeline"]
MODEL = EXAMPLE["registry"]["model_name"]
DATA_PATH = EXAMPLE["data"]["path"]
REV = EXAMPLE["data"]["rev"]
CANDIDATES = [m["name"] for m in EXAMPLE["models"]]
#: Every step that looks for an earlier result once a champion exists (runs 2 and 3).
CACHED_STEPS = {
    "validate_data",
    "prepare_data",
    *(f"train.{name}" for name in CANDIDATES),
    *(f"evaluate.{name}" for name in CANDIDATES),
    "evaluate.champion",
}
SELECT_BY = EXAMPLE["select_by"]
# The columns of the summary's candidates table (airflow_mlops/report.py), in order.
COLUMNS = ["f1", "roc_auc", "accuracy", "precision", "recall"]
NUMBER = r"\d\.\d{4}"


def _rules() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rules = EXAMPLE["gate"]["metrics"]
    absolute = [r for r in rules if "compare_to" not in r]
    [champion_rule] = [r for r in rules if r.get("compare_to") == "champion"]
    return absolute, champion_rule


def _readme_commands() -> dict[str, str]:
    """The README's commands for after `make demo`, from its ```bash blocks, and the answer it shows."""
    lines = [line for block in re.findall(r"^```bash\n(.*?)^```$", README, re.S | re.M) for line in block.splitlines()]
    [request] = [line for line in lines if line.startswith("curl ") and "/invocations" in line]
    [status] = [line for line in lines if " endpoint status --root .demo/" in line]
    [stop] = [line for line in lines if " endpoint stop --all --root .demo/" in line]
    answer = re.search(r"^```json\n(.*?)^```$", README[README.index(request) :], re.S | re.M)
    assert answer, "the README shows no ```json answer after its request command"
    return {"request": request, "status": status, "stop": stop, "answer": answer.group(1)}


@pytest.fixture(scope="module")
def demo(demo_clone: DemoClone) -> dict[str, Any]:
    return _outcome(demo_clone.result, demo_clone.here, demo_clone.workdir)


def _outcome(result: subprocess.CompletedProcess[str], here: Path, workdir: Path) -> dict[str, Any]:
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in out + result.stderr
    # Every phase line shows the seconds since the demo started (issue #15: progress, not silence).
    phases = re.findall(r"^==> \[(\d+) s\] (\S+ \S+)", out, re.MULTILINE)
    assert [text for _, text in phases] == ["Preparing the", "Run 1:", "Run 2:", "Run 3:", "A local"], phases
    assert [int(seconds) for seconds, _ in phases] == sorted(int(seconds) for seconds, _ in phases)
    run1, run2, run3 = re.split(r"^==> \[\d+ s\] Run [23]", out, flags=re.MULTILINE)
    repo = workdir / "data-repo"
    v1, v2 = data_versions()
    test_size = EXAMPLE["data"]["split"]["test_size"]
    return {
        "out": out,
        "here": here,
        "workdir": workdir,
        "endpoints": workdir / "endpoints",
        "runs": {1: run1, 2: run2, 3: run3},
        "tasks": {n: json.loads((workdir / "logs" / f"run{n}.json").read_text())["tasks"] for n in (1, 2, 3)},
        "run_ids": {n: _run_id(text, n) for n, text in ((1, run1), (2, run2), (3, run3))},
        "repo": repo,
        "commits": {1: _commit(repo, "data-v1"), 2: _commit(repo, "data-v2")},
        "md5": {1: hashlib.md5(to_csv_bytes(v1)).hexdigest(), 2: hashlib.md5(to_csv_bytes(v2)).hexdigest()},
        # train_test_split rounds the test share up
        "test_rows": {1: math.ceil(test_size * len(v1)), 2: math.ceil(test_size * len(v2))},
        "tracking": ["--tracking-uri", f"sqlite:///{workdir / 'mlflow.db'}"],
    }


def _commit(repo: Path, tag: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", f"{tag}^{{commit}}"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _run_id(summary: str, n: int) -> str:
    found = re.search(rf"^Run {n} \(success\): (\S+)$", summary, re.MULTILINE)
    assert found, f"no 'Run {n} (success): <run id>' title in:\n{summary}"
    return found.group(1)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def _table(summary: str) -> dict[str, dict[str, str]]:
    """The candidates table of a summary: row name -> column -> the number as printed."""
    lines = _lines(summary)
    [header_at] = [i for i, line in enumerate(lines) if line.split() == COLUMNS]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[header_at + 1 :]:
        found = re.fullmatch(rf" {{14}}(\S+(?: v\d+)?)\s+((?:{NUMBER}\s*){{{len(COLUMNS)}}})", line)
        if not found:
            break
        rows[found.group(1)] = dict(zip(COLUMNS, found.group(2).split(), strict=True))
    return rows


def _winner(table: dict[str, dict[str, str]]) -> str:
    return str(max(CANDIDATES, key=lambda name: float(table[name][SELECT_BY])))


def _check_common_summary(demo: dict[str, Any], n: int) -> tuple[list[str], dict[str, dict[str, str]], str]:
    """The data, validation, candidates and the absolute gate rules: the same shape on both runs."""
    summary = demo["runs"][n]
    lines = _lines(summary)
    commit, md5 = demo["commits"][n], demo["md5"][n]
    assert f"  data        {DATA_PATH} @ {REV} -> commit {commit[:12]}" in lines, summary
    assert f"              md5 {md5}" in lines, summary
    total = len(SUITE["expectations"])
    assert f"  validation  PASSED: {total}/{total} expectations met" in lines, summary
    assert f"  candidates  (scored on the same {demo['test_rows'][n]} test rows)" in lines, summary
    table = _table(summary)
    assert set(CANDIDATES) <= set(table), f"candidate rows missing: {table}"
    for name in CANDIDATES:
        for column, value in table[name].items():
            assert 0.0 <= float(value) <= 1.0, (name, column, value)
    # The gate picks the best candidate by `select_by` and states one reason per rule, in rule order.
    winner = _winner(table)
    gate_at = lines.index(f"  gate        PROMOTE {winner}")
    reasons = lines[gate_at + 1 : gate_at + 1 + len(EXAMPLE["gate"]["metrics"])]
    # Then the serving check of the winner in a real model server: parity, latency, three malformed requests.
    serving_at = gate_at + 1 + len(reasons)
    assert lines[serving_at].startswith("  serving     PASS models:/m-"), summary
    checks = lines[serving_at + 1 : serving_at + 6]
    assert [c.split(":")[0].split()[-1] for c in checks] == [
        "parity",
        "latency",
        "missing_column",
        "wrong_type",
        "empty_batch",
    ]
    assert all(c.startswith("              ok  ") for c in checks), checks
    assert f"parity: 100.00% of {demo['test_rows'][n]} served labels equal the offline ones" in checks[0], checks
    assert lines[serving_at + 6].startswith("  registered  "), summary
    assert all(r.startswith("              ok  ") for r in reasons), reasons
    absolute, _ = _rules()
    for rule, reason in zip(absolute, reasons, strict=False):
        assert reason == f"              ok  {rule['metric']} {table[winner][rule['metric']]} is within bounds", reasons
    return reasons, table, winner


def test_run_1_summary_promotes_through_the_first_run_policy(demo: dict[str, Any]) -> None:
    summary = demo["runs"][1]
    assert "Run 1: no champion yet (first-run policy decides)" in summary
    reasons, table, _ = _check_common_summary(demo, 1)
    assert not any(name.startswith("champion") for name in table), "no champion exists before run 1"
    assert reasons[-1] == f"              ok  no champion yet; first_run policy is '{EXAMPLE['gate']['first_run']}'"
    lines = _lines(summary)
    assert f"  registered  {MODEL} v1" in lines
    assert "  aliases     @champion -> v1, @previous -> none" in lines
    _check_deployment(demo, 1)


def test_run_2_compares_with_the_champion_on_the_same_rows_and_promotes(demo: dict[str, Any]) -> None:
    summary = demo["runs"][2]
    reasons, table, winner = _check_common_summary(demo, 2)
    # The champion is scored again, on run 2's test rows: its own row in the same table.
    assert "champion v1" in table, table
    _, rule = _rules()
    metric = rule["metric"]
    champion_rule = reasons[-1]
    found = re.fullmatch(rf" {{14}}ok  {metric} ({NUMBER}) meets >= ({NUMBER}) \(champion ({NUMBER})\)", champion_rule)
    assert found, f"run 2 must pass the champion rule; gate reasons: {reasons}\n{summary}"
    assert found.group(1) == table[winner][metric]
    assert found.group(3) == table["champion v1"][metric]
    assert abs(float(found.group(2)) - (float(found.group(3)) - rule["max_drop"])) <= 1.5e-4
    lines = _lines(summary)
    assert f"  registered  {MODEL} v2" in lines
    assert "  aliases     @champion -> v2, @previous -> v1" in lines
    # The same stable URL as run 1: the endpoint was switched to v2, not replaced.
    assert _check_deployment(demo, 2) == _check_deployment(demo, 1)
    # New data: no step could reuse run 1's result, and the summary says what changed.
    cache = _cache_lines(summary)
    assert set(cache) == CACHED_STEPS, summary
    assert cache["validate_data"].startswith(f"MISS since {demo['run_ids'][1]}: inputs.data_md5: "), cache
    assert cache["prepare_data"].startswith(f"MISS since {demo['run_ids'][1]}: inputs.data_commit: "), cache
    assert all(cache[f"train.{name}"].startswith("MISS since ") for name in CANDIDATES), cache
    # New models, and a champion (v1) no earlier run scored: every model is scored.
    assert all(cache[f"evaluate.{name}"].startswith("MISS since ") for name in CANDIDATES), cache
    assert cache["evaluate.champion"] == "MISS no earlier run of this pipeline computed it", cache


def _cache_lines(summary: str) -> dict[str, str]:
    """The summary's step cache lines: step -> ``HIT  reused from ...`` or ``MISS <reason>``."""
    step = r"validate_data|prepare_data|train\.\S+|evaluate\.\S+"
    found = re.findall(rf"^  (?:cache {{6}}| {{11}}) ({step})\s+((?:HIT|MISS) .*)$", summary, re.M)
    return dict(found)


def test_run_3_reuses_every_step_of_run_2_and_changes_nothing(demo: dict[str, Any]) -> None:
    """The same data and YAML again: every step reuses run 2's result, and the gate finds the champion's model."""
    summary, run2 = demo["runs"][3], demo["run_ids"][2]
    lines = _lines(summary)
    assert f"  data        {DATA_PATH} @ {REV} -> commit {demo['commits'][2][:12]}" in lines, summary
    cache = _cache_lines(summary)
    assert set(cache) == CACHED_STEPS, summary
    for step, outcome in cache.items():
        assert re.fullmatch(rf"HIT  reused from {re.escape(run2)} \(MLflow run \w+\)", outcome), (step, outcome)
    winner = _winner(_table(demo["runs"][2]))
    at = lines.index(f"  gate        UNCHANGED {winner}")
    assert (
        lines[at + 1]
        == "              it is the model the champion (version 2) already serves; nothing to register or promote"
    )
    assert "  registered  nothing" in lines
    assert "  aliases     @champion -> v2, @previous -> v1" in lines
    assert (
        "  deployment  UNCHANGED: this run deployed nothing (nothing changed: the champion already serves this "
        "model); v2 keeps serving" in lines
    ), summary
    tasks = demo["tasks"][3]
    assert {t: tasks[t] for t in ("serving_check", "register", "promote", "deploy")} == dict.fromkeys(
        ("serving_check", "register", "promote", "deploy"), "skipped"
    ), tasks


def _check_deployment(demo: dict[str, Any], n: int) -> str:
    """Run ``n``'s deploy step ran and its summary shows the rollout of v``n``; the endpoint's URL."""
    assert demo["tasks"][n]["deploy"] == "success", demo["tasks"][n]
    lines = _lines(demo["runs"][n])
    at = lines.index(
        f"  deployment  DEPLOYED v{n} to {DEPLOYMENT['target']}, endpoint {DEPLOYMENT['endpoint']} "
        f"({DEPLOYMENT['strategy']})"
    )
    url = re.fullmatch(r" {14}url {7}(http://127\.0\.0\.1:\d+)", lines[at + 1])
    assert url, lines[at + 1]
    smoke, requests = DEPLOYMENT["smoke"], DEPLOYMENT["smoke"]["requests"]
    found = re.fullmatch(
        rf" {{14}}smoke {{5}}PASS: {requests}/{requests} requests answered, p95 (\d+\.\d) ms "
        rf"\(limits: error rate <= {smoke['max_error_rate']:g}, p95 <= {smoke['max_p95_ms']:g} ms\)",
        lines[at + 2],
    )
    assert found and float(found.group(1)) <= smoke["max_p95_ms"], lines[at + 2]
    bake = re.fullmatch(
        rf" {{14}}bake {{6}}bake passed: {requests}/{requests} smoke requests answered, .*", lines[at + 3]
    )
    assert bake and f"0/{requests} labels differ" in lines[at + 3], lines[at + 3]  # live v{n} as evaluate scored it
    assert lines[at + 4] == f"              serving   v{n}"
    assert (demo["workdir"] / "endpoint-url").read_text().strip() == url.group(1)
    return url.group(1)


def test_every_version_the_demo_registers_has_a_model_card(demo: dict[str, Any], tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri = demo["tracking"][1]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for n in (1, 2):
        # The summary says where the card is: the command, and the artifact on the version's run.
        found = re.search(
            rf"^  model card  airflow-mlops card {MODEL}/{n}  \(runs:/(\w+)/model_card/model_card\.md",
            demo["runs"][n],
            re.M,
        )
        assert found, demo["runs"][n]
        assert found.group(1) == client.get_model_version(MODEL, str(n)).run_id
        card = Path(client.download_artifacts(found.group(1), "model_card/model_card.md", str(tmp_path / str(n))))
        text = card.read_text()
        assert text.startswith(f"# Model card: {MODEL.replace('_', chr(92) + '_')} version {n}\n"), text[:200]
        assert EXAMPLE["card"]["owners"][0] in text and "Not for clinical use." in text
        assert demo["commits"][n] in text and demo["md5"][n] in text


def _lineage_facts(demo: dict[str, Any], n: int, summary_reasons: list[str]) -> list[str]:
    """The lines `airflow-mlops lineage` must print for the version run ``n`` registered."""
    table = _table(demo["runs"][n])
    winner = _winner(table)
    [model] = [m for m in EXAMPLE["models"] if m["name"] == winner]
    total = len(SUITE["expectations"])
    test_metrics = "  ".join(f"{m} {table[winner][m]}" for m in COLUMNS)
    against = "vs champion v1" if n == 2 else "no champion yet"
    run_id = demo["run_ids"][n]
    rules = len(summary_reasons)
    passed = f"PROMOTE {winner}: {rules}/{rules} rules passed (precision, recall, f1, roc_auc: positive class 1)"
    return [
        f" by {DAG} / {run_id}\n",
        f"  data        {DATA_PATH} @ {REV} -> commit {demo['commits'][n]}\n",
        f"              md5 {demo['md5'][n]}\n",
        f"              repo {demo['repo']}\n",
        f"  validation  PASSED: {total}/{total} expectations met\n",
        f"  code        package_version {importlib.metadata.version('airflow-mlops')}\n",
        "              spec_file pipelines/breast_cancer.yaml\n",
        f"  training    {winner}: {model['estimator']} (MLflow run ",
        f"  params      {', '.join(f'{k}={v}' for k, v in sorted(model['params'].items()))}\n",
        f"  metrics     test  {test_metrics}  log_loss ",
        f"  gate        {passed} ({against})\n",
        *[f"{reason}\n" for reason in summary_reasons],  # the same reasons the run's summary gave
        "  serving     PASS: served models:/m-",
        f" matched its offline predictions on {demo['test_rows'][n]} rows; latency: p95 ",
        "  approver    not required\n",
        f"promote {'v1' if n == 2 else 'nothing'} -> v{n} by airflow:{DAG}/{run_id}: {passed}",
    ]


def _assert_lineage(out: str, facts: list[str]) -> None:
    missing = [fact for fact in facts if fact not in out]
    assert not missing, "lineage lacks:\n" + "\n".join(missing) + f"\nin:\n{out}"
    assert re.search(r"^              spec_sha256 [0-9a-f]{64}$", out, re.MULTILINE), out
    assert re.search(r"^  registered  \S+ by ", out, re.MULTILINE), out


def _summary_reasons(demo: dict[str, Any], n: int) -> list[str]:
    reasons, _, _ = _check_common_summary(demo, n)
    return reasons


def test_lineage_of_the_champion_shows_every_link_of_run_2(demo: dict[str, Any]) -> None:
    out = _cli("lineage", f"{MODEL}@champion", *demo["tracking"])
    assert out.startswith(f"{MODEL} v2  @champion\n"), out
    _assert_lineage(out, _lineage_facts(demo, 2, _summary_reasons(demo, 2)))


def test_rollback_then_lineage_drill(demo: dict[str, Any]) -> None:
    """What the README's on-call section does after `make demo`: roll back, then look again."""
    before = _cli("lineage", f"{MODEL}@champion", *demo["tracking"])
    rolled = _cli("rollback", MODEL, "--reason", "demo drill", *demo["tracking"])
    assert f"@champion of {MODEL} rolled back: v2 -> v1 (@previous = v2)" in rolled

    restored = _cli("lineage", f"{MODEL}@champion", *demo["tracking"])
    assert restored.startswith(f"{MODEL} v1  @champion\n"), restored
    _assert_lineage(restored, _lineage_facts(demo, 1, _summary_reasons(demo, 1)))
    # Both versions came from the same example YAML: the same spec digest.
    digest = re.compile(r"spec_sha256 ([0-9a-f]{64})")
    assert digest.findall(before) == digest.findall(restored)
    # The whole promotion history of v1, oldest first, ending with the drill.
    history = restored[restored.index("  history     ") :].splitlines()
    assert len(history) == 3, history
    assert f"promote nothing -> v1 by airflow:{DAG}/{demo['run_ids'][1]}: PROMOTE " in history[0]
    assert f"promote v1 -> v2 by airflow:{DAG}/{demo['run_ids'][2]}: PROMOTE " in history[1]
    assert re.search(r"  rollback v2 -> v1 by cli:\S+: demo drill$", history[2]), history[2]
    assert re.search(r"^  promoted    \S+ by cli:\S+, replacing v2$", restored, re.MULTILINE), restored
    assert "              reason: demo drill" in restored


def _cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_mlops.cli", *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def _bash(demo: dict[str, Any], command: str) -> subprocess.CompletedProcess[str]:
    """A README command, as written, from where `make demo` ran."""
    return subprocess.run(
        ["bash", "-c", command], cwd=demo["here"], capture_output=True, text=True, timeout=120, check=False
    )


def _serving_pids(demo: dict[str, Any]) -> tuple[int, int]:
    """The model server's and the proxy's pids, as the demo's last lines report them (through `endpoint status`)."""
    tail = demo["out"][demo["out"].index("A local endpoint is still running") :]
    found = re.search(
        rf"^  {DEPLOYMENT['endpoint']}: http://127\.0\.0\.1:\d+ answering; serving {MODEL} v2 \(100 %, pid (\d+)\); "
        r"proxy pid (\d+); last change deploy at ",
        tail,
        re.MULTILINE,
    )
    assert found, tail
    return int(found.group(1)), int(found.group(2))


def test_the_demo_ends_naming_every_process_it_leaves_and_the_readme_commands(demo: dict[str, Any]) -> None:
    commands = _readme_commands()
    tail = demo["out"][demo["out"].index("A local endpoint is still running") :]
    # The demo prints the very commands the README shows, so README, demo and this test cannot drift.
    for key in ("status", "request", "stop"):
        assert f"  {'$ ' if key == 'status' else ''}{commands[key]}\n" in tail, (key, tail)
    # Every process marked as one of the demo's endpoints is one the demo named: no stray.
    named = set(_serving_pids(demo))
    running = {identity.pid for identity in processes.marked_under(str(demo["endpoints"]))}
    assert running == named, (running, named)


def test_the_readme_request_command_answers_with_the_predictions_it_shows(demo: dict[str, Any]) -> None:
    assert shutil.which("curl"), "the README's request command needs curl"
    commands = _readme_commands()
    request = json.loads((demo["workdir"] / "request.json").read_text())["dataframe_split"]
    assert len(request["data"]) == 3 and EXAMPLE["data"]["target"] not in request["columns"], request

    answered = _bash(demo, commands["request"])

    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout) == json.loads(commands["answer"]), answered.stdout


def test_make_clean_stops_the_demo_endpoint_before_deleting_it_also_without_the_venv(tmp_path: Path) -> None:
    """`make clean` with no .venv: the sweep runs on the standard library (-E -S), stops only what is marked
    under .demo/endpoints, then the folder goes."""
    clone = tmp_path / "clone"
    shutil.copytree(REPO_ROOT / "airflow_mlops", clone / "airflow_mlops", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "Makefile", clone / "Makefile")
    folder = clone / ".demo" / "endpoints" / MODEL
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "other-endpoints" / MODEL

    def marked_sleep(endpoint: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, processes.ENDPOINT_ENV: str(endpoint)}
        return subprocess.Popen(["sleep", "600"], env=env, start_new_session=True)

    ours, other = marked_sleep(folder), marked_sleep(elsewhere)
    try:
        result = subprocess.run(["make", "-C", str(clone), "clean"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert ours.wait(timeout=30) == -signal.SIGTERM
        assert f"stopped 1 local endpoint process(es) under .demo/endpoints: pids [{ours.pid}]" in result.stdout
        assert not (clone / ".demo").exists()
        assert other.poll() is None, "a process of another endpoints folder was stopped"
    finally:
        for process in (ours, other):
            process.kill()
            process.wait()


def test_a_new_demo_stops_what_the_previous_one_left_before_it_deletes_the_workdir(tmp_path: Path) -> None:
    """Even a process whose endpoint state is gone: found by its mark, since the workdir is about to go."""
    from airflow_mlops.demo.endpoint import stop_previous

    workdir = tmp_path / ".demo"
    (workdir / "endpoints" / MODEL).mkdir(parents=True)  # no state.json: only the mark finds it
    env = {**os.environ, processes.ENDPOINT_ENV: str(workdir / "endpoints" / MODEL)}
    left = subprocess.Popen(["sleep", "600"], env=env, start_new_session=True)
    try:
        identity = processes.identify(left.pid)
        assert identity is not None
        stop_previous(workdir)
        assert not processes.alive(identity)  # it was our child: stop() reaped it, so no exit code to read here
    finally:
        left.kill()
        left.wait()


def test_the_readme_stop_command_stops_every_process_of_the_endpoint(demo: dict[str, Any]) -> None:
    commands = _readme_commands()
    pids = _serving_pids(demo)

    stopped = _bash(demo, commands["stop"])

    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"endpoint {DEPLOYMENT['endpoint']!r} stopped: its proxy and model servers are gone" in stopped.stdout
    assert processes.marked_under(str(demo["endpoints"])) == []
    assert not any(processes.identify(pid) for pid in pids), pids
    assert _bash(demo, commands["request"]).returncode != 0, "the URL still answers after the stop command"
