"""Security claims of airflow-mlops, one test (or small group) per claim (issue #8).

Why this exists: docs/architecture.md ("Security") and the README promise what a pipeline file
cannot do (run code, carry credentials, import arbitrary modules, load a model from outside
the registry) and about how connection credentials are handled. Each promise here has a test
that fails if the code stops keeping it: payloads leave a marker file when they execute, static
checks scan the source with ``ast``, and credentials are searched for in every log line and
return value.

Claims already covered elsewhere are not repeated: the payload through the in-process loader
(tests/unit/spec/test_loader.py::test_python_tags_are_refused_never_executed), the MlflowHook
password (tests/unit/hooks/test_mlflow_hook.py::test_password_never_in_repr_or_logs) and UI
authentication (tests/unit/plugins/test_app.py::test_every_route_requires_authentication,
tests/integration/test_ui.py::test_every_endpoint_refuses_unauthenticated_requests).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from yaml.constructor import BaseConstructor, FullConstructor, SafeConstructor

from airflow_mlops.errors import ConfigurationError, PipelineConfigError
from airflow_mlops.spec.loader import load_pipeline_spec
from airflow_mlops.spec.models import RetrainingPipelineSpec
from airflow_mlops.spec.yaml_source import PipelineYamlLoader

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "airflow_mlops"
PIPELINES = REPO / "dags" / "pipelines"
EXAMPLE = PIPELINES / "breast_cancer.yaml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
SUITE = PIPELINES / "suites" / "breast_cancer.yaml"
PASSWORD = "pw-7Hq2-never-log-me"


def _example(folder: Path, name: str = "pipeline.yaml", *replacements: tuple[str, str], append: str = "") -> Path:
    """A copy of the example pipeline (and its suite) in ``folder``, with text replaced."""
    text = EXAMPLE_TEXT
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    (folder / "suites").mkdir(parents=True, exist_ok=True)
    if not (folder / "suites" / "breast_cancer.yaml").exists():
        shutil.copy(SUITE, folder / "suites" / "breast_cancer.yaml")
    path = folder / name
    path.write_text(text + append, encoding="utf-8")
    return path


def _load_error(path: Path, **kwargs: Any) -> PipelineConfigError:
    with pytest.raises(PipelineConfigError) as info:
        load_pipeline_spec(path, **kwargs)
    return info.value


def _payload(marker: Path) -> str:
    return f'!!python/object/apply:os.system ["touch {marker}"]'


def _marker_package(folder: Path) -> tuple[str, Path]:
    """A package that touches a marker file when imported: proof that an import happened."""
    name = f"evil_{uuid.uuid4().hex[:10]}"
    marker = folder / f"{name}.imported"
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).touch()\n\n\n"
        "class Estimator:\n"
        "    def fit(self, x, y=None):\n        return self\n\n"
        "    def predict(self, x):\n        return x\n\n"
        "    def transform(self, x):\n        return x\n"
    )
    (folder / name / "core.py").write_text(
        f"from {name} import Estimator\n\n\ndef train(features, labels, params):\n    return Estimator()\n"
    )
    return name, marker


# =============================================================== 1. YAML only through safe loaders


@pytest.mark.parametrize("where", ["pipeline", "suite", "defaults"])
def test_python_object_payload_is_refused_and_never_runs(tmp_path: Path, where: str) -> None:
    """Every YAML the loader reads (pipeline, suite file, defaults.yaml) refuses Python tags."""
    marker = tmp_path / "executed"
    folder = tmp_path / "dags"
    if where == "pipeline":
        path = _example(folder, "p.yaml", ("description: Retrain", f"description: {_payload(marker)}\nowner: Retrain"))
        bad_file = path
    elif where == "suite":
        path = _example(folder, "p.yaml", ("suites/breast_cancer.yaml", "suites/evil.yaml"))
        bad_file = folder / "suites" / "evil.yaml"
        bad_file.write_text(f"expectations:\n  - expect_column_to_exist: {_payload(marker)}\n")
    else:
        path = _example(folder, "p.yaml")
        bad_file = folder / "defaults.yaml"
        bad_file.write_text(f"owner: {_payload(marker)}\n")

    err = _load_error(path, defaults_root=folder)

    assert not marker.exists(), "the payload ran"
    [issue] = [i for i in err.issues if "constructor for the tag" in i.message]
    assert Path(issue.file).resolve() == bad_file.resolve()
    assert "python/object/apply:os.system" in issue.message
    assert issue.line is not None and issue.column is not None
    assert str(err).startswith(str(path) if where != "defaults" else str(bad_file))


@pytest.mark.parametrize("suite", ["../outside/suite.yaml", "{outside}/suite.yaml", "suites/link.yaml"])
def test_suite_path_cannot_leave_the_dags_folder(tmp_path: Path, suite: str) -> None:
    """A suite path would otherwise make the DAG processor read, and quote in errors, any file on the host."""
    folder = tmp_path / "dags"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "suite.yaml").write_text("expectations:\n  - not-a-mapping-with-TOP-SECRET-content\n")
    path = _example(folder, "p.yaml", ("suites/breast_cancer.yaml", suite.format(outside=outside)))
    (folder / "suites" / "link.yaml").symlink_to(outside / "suite.yaml")

    err = _load_error(path, defaults_root=folder)

    [issue] = err.issues
    assert issue.field == "validation.suite", err
    assert "outside the pipelines folder" in issue.message
    assert "TOP-SECRET" not in str(err)


def test_pipeline_loaders_are_safe_loaders_without_python_constructors() -> None:
    """Every loader class the spec's YAML reader defines (pure Python, and libyaml where present)."""
    import airflow_mlops.spec.yaml_source as yaml_source

    loaders = {v for v in vars(yaml_source).values() if isinstance(v, type) and issubclass(v, BaseConstructor)}
    assert PipelineYamlLoader in loaders
    for loader in loaders:
        assert issubclass(loader, SafeConstructor), loader
        assert not issubclass(loader, FullConstructor), loader  # FullLoader, UnsafeLoader and Loader are
        assert not [t for t in loader.yaml_constructors if t and "python" in t], loader
        assert not [t for t in loader.yaml_multi_constructors if t and "python" in t], loader


UNSAFE_YAML_NAMES = {
    "unsafe_load",
    "unsafe_load_all",
    "full_load",
    "full_load_all",
    "Loader",
    "FullLoader",
    "UnsafeLoader",
    "CLoader",
    "CFullLoader",
    "CUnsafeLoader",
}
SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader", "PipelineYamlLoader"}


def _yaml_names(tree: ast.AST) -> tuple[set[str], dict[str, str]]:
    """Local names of the yaml module, and of names imported from it (local -> yaml's)."""
    modules = {"yaml"}
    from_yaml: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.asname or alias.name for alias in node.names if alias.name == "yaml"}
        elif isinstance(node, ast.ImportFrom) and node.module == "yaml":
            from_yaml |= {alias.asname or alias.name: alias.name for alias in node.names}
    return modules, from_yaml


def _yaml_function(func: ast.expr, modules: set[str], from_yaml: dict[str, str]) -> str | None:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
        return func.attr
    return from_yaml.get(func.id) if isinstance(func, ast.Name) else None


def _unsafe_load_call(node: ast.Call, modules: set[str], from_yaml: dict[str, str]) -> str | None:
    """``yaml.load``/``load_all`` without a safe Loader."""
    if _yaml_function(node.func, modules, from_yaml) not in ("load", "load_all"):
        return None
    positional = node.args[1] if len(node.args) > 1 else None
    loader = next((k.value for k in node.keywords if k.arg == "Loader"), positional)
    loader_name = getattr(loader, "attr", None) or getattr(loader, "id", None)
    return None if loader_name in SAFE_LOADERS else f"{ast.unparse(node)} with Loader={loader_name}"


def unsafe_yaml_uses(source: str) -> list[str]:
    """Places in ``source`` that could construct Python objects from YAML."""
    tree = ast.parse(source)
    modules, from_yaml = _yaml_names(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        problem = None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            problem = f"yaml.{node.attr}" if node.attr in UNSAFE_YAML_NAMES else None
        elif isinstance(node, ast.Name) and from_yaml.get(node.id) in UNSAFE_YAML_NAMES:
            problem = f"{node.id} from yaml"
        if isinstance(node, ast.Attribute) and node.attr in ("add_constructor", "add_multi_constructor"):
            problem = f"{ast.unparse(node)} registers a constructor"
        if isinstance(node, ast.Call):
            problem = _unsafe_load_call(node, modules, from_yaml) or problem
        if problem:
            found.append(f"line {getattr(node, 'lineno', '?')}: {problem}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "import yaml\nyaml.load(text)",
        "import yaml\nyaml.load(text, Loader=yaml.Loader)",
        "import yaml as y\ny.load(text, y.UnsafeLoader)",
        "import yaml\nyaml.unsafe_load(text)",
        "import yaml\nyaml.full_load(text)",
        "from yaml import load, FullLoader\nload(text, Loader=FullLoader)",
        "from yaml import unsafe_load as ul\nul(text)",
        "import yaml\nclass L(yaml.FullLoader):\n    pass",
        "import yaml\nyaml.SafeLoader.add_constructor('!x', f)",
    ],
)
def test_the_yaml_scan_catches_unsafe_loading(snippet: str) -> None:
    assert unsafe_yaml_uses(snippet), snippet


def test_the_yaml_scan_accepts_safe_loading() -> None:
    safe = (
        "import yaml\nyaml.safe_load(t)\nyaml.load(t, Loader=yaml.SafeLoader)\nyaml.load(t, Loader=PipelineYamlLoader)"
    )
    assert unsafe_yaml_uses(safe) == []


def test_no_module_loads_yaml_unsafely() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 40
    found = {str(p.relative_to(REPO)): unsafe_yaml_uses(p.read_text(encoding="utf-8")) for p in sources}
    assert not {k: v for k, v in found.items() if v}


# =============================================================== 2. no secrets in YAML

SECRET_KEYS = ["password", "db_password", "passwd", "api_key", "API-KEY", "apikey", "token", "auth_token"]
SECRET_KEYS += ["secret", "client_secret", "access_key", "aws_access_key", "private_key"]
SECRET_PLACES = {
    "top level": ("select_by: f1", "select_by: f1\n{key}: {value}"),
    "data": ("  rev: main", "  rev: main\n  {key}: {value}"),
    "estimator params": ("{C: 1.0, max_iter: 5000}", "{{C: 1.0, {key}: {value}}}"),
}
SECRET_VALUES = {
    "url with password": "https://bob:{secret}@git.example.com/data.git",
    "aws access key id": "AKIA{secret16}",
    "github token": "ghp_{secret36}",
    "slack token": "xoxb-{secret}",
    "private key": "-----BEGIN RSA PRIVATE KEY-----{secret}",
}


@pytest.mark.parametrize("place", list(SECRET_PLACES))
@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_looking_key_is_refused_with_a_pointer_to_connections(tmp_path: Path, key: str, place: str) -> None:
    old, new = SECRET_PLACES[place]
    path = _example(tmp_path, "p.yaml", (old, new.format(key=key, value=PASSWORD)))

    err = _load_error(path)

    [issue] = err.issues
    assert issue.field.endswith(key) and issue.line is not None
    assert "looks like a secret" in issue.message
    assert "Airflow connection" in issue.hint
    assert PASSWORD not in str(err), "the error repeats the secret"


@pytest.mark.parametrize("shape", list(SECRET_VALUES))
def test_secret_looking_value_is_refused_with_a_pointer_to_connections(tmp_path: Path, shape: str) -> None:
    value = SECRET_VALUES[shape].format(secret="S3cretS3cretS3cret", secret16="ABCDEFGHIJKLMNOP", secret36="a1" * 18)
    path = _example(tmp_path, "p.yaml", ("description: Retrain", f'description: "{value}"\nowner: Retrain'))

    err = _load_error(path)

    [issue] = err.issues
    assert (issue.field, issue.line) == ("description", 4)
    assert "must not be written in YAML" in issue.message
    assert "Airflow connection" in issue.hint
    assert value not in str(err)


def test_the_same_file_without_the_secret_loads(tmp_path: Path) -> None:
    """Control for the two tests above: the refusal is about the secret, not the edit or the place."""
    path = _example(
        tmp_path,
        "p.yaml",
        ("{C: 1.0, max_iter: 5000}", "{C: 1.0, token_budget: 5, secret_sauce: none}"),
        ("description: Retrain", 'description: "https://git.example.com/data.git, AKIA-like but not"\nowner: R'),
    )
    spec = load_pipeline_spec(path)
    assert isinstance(spec, RetrainingPipelineSpec) and spec.models[0].params["token_budget"] == 5


# =============================================================== 3. import allowlist


@pytest.fixture
def evil(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A package importable from sys.path that leaves a marker file when imported."""
    folder = tmp_path / "site"
    name, marker = _marker_package(folder)
    monkeypatch.syspath_prepend(str(folder))
    yield name, marker
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


@pytest.mark.parametrize(
    ("field", "old", "new"),
    [
        ("models[0].estimator", "sklearn.linear_model.LogisticRegression", "{pkg}.Estimator"),
        ("models[0].trainer", "estimator: sklearn.linear_model.LogisticRegression", "trainer: {pkg}.core:train"),
        (
            "models[0].preprocessing.steps[0].transformer",
            "    params: {C: 1.0, max_iter: 5000}",
            "    params: {C: 1.0}\n    preprocessing: {steps: [{transformer: {pkg}.Estimator}]}",
        ),
        (
            "notifications.on_failure[0].notifier",
            "select_by: f1",
            "select_by: f1\nnotifications: {on_failure: [{notifier: {pkg}.Estimator}]}",
        ),
    ],
)
def test_import_path_outside_the_allowlist_is_refused_and_not_imported(
    tmp_path: Path, evil: tuple[str, Path], field: str, old: str, new: str
) -> None:
    name, marker = evil
    path = _example(tmp_path, "p.yaml", (old, new.replace("{pkg}", name)))

    err = _load_error(path, allowed_import_prefixes=("sklearn.", "acme_ml."))

    [issue] = err.issues
    assert issue.field == field
    assert "is outside the allowed import prefixes [" in issue.message
    assert "'sklearn.', 'acme_ml.']" in issue.message  # notifiers also allow 'airflow.providers.'

    assert "allowed_import_prefixes option of the mlops section" in issue.message  # no "[mlops]": markup to rich
    assert not marker.exists() and name not in sys.modules


@pytest.mark.parametrize("path", ["acme_ml_evil.Estimator", "acme_mlx.models.Estimator", "xacme_ml.models.E"])
def test_allowlist_prefixes_match_whole_package_names(tmp_path: Path, path: str) -> None:
    spec_path = _example(tmp_path, "p.yaml", ("sklearn.linear_model.LogisticRegression", path))
    err = _load_error(spec_path, allowed_import_prefixes=("acme_ml.", "sklearn."))
    assert [i.field for i in err.issues] == ["models[0].estimator"]
    allowed = _example(tmp_path, "ok.yaml", ("sklearn.linear_model.LogisticRegression", "acme_ml.models.Estimator"))
    spec = load_pipeline_spec(allowed, allowed_import_prefixes=("acme_ml.", "sklearn."))
    assert isinstance(spec, RetrainingPipelineSpec) and spec.models[0].estimator == "acme_ml.models.Estimator"


def test_workers_check_the_allowlist_again_before_importing(evil: tuple[str, Path]) -> None:
    """A DAG serialized under a looser config must not make a worker import the module."""
    import pandas as pd

    from airflow_mlops.ml.estimators import build_pipeline, import_allowed, train_with_function

    name, marker = evil
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ConfigurationError, match="outside the allowed import prefixes"):
        build_pipeline(
            estimator_path=f"{name}.Estimator",
            params={},
            preprocessing={},
            features=frame,
            allowed_prefixes=["sklearn."],
        )
    with pytest.raises(ConfigurationError, match="outside the allowed import prefixes"):
        train_with_function(
            trainer_path=f"{name}.core:train",
            params={},
            features=frame,
            labels=frame["x"],
            allowed_prefixes=["sklearn."],
        )
    assert not marker.exists() and name not in sys.modules
    # Control: the same path with its prefix allowed is imported, so the marker does work.
    assert import_allowed(f"{name}.Estimator", [f"{name}."], "estimator").__name__ == "Estimator"
    assert marker.exists()


# =============================================================== 4. hooks: extras by name, no password leaks


def extra_leaks(source: str) -> list[str]:
    """Uses of a connection's extras other than reading one key (``.get(k)`` or ``[k]``).

    Splatting (``Client(**extra)``), passing the whole dict, iterating or logging it would
    hand unknown extras such as ``verify: false`` or ``proxies`` to a client.
    """
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def whole_extra(node: ast.AST) -> bool:
        value = node.values[0] if isinstance(node, ast.BoolOp) else node  # `conn.extra_dejson or {}`
        return isinstance(value, ast.Attribute) and value.attr in ("extra_dejson", "extra")

    names = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and whole_extra(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found: list[str] = []
    for node in ast.walk(tree):
        is_extra = (isinstance(node, ast.Attribute) and node.attr in ("extra_dejson", "extra")) or (
            isinstance(node, ast.Name) and node.id in names
        )
        if not is_extra or not isinstance(getattr(node, "ctx", None), ast.Load):
            continue
        parent = parents[node]
        by_key = (isinstance(parent, ast.Subscript) and parent.value is node) or (
            isinstance(parent, ast.Attribute) and parent.attr == "get" and isinstance(parents.get(parent), ast.Call)
        )
        assign = parents.get(parent) if isinstance(parent, ast.BoolOp) else parent
        # Only `name = conn.extra_dejson [or {}]`: that name's own uses are checked like the attribute's.
        assigned = isinstance(assign, ast.Assign) and all(isinstance(t, ast.Name) for t in assign.targets)
        if not (by_key or assigned):
            found.append(f"line {getattr(node, 'lineno', '?')}: {ast.unparse(parent)}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "client = Client(**conn.extra_dejson)",
        "extra = conn.extra_dejson\nclient = Client(url, **extra)",
        "extra = conn.extra_dejson or {}\noptions = {**extra, 'a': 1}",
        "extra = conn.extra_dejson\nself.log.info('extras: %s', extra)",
        "self.options = conn.extra_dejson\nclient = Client(**self.options)",
        "session.verify = dict(conn.extra_dejson)",
        "for key, value in conn.extra_dejson.items():\n    setattr(client, key, value)",
    ],
)
def test_the_extras_scan_catches_whole_extra_use(snippet: str) -> None:
    assert extra_leaks(snippet), snippet


def test_hooks_read_connection_extras_by_name_only() -> None:
    hooks = sorted((PACKAGE / "hooks").glob("*.py"))
    assert {p.name for p in hooks} >= {"mlflow.py", "dvc.py"}
    found = {p.name: extra_leaks(p.read_text(encoding="utf-8")) for p in hooks}
    assert not {k: v for k, v in found.items() if v}
    # The scan does see the reads that are there.
    assert "extra_dejson" in (PACKAGE / "hooks" / "mlflow.py").read_text()


UNKNOWN_EXTRAS = {
    "verify": False,
    "proxies": {"https": "http://evil-proxy.example:3128"},
    "headers": {"X-Evil": "1"},
    "MLFLOW_TRACKING_INSECURE_TLS": "true",
    "config": {"core": {"remote": "evil"}},
}


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_type: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": conn_type, **fields}))


def test_mlflow_hook_ignores_unknown_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from airflow_mlops.hooks.mlflow import MlflowHook

    _set_conn(
        monkeypatch,
        "mlflow_x",
        "mlflow",
        login="alice",
        password=PASSWORD,
        extra={**UNKNOWN_EXTRAS, "tracking_uri": "http://mlflow.internal:5000", "registry_uri": "http://reg:5001"},
    )
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_INSECURE_TLS", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    clients: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(mlflow, "MlflowClient", lambda *args, **kwargs: clients.append((args, kwargs)))
    # The hosts are fictitious: no preflight (tests/unit/hooks/test_fail_fast.py covers it).
    monkeypatch.setattr(MlflowHook, "check_reachable", lambda self: None)
    hook = MlflowHook("mlflow_x")
    before = dict(os.environ)

    with hook.session():
        inside = dict(os.environ)
        hook.get_client()
    changed = {k for k in inside if inside.get(k) != before.get(k)}

    assert changed <= {
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        # the hook's own bounds on MLflow's HTTP retries (hooks/mlflow_reach.py), never an extra's value
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
    }
    assert {inside[k] for k in changed if k.startswith("MLFLOW_HTTP_")} <= {"1", "15"}
    assert clients == [((), {"tracking_uri": "http://mlflow.internal:5000", "registry_uri": "http://reg:5001"})]
    assert not [k for k in changed if "evil" in inside[k]]


# =============================================================== 5. models load only from the registry

URIS_OUTSIDE_THE_REGISTRY = [
    "runs:/0123456789abcdef/model",
    "/tmp/model",
    "file:///tmp/model",
    "http://evil.example/model.pkl",
    "s3://bucket/model",
    "mlflow-artifacts:/0/abc/artifacts/model",
]


@pytest.mark.parametrize(
    ("template", "old", "field"),
    [
        ("breast_cancer_scoring.yaml", "  name: breast_cancer_classifier", "model.name"),
        ("breast_cancer_drift.yaml", "  name: breast_cancer_classifier", "model.name"),
        ("breast_cancer.yaml", "  model_name: breast_cancer_classifier", "registry.model_name"),
    ],
)
@pytest.mark.parametrize("uri", [*URIS_OUTSIDE_THE_REGISTRY, "models:/other@champion", "../x", "m/1"])
def test_spec_cannot_name_a_model_outside_the_registry(
    tmp_path: Path, template: str, old: str, field: str, uri: str
) -> None:
    """Pipelines name a registered model; the operators build ``models:/<name>/<version>`` from it."""
    text = (PIPELINES / template).read_text(encoding="utf-8")
    assert old in text
    key = old.split(":")[0]
    (tmp_path / "suites").mkdir()
    shutil.copy(SUITE, tmp_path / "suites" / "breast_cancer.yaml")
    path = tmp_path / template
    path.write_text(text.replace(old, f"{key}: {json.dumps(uri)}"), encoding="utf-8")

    err = _load_error(path)

    assert field in [issue.field for issue in err.issues], str(err)


class _Loaded(Exception):
    """Raised by the load_model spy: the operator got as far as loading."""


@pytest.mark.parametrize("uri", URIS_OUTSIDE_THE_REGISTRY)
def test_evaluate_refuses_a_candidate_model_uri_outside_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str
) -> None:
    """The candidate's model_uri comes from XCom (or, on a retry, from an MLflow run tag)."""
    loaded = _evaluate_with_spy(tmp_path, monkeypatch, uri)
    assert loaded == [], f"EvaluateCandidatesOperator handed {uri!r} to mlflow.sklearn.load_model"


def test_evaluate_loads_only_the_model_this_runs_training_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a real MLflow store: the candidate's own logged model loads; another run's is refused unread.

    Also the control for the test above: a URI that passes the check does reach the loader.
    """
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from airflow_mlops.errors import UntrustedModelError
    from airflow_mlops.operators.evaluate import EvaluateCandidatesOperator

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _set_conn(monkeypatch, "mlflow_real", "mlflow", extra={"tracking_uri": store,
              "artifact_location": str(tmp_path / "artifacts")})  # fmt: skip
    client = mlflow.MlflowClient(tracking_uri=store, registry_uri=store)
    experiment_id = client.create_experiment("e", artifact_location=str(tmp_path / "artifacts" / "e"))
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "target": [0, 0, 1, 1]})
    test_file = tmp_path / "test.parquet"
    frame.to_parquet(test_file)
    model = LogisticRegression().fit(frame[["x"]], frame["target"])

    def log(tags: dict[str, str]) -> tuple[str, str]:
        mlflow.set_tracking_uri(store)
        with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
            info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
        return run.info.run_id, info.model_uri

    ours = {"mlops.dag_id": "d", "mlops.run_id": "r", "mlops.role": "candidate", "mlops.candidate": "logreg"}
    own_run, own_uri = log(ours)
    other_run, other_uri = log({**ours, "mlops.run_id": "someone-else"})

    def evaluate(model_uri: str, mlflow_run_id: str) -> dict[str, Any]:
        operator = EvaluateCandidatesOperator(
            task_id="evaluate",
            dataset={"test_uri": f"file://{test_file}", "target": "target"},
            trained=[{"candidate": "logreg", "model_uri": model_uri, "mlflow_run_id": mlflow_run_id}],
            experiment="e",
            model_name="security_model",
            mlflow_conn_id="mlflow_real",
        )
        context: Any = {"dag_run": SimpleNamespace(dag_id="d", run_id="r")}
        return dict(operator.execute(context))

    loaded: list[str] = []
    real_load = mlflow.sklearn.load_model

    def spy(model_uri: str, *args: Any, **kwargs: Any) -> Any:
        loaded.append(model_uri)
        return real_load(model_uri, *args, **kwargs)

    monkeypatch.setattr(mlflow.sklearn, "load_model", spy)
    assert evaluate(own_uri, own_run)["candidates"][0]["metrics"]
    assert loaded == [own_uri]
    # Another run's model, claimed as ours or under its own run id: refused before loading.
    for uri, run_id in ((other_uri, own_run), (other_uri, other_run)):
        with pytest.raises(UntrustedModelError, match="refusing to load"):
            evaluate(uri, run_id)
    assert loaded == [own_uri]

    # Step caching: this run adopts the model an earlier run of the same pipeline trained for the same
    # candidate. It loads only while the adopting run names that run and that model, and only a model
    # trained by this pipeline for this candidate.
    model_id = other_uri.removeprefix("models:/")
    foreign_run, foreign_uri = log({**ours, "mlops.dag_id": "another-pipeline"})

    def adopt(source_run: str, source_model: str) -> str:
        tags = {**ours, "mlops.cache.source_run": source_run, "mlops.model_id": source_model}
        return client.create_run(experiment_id, tags=tags).info.run_id

    def finished(run_id: str) -> str:
        client.set_terminated(run_id)
        return run_id

    assert evaluate(other_uri, finished(adopt(other_run, model_id)))["candidates"][0]["metrics"]
    assert loaded == [own_uri, other_uri]
    refused = [
        (other_uri, adopt(other_run, model_id)),  # the adopting run is not finished
        (other_uri, finished(adopt(own_run, model_id))),  # names another source run
        (other_uri, finished(adopt(other_run, "m-0"))),  # names another model
        (foreign_uri, finished(adopt(foreign_run, foreign_uri.removeprefix("models:/")))),  # another pipeline's
    ]
    for uri, run_id in refused:
        with pytest.raises(UntrustedModelError, match="refusing to load"):
            evaluate(uri, run_id)
    assert loaded == [own_uri, other_uri]


def _evaluate_with_spy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str) -> list[str]:
    import mlflow.sklearn
    import pandas as pd

    from airflow_mlops.operators.evaluate import EvaluateCandidatesOperator

    test_file = tmp_path / "test.parquet"
    pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "target": [0, 0, 1, 1]}).to_parquet(test_file)
    # A closed port: nothing may talk to MLflow before the model is loaded.
    _set_conn(monkeypatch, "mlflow_spy", "mlflow", extra={"tracking_uri": "http://127.0.0.1:9"})
    loaded: list[str] = []

    def spy(model_uri: str, *args: Any, **kwargs: Any) -> Any:
        loaded.append(model_uri)
        raise _Loaded(model_uri)

    monkeypatch.setattr(mlflow.sklearn, "load_model", spy)
    operator = EvaluateCandidatesOperator(
        task_id="evaluate",
        dataset={"test_uri": f"file://{test_file}", "target": "target"},
        trained=[{"candidate": "logreg", "model_uri": uri, "mlflow_run_id": "r1"}],
        experiment="e",
        model_name="breast_cancer_classifier",
        mlflow_conn_id="mlflow_spy",
    )
    context: Any = {"dag_run": SimpleNamespace(dag_id="d", run_id="r")}
    with pytest.raises(Exception):  # noqa: B017 - refusing or loading, execute cannot succeed here
        operator.execute(context)
    return loaded
