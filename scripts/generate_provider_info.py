"""Regenerate airflow_mlops/get_provider_info.py from providers/provider.yaml.

Run after editing provider.yaml; tests/unit/test_provider_info.py fails while they differ.
"""

from __future__ import annotations

import pprint
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "providers" / "provider.yaml"
TARGET = ROOT / "airflow_mlops" / "get_provider_info.py"

TEMPLATE = '''"""Provider metadata for Airflow's provider discovery.

GENERATED from providers/provider.yaml by scripts/generate_provider_info.py: edit the YAML,
then regenerate. Kept import-free because Airflow calls it while listing providers.
"""

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {body}
'''


def render() -> str:
    info = yaml.safe_load(SOURCE.read_text())
    body = pprint.pformat(info, indent=4, width=100, sort_dicts=False)
    return TEMPLATE.format(body=body.replace("\n", "\n    "))


def main() -> int:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
