"""``airflow-mlops schema``: the JSON Schema of pipeline files, for editors.

Why: with the schema, an editor completes keys, shows each field's description and flags
a wrong type or an unknown key while the file is being written, long before ``validate``
or Airflow sees it. Point yaml-language-server at it with a first line such as
``# yaml-language-server: $schema=./pipeline.schema.json`` (see docs/pipeline-reference.md).
"""

from __future__ import annotations

import argparse
import json
import sys


def _run(args: argparse.Namespace) -> int:
    from airflow_mlops.spec.schema import json_schema, template_names

    if args.template is not None and args.template not in template_names():
        print(
            f"unknown template {args.template!r} (hint: templates: {', '.join(template_names())})",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(json_schema(args.template), indent=2))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "schema",
        help="print the JSON Schema of pipeline YAML (for editor autocompletion)",
        description="Print the JSON Schema of pipeline files: every template, or one with --template. "
        "Save it and add '# yaml-language-server: $schema=./pipeline.schema.json' to a pipeline file.",
    )
    # Names are checked in _run: listing them here would import the spec models on every --help.
    parser.add_argument("--template", metavar="NAME", help="only this template (retraining, batch_scoring, ...)")
    parser.set_defaults(func=_run)
