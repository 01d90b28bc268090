"""The cronguard command line: next slots, history from the ledger, manual runs (moto)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from typer.testing import CliRunner

from cronguard import cli
from cronguard.cli import app, common
from lambdas.core.ledger_contract import (
    PARTITION_KEY,
    SORT_KEY,
    partition,
    slot_sort_key,
    table_name,
)
from testkit.configs import NETWORK
from tests.aws import create_ledger_table, use_fake_credentials
from tests.configs import use_config

LEDGER = table_name("test")

runner = CliRunner()
JOBS: dict[str, dict[str, Any]] = {
    "month-end": {
        "schedule": "cron(0 22 L * ? *)",
        "timezone": "UTC",
        "image": "x",
        "owner": {"team": "finance", "topic_arn": "arn:aws:sns:us-east-1:123456789012:finance"},
    },
    "first-monday": {"schedule": "cron(30 9 ? * 2#1 *)", "timezone": "Asia/Tokyo", "image": "x"},
    "london-0130": {"schedule": "cron(30 1 * * ? *)", "timezone": "Europe/London", "image": "x"},
    "every-90m": {"schedule": "rate(90 minutes)", "image": "x"},
    "paused": {"schedule": "cron(0 6 * * ? *)", "image": "x", "enabled": False},
}


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_config(tmp_path, monkeypatch, JOBS)


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def utc_column(output: str) -> list[str]:
    return re.findall(r"│ (\d{4}-\d\d-\d\dT\d\d:\d\d:00Z) │", output)


def test_next_last_day_of_month() -> None:
    result = invoke(
        "next", "month-end", "--env", "test", "-n", "3", "--after", "2028-01-31T23:00:00Z"
    )
    assert result.exit_code == 0, result.output
    assert utc_column(result.output) == [
        "2028-02-29T22:00:00Z",  # a leap year's February
        "2028-03-31T22:00:00Z",
        "2028-04-30T22:00:00Z",
    ]


def test_next_first_monday_in_tokyo() -> None:
    result = invoke(
        "next", "first-monday", "--env", "test", "-n", "2", "--after", "2026-11-22T00:00:00Z"
    )
    assert result.exit_code == 0, result.output
    assert utc_column(result.output) == ["2026-12-07T00:30:00Z", "2027-01-04T00:30:00Z"]
    assert "2026-12-07 09:30 Mon JST" in result.output


def test_next_across_the_london_spring_forward_skips_the_missing_hour() -> None:
    # 2027-03-28: clocks jump 01:00 GMT -> 02:00 BST, so 01:30 does not exist that day.
    result = invoke(
        "next", "london-0130", "--env", "test", "-n", "3", "--after", "2027-03-26T12:00:00Z"
    )
    assert result.exit_code == 0, result.output
    assert utc_column(result.output) == [
        "2027-03-27T01:30:00Z",
        "2027-03-29T00:30:00Z",
        "2027-03-30T00:30:00Z",
    ]


def test_next_rate_shows_the_same_instant_in_both_columns() -> None:
    result = invoke(
        "next", "every-90m", "--env", "test", "-n", "2", "--after", "2026-11-22T00:00:30Z"
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"│ 2026-11-22 01:30:30 Sun UTC\s*│ 2026-11-22T01:30:30Z │", result.output)
    assert re.search(r"│ 2026-11-22 03:00:30 Sun UTC\s*│ 2026-11-22T03:00:30Z │", result.output)


def test_next_of_a_disabled_job_says_it_will_not_fire() -> None:
    result = invoke("next", "paused", "--env", "test", "-n", "1")
    assert result.exit_code == 0, result.output
    assert (
        "paused is disabled in environment 'test' (enabled: false): its schedule is deployed "
        "disabled and fires none of these slots." in " ".join(result.output.split())
    )


def test_next_of_an_enabled_job_says_nothing_about_it() -> None:
    assert "disabled" not in invoke("next", "month-end", "--env", "test", "-n", "1").output


def test_next_rate_counts_from_the_given_time() -> None:
    result = invoke(
        "next", "every-90m", "--env", "test", "-n", "2", "--after", "2026-11-22T00:00:00Z"
    )
    assert result.exit_code == 0, result.output
    assert utc_column(result.output) == ["2026-11-22T01:30:00Z", "2026-11-22T03:00:00Z"]
    assert "rate schedules count from when the schedule was created" in result.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("next", "nope", "--env", "test"), 2, "error: unknown job 'nope' in environment 'test'"),
        (("next", "month-end", "--env", "nope"), 2, "unknown environment 'nope'"),
        (("next", "month-end", "--env", "test", "--after", "soon"), 2, "'soon' is not an ISO-8601"),
        (
            ("run", "month-end", "--env", "test", "--slot", "2026-11-22T03:00"),
            2,
            "has no time zone",
        ),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(
    args: tuple[str, ...], code: int, message: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == code
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    use_fake_credentials(monkeypatch)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_ledger_table(dynamodb, LEDGER)
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="test-month-end",
            roleArn=role,
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        )["stateMachineArn"]
        yield {"dynamodb": dynamodb, "sfn": sfn, "machine": machine}


def put_slot(dynamodb: Any, slot: str, **attributes: Any) -> None:
    item = {
        PARTITION_KEY: {"S": partition("month-end")},
        SORT_KEY: {"S": slot_sort_key(slot)},
        "slot": {"S": slot},
    }
    for key, value in attributes.items():
        item[key] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    dynamodb.put_item(TableName=LEDGER, Item=item)


def test_history_lists_the_ledger_newest_first(aws: dict[str, Any]) -> None:
    execution = "arn:aws:states:us-east-1:123456789012:execution:test-month-end:"
    put_slot(
        aws["dynamodb"],
        "2026-09-30T22:00:00Z",
        status="SUCCEEDED",
        reason="job exited 0",
        owner=execution + "sep",
        task_arn="arn:aws:ecs:us-east-1:1:task/c/aaa111",
        exit_code=0,
        started_at="2026-09-30T22:00:05.000Z",
        ended_at="2026-09-30T22:12:35.000Z",
    )
    put_slot(
        aws["dynamodb"],
        "2026-10-31T22:00:00Z",
        status="FAILED",
        reason="job exited 3",
        owner=execution + "oct",
        task_arn="arn:aws:ecs:us-east-1:1:task/c/bbb222",
        exit_code=3,
        started_at="2026-10-31T22:00:02.000Z",
        ended_at="2026-10-31T22:01:02.000Z",
        duplicates=2,
    )
    result = invoke("history", "month-end", "--env", "test")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "T22:00:00Z" in line]
    assert len(rows) == 2
    assert re.search(
        r"2026-10-31T22:00:00Z.*FAILED.*job exited 3.*oct.*bbb222.*│ 3 .*60s.*│ 2", rows[0]
    )
    assert re.search(r"2026-09-30T22:00:00Z.*SUCCEEDED.*sep.*aaa111.*│ 0 .*750s", rows[1])
    limited = invoke("history", "month-end", "--env", "test", "--limit", "1")
    assert "2026-09-30" not in limited.output


def test_history_shows_the_earlier_runs_of_a_slot_run_again(aws: dict[str, Any]) -> None:
    execution = "arn:aws:states:us-east-1:123456789012:execution:test-month-end:"
    put_slot(
        aws["dynamodb"],
        "2026-10-31T22:00:00Z",
        status="SUCCEEDED",
        reason="job exited 0",
        owner=execution + "rerun",
        exit_code=0,
        started_at="2026-11-02T09:00:00.000Z",
        ended_at="2026-11-02T09:01:00.000Z",
    )
    first_run = {
        "owner": {"S": execution + "first"},
        "status": {"S": "FAILED"},
        "reason": {"S": "job exited 3"},
        "exit_code": {"N": "3"},
        "task_arn": {"S": "arn:aws:ecs:us-east-1:1:task/c/ccc333"},
        "started_at": {"S": "2026-10-31T22:00:02.000Z"},
        "ended_at": {"S": "2026-10-31T22:01:02.000Z"},
    }
    aws["dynamodb"].update_item(
        TableName=LEDGER,
        Key={
            PARTITION_KEY: {"S": partition("month-end")},
            SORT_KEY: {"S": slot_sort_key("2026-10-31T22:00:00Z")},
        },
        UpdateExpression="SET runs = :runs",
        ExpressionAttributeValues={":runs": {"L": [{"M": first_run}]}},
    )
    result = invoke("history", "month-end", "--env", "test", "--limit", "1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    current = next(i for i, line in enumerate(lines) if "rerun" in line)
    assert "SUCCEEDED" in lines[current]
    assert re.search(
        r"earlier run of.*FAILED.*job exited 3.*first.*ccc333.*│ 3 .*60s", lines[current + 1]
    )


def test_run_backfills_a_slot_and_prints_the_execution(aws: dict[str, Any]) -> None:
    result = invoke(
        "run", "month-end", "--env", "test", "--slot", "2026-11-30T22:00:00Z", "--force"
    )
    assert result.exit_code == 0, result.output
    (execution,) = aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"]
    assert f"started {execution['executionArn']}" in result.output
    assert "console.aws.amazon.com/states/home?region=us-east-1" in result.output
    described = aws["sfn"].describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {
        "scheduledTime": "2026-11-30T22:00:00Z",
        "force": True,
    }
    assert execution["name"].startswith("backfill-20261130T2200Z-")


def test_run_with_overrides_sends_them_for_the_guard_to_check(aws: dict[str, Any]) -> None:
    result = invoke(
        "run", "month-end", "--env", "test", "--slot", "2026-11-30T22:00:00Z",
        "--var", "RUN_NOTE=after the fix", "--var", "RUN_EMPTY=",
        "--command", "report --dry-run 'a b'",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (execution,) = aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"]
    described = aws["sfn"].describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {
        "scheduledTime": "2026-11-30T22:00:00Z",
        "overrides": {
            "environment": {"RUN_NOTE": "after the fix", "RUN_EMPTY": ""},
            "command": ["report", "--dry-run", "a b"],
        },
    }


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("SECRET=1", "month-end: overrides.environment: SECRET is not a variable the job declares"),
        ("CRONGUARD_SLOT=x", "month-end: overrides.environment: CRONGUARD_SLOT is cronguard's own"),
        ("RUN_NOTE", "--var takes K=V, got 'RUN_NOTE'"),
        (f"RUN_BIG={'x' * 8192}", "month-end: overrides are 8"),
    ],
)
def test_run_refuses_overrides_the_guard_would_refuse_and_starts_nothing(
    aws: dict[str, Any], option: str, message: str
) -> None:
    result = invoke("run", "month-end", "--env", "test", "--var", option)
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {message}")
    assert len(result.output.strip().splitlines()) == 1
    assert aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"] == []


def test_run_refuses_a_slot_in_the_future_in_one_line_and_starts_nothing(
    aws: dict[str, Any],
) -> None:
    ahead = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = invoke("run", "month-end", "--env", "test", "--slot", ahead, "--force")
    assert result.exit_code == 2
    assert result.output.startswith(f"error: slot {ahead} is in the future (now ")
    assert len(result.output.strip().splitlines()) == 1
    assert aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"] == []


def test_run_without_slot_is_a_manual_run(aws: dict[str, Any]) -> None:
    assert invoke("run", "month-end", "--env", "test").exit_code == 0
    (execution,) = aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"]
    described = aws["sfn"].describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {}
    assert execution["name"].startswith("manual-")


def test_run_of_a_state_machine_that_is_not_deployed_says_so(aws: dict[str, Any]) -> None:
    (Path(__import__("os").environ["CRONGUARD_CONFIG"]) / "environments" / "other.yaml").write_text(
        yaml.safe_dump({"network": NETWORK})
    )
    result = invoke("run", "month-end", "--env", "other")
    assert result.exit_code == 1
    assert "could not start other-month-end: StateMachineDoesNotExist" in result.output


def test_history_without_credentials_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    result = invoke("history", "month-end", "--env", "test")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: no AWS credentials to read the ledger {LEDGER}: "
        "configure them (aws configure, AWS_PROFILE)"
    )


def test_history_without_a_region_is_one_line_naming_every_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    result = invoke("history", "month-end", "--env", "test")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: no AWS region for environment 'test': set the environment's region in its "
        "config, AWS_REGION, AWS_DEFAULT_REGION, or your AWS profile's region "
        "(aws configure set region <region>)"
    )


def test_validate_names_the_file_it_read(config: Path) -> None:
    result = invoke("validate", "--env", "test")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{config}/environments/test.yaml: OK, 5 jobs"


def test_a_missing_config_directory_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRONGUARD_CONFIG", str(tmp_path / "nope"))
    result = invoke("validate", "--env", "test")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: CRONGUARD_CONFIG='{tmp_path / 'nope'}': no such config directory"
    )


def test_help_documents_the_exit_codes_and_debug() -> None:
    text = " ".join(invoke("--help").output.split())
    assert "Exit codes: 0 done; 2 a usage or config error; 1 a runtime failure" in text
    assert "Add --debug anywhere to see an unexpected error's traceback." in text


def test_secret_arns_are_printed_as_written_not_as_emoji(config: Path) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:1234:secret:db"  # a 4-digit account: invalid
    jobs = {"jobs": {**JOBS, "month-end": {**JOBS["month-end"], "secrets": {"DB": arn}}}}
    (config / "jobs.yaml").write_text(yaml.safe_dump(jobs))
    result = invoke("validate", "--env", "test")
    assert result.exit_code == 2
    assert f"'{arn}' is not an SSM parameter" in result.output


def test_an_unexpected_error_is_one_line_with_a_debug_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("the disk\nis on fire")

    monkeypatch.setattr(common, "load_environment", broken)
    with pytest.raises(SystemExit) as exited:
        cli.main(["jobs", "--env", "test"])
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        "error: unexpected RuntimeError: the disk is on fire (run with --debug for the traceback)\n"
    )


def test_debug_anywhere_on_the_line_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(common, "load_environment", broken)
    with pytest.raises(RuntimeError, match="the disk is on fire"):
        cli.main(["jobs", "--env", "test", "--debug"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["next", "--env", "test"], "error: Missing argument 'job'. (see cronguard next --help)"),
        (["nxt"], "error: No such command 'nxt'. Did you mean 'next'? (see cronguard --help)"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    assert exited.value.code == 2
    assert capsys.readouterr().err == message + "\n"


def test_main_exits_with_the_commands_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["validate", "--env", "test"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.endswith("environments/test.yaml: OK, 5 jobs\n")


def test_simulate_an_unknown_job_is_refused_before_anything_is_deployed(tmp_path: Path) -> None:
    result = invoke("simulate", "--env", "test", "--job", "nope", "--assembly", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
    assert "nope" in result.output
    assert "deploying" not in result.output and "not found" not in result.output


def test_jobs_json_gives_tools_each_jobs_state_machine_and_its_handle() -> None:
    result = invoke("jobs", "--env", "test", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["stack"] == "cronguard-test"
    jobs = {job["name"]: job for job in document["jobs"]}
    assert set(jobs) == set(JOBS)
    paused = jobs["paused"]
    assert paused["stateMachineArn"] == (
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:test-paused"
    )
    assert paused["stateMachineArnParameter"] == "/cronguard/test/jobs/paused/state-machine-arn"
    assert (paused["schedule"], paused["concurrency"], paused["enabled"]) == (
        "cron(0 6 * * ? *)",
        "forbid",
        False,
    )
    assert paused["owner"] is None
    assert jobs["month-end"]["owner"] == {
        "team": "finance",
        "topic_arn": "arn:aws:sns:us-east-1:123456789012:finance",
    }
    table = invoke("jobs", "--env", "test").output
    month_end = next(line for line in table.splitlines() if "month-end" in line)
    assert month_end.split("│")[-2].strip() == "finance"


def test_jobs_json_of_a_pinned_environment_names_the_real_arn(config: Path) -> None:
    pinned = {"network": NETWORK, "account": "123456789012", "region": "cn-north-1"}
    (config / "environments" / "test.yaml").write_text(yaml.safe_dump(pinned))
    document = json.loads(invoke("jobs", "--env", "test", "--json").output)
    arns = {job["name"]: job["stateMachineArn"] for job in document["jobs"]}
    assert arns["month-end"] == (
        "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:test-month-end"
    )
