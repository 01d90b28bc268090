"""The CloudFormation intrinsics a job stack's template is written with."""

from __future__ import annotations


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def arn(service: str, resource: str) -> dict[str, str]:
    """An ARN in this stack's partition, region and account."""
    prefix = "arn:${AWS::Partition}:" + service + ":${AWS::Region}:${AWS::AccountId}"
    return {"Fn::Sub": f"{prefix}:{resource}"}
