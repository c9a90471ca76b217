"""Regenerate airflow_mlops/get_provider_info.py from providers/provider.yaml.

Run after editing provider.yaml; tests/unit/test_provider_info.py fails while they differ.

The dict is written as a Python literal, then laid out by ``ruff format`` with the project's
own configuration (ruff is a dev dependency), so the generated file passes ``make lint`` as it
is written. Multi-line YAML strings (descriptions) become one implicitly concatenated string
piece per line, which keeps every line under the length limit and reads like the YAML.

    .venv/bin/python scripts/generate_provider_info.py            # rewrite the module
    .venv/bin/python scripts/generate_provider_info.py --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

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


LINE_LENGTH = 120  # [tool.ruff] line-length
BODY_INDENT = 4  # the column of `return {`; its keys sit at 8


def _pieces(text: str, width: int) -> list[str]:
    """``text`` cut into pieces that concatenate back to it: one per line, long lines cut after a space.

    ``width`` bounds the length of each piece's repr (quotes and escapes included).
    """
    pieces: list[str] = []
    for line in text.splitlines(keepends=True) or [text]:
        current = ""
        for word in re.split(r"(?<= )", line):
            if current and len(repr(current + word)) > width:
                pieces.append(current)
                current = ""
            current += word
        pieces.append(current)
    return pieces


def _string(text: str, indent: int, prefix: int) -> str:
    """A string at column ``indent`` after ``prefix`` characters (a dict key), as ruff will lay it out.

    Multi-line text becomes one piece per line in parentheses, which reads like the YAML; so does
    a single line that would not fit. The pieces then sit one per line at ``indent + 4``.
    """
    if "\n" not in text.rstrip("\n") and indent + prefix + len(repr(text)) + 1 <= LINE_LENGTH:
        return repr(text)
    pieces = _pieces(text, LINE_LENGTH - indent - 4)
    # Implicit concatenation in parentheses: ("a\n" "b\n") == "a\nb\n".
    return repr(text) if len(pieces) == 1 else "(" + " ".join(repr(p) for p in pieces) + ")"


def _literal(value: Any, indent: int = BODY_INDENT, prefix: int = 0) -> str:
    """``value`` as Python source; ``ruff format`` decides the layout afterwards.

    ``indent`` is the column ruff will give ``value`` once it explodes the containers around it
    (four more per level), ``prefix`` the width of the dict key before it on the same line.
    """
    if isinstance(value, dict):
        items = (f"{k!r}: {_literal(v, indent + 4, len(repr(k)) + 2)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v, indent + 4) for v in value) + "]"
    if isinstance(value, str):
        return _string(value, indent, prefix)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    raise TypeError(f"provider.yaml holds a {type(value).__name__}, which the generator cannot write: {value!r}")


def _ruff() -> list[str]:
    """The ruff of this interpreter's environment (the venv), else the one on PATH."""
    candidate = Path(sys.executable).with_name("ruff")
    if candidate.is_file():
        return [str(candidate)]
    found = shutil.which("ruff")
    if found:
        return [found]
    raise SystemExit("ruff not found: run this script with the project's .venv/bin/python (`make` installs ruff)")


def _run_ruff(command: str, source: str) -> subprocess.CompletedProcess[str]:
    config = ["--config", str(ROOT / "pyproject.toml"), "--stdin-filename", str(TARGET)]
    return subprocess.run(
        [*_ruff(), command, *config, "-"], input=source, capture_output=True, text=True, check=False, cwd=ROOT
    )


def ruff_format(source: str) -> str:
    """``source`` laid out by ``ruff format`` and passing ``ruff check``, both with the project's config."""
    formatted = _run_ruff("format", source)
    if formatted.returncode != 0:
        raise SystemExit(f"ruff format failed on the generated module:\n{formatted.stderr}")
    checked = _run_ruff("check", formatted.stdout)
    if checked.returncode != 0:
        raise SystemExit(f"the generated module does not pass ruff check:\n{checked.stdout}{checked.stderr}")
    return formatted.stdout


def render() -> str:
    """The exact text of airflow_mlops/get_provider_info.py for the current provider.yaml."""
    info = yaml.safe_load(SOURCE.read_text())
    return ruff_format(TEMPLATE.format(body=_literal(info)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the module is out of date; write nothing")
    args = parser.parse_args(argv)
    text = render()
    shown = os.path.relpath(TARGET, ROOT)
    if args.check:
        if TARGET.read_text() != text:
            print(f"{shown} is out of date: run scripts/generate_provider_info.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
