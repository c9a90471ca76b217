"""Installing the built wheel into an environment that already has Airflow, as a user does (issue #15).

A plain ``pip install airflow-mlops`` once pulled celery 5.7.0 through dvc (dvc-task needs
Celery), and 5.7.0 breaks the Celery provider 3.26. What proves that the package's metadata
now refuses it is pip's own resolver, offered both releases: here a fresh virtualenv sees the
project's installed packages (Airflow, the providers, MLflow...) through a .pth file, minus
this package and minus Celery, and pip must choose a Celery for the wheel from a local folder
holding 5.6.3 and 5.7.0 (metadata-only stand-ins: a dry run reads metadata, it installs
nothing). Before the cap it chose 5.7.0.

The same kind of environment, with Celery, then gets the wheel itself (``--no-deps``): ``pip
check`` must find nothing broken, and Airflow must discover the provider and import the Celery
executor from it. Nothing is downloaded: pip runs with ``--isolated --no-index``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
# The release that removed celery.backends.database.retry, which the Celery provider 3.26 imports.
BREAKING_CELERY = "5.7.0"
PIP = [sys.executable, "-m", "pip"]
OFFLINE = ["--isolated", "--no-index", "--disable-pip-version-check"]


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = _run([*PIP, "wheel", "--no-deps", "--no-build-isolation", *OFFLINE, "-w", str(out), "."], cwd=ROOT)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [path] = out.glob("airflow_mlops-*.whl")
    return path


def _is_dist(entry: str, name: str) -> bool:
    """Whether a site-packages entry belongs to distribution ``name`` (its package, dist-info, .pth)."""
    stem = canonicalize_name(entry.split("-")[0].removesuffix(".pth").removesuffix(".py").lstrip("_"))
    return stem == canonicalize_name(name) or entry.startswith(f"__editable__.{name.replace('-', '_')}")


def _beside_airflow(where: Path, *, without: tuple[str, ...]) -> Path:
    """A fresh virtualenv that sees the project's packages, except the distributions ``without``.

    Their site-packages is mirrored by symlinks into a folder that a .pth file puts on sys.path,
    so nothing is reinstalled (Airflow, MLflow and the rest take minutes to install).
    """
    mirror = where / "installed"
    mirror.mkdir(parents=True)
    for entry in SITE_PACKAGES.iterdir():
        if entry.suffix != ".pth" and not any(_is_dist(entry.name, name) for name in without):
            (mirror / entry.name).symlink_to(entry)
    venv = where / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    [site] = (venv / "lib").glob("python3*/site-packages")
    (site / "beside-airflow.pth").write_text(f"{mirror}\n")
    return venv / "bin" / "python"


def _stub_wheel(folder: Path, version: str) -> None:
    """A wheel of Celery ``version`` that holds only metadata: enough for pip's resolver."""
    info = f"celery-{version}.dist-info"
    with zipfile.ZipFile(folder / f"celery-{version}-py3-none-any.whl", "w") as archive:
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: celery\nVersion: {version}\n"
                         "Provides-Extra: redis\n")  # fmt: skip
        archive.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{info}/RECORD", "")


def test_a_plain_install_chooses_a_celery_the_provider_works_with(wheel: Path, tmp_path: Path) -> None:
    python = _beside_airflow(tmp_path, without=("airflow-mlops", "celery"))
    offered = tmp_path / "offered"
    offered.mkdir()
    installed = Version(__import__("celery").__version__)
    for version in (str(installed), BREAKING_CELERY):
        _stub_wheel(offered, version)
    report = tmp_path / "report.json"

    resolved = _run([*PIP, "--python", str(python), "install", *OFFLINE, "--dry-run", "--find-links", str(offered),
                     "--report", str(report), str(wheel)])  # fmt: skip

    assert resolved.returncode == 0, resolved.stdout[-3000:] + resolved.stderr[-3000:]
    chosen = {
        item["metadata"]["name"]: item["metadata"]["version"] for item in json.loads(report.read_text())["install"]
    }
    assert "airflow-mlops" in chosen, chosen
    assert chosen["celery"] == str(installed), f"pip chose celery {chosen['celery']} for a plain install"


def test_asking_for_the_breaking_celery_is_refused_by_the_packages_metadata(wheel: Path, tmp_path: Path) -> None:
    python = _beside_airflow(tmp_path, without=("airflow-mlops", "celery"))
    offered = tmp_path / "offered"
    offered.mkdir()
    _stub_wheel(offered, BREAKING_CELERY)

    resolved = _run([*PIP, "--python", str(python), "install", *OFFLINE, "--dry-run", "--find-links", str(offered),
                     str(wheel), f"celery=={BREAKING_CELERY}"])  # fmt: skip

    said = resolved.stdout + resolved.stderr
    assert resolved.returncode != 0
    assert "ResolutionImpossible" in said, said[-3000:]
    assert re.search(r"airflow-mlops 0\.1\.0 depends on celery<5\.7", said), said[-3000:]


def test_the_tested_constraints_satisfy_the_wheels_requirements(wheel: Path) -> None:
    """requirements/constraints.txt (what `make` installs and CI tests) must be an install pip can make."""
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    required = [Requirement(line.partition(": ")[2]) for line in lines if line.startswith("Requires-Dist: ")]
    pins = {}
    for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = Version(version.strip())
    unconditional = [r for r in required if r.marker is None or r.marker.evaluate({"extra": ""})]
    assert any(r.name == "celery" for r in unconditional), "the wheel does not cap Celery"
    for requirement in unconditional:
        pinned = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pinned, prereleases=True), f"{requirement} refuses the pinned {pinned}"
        if requirement.name == "celery":
            assert not requirement.specifier.contains(BREAKING_CELERY), requirement


def test_the_wheel_beside_airflow_passes_pip_check_and_loads_as_a_provider(wheel: Path, tmp_path: Path) -> None:
    python = _beside_airflow(tmp_path, without=("airflow-mlops",))
    installed = _run([*PIP, "--python", str(python), "install", *OFFLINE, "--no-deps", str(wheel)])
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    checked = _run([*PIP, "--python", str(python), "check"])
    assert checked.returncode == 0, checked.stdout + checked.stderr

    probe = (
        "import airflow_mlops, sys\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "import airflow.providers.celery.executors.celery_executor\n"
        "print(airflow_mlops.__file__)\n"
        "print(sorted(ProvidersManager().providers))\n"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home")}
    loaded = _run([str(python), "-c", probe], env=env, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    module_file, providers = loaded.stdout.splitlines()[-2:]
    assert Path(module_file).is_relative_to(python.parent.parent), f"imported from {module_file}, not the wheel"
    assert "'airflow-mlops'" in providers and "'apache-airflow-providers-celery'" in providers, providers
