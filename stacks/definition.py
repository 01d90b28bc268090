"""Render the ASL template in ``state_machines/`` for one job.

The template is plain JSON. A string that is exactly ``"${Name}"`` is replaced by a typed
value from config (a number, a list, an object; ``None`` removes the key), and ``${Name}``
inside a longer string by its text. Placeholders config does not know — the ARNs of
resources in the stack — are left for CloudFormation's ``DefinitionSubstitutions``, so the
whole definition stays inline in the template where cfn-lint and CDK's validation see it.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "state_machines"
GUARDED_JOB_TEMPLATE = TEMPLATE_DIR / "guarded_job.asl.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")


class _Removed:
    """Marks a key whose placeholder rendered to None."""


_REMOVED = _Removed()


def _render(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        rendered = {key: _render(value, values) for key, value in node.items()}
        return {key: value for key, value in rendered.items() if value is not _REMOVED}
    if isinstance(node, list):
        return [_render(item, values) for item in node]
    if isinstance(node, str):
        whole = PLACEHOLDER.fullmatch(node)
        if whole and whole.group(1) in values:
            value = values[whole.group(1)]
            return _REMOVED if value is None else value
        return PLACEHOLDER.sub(
            lambda match: (
                str(values[match.group(1)]) if match.group(1) in values else match.group(0)
            ),
            node,
        )
    return node


@functools.cache
def _template(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))  # never mutated: _render copies


def render_definition(values: dict[str, Any], template: Path = GUARDED_JOB_TEMPLATE) -> str:
    rendered = _render(_template(template), values)
    return json.dumps(rendered, separators=(",", ":"))  # a job stack holds up to 35 of these


def placeholders(definition: str) -> set[str]:
    """The placeholders still open in a rendered definition (CloudFormation fills them)."""
    return set(PLACEHOLDER.findall(definition))
