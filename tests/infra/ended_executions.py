"""The cleanup's rules on "Step Functions Execution Status Change" events in a synthesized
environment, matched as EventBridge matches them (moto's event pattern matcher)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from moto.events.models import EventPattern

from lambdas.cleanup import settings as cleanup_settings
from lambdas.core.execution_contract import STATUS_CHANGE

Template = dict[str, Any]
ACCOUNT = "123456789012"
REGION = "eu-west-1"


def cleanup_rules(template: Mapping[str, Any]) -> dict[str, Template]:
    """Logical ID -> the rule (its properties) that sends status-change events to the cleanup."""
    (cleanup,) = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Handler") == cleanup_settings.HANDLER
    ]
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Events::Rule"
        and resource["Properties"].get("EventPattern", {}).get("detail-type") == [STATUS_CHANGE]
        and {"Fn::GetAtt": [cleanup, "Arn"]}
        in [target["Arn"] for target in resource["Properties"]["Targets"]]
    }


def deployed(value: Any, *, account: str = ACCOUNT, region: str = REGION) -> Any:
    """A template value as CloudFormation deploys it to ``account`` and ``region``: pseudo
    parameters and joins resolved."""
    pseudo = {"AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": "aws"}
    if isinstance(value, list):
        return [deployed(item, account=account, region=region) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"} and value["Ref"] in pseudo:
        return pseudo[value["Ref"]]
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(deployed(part, account=account, region=region) for part in parts)
    return {key: deployed(item, account=account, region=region) for key, item in value.items()}


def machine_arn(name: str, *, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:states:{region}:{account}:stateMachine:{name}"


def status_change(machine_arn: str, status: str, *, account: str, region: str) -> Template:
    """The event Step Functions sends when an execution of ``machine_arn`` ends."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": STATUS_CHANGE,
        "source": "aws.states",
        "account": account,
        "time": "2026-11-22T03:00:05Z",
        "region": region,
        "resources": [f"{machine_arn.replace(':stateMachine:', ':execution:')}:run"],
        "detail": {
            "executionArn": f"{machine_arn.replace(':stateMachine:', ':execution:')}:run",
            "stateMachineArn": machine_arn,
            "name": "run",
            "status": status,
            "input": "{}",
        },
    }


def hearing(template: Mapping[str, Any], event: Any, *, account: str, region: str) -> list[str]:
    """The cleanup's rules (logical IDs) that match ``event`` once deployed to ``account`` and
    ``region``."""
    return [
        logical_id
        for logical_id, rule in cleanup_rules(template).items()
        if EventPattern.load(
            json.dumps(deployed(rule["EventPattern"], account=account, region=region))
        ).matches_event(event)
    ]


def heard(template: Mapping[str, Any], event: Any, *, account: str, region: str) -> bool:
    """Whether the cleanup is invoked for ``event``."""
    return bool(hearing(template, event, account=account, region=region))
