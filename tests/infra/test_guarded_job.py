"""The per-job pipeline in the synthesized template: schedule, state machine, guard, IAM."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from aws_cdk.assertions import Template
from moto.stepfunctions.parser.asl.jsonata.jsonata import JSONataException

from cronguard.config import load_environment
from cronguard.config.model import ENVIRONMENT_TAG, JOB_RETRY_INTERVAL_SECONDS
from cronguard_simulation.engine.shims import evaluate_jsonata
from lambdas.cleanup import settings as cleanup_settings
from lambdas.core import errors
from lambdas.core.execution_contract import ENDED_STATUSES
from lambdas.core.ledger_contract import partition
from lambdas.guard.decision import Verdict
from stacks.definition import placeholders
from stacks.environment_stack import CronguardStack
from testkit.apps import project_app
from tests.configs import REPOSITORY_CONFIG
from tests.infra.conftest import Synthesized
from tests.infra.ended_executions import ACCOUNT, REGION, heard, machine_arn, status_change

Synth = Callable[[str], Synthesized]
SUBSTITUTED_AT_DEPLOY = {"GuardFunctionArn", "ClusterArn", "TaskDefinitionArn"}


def resources(template: Template, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def machine(template: Template, name: str) -> tuple[str, dict[str, Any]]:
    for logical_id, resource in resources(template, "AWS::StepFunctions::StateMachine").items():
        if resource["Properties"]["StateMachineName"] == name:
            return logical_id, resource["Properties"]
    raise AssertionError(f"no state machine {name}")


def definition(template: Template, name: str) -> dict[str, Any]:
    text = machine(template, name)[1]["DefinitionString"]
    assert isinstance(text, str), "the definition must stay inline (not an S3 asset)"
    assert placeholders(text) == SUBSTITUTED_AT_DEPLOY
    return dict(json.loads(text))


def schedule_of(template: Template, machine_logical_id: str) -> dict[str, Any]:
    for resource in resources(template, "AWS::Scheduler::Schedule").values():
        if resource["Properties"]["Target"]["Arn"] == {"Ref": machine_logical_id}:
            return dict(resource["Properties"])
    raise AssertionError("no schedule targets the state machine")


def test_schedule_sends_the_scheduled_time_in_the_jobs_time_zone(synth: Synth) -> None:
    template = synth("dev").job_templates["nightly-report"]
    logical_id, _ = machine(template, "dev-nightly-report")
    schedule = schedule_of(template, logical_id)
    assert schedule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert schedule["State"] == "ENABLED"
    assert json.loads(schedule["Target"]["Input"]) == {
        "scheduledTime": "<aws.scheduler.scheduled-time>",
        "attempt": "<aws.scheduler.attempt-number>",
    }
    assert schedule["Target"]["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 86400,
        "MaximumRetryAttempts": 185,
    }
    assert "DeadLetterConfig" in schedule["Target"]


def test_a_job_disabled_in_config_deploys_a_disabled_schedule(synth: Synth) -> None:
    template = synth("dev").job_templates["weekly-cleanup"]
    logical_id, _ = machine(template, "dev-weekly-cleanup")
    assert schedule_of(template, logical_id)["State"] == "DISABLED"
    prod = synth("prod").job_templates["weekly-cleanup"]
    logical_id, _ = machine(prod, "prod-weekly-cleanup")
    assert schedule_of(prod, logical_id)["State"] == "ENABLED"


def test_state_machine_is_standard_logged_and_named_env_job(synth: Synth) -> None:
    _, props = machine(synth("dev").job_templates["nightly-report"], "dev-nightly-report")
    assert props["StateMachineType"] == "STANDARD"
    assert props["LoggingConfiguration"]["Level"] == "ALL"


def test_x_ray_is_off_everywhere_with_no_grant_left_for_it(synth: Synth) -> None:
    """X-Ray is either used (Powertools' Tracer in every handler) or off: it is off
    (``stacks.compliance.NO_TRACING``), so no function traces, no state machine traces and
    no role keeps an xray: grant."""
    synthesized = synth("dev")
    for template in (synthesized.template, *synthesized.job_templates.values()):
        found = template.to_json()["Resources"]
        for resource in found.values():
            properties = resource.get("Properties", {})
            assert "TracingConfig" not in properties
            assert "TracingConfiguration" not in properties
        assert "xray:" not in json.dumps(found)


def test_definition_branches_on_the_guard_and_names_every_skip(synth: Synth) -> None:
    asl = definition(synth("dev").job_templates["nightly-report"], "dev-nightly-report")
    states = asl["States"]
    assert asl["QueryLanguage"] == "JSONata"
    assert asl["StartAt"] == "Guard"
    assert states["Guard"]["Resource"] == "arn:aws:states:::lambda:invoke"
    choices = {c["Next"]: c["Condition"] for c in states["Run or skip?"]["Choices"]}
    # Every reason the guard skips for (each skipping verdict) ends in its own named state.
    skips = [f"Skipped: {verdict.value}" for verdict in Verdict if verdict.skips]
    assert "Skipped: paused" in skips
    assert set(choices) == {"Run job", *skips}
    for verdict in (verdict for verdict in Verdict if verdict.skips):
        skip = f"Skipped: {verdict.value}"
        assert choices[skip] == f"{{% $decision.reason = '{verdict.value}' %}}"
        assert states[skip]["Type"] == "Succeed"
        assert states[skip]["Output"] == "{% $decision %}"
    assert states["Guard"]["Catch"][0] == {
        "ErrorEquals": ["InvalidInput"],
        "Output": "{% $states.errorOutput %}",
        "Next": "Invalid input",
    }


def test_run_retries_launch_failures_only_and_times_out_as_configured(synth: Synth) -> None:
    asl = definition(synth("dev").job_templates["hourly-sync"], "dev-hourly-sync")
    run = asl["States"]["Run job"]
    assert run["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    assert run["TimeoutSeconds"] == 50 * 60
    launch, never = run["Retry"]
    assert launch["ErrorEquals"] == list(errors.LAUNCH_ERRORS)
    assert (launch["MaxAttempts"], launch["IntervalSeconds"], launch["BackoffRate"]) == (4, 15, 2.0)
    assert launch["JitterStrategy"] == "FULL"
    assert never == {"ErrorEquals": list(errors.NEVER_RETRIED), "MaxAttempts": 0}
    assert run["Catch"][1:] == [
        {
            "ErrorEquals": ["States.ALL"],
            "Assign": {
                "failure": "{% $states.errorOutput %}",
                "retries": "{% $states.context.State.RetryCount %}",
            },
            "Next": "Record failure",
        }
    ]
    # A failed attempt goes to the guard, which answers retryInSeconds when job_retries
    # runs it again (by its exit code): only then does the run loop back.
    assert asl["States"]["Record failure"]["Next"] == "Retry?"
    retry = asl["States"]["Retry?"]
    assert (retry["Default"], retry["Choices"][0]["Next"]) == ("Failed", "Wait to retry")
    wait = asl["States"]["Wait to retry"]
    assert (wait["Type"], wait["Next"]) == ("Wait", "Run job")
    assert wait["Seconds"] == "{% $states.input.retryInSeconds %}"
    assert asl["States"]["Record failure"]["Catch"][0]["Next"] == "Failed"
    assert asl["States"]["Failed"]["Type"] == "Fail"


def test_job_retries_come_from_config(synth: Synth) -> None:
    guard = definition(synth("dev").job_templates["weekly-cleanup"], "dev-weekly-cleanup")[
        "States"
    ]["Guard"]
    assert guard["Arguments"]["Payload"]["job"]["jobRetries"] == {
        "max": 1,
        "intervalSeconds": JOB_RETRY_INTERVAL_SECONDS,
    }


def retries_of(retriers: list[dict[str, Any]], error: str) -> int:
    """How often a Task with these retriers retries ``error``, as Step Functions picks the
    retrier: the first whose ErrorEquals matches; ``States.ALL`` matches every name, and
    ``States.TaskFailed`` "acts as a wildcard that matches any known error name except for
    States.Timeout" (Step Functions Developer Guide, "Handling errors in Step Functions
    workflows")."""
    for retrier in retriers:
        names = retrier["ErrorEquals"]
        if (
            error in names
            or "States.ALL" in names
            or ("States.TaskFailed" in names and error != "States.Timeout")
        ):
            return int(retrier["MaxAttempts"])
    return 0


def ecs_errors_of_a_run() -> set[str]:
    """What RunTask, and the DescribeTasks and StopTask calls of ``.sync``, declare in the
    ECS API model (botocore's), as the Step Functions integration names them."""
    model = botocore.session.get_session().get_service_model("ecs")
    return {
        f"ECS.{shape.name}"
        for operation in ("RunTask", "DescribeTasks", "StopTask")
        for shape in model.operation_model(operation).error_shapes
    }


def test_run_job_retries_launch_failures_and_nothing_else(
    synth: Synth,
) -> None:
    job = load_environment("dev", REPOSITORY_CONFIG).job("weekly-cleanup")
    assert job.job_retries == 1
    retriers = definition(synth("dev").job_templates[job.name], "dev-weekly-cleanup")["States"][
        "Run job"
    ]["Retry"]
    # A non-zero exit is not retried by the state: the guard decides (Record failure).
    assert retries_of(retriers, "States.TaskFailed") == 0
    assert retries_of(retriers, "States.Timeout") == 0
    for launch in errors.LAUNCH_ERRORS:
        assert retries_of(retriers, launch) == job.launch_retries.max_attempts, launch
    for never in ("States.Permissions", "States.QueryEvaluationError", *errors.NEVER_RETRIED):
        assert retries_of(retriers, never) == 0, never
    # Every error ECS declares for the calls of a run is either a launch failure or never
    # retried: a new one in the model needs that decision.
    assert ecs_errors_of_a_run() <= set(errors.LAUNCH_ERRORS) | set(errors.NEVER_RETRIED)
    assert not set(errors.LAUNCH_ERRORS) & set(errors.NEVER_RETRIED)


def test_run_carries_job_slot_and_execution_to_the_container(synth: Synth) -> None:
    arguments = definition(synth("dev").job_templates["nightly-report"], "dev-nightly-report")[
        "States"
    ]["Run job"]["Arguments"]
    assert arguments["LaunchType"] == "FARGATE"
    assert "CapacityProviderStrategy" not in arguments
    # Step Functions sets startedBy itself ("AWS Step Functions"): the task group names the job.
    assert "StartedBy" not in arguments
    assert arguments["Group"] == "cronguard:nightly-report"
    claimed = {"slot": "2026-11-22T03:00:00Z", "redriveCount": 0}
    (scheduled,) = _evaluate(
        arguments["Overrides"]["ContainerOverrides"],
        states=_context(0),
        decision={**claimed, "overrides": {"environment": []}},
    )
    assert scheduled == {
        "Name": "job",
        "Environment": [
            {"Name": "CRONGUARD_JOB", "Value": "nightly-report"},
            {"Name": "CRONGUARD_SLOT", "Value": "2026-11-22T03:00:00Z"},
            {"Name": "CRONGUARD_EXECUTION_ARN", "Value": "arn:x"},
        ],
    }
    # A person's overrides (checked by the guard) follow cronguard's own variables.
    person = {"environment": [{"Name": "RUN_NOTE", "Value": "n"}], "command": ["report"]}
    (overridden,) = _evaluate(
        arguments["Overrides"]["ContainerOverrides"],
        states=_context(0),
        decision={**claimed, "overrides": person},
    )
    assert overridden["Environment"][3:] == person["environment"]
    assert overridden["Command"] == ["report"]
    network = arguments["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network == {
        "Subnets": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        "SecurityGroups": ["sg-0a1b2c3d4e5f60003"],
        "AssignPublicIp": "DISABLED",
    }


def test_a_spot_job_runs_on_fargate_spot(synth: Synth) -> None:
    arguments = definition(synth("dev").job_templates["hourly-sync"], "dev-hourly-sync")["States"][
        "Run job"
    ]["Arguments"]
    assert arguments["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 1}
    ]
    assert "LaunchType" not in arguments


def test_guard_gets_its_job_settings_and_lease_past_the_execution_timeout(synth: Synth) -> None:
    asl = definition(synth("dev").job_templates["nightly-report"], "dev-nightly-report")
    settings = asl["States"]["Guard"]["Arguments"]["Payload"]["job"]
    assert settings["name"] == "nightly-report"
    assert settings["concurrency"] == "forbid"
    assert settings["startingDeadlineSeconds"] == 30 * 60
    assert settings["retentionSeconds"] == 7 * 86400
    assert settings["leaseSeconds"] > asl["TimeoutSeconds"] > 2 * 3600


def _statements(template: Template, role: str) -> list[dict[str, Any]]:
    """Every statement that grants ``role`` something: its inline policies and any
    ``AWS::IAM::Policy`` attached to it."""
    properties = resources(template, "AWS::IAM::Role")[role]["Properties"]
    found = [
        statement
        for policy in properties.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _role_of_function(template: Template, job: str) -> str:
    for resource in resources(template, "AWS::Lambda::Function").values():
        if resource["Properties"].get("Description") == f"cronguard guard for dev-{job}":
            return str(resource["Properties"]["Role"]["Fn::GetAtt"][0])
    raise AssertionError(job)


def test_guard_may_only_touch_its_own_state_machine_and_ledger_items(synth: Synth) -> None:
    template = synth("dev").job_templates["nightly-report"]
    statements = _statements(template, _role_of_function(template, "nightly-report"))
    by_action = {
        tuple(s["Action"]) if isinstance(s["Action"], list) else (s["Action"],): s
        for s in statements
    }
    listing = by_action[("states:ListExecutions",)]
    assert json.dumps(listing["Resource"]).endswith(':stateMachine:dev-nightly-report"}')
    executions = by_action[("states:DescribeExecution", "states:StopExecution")]
    assert json.dumps(executions["Resource"]).endswith(':execution:dev-nightly-report:*"}')
    ledger = next(s for s in statements if "dynamodb:PutItem" in s["Action"])
    assert ledger["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [partition("nightly-report")]}
    }
    assert not any(a == "*" or a.endswith(":*") for s in statements for a in _actions(s))


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_state_machine_may_pass_only_its_jobs_roles_and_run_only_its_task(synth: Synth) -> None:
    template = synth("dev").job_templates["nightly-report"]
    _, props = machine(template, "dev-nightly-report")
    statements = _statements(template, props["RoleArn"]["Fn::GetAtt"][0])
    pass_role = next(s for s in statements if s["Action"] == "iam:PassRole")
    refs = {r["Fn::GetAtt"][0] for r in pass_role["Resource"]}
    (task_definition,) = resources(template, "AWS::ECS::TaskDefinition").values()
    job_roles = {
        task_definition["Properties"][key]["Fn::GetAtt"][0]
        for key in ("TaskRoleArn", "ExecutionRoleArn")
    }
    assert refs == job_roles  # the task role and the execution role, nothing else
    assert len(refs) == 2
    run_task = next(s for s in statements if s["Action"] == "ecs:RunTask")
    assert "task-definition/cronguard-dev-nightly-report:*" in json.dumps(run_task["Resource"])
    invoke = next(s for s in statements if s["Action"] == "lambda:InvokeFunction")
    assert invoke["Resource"] == props["DefinitionSubstitutions"]["GuardFunctionArn"]
    assert not any(a == "*" or a.endswith(":*") for s in statements for a in _actions(s))


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_the_cleanup_hears_the_ended_executions_of_this_environments_state_machines_only(
    synth: Synth, env_name: str
) -> None:
    template = synth(env_name).template.to_json()
    environment = load_environment(env_name, REPOSITORY_CONFIG)
    account, region = environment.account or ACCOUNT, environment.region or REGION

    def arn(name: str, *, in_account: str = account) -> str:
        return machine_arn(name, account=in_account, region=region)

    def hears(machine: str, status: str, *, in_account: str = account) -> bool:
        event = status_change(machine, status, account=in_account, region=region)
        return heard(template, event, account=account, region=region)

    own = [arn(environment.state_machine_name(job)) for job in environment.jobs]
    assert all(hears(machine, status) for machine in own for status in ENDED_STATUSES)
    assert not any(hears(machine, "SUCCEEDED") for machine in own)
    # Another team's machines whose names start like this environment's ...
    assert not hears(arn(f"{env_name}-orders"), "FAILED")
    assert not hears(arn(f"{environment.state_machine_name(environment.jobs[0])}-v2"), "FAILED")
    # ... and this environment's names in another account.
    other = "210987654321"
    assert not hears(
        arn(environment.state_machine_name(environment.jobs[0]), in_account=other),
        "FAILED",
        in_account=other,
    )


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_the_cleanup_may_read_only_executions_of_state_machines_tagged_as_this_environments(
    synth: Synth, env_name: str
) -> None:
    """Step Functions authorizes DescribeExecution by the tags of the execution's state
    machine; the job stacks' tags reach their state machines (one tag key, one value)."""
    template = synth(env_name).template
    (cleanup_role,) = {
        function["Properties"]["Role"]["Fn::GetAtt"][0]
        for function in template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Handler": cleanup_settings.HANDLER}}
        ).values()
    }
    statements = {
        statement["Action"]: statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": cleanup_role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if str(statement["Action"]).startswith("states:")
    }
    # DescribeStateMachine: whether a run's state machine is being deleted (a removed job).
    assert set(statements) == {"states:DescribeExecution", "states:DescribeStateMachine"}
    tag = f"aws:ResourceTag/{ENVIRONMENT_TAG}"
    for action, kind in (
        ("states:DescribeExecution", f":execution:{env_name}-*:*"),
        ("states:DescribeStateMachine", f":stateMachine:{env_name}-*"),
    ):
        assert statements[action]["Condition"] == {"StringEquals": {tag: env_name}}
        assert json.dumps(statements[action]["Resource"]).endswith(f'{kind}"]]}}')
    for job_stack in template.find_resources("AWS::CloudFormation::Stack").values():
        assert {"Key": ENVIRONMENT_TAG, "Value": env_name} in job_stack["Properties"]["Tags"]


def _write_config(root: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    source = Path(__file__).resolve().parents[2] / "config"
    jobs = yaml.safe_load((source / "jobs.yaml").read_text())
    mutate(jobs["jobs"])
    (root / "environments").mkdir(parents=True)
    (root / "jobs.yaml").write_text(yaml.safe_dump(jobs))
    (root / "environments" / "dev.yaml").write_text(
        (source / "environments" / "dev.yaml").read_text()
    )
    return root


def _identities(config_dir: Path) -> dict[str, Any]:
    app = project_app()
    stack = CronguardStack(app, "cronguard-dev", environment=load_environment("dev", config_dir))
    identity: dict[str, Any] = {}
    templates = {"": Template.from_stack(stack)} | {
        stack.resolve(job_stack.resource.logical_id): Template.from_json(job_stack.template)
        for job_stack in stack.job_stacks.values()
    }
    for parent_id, template in templates.items():
        for kind, name_key in (
            ("AWS::StepFunctions::StateMachine", "StateMachineName"),
            ("AWS::DynamoDB::Table", "TableName"),
        ):
            for logical_id, resource in resources(template, kind).items():
                identity[f"{parent_id}/{logical_id}"] = resource["Properties"][name_key]
    return identity


def test_config_changes_keep_state_machine_and_ledger_identities(tmp_path: Path) -> None:
    def change(jobs: dict[str, Any]) -> None:
        jobs["nightly-report"]["schedule"] = "cron(30 4 * * ? *)"
        jobs["nightly-report"]["cpu"] = 1024
        jobs["nightly-report"]["memory"] = 2048
        jobs["hourly-sync"]["image"] = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/x:2"

    before = _identities(_write_config(tmp_path / "before", lambda jobs: None))
    after = _identities(_write_config(tmp_path / "after", change))
    assert before == after
    assert set(before.values()) == {
        "dev-nightly-report",
        "dev-hourly-sync",
        "dev-weekly-cleanup",
        "cronguard-dev-ledger",
        "cronguard-dev-work",
    }


def _evaluate(field: str, **variables: Any) -> Any:
    """A JSONata field of the synthesized definition, evaluated with the evaluator the local
    engine runs (jsonata-python with Step Functions' functions), ``variables`` bound."""
    expression = field.removeprefix("{%").removesuffix("%}").strip()
    bindings = "".join(f"${name} := {json.dumps(value)}; " for name, value in variables.items())
    return evaluate_jsonata(f"({bindings}{expression})")


def _context(redrive_count: int) -> dict[str, Any]:
    return {"context": {"Execution": {"Id": "arn:x", "RedriveCount": redrive_count}}}


def _slot_field(asl: dict[str, Any]) -> str:
    """The container overrides' expression, reduced to the CRONGUARD_SLOT it sets (or the
    redrive it refuses)."""
    overrides = asl["States"]["Run job"]["Arguments"]["Overrides"]["ContainerOverrides"]
    expression = overrides.removeprefix("{%").removesuffix("%}").strip()
    return f"{{% ({expression}).Environment[Name = 'CRONGUARD_SLOT'].Value %}}"


def test_a_redriven_run_is_refused_at_run_job_until_the_guard_claims_again(synth: Synth) -> None:
    asl = definition(synth("dev").job_templates["nightly-report"], "dev-nightly-report")
    claimed = {"action": "run", "slot": "2026-11-22T03:00:00Z", "redriveCount": 0}
    slot_field = _slot_field(asl)

    assert _evaluate(slot_field, states=_context(0), decision=claimed) == claimed["slot"]
    with pytest.raises(JSONataException) as refused:
        _evaluate(slot_field, states=_context(1), decision=claimed)
    assert refused.value.error == "States.QueryEvaluationError"
    assert "redriven" in str(refused.value.details)
    # A guard reply without the echo refuses too (fails closed) ...
    with pytest.raises(JSONataException):
        _evaluate(slot_field, states=_context(1), decision={"slot": claimed["slot"]})
    # ... and the claim the guard makes for the redrive lets it through.
    reclaimed = {**claimed, "redriveCount": 1}
    assert _evaluate(slot_field, states=_context(1), decision=reclaimed) == claimed["slot"]

    run = asl["States"]["Run job"]
    first, last = run["Catch"]
    assert first["ErrorEquals"] == ["States.QueryEvaluationError"]
    assert last["ErrorEquals"] == ["States.ALL"] and last["Next"] == "Record failure"
    redriven = asl["States"][first["Next"]]
    assert redriven["Type"] == "Choice"
    (back,) = redriven["Choices"]
    assert (back["Next"], redriven["Default"]) == ("Guard", "Record failure")
    loops = back["Condition"]
    assert _evaluate(loops, states=_context(1), decision=claimed) is True
    # Never a loop: not once the guard claimed for this redrive, nor for an evaluation bug.
    assert _evaluate(loops, states=_context(1), decision=reclaimed) is False
    assert _evaluate(loops, states=_context(0), decision=claimed) is False
    assert _evaluate(loops, states=_context(1), decision={"slot": claimed["slot"]}) is False


def test_the_guard_is_told_the_redrive_count_and_reads_the_executions_own_input(
    synth: Synth,
) -> None:
    payload = definition(synth("dev").job_templates["nightly-report"], "dev-nightly-report")[
        "States"
    ]["Guard"]["Arguments"]["Payload"]
    count = payload["redriveCount"]
    assert _evaluate(count, states=_context(2)) == 2
    assert _evaluate(count, states={"context": {"Execution": {}}}) == 0
    # A redrive that loops back to Guard enters it with an error as input: the slot comes
    # from the execution's input, never from the state's.
    state_input = {"Error": "States.QueryEvaluationError", "Cause": "redriven"}
    execution = {"Input": {"scheduledTime": "2026-11-22T03:00:00Z"}}
    assert _evaluate(
        payload["input"], states={"input": state_input, "context": {"Execution": execution}}
    ) == {"scheduledTime": "2026-11-22T03:00:00Z"}


def test_the_guard_is_retried_on_every_error_but_invalid_input_within_bounds(
    synth: Synth,
) -> None:
    guard = definition(synth("dev").job_templates["nightly-report"], "dev-nightly-report")[
        "States"
    ]["Guard"]
    never, everything = guard["Retry"]
    assert (never["ErrorEquals"], never["MaxAttempts"]) == (["InvalidInput"], 0)
    assert everything["ErrorEquals"] == ["States.ALL"]
    waits = [
        min(
            everything["IntervalSeconds"] * everything["BackoffRate"] ** attempt,
            everything["MaxDelaySeconds"],
        )
        for attempt in range(everything["MaxAttempts"])
    ]
    assert 30 <= sum(waits) <= 90  # long enough to outlast a throttle, short of the deadline


def test_failed_raises_cronguards_own_error_names_with_the_original_in_cause(
    synth: Synth,
) -> None:
    failed = definition(synth("dev").job_templates["nightly-report"], "dev-nightly-report")[
        "States"
    ]["Failed"]
    for original, raised in errors.BY_ORIGINAL_ERROR.items():
        failure = {"Error": original, "Cause": '{"TaskArn": "arn:task"}'}
        assert _evaluate(failed["Error"], failure=failure) == raised
        assert json.loads(_evaluate(failed["Cause"], failure=failure)) == failure
    for other in ("States.Permissions", "ECS.AccessDeniedException", "States.QueryEvaluationError"):
        assert _evaluate(failed["Error"], failure={"Error": other}) == errors.RUN_FAILED
        assert errors.execution_error(other) == errors.RUN_FAILED
    names = {
        state.get("Error")
        for state in definition(synth("dev").job_templates["nightly-report"], "dev-nightly-report")[
            "States"
        ].values()
        if state["Type"] == "Fail"
    }
    assert {errors.SUCCESS_NOT_RECORDED, errors.INVALID_INPUT, errors.INVALID_DECISION} <= names
    assert not any(str(name).startswith("States.") for name in names)


def test_record_success_never_falls_through_to_a_failed_slot(synth: Synth) -> None:
    states = definition(synth("dev").job_templates["nightly-report"], "dev-nightly-report")[
        "States"
    ]
    (catch,) = states["Record success"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    unrecorded = states[catch["Next"]]
    assert (unrecorded["Type"], unrecorded["Error"]) == ("Fail", errors.SUCCESS_NOT_RECORDED)
    task = {"TaskArn": "arn:task", "Containers": [{"Name": "job", "ExitCode": 0}]}
    assert _evaluate(catch["Output"], states={"input": task}) == task
    assert json.loads(_evaluate(unrecorded["Cause"], states={"input": task})) == task
