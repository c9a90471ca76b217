"""The UI plugin as Airflow and workers load it, in fresh interpreters: Airflow's plugins manager finds
it, and loading it or the operator links imports nothing heavy (tests/unit/plugins/test_plugin.py has the rest).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from airflow_mlops.plugins.urls import URL_PREFIX

LIGHT_CHECK = textwrap.dedent(
    """
    import json, sys
    import airflow_mlops.plugins.plugin
    import airflow_mlops.links
    heavy = ["mlflow", "pandas", "sklearn", "airflow_mlops.plugins.app", "airflow_mlops.plugins.records",
             "airflow_mlops.plugins.metadata", "airflow.api_fastapi.core_api.security", "fastapi"]
    print("RESULT=" + json.dumps(sorted(m for m in heavy if m in sys.modules)))
    """
)


def test_loading_the_plugin_or_the_links_imports_nothing_heavy(tmp_path: Path) -> None:
    """Workers load plugins and operators at every task start; only the API server needs the app."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", LIGHT_CHECK], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("RESULT=")]
    assert json.loads(line.removeprefix("RESULT=")) == []


AIRFLOW_CHECK = textwrap.dedent(
    """
    import json
    from airflow import plugins_manager
    plugins, errors = plugins_manager._get_plugins()
    apps, _ = plugins_manager.get_fastapi_plugins()
    views, _ = plugins_manager._get_ui_plugins()
    print("RESULT=" + json.dumps({
        "names": [p.name for p in plugins],
        "errors": errors,
        "prefixes": [a["url_prefix"] for a in apps],
        "routes": [v.get("url_route") for v in views],
    }))
    """
)


def test_airflow_loads_the_plugin(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    proc = subprocess.run([sys.executable, "-c", AIRFLOW_CHECK], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("RESULT=")]
    result = json.loads(line.removeprefix("RESULT="))
    assert "airflow_mlops" in result["names"]
    assert not any("airflow_mlops" in k for k in result["errors"]), result["errors"]
    assert URL_PREFIX in result["prefixes"]
    assert {"ml-pipelines", "ml-run", "ml-model"} <= set(result["routes"])
