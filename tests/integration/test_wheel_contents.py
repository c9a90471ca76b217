"""What `pip install airflow-mlops` really gets: the wheel, built here the way pip builds it.

The UI plugin serves its stylesheet, icon and Jinja templates from the installed package
(``importlib.resources`` and Jinja's ``PackageLoader``), and Airflow finds the provider and the
plugin only through the wheel's entry points. An editable install hides a wheel that lacks any
of them, so the wheel is built and opened. The build uses the venv's hatchling with no build
isolation and no index: nothing is downloaded.

Issue #5 also says the UI's assets ship inside the wheel and nothing is fetched at run time:
no page or stylesheet may point at another host.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "airflow_mlops" / "plugins"
# The model card templates render the card in the ML view and in the artifacts register stores.
UI_DIRS = (PLUGINS / "static", PLUGINS / "templates", ROOT / "airflow_mlops" / "card" / "templates")
# The one absolute URL allowed in UI assets: an SVG's namespace, an identifier that is never fetched.
ALLOWED_URLS = {'xmlns="http://www.w3.org/2000/svg"'}
URL = re.compile(r"""(?:xmlns(?::\w+)?=["'])?https?://[^\s"'<>)]*["']?""", re.IGNORECASE)
# Protocol-relative references (`src="//cdn..."`, `url(//...)`) fetch from another host too.
PROTOCOL_RELATIVE = re.compile(r"""(?:src|href|action)\s*=\s*["']//|url\(\s*["']?//|@import\s+["']//""", re.I)


def _ui_files() -> list[Path]:
    return sorted(p for d in UI_DIRS for p in d.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    assert importlib.util.find_spec("hatchling") is not None, (
        "hatchling (the build backend) is not in this environment; it is in the dev extra: reinstall with `make`"
    )
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [built] = out.glob("airflow_mlops-*.whl")
    archive = zipfile.ZipFile(built)
    yield archive
    archive.close()


def _names(wheel: zipfile.ZipFile) -> set[str]:
    return set(wheel.namelist())


def _dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    [path] = [n for n in wheel.namelist() if re.fullmatch(rf"airflow_mlops-[^/]+\.dist-info/{name}", n)]
    return wheel.read(path).decode()


def test_ui_assets_and_templates_are_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = _names(wheel)
    on_disk = {p.relative_to(ROOT).as_posix() for p in _ui_files()}
    assert {"airflow_mlops/plugins/static/style.css", "airflow_mlops/plugins/static/icon.svg"} <= on_disk
    assert "airflow_mlops/plugins/templates/run.html" in on_disk
    missing = sorted(on_disk - names)
    assert not missing, f"the wheel lacks UI files the plugin serves: {missing}"
    assert any(n.endswith(".html") for n in names & on_disk)
    for name in on_disk:
        assert wheel.read(name) == (ROOT / name).read_bytes(), name


def test_every_module_of_the_package_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    on_disk = {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "airflow_mlops").rglob("*.py") if "__pycache__" not in p.parts
    }
    assert not sorted(on_disk - _names(wheel))
    # Only the package goes in: no tests, dags, scripts or docs beside it.
    top_level = {n.split("/")[0] for n in _names(wheel)}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"airflow_mlops"}


def test_provider_metadata_ships_and_matches_provider_yaml(wheel: zipfile.ZipFile) -> None:
    """Airflow reads provider info from the wheel's entry point, so both must be in it."""
    entry_points = configparser.ConfigParser()
    entry_points.read_string(_dist_info(wheel, "entry_points.txt"))
    assert dict(entry_points["apache_airflow_provider"]) == {
        "provider_info": "airflow_mlops.get_provider_info:get_provider_info"
    }
    assert dict(entry_points["airflow.plugins"]) == {"airflow_mlops": "airflow_mlops.plugins.plugin:MlopsUiPlugin"}
    assert dict(entry_points["console_scripts"]) == {"airflow-mlops": "airflow_mlops.cli:main"}
    namespace: dict[str, Any] = {}
    exec(compile(wheel.read("airflow_mlops/get_provider_info.py"), "get_provider_info.py", "exec"), namespace)
    assert namespace["get_provider_info"]() == yaml.safe_load((ROOT / "providers" / "provider.yaml").read_text())
    metadata = _dist_info(wheel, "METADATA")
    assert re.search(r"^Name: airflow-mlops$", metadata, re.MULTILINE)
    assert re.search(r"^Classifier: Framework :: Apache Airflow :: Provider$", metadata, re.MULTILINE)


@pytest.mark.parametrize("path", _ui_files(), ids=lambda p: p.relative_to(ROOT / "airflow_mlops").as_posix())
def test_ui_files_fetch_nothing_from_other_hosts(path: Path) -> None:
    text = path.read_text()
    urls = [m.group(0) for m in URL.finditer(text)]
    assert [u for u in urls if u not in ALLOWED_URLS] == [], f"{path.name} points at another host"
    assert PROTOCOL_RELATIVE.findall(text) == [], f"{path.name} has a protocol-relative reference"


def test_url_scan_is_not_vacuous() -> None:
    assert [m.group(0) for m in URL.finditer('<svg xmlns="http://www.w3.org/2000/svg">')] == list(ALLOWED_URLS)
    for bad in (
        '<script src="https://cdn.jsdelivr.net/npm/chart.js"></script>',
        "@import url('http://fonts.googleapis.com/css?family=Inter');",
        '<svg xmlns="http://www.w3.org/2000/svg"><image href="https://example.com/a.png"/></svg>',
    ):
        assert [m.group(0) for m in URL.finditer(bad) if m.group(0) not in ALLOWED_URLS], bad
    for bad in ('<link href="//cdn.example.com/x.css">', "background: url(//cdn.example.com/x.png)"):
        assert PROTOCOL_RELATIVE.findall(bad), bad
