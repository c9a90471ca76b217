"""The GX adapter module, imported in a fresh interpreter: importing it loads neither GX nor pandas."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def test_importing_the_module_loads_neither_gx_nor_pandas() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import airflow_mlops.hooks.gx as mod
        assert mod.expectation_class_name("expect_column_to_exist") == "ExpectColumnToExist"
        heavy = {"great_expectations", "pandas", "numpy"}
        print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & heavy)))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
