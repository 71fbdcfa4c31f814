"""template.yaml as each deployment of tests/template creates it, for checkov.

checkov scans a CloudFormation template as its parameter defaults deploy it: a resource
whose Condition is false under the defaults is left out, and it does not expand Fn::ForEach
(so it scans none of the per-log-group resources, and fails to apply Globals to the function).
Scanning template.yaml alone therefore covers the default LogGroups deployment without its
subscriptions. This writes one template per scenario of test_template.SCENARIOS (every mode,
topic and key choice) with the loops expanded the way CloudFormation expands them and the
scenario's values as the parameter defaults; everything else, Metadata and its checkov skips
included, is template.yaml's.

Run: .venv/bin/python tests/template/checkov_variants.py DIR   (scripts/check-template.sh)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from test_template import SCENARIOS, TEMPLATE, Stack


def variant(parameters: dict[str, Any]) -> dict[str, Any]:
    stack = Stack(parameters)
    template = json.loads(json.dumps(TEMPLATE))
    for name, value in stack.params.items():
        template["Parameters"][name]["Default"] = ",".join(value) if isinstance(value, list) else value
    template["Conditions"] = stack.conditions_src
    template["Resources"] = stack.resources_src
    return template


def main(directory: str) -> None:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for name, parameters in SCENARIOS.items():
        path = out / (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".json")
        path.write_text(json.dumps(variant(parameters), indent=1))
    print(f"checkov variants: {len(SCENARIOS)} templates in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: checkov_variants.py DIR")
    main(sys.argv[1])
