"""validate on the deployment: section: defaults, and every bad field at its file:line, in one pass."""

from __future__ import annotations

from pathlib import Path

from airflow_mlops.spec.loader import load_pipeline_spec

from .test_loader import by_field, load_error, write_example


def _with(tmp_path: Path, section: str) -> Path:
    return write_example(tmp_path, append="\ndeployment:\n" + section)


def _line(path: Path, key: str) -> int:
    """The line of the last ``key:`` in the file (the deployment section is appended last)."""
    lines = path.read_text().splitlines()
    return max(n for n, text in enumerate(lines, start=1) if text.strip().startswith(f"{key}:"))


def test_no_section_means_no_deploy_step(tmp_path: Path) -> None:
    spec = load_pipeline_spec(write_example(tmp_path))
    assert spec.deployment is None
    assert "deploy" not in spec.step_names()


def test_an_empty_section_takes_the_defaults(tmp_path: Path) -> None:
    spec = load_pipeline_spec(_with(tmp_path, "  smoke: {requests: 5}\n"))
    deployment = spec.deployment
    assert deployment is not None
    assert (deployment.target, deployment.strategy, deployment.endpoint) == ("mlops-local", "direct", None)
    assert deployment.endpoint_name(spec.registry.model_name) == "breast_cancer_classifier"
    assert deployment.smoke.requests == 5 and deployment.smoke.max_error_rate == 0
    assert deployment.rollback.on_smoke_failure == "rollback"
    assert spec.step_names()[-3:] == ("promote", "deploy", "close_runs")


def test_a_canary_on_the_local_target_is_valid(tmp_path: Path) -> None:
    spec = load_pipeline_spec(
        _with(tmp_path, "  target: mlops-local:/srv/endpoints\n  endpoint: churn\n  strategy: canary\n"
              "  canary_percent: 10\n  bake_seconds: 30\n  rollback: {on_smoke_failure: fail}\n")
    )  # fmt: skip
    assert spec.deployment is not None and spec.deployment.canary_percent == 10


def test_timeouts_may_name_the_deploy_step_only_with_the_section(tmp_path: Path) -> None:
    assert load_pipeline_spec(_with(tmp_path, "  endpoint: churn\ntimeouts: {deploy: 5}\n")).timeouts == {"deploy": 5}
    path = write_example(tmp_path, append="\ntimeouts: {deploy: 5}\n")
    assert "unknown step 'deploy'" in by_field(load_error(path).issues)["timeouts.deploy"].message


def test_every_bad_field_is_reported_at_its_line(tmp_path: Path) -> None:
    path = _with(
        tmp_path,
        "  target: 'not a uri'\n"
        "  endpoint: -bad name\n"
        "  strategy: blue_green\n"
        "  canary_percent: 100\n"
        "  bake_seconds: -1\n"
        "  smoke:\n"
        "    requests: 0\n"
        "    max_error_rate: 1.5\n"
        "    max_p95_ms: 0\n"
        "    timeout: 3\n"
        "  rollback: {on_smoke_failure: ignore}\n",
    )
    issues = by_field(load_error(path).issues)
    expected = {
        "deployment.target": ("does not have the form", "target"),
        "deployment.endpoint": ("does not have the form", "endpoint"),
        "deployment.strategy": ("'direct' or 'canary'", "strategy"),
        "deployment.canary_percent": ("less than or equal to 99", "canary_percent"),
        "deployment.bake_seconds": ("greater than or equal to 0", "bake_seconds"),
        "deployment.smoke.requests": ("greater than or equal to 1", "requests"),
        "deployment.smoke.max_error_rate": ("less than or equal to 1", "max_error_rate"),
        "deployment.smoke.max_p95_ms": ("greater than 0", "max_p95_ms"),
        "deployment.smoke.timeout": ("", "timeout"),
        "deployment.rollback.on_smoke_failure": ("'rollback' or 'fail'", "rollback"),
    }
    assert set(expected) <= set(issues), sorted(issues)
    for field, (message, key) in expected.items():
        assert message in issues[field].message, (field, issues[field].message)
        assert issues[field].line == _line(path, key), field


def test_a_credential_in_the_section_is_refused_with_a_pointer_to_connections(tmp_path: Path) -> None:
    path = _with(tmp_path, "  target: databricks\n  token: dapi-123\n")
    issue = by_field(load_error(path).issues)["deployment.token"]
    assert issue.line == _line(path, "token")
    assert "connection" in f"{issue.message} {issue.hint}".lower()


def test_rules_between_fields_point_at_the_field_to_change(tmp_path: Path) -> None:
    path = _with(tmp_path, "  target: databricks\n  strategy: canary\n")
    issues = load_error(path).issues
    strategy = [i for i in issues if i.field == "deployment.strategy"]
    assert {i.line for i in strategy} == {_line(path, "strategy")}
    messages = " | ".join(i.message for i in strategy)
    assert "'databricks' cannot split traffic" in messages and "needs canary_percent" in messages
    assert any("mlops-kserve, mlops-local" in i.hint for i in strategy)


def test_canary_settings_on_a_direct_rollout_and_credentials_for_the_local_target_are_refused(tmp_path: Path) -> None:
    path = _with(tmp_path, "  canary_percent: 10\n  bake_seconds: 60\n  conn_id: local_creds\n")
    issues = by_field(load_error(path).issues)
    assert "applies to strategy: canary" in issues["deployment.canary_percent"].message
    assert "deployment.bake_seconds" not in issues  # a direct rollout is baked too
    assert "takes no credentials" in issues["deployment.conn_id"].message
    assert issues["deployment.conn_id"].line == _line(path, "conn_id")


def test_a_remote_target_takes_a_connection(tmp_path: Path) -> None:
    spec = load_pipeline_spec(_with(tmp_path, "  target: databricks\n  conn_id: databricks_deploy\n"))
    assert spec.deployment is not None and spec.deployment.conn_id == "databricks_deploy"


def test_a_model_name_too_long_for_an_endpoint_needs_an_endpoint_name(tmp_path: Path) -> None:
    long_name = "m" * 101
    path = write_example(
        tmp_path, ("model_name: breast_cancer_classifier", f"model_name: {long_name}"), append="\ndeployment: {}\n"
    )
    issue = by_field(load_error(path).issues)["deployment"]
    assert "not a valid endpoint name" in issue.message and "deployment.endpoint" in issue.hint
    assert issue.line == _line(path, "deployment")
    fixed = write_example(
        tmp_path, ("model_name: breast_cancer_classifier", f"model_name: {long_name}"),
        append="\ndeployment: {endpoint: churn}\n",
    )  # fmt: skip
    assert load_pipeline_spec(fixed).deployment is not None


def test_a_canary_on_kserve_is_valid_with_a_connection_for_its_credentials(tmp_path: Path) -> None:
    spec = load_pipeline_spec(
        _with(tmp_path, "  target: mlops-kserve:/ml-serving?service_account=kserve-s3\n  endpoint: churn-model\n"
              "  conn_id: kube_deploy\n  strategy: canary\n  canary_percent: 10\n  bake_seconds: 300\n")
    )  # fmt: skip
    deployment = spec.deployment
    assert deployment is not None and (deployment.strategy, deployment.conn_id) == ("canary", "kube_deploy")


def test_a_kserve_target_and_endpoint_kubernetes_would_refuse_are_reported_at_their_lines(tmp_path: Path) -> None:
    path = _with(tmp_path, "  target: mlops-kserve:/Team_A?token=abc\n  endpoint: Churn_Model\n")
    issues = by_field(load_error(path).issues)
    for key, said in (
        ("target", "is not a Kubernetes namespace name"),
        ("endpoint", "not a valid InferenceService name"),
    ):
        issue = issues[f"deployment.{key}"]
        assert said in issue.message and issue.line == _line(path, key), (key, issue)
    unknown = by_field(load_error(_with(tmp_path, "  target: mlops-kserve:/ml?token=abc\n")).issues)
    assert "unknown settings ['token']" in unknown["deployment.target"].message


def test_on_kserve_a_model_name_that_is_no_kubernetes_name_needs_an_endpoint_name(tmp_path: Path) -> None:
    path = _with(tmp_path, "  target: mlops-kserve:/ml\n")  # the example's model: breast_cancer_classifier
    issue = by_field(load_error(path).issues)["deployment"]
    assert "'breast_cancer_classifier' is not a valid InferenceService name" in issue.message
    assert "deployment.endpoint" in issue.hint and issue.line == _line(path, "deployment")
