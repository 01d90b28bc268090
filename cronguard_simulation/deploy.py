"""Deploy a synthesized cronguard environment into the local engine
(``cronguard_simulation.engine``).

Everything comes from the cloud assembly, not from config: each state machine's
``DefinitionString`` exactly as CloudFormation would receive it, its
``DefinitionSubstitutions`` resolved to local resources (the guard Lambda runs the real
handler in-process, the cluster and task definitions are registered in moto), the ledger
table with the key schema of the template. Two things are mapped, and only these: the
network ids from config (which exist in your account, not in moto) become the harness's
own VPC ids, and the cleanup rule becomes a subscription to the execution statuses its
synthesized event pattern names.

Each function runs the handler its synthesized ``Handler`` names, imported here from the
runtime package (``HANDLERS``: the paths are the contracts in ``lambdas/*/settings.py``); a
function naming any other handler is refused.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cronguard.config import Environment
from cronguard_simulation.engine import LocalAws
from cronguard_simulation.engine.events import DETAIL_TYPE, SOURCE
from cronguard_simulation.engine.lambdas import Handler
from lambdas.cleanup import handler as cleanup
from lambdas.cleanup.settings import HANDLER as CLEANUP_HANDLER
from lambdas.core.guard_contract import job_of_definition
from lambdas.core.ledger_contract import (
    LEASE_SORT_KEY,
    PARTITION_KEY,
    SORT_KEY,
    partition,
    slot_sort_key,
)
from lambdas.guard import handler as guard
from lambdas.guard.settings import HANDLER as GUARD_HANDLER

RUN_STATE = "Run job"

HANDLERS: dict[str, Handler] = {
    GUARD_HANDLER: guard.lambda_handler,
    CLEANUP_HANDLER: cleanup.lambda_handler,
}
"""The handlers the engine runs in-process, by the handler path a synthesized function names."""


class AssemblyError(Exception):
    """The cloud assembly is not a cronguard environment the engine can run."""


@dataclass(frozen=True)
class LocalJob:
    name: str
    state_machine_arn: str
    task_definition_arn: str
    guard_function: str


def _templates(assembly: Path, stack_name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    parent_file = assembly / f"{stack_name}.template.json"
    if not parent_file.exists():
        raise AssemblyError(f"{parent_file} not found: synthesize the environment first")
    parent = json.loads(parent_file.read_text())
    # The job stacks' templates are file assets of the environment's stack.
    assets = json.loads((assembly / f"{stack_name}.assets.json").read_text())
    nested = [
        json.loads((assembly / asset["source"]["path"]).read_text())
        for asset in assets.get("files", {}).values()
        if asset["source"]["path"].endswith(".nested.template.json")
    ]
    return parent, nested


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def _handler(function: dict[str, Any], expected: str, where: str) -> Handler:
    """The handler a synthesized function (its ``Properties``) names, which must be
    ``expected``."""
    named = function.get("Handler")
    if named != expected:
        raise AssemblyError(f"{where}: handler {named!r}, expected {expected!r}")
    return HANDLERS[named]


def _intrinsic(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _joined(value: Any) -> str | None:
    """An ``Fn::Join`` of strings and pseudo parameters as text (``${AWS.Region}`` for a
    pseudo parameter), e.g. the ARN of a cluster the environment imports by name."""
    if not isinstance(value, dict) or list(value) != ["Fn::Join"]:
        return None
    separator, parts = value["Fn::Join"]
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and str(part.get("Ref", "")).startswith("AWS::"):
            texts.append("${" + part["Ref"].replace("::", ".") + "}")  # no ':' in an ARN part
        else:
            return None
    return str(separator).join(texts)


def _environment(
    function: dict[str, Any],
    references: dict[str, str],
    patterns: dict[str, str] | None = None,
) -> dict[str, str]:
    """A synthesized function's environment variables, each reference to a parameter or
    resource (``references``: ``_intrinsic`` of the reference → local value) or joined text
    (``patterns``: a regex it matches in full → local value) resolved."""
    resolved: dict[str, str] = {}
    for name, value in function.get("Environment", {}).get("Variables", {}).items():
        text = _joined(value)
        matched = [
            local
            for pattern, local in (patterns or {}).items()
            if text is not None and re.fullmatch(pattern, text)
        ]
        if isinstance(value, str):
            resolved[name] = value
        elif _intrinsic(value) in references:
            resolved[name] = references[_intrinsic(value)]
        elif matched:
            resolved[name] = matched[0]
        else:
            raise AssemblyError(f"environment variable {name}: cannot resolve {value} locally")
    return resolved


def cleanup_statuses(parent: dict[str, Any], cleanup_id: str) -> frozenset[str]:
    """The execution statuses the synthesized rules send the cleanup: the ``detail.status``
    of the rules on Step Functions' status-change events that target it (an environment's
    state machines are spread over several rules, each naming the same statuses)."""
    patterns = [
        rule["Properties"]["EventPattern"]
        for rule in _of_type(parent, "AWS::Events::Rule").values()
        if {"Fn::GetAtt": [cleanup_id, "Arn"]}
        in [target["Arn"] for target in rule["Properties"].get("Targets", [])]
        and "EventPattern" in rule["Properties"]
    ]
    if not patterns:
        raise AssemblyError(f"no event rule targets the cleanup function {cleanup_id}")
    found = set()
    for pattern in patterns:
        if (pattern.get("source"), pattern.get("detail-type")) != ([SOURCE], [DETAIL_TYPE]):
            raise AssemblyError(
                f"the cleanup's rule matches source {pattern.get('source')} and detail-type "
                f"{pattern.get('detail-type')}, not Step Functions' execution status changes"
            )
        statuses = pattern.get("detail", {}).get("status")
        if not statuses or not all(isinstance(status, str) for status in statuses):
            raise AssemblyError(f"the cleanup's rule names no execution statuses: {statuses}")
        found.add(frozenset(statuses))
    if len(found) != 1:
        raise AssemblyError(f"the cleanup's rules name different statuses: {sorted(found)}")
    (statuses,) = found
    return statuses


def check_assembly(environment: Environment, assembly: Path) -> None:
    """The assembly was synthesized from this config: the same jobs, each with the
    concurrency and job retries the scenario expects. Checked before anything is
    deployed, so a stale cdk.out costs no time."""
    _, nested = _templates(assembly, environment.stack_name)
    _check_templates(environment, assembly, nested)


def _check_templates(
    environment: Environment, assembly: Path, nested: list[dict[str, Any]]
) -> None:
    """``check_assembly`` of templates already read."""
    prefix = f"{environment.name}-"
    synthesized: dict[str, tuple[str, int]] = {}
    for template in nested:
        for resource in _of_type(template, "AWS::StepFunctions::StateMachine").values():
            properties = resource["Properties"]
            job = job_of_definition(properties["DefinitionString"])
            name = properties["StateMachineName"].removeprefix(prefix)
            synthesized[name] = (job["concurrency"], job.get("jobRetries", {}).get("max", 0))
    configured = {
        job.name: (job.concurrency.value, job.max_job_retries) for job in environment.jobs
    }
    differences = [
        *(f"no job {name}" for name in sorted(configured.keys() - synthesized.keys())),
        *(
            f"job {name} is not configured"
            for name in sorted(synthesized.keys() - configured.keys())
        ),
        *(
            f"job {name} has concurrency {synthesized[name][0]}, job_retries "
            f"{synthesized[name][1]} (configured: {configured[name][0]}, "
            f"{configured[name][1]})"
            for name in sorted(configured.keys() & synthesized.keys())
            if configured[name] != synthesized[name]
        ),
    ]
    if differences:
        raise AssemblyError(
            f"{assembly} is out of date for {environment.name} "
            f"({'; '.join(differences)}): re-synthesize with "
            f"`npx cdk synth -c env={environment.name}` "
            f"(or `make synth ENV={environment.name}`)"
        )


class LocalEnvironment:
    """One environment's state machines, guard Lambdas, ledger and cleanup, running locally."""

    def __init__(
        self,
        aws: LocalAws,
        environment: Environment,
        assembly: Path,
        *,
        run_timeouts: dict[str, int] | None = None,
        job_retry_interval_seconds: int | None = None,
    ) -> None:
        """``run_timeouts`` (job -> seconds) compresses a job's run timeout so a test can
        watch it expire in seconds, not minutes; ``job_retry_interval_seconds`` likewise the
        wait before a failed run is retried (``job_retries``). With the network ids, the only
        changes to a synthesized definition."""
        self.aws = aws
        self.environment = environment
        self.assembly = assembly
        self.run_timeouts = run_timeouts or {}
        self.job_retry_interval_seconds = job_retry_interval_seconds
        self.jobs: dict[str, LocalJob] = {}
        self.ledger_table = ""

    def deploy(self) -> LocalEnvironment:
        parent, nested = _templates(self.assembly, self.environment.stack_name)
        _check_templates(self.environment, self.assembly, nested)
        self._create_ledger(parent)
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        cluster_arn = self.aws.create_cluster(self.environment.cluster_name)
        network_ids = self._network_mapping()
        for template in nested:
            for resource in _of_type(template, "AWS::StepFunctions::StateMachine").values():
                self._deploy_job(template, resource, cluster_arn, network_ids)
        cleanup_id, cleanup_function = self._cleanup_function(parent)
        self.aws.on_execution_status_change(
            _handler(cleanup_function, CLEANUP_HANDLER, f"cleanup function {cleanup_id}"),
            statuses=cleanup_statuses(parent, cleanup_id),
            environment=self._cleanup_environment(parent, cleanup_function, cluster_arn),
        )
        return self

    def _cleanup_function(self, parent: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The cleanup Lambda's logical ID and properties in the environment's stack."""
        functions = [
            (logical_id, resource["Properties"])
            for logical_id, resource in _of_type(parent, "AWS::Lambda::Function").items()
            if resource["Properties"].get("Handler") == CLEANUP_HANDLER
        ]
        if len(functions) != 1:
            raise AssemblyError("expected exactly one cleanup Lambda in the environment's stack")
        return functions[0]

    def _cleanup_environment(
        self, parent: dict[str, Any], function: dict[str, Any], cluster_arn: str
    ) -> dict[str, str]:
        """The cleanup's environment as synthesized."""
        references = {
            _intrinsic({"Ref": logical_id}): self.ledger_table
            for logical_id, resource in _of_type(parent, "AWS::DynamoDB::Table").items()
            if resource["Properties"]["TableName"] == self.ledger_table
        } | {
            _intrinsic(reference): cluster_arn
            for logical_id in _of_type(parent, "AWS::ECS::Cluster")
            for reference in ({"Ref": logical_id}, {"Fn::GetAtt": [logical_id, "Arn"]})
        }
        # A cluster the environment imports by name is an ARN joined from its name.
        imported_cluster = (
            rf"arn:[^:]+:ecs:[^:]*:[^:]*:cluster/{re.escape(self.environment.cluster_name)}"
        )
        return _environment(function, references, {imported_cluster: cluster_arn})

    def _create_ledger(self, parent: dict[str, Any]) -> None:
        tables = [
            resource["Properties"]
            for resource in _of_type(parent, "AWS::DynamoDB::Table").values()
            if resource["Properties"]["TableName"] == self.environment.ledger_table_name
        ]
        if len(tables) != 1:
            raise AssemblyError("expected exactly one ledger table in the environment's stack")
        table = tables[0]
        self.ledger_table = table["TableName"]
        indexes = {
            key: table[key]
            for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
            if table.get(key)
        }
        self.aws.dynamodb.create_table(
            TableName=table["TableName"],
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode=table["BillingMode"],
            **indexes,
        )

    def _network_mapping(self) -> dict[str, str]:
        """Config network ids -> the harness VPC's ids (config ids do not exist in moto)."""
        local = self.aws.network()
        mapping: dict[str, str] = {}
        configured = [self.environment.network] + [
            self.environment.network.for_job(job.network) for job in self.environment.jobs
        ]
        for network in configured:
            for index, subnet in enumerate(network.subnet_ids):
                mapping[subnet] = local.subnet_ids[index % len(local.subnet_ids)]
            for group in network.security_group_ids:
                mapping[group] = local.security_group_ids[0]
        return mapping

    def _deploy_job(
        self,
        template: dict[str, Any],
        resource: dict[str, Any],
        cluster_arn: str,
        network_ids: dict[str, str],
    ) -> None:
        properties = resource["Properties"]
        machine_name: str = properties["StateMachineName"]
        prefix = f"{self.environment.name}-"
        job_name = machine_name[len(prefix) :]
        substitutions = properties["DefinitionSubstitutions"]
        guard_logical_id = substitutions["GuardFunctionArn"]["Fn::GetAtt"][0]
        guard_properties = template["Resources"][guard_logical_id]["Properties"]
        guard_handler = _handler(guard_properties, GUARD_HANDLER, f"{machine_name}'s guard")
        guard_name = f"{machine_name}-guard"
        guard_arn = self.aws.register_lambda(
            guard_name,
            guard_handler,
            _environment(
                guard_properties,
                {
                    _intrinsic({"Ref": "LedgerTableName"}): self.ledger_table,
                    _intrinsic({"Ref": "ClusterArn"}): cluster_arn,
                },
            ),
        )
        definition: str = properties["DefinitionString"]
        job_container = job_of_definition(definition)["container"]
        task_reference = substitutions["TaskDefinitionArn"]
        if isinstance(task_reference, str):
            # A team's own task definition (`task_definition_arn`): the template holds only
            # its ARN, so the simulation runs a stand-in of that family with the job's container.
            task_definition_arn = self.aws.register_task_definition(
                task_reference.rsplit("/", 1)[-1].split(":")[0], job_container
            )
        else:
            task = template["Resources"][task_reference["Ref"]]["Properties"]
            task_definition_arn = self.aws.register_task_definition(
                task["Family"],
                job_container,
                cpu=str(task["Cpu"]),
                memory=str(task["Memory"]),
                sidecars={
                    container["Name"]: container["Essential"]
                    for container in task["ContainerDefinitions"]
                    if container["Name"] != job_container
                },
            )
        for configured, local in network_ids.items():
            definition = definition.replace(f'"{configured}"', f'"{local}"')
        if job_name in self.run_timeouts or self.job_retry_interval_seconds is not None:
            parsed = json.loads(definition)
            run = parsed["States"][RUN_STATE]
            if job_name in self.run_timeouts:
                run["TimeoutSeconds"] = self.run_timeouts[job_name]
            if self.job_retry_interval_seconds is not None:
                for state in parsed["States"].values():
                    job = state.get("Arguments", {}).get("Payload", {}).get("job", {})
                    if "jobRetries" in job:  # the guard's answer to a failed attempt waits this
                        job["jobRetries"]["intervalSeconds"] = self.job_retry_interval_seconds
            definition = json.dumps(parsed)
        arn = self.aws.deploy_state_machine(
            machine_name,
            definition,
            substitutions={
                "GuardFunctionArn": guard_arn,
                "ClusterArn": cluster_arn,
                "TaskDefinitionArn": task_definition_arn,
            },
        )
        self.jobs[job_name] = LocalJob(job_name, arn, task_definition_arn, guard_name)

    def slot_item(self, job: str, slot: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.aws.dynamodb.get_item(
            TableName=self.ledger_table,
            Key={PARTITION_KEY: {"S": partition(job)}, SORT_KEY: {"S": slot_sort_key(slot)}},
            ConsistentRead=True,
        ).get("Item")
        return item

    def lease(self, job: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.aws.dynamodb.get_item(
            TableName=self.ledger_table,
            Key={PARTITION_KEY: {"S": partition(job)}, SORT_KEY: {"S": LEASE_SORT_KEY}},
            ConsistentRead=True,
        ).get("Item")
        return item
