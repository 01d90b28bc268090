"""AWS's own rules for config values, as the pinned cfn-lint ships them, never hand-written.

``aws_rules.json`` beside this module is generated from cfn-lint's data by ``make schema``:

- the tag key and value rules of each resource type cronguard tags (CloudFormation's
  resource schemas, which cfn-lint checks as E3031 pattern and E3033 length);
- what an IAM statement's resources and condition operators must look like (cfn-lint's IAM
  policy schema, E3510);
- every IAM service prefix and action (cfn-lint's ``Policies.json``, W3037);
- the retention periods CloudWatch Logs takes (``AWS::Logs::LogGroup``'s schema, E3030).

A test fails when the committed file differs from what the installed cfn-lint gives, so a
cfn-lint upgrade brings AWS's newer rules in with ``make schema``. The file is read here
rather than cfn-lint itself: cfn-lint is a development tool, the ``cronguard`` command is not.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import regex

RULES_FILE = Path(__file__).with_name("aws_rules.json")
SOURCE = "cfn-lint"

# The resource types that carry a job's `tags:` (its job stack's resources; ECS tasks get
# them from the task definition). tests/infra checks both lists against synthesized templates.
JOB_TAGGED = (
    "AWS::CloudWatch::Alarm",
    "AWS::ECS::TaskDefinition",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::SSM::Parameter",
    "AWS::StepFunctions::StateMachine",
)
# The resource types that carry the environment's `tags:`: the environment stack's resources,
# the job stacks themselves, and everything taggable in a job stack (CloudFormation
# propagates a stack's tags to its resources).
ENVIRONMENT_TAGGED = (
    "AWS::CloudFormation::Stack",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::DynamoDB::Table",
    "AWS::ECS::Cluster",
    "AWS::ECS::TaskDefinition",
    "AWS::Events::Rule",
    "AWS::IAM::Role",
    "AWS::KMS::Key",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::SSM::Parameter",
    "AWS::StepFunctions::StateMachine",
)

TagPart = Literal["key", "value"]


@dataclass(frozen=True)
class TextRule:
    """What one resource type's schema requires of a tag key or a tag value."""

    resource_type: str
    min_length: int = 0
    max_length: int | None = None
    pattern: str | None = None

    def allows(self, text: str) -> bool:
        return self.min_length <= len(text) <= (self.max_length or len(text)) and (
            self.pattern is None or regex.search(self.pattern, text) is not None
        )


@dataclass(frozen=True)
class Rules:
    cfn_lint: str  # the version the rules come from
    tags: Mapping[str, Mapping[TagPart, TextRule]]  # resource type -> key and value rules
    arn_pattern: str
    condition_operators: tuple[str, ...]  # IAM's condition operator names, as patterns
    iam_actions: Mapping[str, frozenset[str]]  # service prefix -> its actions, in lower case
    log_retention_days: tuple[int, ...]  # a log group's RetentionInDays, in order


@cache
def rules() -> Rules:
    """The committed rules (read once, when a config first needs them)."""
    data = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    return Rules(
        cfn_lint=data["source"]["version"],
        tags={
            kind: {
                part: TextRule(
                    kind, rule["min_length"], rule.get("max_length"), rule.get("pattern")
                )
                for part, rule in parts.items()
            }
            for kind, parts in data["tags"].items()
        },
        arn_pattern=data["iam"]["arn_pattern"],
        condition_operators=tuple(data["iam"]["condition_operators"]),
        iam_actions={
            service: frozenset(actions) for service, actions in data["iam"]["actions"].items()
        },
        log_retention_days=tuple(data["logs"]["retention_days"]),
    )


def _listed(names: Sequence[str], most: int = 3) -> str:
    """``a, b and c``; past ``most`` names, ``a, b, c and 2 more``."""
    if len(names) > most:
        return f"{', '.join(names[:most])} and {len(names) - most} more"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def tag_refusal(part: TagPart, text: str, tagged: Sequence[str]) -> str | None:
    """Why CloudFormation refuses ``text`` as a tag key or value on the ``tagged`` resource
    types, or None when every one of them takes it."""
    loaded = rules()
    refusing = [
        loaded.tags[kind][part] for kind in tagged if not loaded.tags[kind][part].allows(text)
    ]
    if not refusing:
        return None
    kinds = _listed([rule.resource_type for rule in refusing])
    short = [r for r in refusing if not r.min_length <= len(text) <= (r.max_length or len(text))]
    if short:
        low = max(rule.min_length for rule in short)
        highs = [rule.max_length for rule in short if rule.max_length is not None]
        size = f"{low}-{min(highs)}" if highs else f"at least {low}"
        return (
            f"{len(text)} characters; CloudFormation requires a tag {part} of {size} "
            f"characters on {kinds} (cfn-lint E3033)"
        )
    pattern = refusing[0].pattern
    assert pattern is not None  # refused for its pattern, not its length
    characters = sorted({c for c in text if regex.search(pattern, c) is None})
    shown = " ".join(repr(c) for c in characters) or "its characters"
    return (
        f"CloudFormation refuses {shown} in a tag {part} on {kinds}: it must match "
        f"{pattern} (cfn-lint E3031)"
    )


def tag_schema(part: TagPart, tagged: Iterable[str]) -> dict[str, Any]:
    """A JSON Schema for a tag key or value: every ``tagged`` type's rule at once."""
    loaded = rules()
    parts = [loaded.tags[kind][part] for kind in tagged]
    schema: dict[str, Any] = {"type": "string", "minLength": max(r.min_length for r in parts)}
    highs = [r.max_length for r in parts if r.max_length is not None]
    if highs:
        schema["maxLength"] = min(highs)
    patterns = sorted({r.pattern for r in parts if r.pattern is not None})
    if patterns:
        schema["allOf"] = [{"pattern": pattern} for pattern in patterns]
    return schema


def is_arn(resource: str) -> bool:
    """Whether IAM takes ``resource`` in a statement: an ARN, or ``*`` (cfn-lint E3510)."""
    return regex.search(rules().arn_pattern, resource) is not None


def is_condition_operator(operator: str) -> bool:
    return any(regex.search(pattern, operator) for pattern in rules().condition_operators)


def action_refusal(action: str) -> str | None:
    """Why ``service:action`` names no IAM action (or, with ``*``/``?``, matches none), or
    None. IAM action names are case-insensitive."""
    loaded = rules()
    service, written = action.split(":", 1)
    service, name = service.lower(), written.lower()
    source = f"IAM's action list in cfn-lint {loaded.cfn_lint}, W3037"
    actions = loaded.iam_actions.get(service)
    if actions is None:
        guess = difflib.get_close_matches(service, loaded.iam_actions, n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else ""
        return f"IAM has no service prefix '{service}'{hint} ({source})"
    if "*" in name or "?" in name:
        wildcard = regex.compile(regex.escape(name).replace(r"\*", ".*").replace(r"\?", "."))
        if any(wildcard.fullmatch(known) for known in actions):
            return None
        return f"matches no {service} action ({source})"
    if name in actions:
        return None
    guess = difflib.get_close_matches(name, actions, n=1)
    hint = f"; did you mean '{service}:{guess[0]}'?" if guess else ""
    return f"{service} has no action '{written}'{hint} ({source})"


# --- generating aws_rules.json from the installed cfn-lint -------------------------------


def _cfn_lint_file(path: str) -> Any:
    """One of the installed cfn-lint's data files (read as files: cfn-lint is not imported)."""
    located = metadata.distribution(SOURCE).locate_file(f"cfnlint/data/{path}")
    return json.loads(Path(str(located)).read_text(encoding="utf-8"))


@cache
def _schemas_by_region() -> tuple[dict[str, str], ...]:
    """Each region's resource types and the schema each has there (cfn-lint's providers)."""
    folder = Path(str(metadata.distribution(SOURCE).locate_file("cfnlint/data/schemas/providers")))
    return tuple(json.loads(path.read_text()) for path in sorted(folder.glob("*.json")))


def resource_schema(kind: str) -> dict[str, Any]:
    """CloudFormation's schema of a resource type, as the installed cfn-lint ships it. It is
    the same in every region that has the type; one that differs by region is an error
    rather than a guess."""
    (schema_id, *others) = {region[kind] for region in _schemas_by_region() if kind in region}
    if others:
        raise ValueError(f"{kind} has {len(others) + 1} schemas, by region, in {SOURCE}")
    schema: dict[str, Any] = _cfn_lint_file(f"schemas/resources/{schema_id}.json")
    return schema


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _text_rule(node: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {"min_length": node.get("minLength", 0)}
    for key, name in (("maxLength", "max_length"), ("pattern", "pattern")):
        if key in node:
            rule[name] = node[key]
    return rule


def _tag_rules(schema: dict[str, Any]) -> dict[str, Any]:
    """A resource schema's rules for its tag keys and values: an array of {Key, Value}, or a
    map of key to value."""
    tags = _resolve(schema, schema["properties"]["Tags"])
    if "items" in tags:
        item = _resolve(schema, tags["items"])["properties"]
        key, value = (_resolve(schema, item[name]) for name in ("Key", "Value"))
        return {"key": _text_rule(key), "value": _text_rule(value)}
    (pattern,) = tags["patternProperties"]
    return {"key": {"min_length": 0, "pattern": pattern}, "value": {"min_length": 0}}


def generate() -> dict[str, Any]:
    """The rules, read from the installed cfn-lint."""
    tags = {
        kind: _tag_rules(resource_schema(kind))
        for kind in sorted({*JOB_TAGGED, *ENVIRONMENT_TAGGED})
    }
    policy = _cfn_lint_file("schemas/other/iam/policy.json")["definitions"]
    condition = policy["Condition"]
    operators = [*condition["patternProperties"], *(f"^{n}$" for n in condition["properties"])]
    services = _cfn_lint_file("AdditionalSpecs/Policies.json")
    log_group = resource_schema("AWS::Logs::LogGroup")["properties"]
    return {
        "source": {
            "package": SOURCE,
            "version": metadata.version(SOURCE),
            "note": "generated by `make schema` (cronguard/config/aws_rules.py); do not edit",
        },
        "tags": tags,
        "iam": {
            "arn_pattern": policy["AwsArn"]["pattern"],
            "condition_operators": sorted(operators),
            "actions": {
                service: sorted(entry.get("Actions", {}))
                for service, entry in sorted(services.items())
            },
        },
        "logs": {"retention_days": sorted(log_group["RetentionInDays"]["enum"])},
    }


def rendered() -> str:
    return json.dumps(generate(), indent=1, ensure_ascii=False) + "\n"


def write() -> Path:
    """Regenerate ``aws_rules.json`` (``make schema``, before the JSON Schemas built from it)."""
    RULES_FILE.write_text(rendered(), encoding="utf-8")
    rules.cache_clear()
    return RULES_FILE
