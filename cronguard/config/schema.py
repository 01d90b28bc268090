"""JSON Schemas of the two config file kinds, for editor completion and validation.

The schemas are generated from the pydantic models (never hand-written) and committed under
``config/schema/``; a test fails when the committed copy falls behind the models.
Regenerate with ``make schema``, which first regenerates the AWS rules they include
(``aws_rules.py``).
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from cronguard.config import aws_rules
from cronguard.config.loader import EXTENSION_PREFIX
from cronguard.config.model import Environment, Job, format_duration

# cronguard's own source tree (`make schema` runs in a checkout): the example config's files
# point their editors at these schemas.
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "config" / "schema"
# Top-level keys that only hold YAML anchors for merge keys (`x-defaults: &defaults`).
EXTENSION_KEYS: dict[str, dict[str, Any]] = {f"^{EXTENSION_PREFIX}": {}}


def as_written(value: Any) -> Any:
    """A default as a config file would write it: durations like '1h' (pydantic's own ISO 8601
    form, 'PT1H', is not a duration the loader accepts), models as mappings."""
    if isinstance(value, BaseModel):
        value = {name: getattr(value, name) for name in type(value).model_fields}
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, dict):
        return {key: as_written(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [as_written(item) for item in value]
    return value


class ConfigSchema(GenerateJsonSchema):
    """Every default in the schema as a config file writes it, those built by a default
    factory too (an environment's ``cluster``, a job's ``launch_retries``)."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return schema.get("default", NoDefault)

    def encode_default(self, dft: Any) -> Any:
        return super().encode_default(as_written(dft))


def _job_schema() -> dict[str, Any]:
    schema = Job.model_json_schema(schema_generator=ConfigSchema)
    schema["properties"].pop("name")  # the name is the mapping key
    schema["required"] = [key for key in schema.get("required", []) if key != "name"]
    return schema


def jobs_file_schema() -> dict[str, Any]:
    job = _job_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cronguard shared job definitions (config/jobs.yaml)",
        "type": "object",
        "additionalProperties": False,
        "patternProperties": EXTENSION_KEYS,
        "properties": {
            "jobs": {
                "type": "object",
                "propertyNames": {"pattern": r"^[a-z][a-z0-9-]*[a-z0-9]$"},
                "additionalProperties": {"$ref": "#/$defs/Job"},
            }
        },
        "$defs": {**job.pop("$defs", {}), "Job": job},
    }


def environment_file_schema() -> dict[str, Any]:
    env = Environment.model_json_schema(schema_generator=ConfigSchema)
    defs = env.pop("$defs", {})
    env["properties"].pop("name")  # the name is the file name
    env["required"] = [key for key in env.get("required", []) if key != "name"]
    job = _job_schema()
    defs.update(job.pop("$defs", {}))
    # An environment overrides any field of a shared job, or defines a whole new job:
    # nothing is required at this level, the merged result is validated.
    override = copy.deepcopy(job)
    override["required"] = []
    override.pop("anyOf")  # image or task_definition_arn: the merged job has one
    override["title"] = "JobOverride"
    defs["JobOverride"] = override
    env["properties"]["jobs"] = {
        "description": "Overrides of the shared jobs' fields (mappings merge key by key), or "
        "jobs of this environment only",
        "default": {},
        "type": "object",
        "propertyNames": {"pattern": r"^[a-z][a-z0-9-]*[a-z0-9]$"},
        "additionalProperties": {"$ref": "#/$defs/JobOverride"},
    }
    env["patternProperties"] = EXTENSION_KEYS
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cronguard environment (config/environments/<env>.yaml)",
        **env,
        "$defs": defs,
    }


def rendered() -> dict[Path, str]:
    return {
        SCHEMA_DIR / "jobs.schema.json": json.dumps(jobs_file_schema(), indent=2) + "\n",
        SCHEMA_DIR / "environment.schema.json": json.dumps(environment_file_schema(), indent=2)
        + "\n",
    }


def write() -> list[Path]:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for path, text in rendered().items():
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    # The schemas say what the AWS rules say: those first, from the installed cfn-lint.
    for path in (aws_rules.write(), *write()):
        print(f"wrote {path}")
