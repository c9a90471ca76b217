"""Regenerate docs/pipeline-reference.md from the pipeline JSON Schema.

Run after changing the spec models (airflow_mlops/spec/models.py) or the schema refinements
(airflow_mlops/spec/schema.py, reference.py); tests/unit/spec/test_schema.py fails while the committed
file differs. ``--check`` changes nothing and exits 1 when the file is stale (for CI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from airflow_mlops.commands.reference import markdown_reference
from airflow_mlops.spec.schema import REFERENCE_PATH

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / REFERENCE_PATH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date; write nothing")
    args = parser.parse_args(argv)
    text = markdown_reference()
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else None
    if args.check:
        if current != text:
            print(f"{REFERENCE_PATH} is out of date; run: python scripts/generate_reference.py", file=sys.stderr)
            return 1
        print(f"{REFERENCE_PATH} is up to date")
        return 0
    if current == text:
        print(f"{REFERENCE_PATH} is up to date")
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {REFERENCE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
