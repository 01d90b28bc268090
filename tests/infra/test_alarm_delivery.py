"""Every alarm can reach someone: alarm action → topic → topic policy → the topic's KMS key.

CloudWatch publishes an alarm notification as the service principal
``cloudwatch.amazonaws.com``, on behalf of the alarm (``aws:SourceArn``) in the account
(``aws:SourceAccount``). A topic policy replaces SNS's default policy, and a topic
encrypted with a customer managed key needs that key's policy to let CloudWatch use it.
Nothing fails at synth or deploy when a link is missing: the notification is just dropped.
So this walks the synthesized templates — the environment's stack and every job stack,
whose alarms point at the ``AlarmTopicArn`` parameter — and evaluates each policy for
that request: an explicit Deny, or no Allow, fails the test.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from cronguard.config import load_environment
from tests.configs import REPOSITORY_CONFIG
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]
Template = Mapping[str, Any]
JobStacks = list[tuple[str, Template, Mapping[str, Any]]]  # a job, its stack, its parameters
CLOUDWATCH = "cloudwatch.amazonaws.com"
PUBLISH = ["sns:Publish"]
# What SNS does with the topic's key when a publisher sends to an encrypted topic.
KEY_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"]
# The policy SNS gives a topic that has no topic policy (owner account only).
SNS_DEFAULT_POLICY = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["SNS:Publish"],
            "Resource": "*",
            "Condition": {"StringEquals": {"AWS:SourceOwner": {"Ref": "AWS::AccountId"}}},
        }
    ]
}


class Unverifiable(Exception):
    """The walk met something it cannot evaluate: that is a failure, not a pass."""


@dataclass(frozen=True)
class Account:
    partition: str
    region: str
    account_id: str


@dataclass(frozen=True)
class Alarm:
    where: str  # "parent" or the job stack's jobs
    logical_id: str
    properties: dict[str, Any]
    action: Any  # the action as the environment's stack sees it


def resolve(value: Any, resources: dict[str, Any], account: Account) -> Any:
    """A CloudFormation value as it deploys into ``account`` (resources by logical id)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [resolve(item, resources, account) for item in value]
    if isinstance(value, dict) and not _intrinsic(value):
        return {key: resolve(item, resources, account) for key, item in value.items()}
    if isinstance(value, dict):
        ((function, argument),) = value.items()
        pseudo = {
            "AWS::Partition": account.partition,
            "AWS::Region": account.region,
            "AWS::AccountId": account.account_id,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if function == "Ref" and argument in pseudo:
            return pseudo[argument]
        prefix = f"arn:{account.partition}"
        where = f"{account.region}:{account.account_id}"
        if function == "Ref" and resources.get(argument, {}).get("Type") == "AWS::SNS::Topic":
            return f"{prefix}:sns:{where}:{argument}"
        if function == "Fn::GetAtt" and argument[1] == "Arn":
            kind = resources.get(argument[0], {}).get("Type")
            if kind == "AWS::KMS::Key":
                return f"{prefix}:kms:{where}:key/{argument[0]}"
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(resolve(part, resources, account)) for part in parts)
    raise Unverifiable(f"cannot resolve {value!r}")


def _intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and any(k == "Ref" or k.startswith("Fn::") for k in value)


def _values(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _condition_holds(operator: str, key: str, expected: list[str], context: dict[str, str]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    actual = {k.lower(): v for k, v in context.items()}.get(key.lower())
    negated = "Not" in base
    if actual is None:
        return if_exists or negated
    if base in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        matched = actual in expected
    elif base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        matched = any(fnmatch.fnmatchcase(actual, pattern) for pattern in expected)
    elif base == "Bool":
        matched = actual.lower() in (e.lower() for e in expected)
    else:
        raise Unverifiable(f"condition operator {operator}")
    return matched != negated if base != "Bool" else matched


def _applies(statement: dict[str, Any], request: dict[str, Any]) -> bool:
    for unsupported in ("NotPrincipal", "NotAction", "NotResource"):
        if unsupported in statement:
            raise Unverifiable(f"{unsupported} in {statement}")
    principal = statement["Principal"]
    anyone = principal in ("*", {"AWS": "*"})
    if not anyone and request["service"] not in _values(principal.get("Service", [])):
        return False
    if not any(
        fnmatch.fnmatchcase(request["action"].lower(), action.lower())
        for action in _values(statement["Action"])
    ):
        return False
    if not any(fnmatch.fnmatchcase(request["resource"], r) for r in _values(statement["Resource"])):
        return False
    return all(
        _condition_holds(operator, key, _values(expected), request["context"])
        for operator, conditions in statement.get("Condition", {}).items()
        for key, expected in conditions.items()
    )


def denial(policy: dict[str, Any], request: dict[str, Any]) -> str | None:
    """Why ``policy`` does not let ``request`` through (explicit Deny, no Allow), or None."""
    statements = policy["Statement"]
    denies = [s for s in statements if s["Effect"] == "Deny" and _applies(s, request)]
    if denies:
        return f"explicitly denied by {denies}"
    if not any(s["Effect"] == "Allow" and _applies(s, request) for s in statements):
        return "no statement allows it"
    return None


def every_alarm(parent: Template, job_stacks: JobStacks) -> list[Alarm]:
    """Every alarm of the environment's stack and of each job stack (name, template, the
    parameters the parent passes it), with its action resolved into the parent."""
    found = []
    empty: Mapping[str, Any] = {}
    for where, template, parameters in [("parent", parent, empty), *job_stacks]:
        for logical_id, resource in template.get("Resources", {}).items():
            if resource["Type"] != "AWS::CloudWatch::Alarm":
                continue
            properties = resource["Properties"]
            actions = properties.get("AlarmActions") or [None]
            for action in actions + properties.get("OKActions", []):
                if where != "parent" and isinstance(action, dict) and "Ref" in action:
                    if action["Ref"] not in template.get("Parameters", {}):
                        raise Unverifiable(f"{where}/{logical_id}: action {action}")
                    action = parameters[action["Ref"]]
                found.append(Alarm(where, logical_id, properties, action))
    if not found:
        raise Unverifiable("no alarms at all: nothing would ever notify anyone")
    return found


def delivery_problems(parent: Template, job_stacks: JobStacks, account: Account) -> Iterator[str]:
    """Each link of each alarm's path to a person that would not let CloudWatch through."""
    resources = parent["Resources"]
    for alarm in every_alarm(parent, job_stacks):
        name = f"{alarm.where}/{alarm.logical_id}"
        action = alarm.action
        if not (isinstance(action, dict) and set(action) == {"Ref"}):
            yield f"{name}: action {action!r} is not a topic of this stack"
            continue
        topic_id = action["Ref"]
        topic = resources.get(topic_id, {})
        if topic.get("Type") != "AWS::SNS::Topic":
            yield f"{name}: action {action!r} is not a topic of this stack"
            continue
        alarm_name = alarm.properties.get("AlarmName", f"{alarm.logical_id}-generated")
        request = {
            "service": CLOUDWATCH,
            "context": {
                "aws:SourceAccount": account.account_id,
                "aws:SourceOwner": account.account_id,
                "aws:SourceArn": f"arn:{account.partition}:cloudwatch:{account.region}:"
                f"{account.account_id}:alarm:{resolve(alarm_name, resources, account)}",
                "aws:SecureTransport": "true",  # service principals call SNS over TLS
            },
        }
        policies = [
            r["Properties"]["PolicyDocument"]
            for r in resources.values()
            if r["Type"] == "AWS::SNS::TopicPolicy" and action in r["Properties"]["Topics"]
        ]
        if len(policies) > 1:
            yield f"{name}: {len(policies)} topic policies on {topic_id}; only one takes effect"
            continue
        topic_policy = resolve(policies[0] if policies else SNS_DEFAULT_POLICY, resources, account)
        topic_arn = resolve(action, resources, account)
        for publish in PUBLISH:
            why = denial(topic_policy, {**request, "action": publish, "resource": topic_arn})
            if why:
                yield f"{name} → {topic_id}: topic policy: CloudWatch {publish} {why}"
        key = topic["Properties"].get("KmsMasterKeyId")
        if key is None:
            continue
        target = key.get("Fn::GetAtt", [None])[0] if isinstance(key, dict) else None
        if resources.get(target, {}).get("Type") != "AWS::KMS::Key":
            yield f"{name} → {topic_id}: key {key!r} is not a key whose policy this stack sets"
            continue
        key_policy = resolve(resources[target]["Properties"]["KeyPolicy"], resources, account)
        for kms_action in KEY_ACTIONS:
            why = denial(key_policy, {**request, "action": kms_action, "resource": "*"})
            if why:
                yield f"{name} → {topic_id} → {target}: key policy: CloudWatch {kms_action} {why}"


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_every_alarm_of_every_stack_can_notify_through_topic_policy_and_key_policy(
    synth: Synth, env_name: str
) -> None:
    synthesized = synth(env_name)
    environment = load_environment(env_name, REPOSITORY_CONFIG)
    account = Account(
        partition="aws",
        region=environment.region or "eu-west-1",
        account_id=environment.account or "111122223333",
    )
    job_stacks: JobStacks = []
    seen = set()
    for job, template in synthesized.job_templates.items():
        if id(template) not in seen:
            seen.add(id(template))
            job_stacks.append((job, template.to_json(), synthesized.job_parameters[job]))
    assert len(job_stacks) == len(synthesized.nested_files), "every job stack is walked"
    parent = synthesized.template.to_json()
    alarms = every_alarm(parent, job_stacks)
    assert {a.where for a in alarms} >= {"parent", *(name for name, _, _ in job_stacks)}
    problems = list(delivery_problems(parent, job_stacks, account))
    assert not problems, "\n".join(problems)


def test_the_walk_fails_when_there_are_no_alarms_to_walk() -> None:
    empty = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}
    with pytest.raises(Unverifiable, match="no alarms"):
        list(delivery_problems(empty, [], Account("aws", "eu-west-1", "111122223333")))


def test_a_deny_only_topic_policy_and_a_key_without_cloudwatch_are_both_reported() -> None:
    """Today's defect in miniature: enforce-SSL's lone Deny, and a key for the account only."""
    template = {
        "Resources": {
            "Alarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {"AlarmActions": [{"Ref": "Topic"}]},
            },
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]}},
            },
            "Policy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {
                    "Topics": [{"Ref": "Topic"}],
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "sns:Publish",
                                "Resource": {"Ref": "Topic"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ]
                    },
                },
            },
            "Key": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "KeyPolicy": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                "Action": "kms:*",
                                "Resource": "*",
                            }
                        ]
                    }
                },
            },
        }
    }
    problems = list(delivery_problems(template, [], Account("aws", "eu-west-1", "111122223333")))
    assert problems == [
        "parent/Alarm → Topic: topic policy: CloudWatch sns:Publish no statement allows it",
        "parent/Alarm → Topic → Key: key policy: CloudWatch kms:GenerateDataKey no statement "
        "allows it",
        "parent/Alarm → Topic → Key: key policy: CloudWatch kms:Decrypt no statement allows it",
    ]
