"""The ML view, end to end: the demo's two runs, a real ``airflow api-server``, real headless Chromium.

One module-scoped deployment serves every test here:

1. ``airflow-mlops demo`` runs the example pipeline twice into a temporary workdir (sqlite
   Airflow DB, sqlite MLflow, git + DVC data repo): the run test_demo.py checks (``demo_clone`` in
   conftest.py), read here before test_demo.py's drill changes it;
2. ``airflow api-server`` starts on 127.0.0.1 and a free port against that database, with the
   plugin loaded through its ``airflow.plugins`` entry point and SimpleAuthManager users whose
   passwords the test writes itself;
3. Playwright drives Debian's ``/usr/bin/chromium`` (installed by ``scripts/ensure_chromium.sh``
   when missing; Playwright never downloads a browser) through the real login page.

Screenshots are written to a temporary folder; with ``UPDATE_UI_SCREENSHOTS=1`` they also
replace the ones in ``docs/images/`` that ``docs/ui.md`` shows.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from airflow_mlops.demo.runner import DAG_ID, MODEL_NAME, demo_environment
from tests.integration.demo_clone import DemoClone
from tests.integration.harness import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMAGES = REPO_ROOT / "docs" / "images"
# What the browser-test probe of this machine kind uses: no sandbox as root, and nothing that
# reaches out to Google's services (the network is closed; each attempt would slow Chromium down).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERS = {"admin": "admin", "viewer": "viewer"}
VIEWPORT = {"width": 1440, "height": 1200}


@dataclass
class Deployment:
    url: str
    env: dict[str, str]
    passwords: dict[str, str]
    screenshots: Path
    run_ids: list[str] = field(default_factory=list)  # oldest first
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, user: str = "admin") -> str:
        if user not in self._tokens:
            response = httpx.post(
                f"{self.url}/auth/token", json={"username": user, "password": self.passwords[user]}, timeout=30
            )
            assert response.status_code == 201, response.text
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def get(self, path: str, user: str | None = "admin", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def api(self, path: str) -> Any:
        response = self.get(f"/api/v2{path}")
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def xcom(self, run_id: str, task_id: str, map_index: int = -1) -> Any:
        path = f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.api(f"{path}?map_index={map_index}")["value"]

    def extra_links(self, run_id: str, task_id: str, map_index: int = -1) -> dict[str, str]:
        path = f"/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/links"
        links: dict[str, str] = self.api(f"{path}?map_index={map_index}")["extra_links"]
        return links


def _ensure_chromium() -> None:
    if CHROMIUM.exists():
        return
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "ensure_chromium.sh")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and CHROMIUM.exists(), f"cannot install chromium:\n{result.stdout}{result.stderr}"


def _start_api_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    airflow = str(Path(sys.executable).with_name("airflow"))
    with log.open("wb") as handle:
        # Its own process group, so teardown stops the server and anything it forked, and nothing else.
        process = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"api-server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(1)
    _stop(process)
    raise AssertionError(f"api-server did not answer within 180 s:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:  # a graceful stop waits out the browser's keep-alive connections (about 20 s): not worth waiting for
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def deployment(demo_clone: DemoClone) -> Iterator[Deployment]:
    _ensure_chromium()
    assert demo_clone.result.returncode == 0, demo_clone.result.stdout[-3000:] + demo_clone.result.stderr[-3000:]
    root = Path(tempfile.mkdtemp(prefix="mlops-ui-"))
    try:
        yield from _deploy(demo_clone.workdir, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _deploy(workdir: Path, root: Path) -> Iterator[Deployment]:
    port = free_port()
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    password_file = root / "passwords.json"
    password_file.write_text(json.dumps(passwords))
    env = demo_environment(workdir, workdir / "dags")  # the demo's own dags folder, as it ran
    env.update(
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(48),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    process = _start_api_server(env, port, root / "api-server.log")
    screenshots = root / "screenshots"
    screenshots.mkdir()
    try:
        deploy = Deployment(url=f"http://127.0.0.1:{port}", env=env, passwords=passwords, screenshots=screenshots)
        runs = deploy.api(f"/dags/{DAG_ID}/dagRuns?order_by=run_after")["dag_runs"]
        deploy.run_ids = [r["dag_run_id"] for r in runs]
        assert len(deploy.run_ids) == 3, runs
        # The first request to the plugin builds its app and imports MLflow (seconds on a busy
        # machine); make it here rather than inside a browser wait.
        warm = deploy.get("/mlops/api/pipelines")
        assert warm.status_code == 200, warm.text[:500]
        yield deploy
    finally:
        _stop(process)


def _screenshot(page: Any, deploy: Deployment, name: str) -> None:
    path = deploy.screenshots / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{name} looks empty"
    if os.environ.get("UPDATE_UI_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_IMAGES / name)


def _verdict(deploy: Deployment, run_id: str) -> str:
    return str(deploy.xcom(run_id, "gate")["verdict"]["decision"]).upper()


# --- acceptance 1: log in, open ML Pipelines, see both runs' verdicts, open a run and its gate table ----


def test_browser_logs_in_and_walks_the_ml_views(deployment: Deployment) -> None:
    from playwright.sync_api import expect, sync_playwright

    deploy = deployment
    first, second, third = deploy.run_ids
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(60_000)
            expect.set_options(timeout=60_000)

            # The real login page of Airflow's auth manager; anonymous visitors are sent there.
            page.goto(f"{deploy.url}/")
            page.wait_for_url(re.compile(r".*/auth/login.*"))
            page.get_by_label("Username").fill("viewer")
            page.get_by_label("Password").fill(deploy.passwords["viewer"])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(re.compile(rf"^{re.escape(deploy.url)}/(?!auth).*"))
            assert any(c["name"] == "_token" for c in page.context.cookies())

            # ML Pipelines, from the navigation bar: the plugin's page in Airflow's iframe.
            page.get_by_role("link", name="ML Pipelines").first.click()
            page.wait_for_url(re.compile(r".*/plugin/ml-pipelines.*"))
            frame = page.frame_locator("iframe[title='ML Pipelines']")
            pipeline = frame.locator(f"section.pipeline[data-dag-id='{DAG_ID}']")
            expect(pipeline).to_be_visible()
            expect(pipeline.locator("h2")).to_have_text(DAG_ID)
            expect(pipeline.locator(".fact .v").first).to_contain_text(MODEL_NAME)
            expect(pipeline.locator("a.champion")).to_contain_text("@champion")
            expect(pipeline.locator("svg.sparkline circle")).to_have_count(3)
            rows = pipeline.locator("tr.run")
            expect(rows).to_have_count(3)
            for run_id in (first, second, third):
                row = pipeline.locator(f"tr.run[data-run-id='{run_id}']")
                expect(row.locator(".badge.verdict")).to_have_text(_verdict(deploy, run_id))
            _screenshot(page, deploy, "ui-pipelines.png")

            # The second run's view, by clicking it: the gate table against champion v1.
            pipeline.locator(f"tr.run[data-run-id='{second}'] a").click()
            gate = frame.locator("table.gate")
            expect(gate).to_be_visible()
            expect(gate.locator("th")).to_have_text(
                ["rule", "metric", "candidate", "champion", "threshold", "delta", "result", "reason"],
                ignore_case=True,
            )
            verdict = deploy.xcom(second, "gate")["verdict"]
            expect(gate.locator("tbody tr")).to_have_count(len(verdict["outcomes"]))
            [outcome] = [o for o in verdict["outcomes"] if o["kind"] == "champion"]
            champion_rule = gate.locator("tbody tr", has_text=outcome["rule"])
            expect(champion_rule.locator("td.num").nth(1)).to_have_text(f"{outcome['champion_value']:.4f}")
            summary = frame.locator("#gate .summary")
            expect(summary).to_contain_text(f"{verdict['decision'].upper()} {verdict['candidate']}")
            expect(summary).to_contain_text("against champion v1")
            expect(frame.locator("#data")).to_contain_text(deploy.xcom(second, "resolve_data")["commit"])
            expect(frame.locator("#validation")).to_contain_text("9/9 expectations met")
            expect(frame.locator("table.metrics tbody tr")).to_have_count(3)  # two candidates and the champion
            # The winner answered in a real model server before it was registered: one row per check.
            expect(frame.locator("#serving .summary")).to_contain_text("pass")
            expect(frame.locator("#serving tbody tr.pass")).to_have_count(5)
            _screenshot(page, deploy, "ui-run.png")

            # The validation report, from the run view.
            frame.get_by_role("link", name="Full validation report").click()
            expect(frame.locator("table.expectations tbody tr")).to_have_count(9)
            _screenshot(page, deploy, "ui-validation.png")

            # The third run found run 2's results: the step cache table, and a gate that changed nothing.
            page.goto(f"{deploy.url}/dags/{DAG_ID}/runs/{quote(third, safe='')}/plugin/ml-run")
            reran = page.frame_locator("iframe[title='ML run']")
            expect(reran.locator("#gate .summary")).to_contain_text("UNCHANGED")
            steps = reran.locator("table.cache tbody tr")
            # validate_data, prepare_data, the two candidates' training and scores, the champion's scores
            expect(steps).to_have_count(7)
            expect(steps.locator(".badge.hit")).to_have_count(7)
            expect(steps.first).to_contain_text(f"reused from {second}")
            expect(reran.locator("#registry")).to_contain_text(
                "nothing changed: the champion already serves this model"
            )

            # The same run view as the "ML run" tab of the DAG run page.
            page.goto(f"{deploy.url}/dags/{DAG_ID}/runs/{quote(first, safe='')}/plugin/ml-run")
            tab = page.frame_locator("iframe[title='ML run']")
            expect(tab.locator("#gate .summary")).to_contain_text("no champion yet")

            # The model page as the "ML model" tab of the DAG: versions, aliases, history, lineage.
            page.goto(f"{deploy.url}/dags/{DAG_ID}/plugin/ml-model")
            model = page.frame_locator("iframe[title='ML model']")
            expect(model.locator("h1")).to_have_text(f"Model {MODEL_NAME}")
            expect(model.locator("table.versions tbody tr")).to_have_count(2)
            expect(model.locator("#v2")).to_contain_text("@champion")
            expect(model.locator("#v1")).to_contain_text("@previous")
            expect(model.locator("table.history tbody tr")).to_have_count(2)
            _screenshot(page, deploy, "ui-model.png")
            model.locator("#v2 a").first.click()
            expect(model.locator("dl.lineage")).to_contain_text(deploy.xcom(second, "resolve_data")["commit"])
            # The version's model card, stored at registration, rendered in the page.
            expect(model.locator("#model-card h2")).to_contain_text(f"Model card: {MODEL_NAME} v2")
            expect(model.locator("#model-card")).to_contain_text(deploy.xcom(second, "resolve_data")["commit"])
            expect(model.locator("#serving")).to_contain_text("matched its offline predictions")
        finally:
            browser.close()


# --- acceptance 2: every endpoint refuses anonymous and forged requests ------------------------------


def _plugin_urls(deploy: Deployment) -> dict[str, str]:
    """One concrete URL per route of the plugin app, keyed by the route's path template."""
    run = quote(deploy.run_ids[1], safe="")
    mlflow_run_id = deploy.xcom(deploy.run_ids[1], "train", 0)["mlflow_run_id"]
    return {
        "/": "/mlops/",
        "/static/{name}": "/mlops/static/style.css",
        "/pipelines": "/mlops/pipelines",
        "/dags/{dag_id}/runs/{run_id:path}/validation": f"/mlops/dags/{DAG_ID}/runs/{run}/validation",
        "/dags/{dag_id}/runs/{run_id:path}": f"/mlops/dags/{DAG_ID}/runs/{run}",
        "/dags/{dag_id}/model": f"/mlops/dags/{DAG_ID}/model",
        "/models/{model_name}": f"/mlops/models/{MODEL_NAME}",
        "/models/{model_name}/versions/{version}": f"/mlops/models/{MODEL_NAME}/versions/2",
        "/models/{model_name}/versions/{version}/model_card.md": f"/mlops/models/{MODEL_NAME}/versions/2/model_card.md",
        "/mlflow-runs/{mlflow_run_id}": f"/mlops/mlflow-runs/{mlflow_run_id}",
        "/api/pipelines": "/mlops/api/pipelines",
        "/api/dags/{dag_id}/runs/{run_id:path}": f"/mlops/api/dags/{DAG_ID}/runs/{run}",
        "/api/models/{model_name}": f"/mlops/api/models/{MODEL_NAME}",
        "/environments": "/mlops/environments",
        "/api/environments": "/mlops/api/environments",
    }


def test_every_endpoint_refuses_unauthenticated_requests(deployment: Deployment) -> None:
    from airflow_mlops.plugins.app import create_app

    urls = _plugin_urls(deployment)
    routes = {getattr(route, "path", None) for route in create_app().routes} - {None}
    assert set(urls) == routes, "a route was added or removed: list it in _plugin_urls"
    forged = "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"
    for url in urls.values():
        anonymous = deployment.get(url, user=None, follow_redirects=False)
        assert anonymous.status_code == 401, (url, anonymous.status_code, anonymous.text[:200])
        assert MODEL_NAME not in anonymous.text and DAG_ID not in anonymous.text
        bearer = deployment.get(url, user=None, headers={"Authorization": f"Bearer {forged}"}, follow_redirects=False)
        assert bearer.status_code in (401, 403), (url, bearer.status_code)
        cookie = deployment.get(url, user=None, cookies={"_token": forged}, follow_redirects=False)
        assert cookie.status_code in (401, 403), (url, cookie.status_code)
        # ...and the same URL answers a signed-in user, so the refusals above are about auth.
        allowed = deployment.get(url, user="viewer", follow_redirects=False)
        assert allowed.status_code in (200, 307), (url, allowed.status_code, allowed.text[:300])


def test_pages_send_a_no_script_content_security_policy(deployment: Deployment) -> None:
    response = deployment.get("/mlops/pipelines")
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "<script" not in response.text


def test_json_api_matches_airflow_and_mlflow(deployment: Deployment) -> None:
    deploy = deployment
    pipelines = deploy.get("/mlops/api/pipelines").json()["pipelines"]
    [pipeline] = [p for p in pipelines if p["dag_id"] == DAG_ID]
    assert pipeline["models"] == [MODEL_NAME]
    assert [r["run_id"] for r in pipeline["runs"]] == list(reversed(deploy.run_ids))
    promoted = [r["promoted_version"] for r in pipeline["runs"] if r["promoted_version"]]
    expected_champion = promoted[0] if promoted else "1"
    aliases = deploy.get(f"/mlops/api/models/{MODEL_NAME}").json()["model"]["aliases"]
    assert aliases["champion"] == expected_champion
    run = deploy.get(f"/mlops/api/dags/{DAG_ID}/runs/{quote(deploy.run_ids[1], safe='')}").json()
    assert run["verdict"] == deploy.xcom(deploy.run_ids[1], "gate")["verdict"]
    assert run["data"]["commit"] == deploy.xcom(deploy.run_ids[1], "resolve_data")["commit"]
    assert run["serving"] == deploy.xcom(deploy.run_ids[1], "serving_check")
    assert [o["hit"] for o in run["cache"]] == [False] * 7  # new data: every step ran, each saying why
    third = deploy.get(f"/mlops/api/dags/{DAG_ID}/runs/{quote(deploy.run_ids[2], safe='')}").json()
    assert third["verdict"]["decision"] == "unchanged" and third["registered"] == []
    assert [(o["step"].split(".")[0], o["hit"]) for o in third["cache"]] == [
        ("validate_data", True), ("prepare_data", True), ("train", True), ("train", True),
        ("evaluate", True), ("evaluate", True), ("evaluate", True),
    ]  # fmt: skip
    missing = deploy.get(f"/mlops/api/dags/{DAG_ID}/runs/not-a-run")
    assert missing.status_code == 404


# --- acceptance 3: the extra links resolve to the right MLflow run and model version -----------------


def test_extra_links_resolve_to_the_right_mlflow_run_and_model_version(deployment: Deployment) -> None:
    deploy = deployment
    for run_id in deploy.run_ids[:2]:  # the runs that registered a version (run 3 changed nothing)
        # Each training task links to its own candidate's MLflow run.
        for map_index in (0, 1):
            trained = deploy.xcom(run_id, "train", map_index)
            link = deploy.extra_links(run_id, "train", map_index)["MLflow run"]
            assert link.endswith(f"/mlops/mlflow-runs/{trained['mlflow_run_id']}"), link
            page = deploy.get(link.removeprefix(deploy.url))
            assert page.status_code == 200, page.text[:300]
            assert f'id="mlflow-run-id">{trained["mlflow_run_id"]}<' in page.text
            assert trained["candidate"] in page.text and run_id in page.text

        # Validation links to the full report of this DAG run, and to the pipeline's MLflow run.
        validation_links = deploy.extra_links(run_id, "validate_data")
        report = deploy.get(validation_links["Validation report"].removeprefix(deploy.url))
        assert report.status_code == 200 and report.text.count('<tr class="pass">') == 9, report.text[:300]
        assert run_id in report.text
        parent = deploy.xcom(run_id, "validate_data")["mlflow_run_id"]
        assert validation_links["MLflow run"].endswith(f"/mlops/mlflow-runs/{parent}")
        parent_page = deploy.get(validation_links["MLflow run"].removeprefix(deploy.url)).text
        assert f'id="mlflow-run-id">{parent}<' in parent_page and "pipeline" in parent_page

        # Register links to the version it created; that page shows this DAG run as its origin.
        registered = deploy.xcom(run_id, "register")
        link = deploy.extra_links(run_id, "register")["Model version"]
        assert link.endswith(f"/mlops/models/{MODEL_NAME}/versions/{registered['version']}"), link
        version_page = deploy.get(link.removeprefix(deploy.url))
        assert version_page.status_code == 200
        assert f"{MODEL_NAME} v{registered['version']}" in version_page.text
        assert quote(run_id, safe="") in version_page.text  # the lineage links back to this run
