"""The config reference, ``docs/config-reference.md``, rendered from the JSON Schemas.

One row per key, from what the schemas say of it: its description, type, bounds, choices and
default (``schema.py`` renders the schemas from the pydantic models). So the reference cannot
drift from the model: a test fails when the committed page falls behind, and ``make schema``
regenerates it with the schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cronguard.config.model import DURATION_PATTERN, format_duration
from cronguard.config.schema import environment_file_schema, jobs_file_schema

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "config-reference.md"

INTRO = """\
# Config reference

Generated from the JSON Schemas by `make schema` (`cronguard/config/reference.py`): edit the
descriptions in the config model (`cronguard/config/model.py`), not this page. A real job,
end to end: [the README](../README.md#a-real-job).

```text
config/
  jobs.yaml                 job definitions every environment shares
  environments/<env>.yaml   one environment: settings, plus per-job overrides under `jobs:`
  environments/<env>.stacks.json  each job's job stack, written by synth (docs/many-jobs.md)
  schema/*.schema.json      JSON Schemas for editor completion (generated: `make schema`)
```

An environment's `jobs:` entry overrides individual fields of a shared job (mappings merge
key by key), or defines a job only that environment has. Unknown keys are errors, with a
"did you mean" hint (an override of a misspelt job name too). Durations are written `90s`,
`15m`, `2h`, `1d` (or whole seconds).

YAML merge keys share settings between jobs; top-level keys starting with `x-` hold the
anchors and are otherwise ignored (as in Docker Compose). A key written twice in one mapping
is still an error, a merged key the mapping sets again is not:

```yaml
x-batch: &batch
  image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/batch:4
  cpu: 512
  memory: 1024
jobs:
  nightly-report:
    <<: *batch
    schedule: cron(0 3 * * ? *)
    memory: 2048
  weekly-cleanup:
    <<: *batch
    schedule: cron(0 4 ? * SUN *)
```

Values YAML reads as something other than text are reported as such: `DEBUG: yes` is a
boolean and `account: 123456789012` a number, so quote them. Files must be UTF-8; aliases may
expand to at most 100,000 values, and a message echoes at most about 200 characters of a
value.

In the tables, `a.b` is key `b` of the mapping under `a`, and `a[].b` key `b` of each entry
of the list `a`.
"""

ENVIRONMENT = """\
## Environment (`config/environments/<env>.yaml`)

The environment name is the file name: 1–16 lowercase letters and digits, starting with a
letter.
"""

JOB = """\
## Job (`config/jobs.yaml`, under `jobs: <name>:`)

The job name is its key: at least 2 lowercase letters, digits and `-`, starting with a
letter and not ending with `-`; `<env>-<job>` names its state machine and must fit Step
Functions' 80 characters. Every key may also be set for one environment, under its `jobs:`.
"""


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    meaning: str


class _Schema:
    """One schema file, with its ``$defs`` resolved."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.defs: dict[str, Any] = document.get("$defs", {})

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if ref is None:
            return node
        resolved = self.defs[ref.removeprefix("#/$defs/")]
        # Keywords beside a $ref (a default, a description) describe this use of it.
        return {**resolved, **{key: value for key, value in node.items() if key != "$ref"}}

    def rows(self, node: dict[str, Any], prefix: str = "") -> Iterator[Row]:
        required = set(node.get("required", ()))
        for name, prop in node["properties"].items():
            key = f"{prefix}{name}"
            value = self.resolve(_unwrap_optional(prop))
            meaning = _sentence(prop.get("description") or value.get("description", ""))
            default = _default(prop, required=name in required)
            item = self.resolve(value["items"]) if value.get("type") == "array" else None
            forms = [self.resolve(form) for form in value.get("oneOf", [])]
            mappings = [form for form in forms if "properties" in form]
            if forms and len(mappings) == 1:  # a number, say, or a mapping of more detail
                kinds = [self.type_of(form) for form in forms if "properties" not in form]
                yield Row(key, " or ".join([*kinds, "mapping"]), default, meaning)
                yield from self.rows(mappings[0], f"{key}.")
            elif item is not None and "properties" in item:
                yield Row(key, _list_bounds("list of mappings", value), default, meaning)
                yield from self.rows(item, f"{key}[].")
            elif "properties" in value:
                yield Row(key, "mapping", default, meaning)
                yield from self.rows(value, f"{key}.")
            else:
                yield Row(key, self.type_of(value), default, meaning)

    def type_of(self, node: dict[str, Any]) -> str:
        node = self.resolve(node)
        if "enum" in node:
            return "one of " + ", ".join(f"`{choice}`" for choice in node["enum"])
        forms = node.get("anyOf", [])
        if any(form.get("pattern") == DURATION_PATTERN for form in forms):
            seconds = next(form for form in forms if form.get("type") == "integer")
            return _bounded("duration", seconds, _seconds)
        kind = node.get("type")
        if kind == "array":
            return _list_bounds(f"list of {self.type_of(node['items'])}", node)
        if kind == "object":
            values = node.get("additionalProperties")
            if not isinstance(values, dict):
                return "mapping"
            if "properties" in self.resolve(values):  # an environment's jobs
                return "mapping of job name to keys of a job (below)"
            return f"mapping of string to {self.type_of(values)}"
        if kind == "string":
            low, high = node.get("minLength"), node.get("maxLength")
            if high is not None:
                return f"string, at most {high} characters"
            return f"string, at least {low} characters" if low is not None else "string"
        if kind in ("integer", "number"):
            return _bounded(kind, node, str)
        return str(kind or "any value")


def _unwrap_optional(prop: dict[str, Any]) -> dict[str, Any]:
    """The value of a key that may also be null (unset)."""
    forms = [form for form in prop.get("anyOf", []) if form.get("type") != "null"]
    return forms[0] if len(forms) == 1 and len(prop["anyOf"]) == 2 else prop


def _seconds(value: int) -> str:
    return format_duration(timedelta(seconds=value))


def _bounded(kind: str, node: dict[str, Any], shown: Any) -> str:
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        return f"{kind}, {shown(low)}–{shown(high)}"
    if low is not None and low != 0:
        return f"{kind}, at least {shown(low)}"
    return f"{kind}, at most {shown(high)}" if high is not None else kind


def _list_bounds(kind: str, node: dict[str, Any]) -> str:
    low, high = node.get("minItems"), node.get("maxItems")
    if low is not None and high is not None:
        return f"{kind}, {low}–{high} entries"
    if low is not None:
        return f"{kind}, at least {low} {'entry' if low == 1 else 'entries'}"
    return f"{kind}, at most {high} entries" if high is not None else kind


def _default(prop: dict[str, Any], *, required: bool) -> str:
    if "default" not in prop:
        return "required" if required else ""
    value = prop["default"]
    if value is None:
        return "unset"
    return f"`{_literal(value)}`" if value != "" else '`""`'


def _literal(value: Any) -> str:
    """A default as YAML flow style writes it: ``{create: true}``; unset keys left out."""
    if isinstance(value, dict):
        items = ", ".join(f"{k}: {_literal(v)}" for k, v in value.items() if v is not None)
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _sentence(text: str) -> str:
    text = text.strip().replace("``", "`")
    return text if not text or text.endswith(".") else f"{text}."


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: Iterator[Row]) -> str:
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for row in rows:
        cells = (f"`{row.key}`", row.type, row.default, row.meaning)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def environment_rows(schema: dict[str, Any]) -> Iterator[Row]:
    """The rows of an environment file's keys (``environment_file_schema()``)."""
    return _Schema(schema).rows(schema)


def job_rows(schema: dict[str, Any]) -> Iterator[Row]:
    """The rows of a job's keys (``jobs_file_schema()``)."""
    return _Schema(schema).rows(schema["$defs"]["Job"])


def render() -> str:
    environment = table(environment_rows(environment_file_schema()))
    job = table(job_rows(jobs_file_schema()))
    return "\n".join([INTRO, ENVIRONMENT, environment, "", JOB, job, ""])


def write() -> Path:
    REFERENCE.write_text(render(), encoding="utf-8")
    return REFERENCE


if __name__ == "__main__":
    print(f"wrote {write()}")
