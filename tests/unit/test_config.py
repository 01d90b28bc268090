"""The config model and loader: merged environments, and one exact message per mistake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import regex
import yaml

from cronguard.config import (
    Concurrency,
    ConfigError,
    known_environments,
    load_environment,
)
from cronguard.config import reference as config_reference
from cronguard.config import schema as config_schema
from cronguard.config.model import Delivery, Environment, Job, LaunchRetry, TaskProtection
from tests.configs import REPOSITORY_CONFIG

BASE_JOBS: dict[str, Any] = {
    "jobs": {
        "report": {
            "schedule": "cron(0 3 * * ? *)",
            "timezone": "Asia/Tokyo",
            "image": "repo/report:1",
            "cpu": 512,
            "memory": 1024,
        },
        "sync": {"schedule": "rate(1 hour)", "image": "repo/sync:1"},
    }
}
BASE_ENV: dict[str, Any] = {
    "network": {
        "vpc_id": "vpc-0123456789abcdef0",
        "subnet_ids": ["subnet-0123456789abcdef0"],
        "security_group_ids": ["sg-0123456789abcdef0"],
    },
    "cluster": {"create": True},
}


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages name files as a person finds them: relative to the working directory."""
    monkeypatch.chdir(tmp_path)


def write_config(
    root: Path,
    jobs: dict[str, Any] | str | None = None,
    env: dict[str, Any] | str | None = None,
    env_name: str = "test",
) -> Path:
    config = root / "config"
    (config / "environments").mkdir(parents=True, exist_ok=True)
    for path, data in (
        (config / "jobs.yaml", BASE_JOBS if jobs is None else jobs),
        (config / "environments" / f"{env_name}.yaml", BASE_ENV if env is None else env),
    ):
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return config


def with_job(**fields: Any) -> dict[str, Any]:
    report = {**BASE_JOBS["jobs"]["report"], **fields}
    return {"jobs": {**BASE_JOBS["jobs"], "report": report}}


def without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}


JOBS = "config/jobs.yaml"
TOPIC_ARN = "arn:aws:sns:eu-west-1:111122223333:platform-alarms"
ENV = "config/environments/test.yaml"

BAD_CONFIGS: list[tuple[str, dict[str, Any], str]] = [
    (
        "misspelt job key",
        {"jobs": with_job(shedule="rate(1 hour)")},
        f"{JOBS}: job 'report': shedule: unknown key; did you mean 'schedule'? allowed: "
        "description, schedule, timezone, enabled, task_definition_arn, image, command, cpu, "
        "memory, environment, secrets, timeout, launch_retries, job_retries, concurrency, "
        "starting_deadline, flexible_window, delivery, catch_up, alert_after, spot, "
        "capacity_providers, network, task_role_arn, permissions, managed_policies, architecture, "
        "ephemeral_storage_gib, renamed_from, owner, tags, entrypoint, user, working_directory, "
        "stop_timeout, readonly_root_filesystem, init_process, platform_version, logs, "
        "registry_credentials, "
        "kms_key_arn, environment_files, sidecars, volumes, mounts, container, pass_roles",
    ),
    (
        "misspelt environment key",
        {"env": {**BASE_ENV, "netwrok": {}}},
        f"{ENV}: netwrok: unknown key; did you mean 'network'? allowed: account, region, "
        "network, cluster, alarms, owner, tags, ledger, task_protection, iam, job_stacks, jobs",
    ),
    (
        "job_retries by exit code with a misspelt key",
        {"jobs": with_job(job_retries={"max": 2, "on_exit_code": [75]})},
        f"{JOBS}: job 'report': job_retries.on_exit_code: unknown key; did you mean "
        "'on_exit_codes'? allowed: max, on_exit_codes, except_exit_codes",
    ),
    (
        "job_retries with both exit code lists",
        {"jobs": with_job(job_retries={"max": 2, "on_exit_codes": [75], "except_exit_codes": [2]})},
        f"{JOBS}: job 'report': job_retries: give exactly one of on_exit_codes and "
        "except_exit_codes (job_retries: N retries every failed run)",
    ),
    (
        "job_retries as a mapping without exit codes",
        {"jobs": with_job(job_retries={"max": 2})},
        f"{JOBS}: job 'report': job_retries: give exactly one of on_exit_codes and "
        "except_exit_codes (job_retries: N retries every failed run)",
    ),
    (
        "job_retries retrying exit code 0",
        {"jobs": with_job(job_retries={"max": 1, "on_exit_codes": [0]})},
        f"{JOBS}: job 'report': job_retries.on_exit_codes[0]: input should be greater than or "
        "equal to 1 (got 0)",
    ),
    (
        "job_retries exit code beyond 255",
        {"jobs": with_job(job_retries={"max": 1, "except_exit_codes": [256]})},
        f"{JOBS}: job 'report': job_retries.except_exit_codes[0]: input should be less than or "
        "equal to 255 (got 256)",
    ),
    (
        "job_retries listing a code twice",
        {"jobs": with_job(job_retries={"max": 1, "on_exit_codes": [75, 75]})},
        f"{JOBS}: job 'report': job_retries: on_exit_codes lists an exit code twice",
    ),
    (
        "job_retries mapping with too many retries",
        {"jobs": with_job(job_retries={"max": 6, "on_exit_codes": [75]})},
        f"{JOBS}: job 'report': job_retries.max: input should be less than or equal to 5 (got 6)",
    ),
    (
        "job_retries as a number, too many",
        {"jobs": with_job(job_retries=6)},
        f"{JOBS}: job 'report': job_retries: input should be less than or equal to 5 (got 6)",
    ),
    (
        "owner team not a name",
        {"jobs": with_job(owner={"team": "Payments Team"})},
        f"{JOBS}: job 'report': owner.team: 'Payments Team' is not a team name; use lowercase "
        "words of letters and digits joined by '-', each starting with a letter, at most 40 "
        "characters",
    ),
    (
        "owner without team",
        {"jobs": with_job(owner={"email": ["a@example.com"]})},
        f"{JOBS}: job 'report': owner.team: is required",
    ),
    (
        "owner e-mail not an address",
        {"jobs": with_job(owner={"team": "payments", "email": ["payments"]})},
        f"{JOBS}: job 'report': owner.email: 'payments' is not an e-mail address",
    ),
    (
        "owner topic not an SNS ARN",
        {"jobs": with_job(owner={"team": "payments", "topic_arn": "payments-alarms"})},
        f"{JOBS}: job 'report': owner.topic_arn: 'payments-alarms' is not an SNS topic ARN",
    ),
    (
        "environment owner misspelt",
        {"env": {**BASE_ENV, "owner": {"teem": "platform"}}},
        f"{ENV}: owner.team: is required\n"
        f"{ENV}: owner.teem: unknown key; did you mean 'team'? allowed: team, email, topic_arn",
    ),
    (
        "one team routed two ways",
        {
            "jobs": {
                "jobs": {
                    "report": {**BASE_JOBS["jobs"]["report"], "owner": {"team": "payments"}},
                    "sync": {
                        **BASE_JOBS["jobs"]["sync"],
                        "owner": {"team": "payments", "email": ["p@example.com"]},
                    },
                }
            }
        },
        f"{JOBS}: job 'sync': owner: team 'payments' is given other email or topic_arn "
        "elsewhere: one team has one alarm topic, so give it the same settings everywhere",
    ),
    (
        "misspelt nested key",
        {"jobs": with_job(launch_retries={"max_attempt": 2})},
        f"{JOBS}: job 'report': launch_retries.max_attempt: unknown key; did you mean "
        "'max_attempts'? allowed: max_attempts, interval_seconds, backoff_rate",
    ),
    (
        "cron with five fields",
        {"jobs": with_job(schedule="cron(0 3 * * *)")},
        f"{JOBS}: job 'report': schedule: cron(0 3 * * *): expected 6 fields "
        "(minutes hours day-of-month month day-of-week year), got 5",
    ),
    (
        "cron with both day fields",
        {"jobs": with_job(schedule="cron(0 3 * * * *)")},
        f"{JOBS}: job 'report': schedule: cron(0 3 * * * *): day-of-month and "
        "day-of-week cannot both be '*'/values; put '?' in one of them",
    ),
    (
        "cron hour out of range",
        {"jobs": with_job(schedule="cron(0 25 * * ? *)")},
        f"{JOBS}: job 'report': schedule: cron(0 25 * * ? *): hours field '25' is out of "
        "range 0-23",
    ),
    (
        "rate with singular unit",
        {"jobs": with_job(schedule="rate(5 minute)")},
        f"{JOBS}: job 'report': schedule: rate(5 minute): unit must be 'minutes' when the value is "
        "greater than 1",
    ),
    (
        "one-time schedule",
        {"jobs": with_job(schedule="at(2026-11-22T03:00:00)")},
        f"{JOBS}: job 'report': schedule: at(2026-11-22T03:00:00): one-time at() schedules are "
        "not supported; cronguard jobs must be recurring: use cron(...) or rate(...)",
    ),
    (
        "invalid time zone",
        {"jobs": with_job(timezone="Asia/Tokio")},
        f"{JOBS}: job 'report': timezone: 'Asia/Tokio' is not an IANA time zone "
        "(like 'UTC', 'Asia/Tokyo', 'Europe/London')",
    ),
    (
        "cpu not a Fargate size",
        {"jobs": with_job(cpu=300)},
        f"{JOBS}: job 'report': cpu: 300 is not a Fargate cpu size; allowed: 256, 512, 1024, "
        "2048, 4096, 8192, 16384",
    ),
    (
        "memory not allowed with cpu",
        {"jobs": with_job(cpu=256, memory=4096)},
        f"{JOBS}: job 'report': memory: 4096 MiB is not allowed with cpu 256; Fargate allows "
        "512-2048 MiB in steps of 512 (512, 1024, 2048)",
    ),
    (
        "memory/cpu mismatch made by an environment override",
        {"env": {**BASE_ENV, "jobs": {"report": {"cpu": 4096}}}},
        f"{ENV}: job 'report': memory: 1024 MiB is not allowed with cpu 4096; Fargate allows "
        "8192-30720 MiB in steps of 1024 (8192, 9216, 10240, 11264, …)",
    ),
    (
        "duplicate job names",
        {
            "jobs": "jobs:\n  report:\n    schedule: rate(1 hour)\n    image: a\n"
            "  report:\n    schedule: rate(2 hours)\n    image: b\n"
        },
        f"{JOBS}: line 5: invalid YAML: key 'report' appears twice (lines 2 and 5)",
    ),
    (
        "job name that is not a valid name",
        {"jobs": {"jobs": {"Nightly_Report": BASE_JOBS["jobs"]["sync"]}}},
        f"{JOBS}: job 'Nightly_Report': 'Nightly_Report' is not a job name; use at least 2 "
        "lowercase letters, digits and '-', starting with a letter and not ending with '-'",
    ),
    (
        "state machine name over 80 characters",
        {"jobs": {"jobs": {"x" * 77: BASE_JOBS["jobs"]["sync"]}}},
        f"{JOBS}: job '{'x' * 77}': state machine name 'test-{'x' * 77}' would be 82 "
        "characters; Step Functions allows 80: shorten the job name",
    ),
    (
        "timeout too long",
        {"jobs": with_job(timeout="8d")},
        f"{JOBS}: job 'report': timeout: 8d is out of range; allowed 1m to 7d",
    ),
    (
        "timeout too short",
        {"jobs": with_job(timeout=30)},
        f"{JOBS}: job 'report': timeout: 30s is out of range; allowed 1m to 7d",
    ),
    (
        "alert_after past the timeout",
        {"jobs": with_job(alert_after="45m", timeout="30m")},
        f"{JOBS}: job 'report': alert_after: 45m is not shorter than the job's timeout (30m), "
        "which stops the run first: lower alert_after or raise timeout",
    ),
    (
        "alert_after as long as the timeout (the default 1h)",
        {"jobs": with_job(alert_after="1h")},
        f"{JOBS}: job 'report': alert_after: 1h is not shorter than the job's timeout (1h), "
        "which stops the run first: lower alert_after or raise timeout",
    ),
    (
        "alert_after on a job that allows overlapping runs (it holds no lease)",
        {"jobs": with_job(alert_after="10m", concurrency="allow")},
        f"{JOBS}: job 'report': alert_after: a job with concurrency allow holds no lease, "
        "and the slot watch finds a running run by its lease: use concurrency forbid or "
        "replace, or leave alert_after out",
    ),
    (
        "alert_after not a duration",
        {"jobs": with_job(alert_after="soon")},
        f"{JOBS}: job 'report': alert_after: 'soon' is not a duration; use e.g. '90s', '15m', "
        "'2h', '1d'",
    ),
    (
        "alert_after under a minute",
        {"jobs": with_job(alert_after=30)},
        f"{JOBS}: job 'report': alert_after: 30s is out of range; allowed 1m to 7d",
    ),
    (
        "timeout not a duration",
        {"jobs": with_job(timeout="two hours")},
        f"{JOBS}: job 'report': timeout: 'two hours' is not a duration; use e.g. '90s', '15m', "
        "'2h', '1d'",
    ),
    (
        "unknown concurrency policy",
        {"jobs": with_job(concurrency="queue")},
        f"{JOBS}: job 'report': concurrency: 'queue' is not allowed; use 'forbid', 'replace' "
        "or 'allow'",
    ),
    (
        "environment without network",
        {"env": without(BASE_ENV, "network")},
        f"{ENV}: network: is required",
    ),
    (
        "bad subnet id",
        {"env": {**BASE_ENV, "network": {**BASE_ENV["network"], "subnet_ids": ["sub-1"]}}},
        f"{ENV}: network.subnet_ids: 'sub-1' is not a subnet id (like 'subnet-0123456789abcdef0')",
    ),
    (
        "secret that is not an ARN",
        {"jobs": with_job(secrets={"DB_PASSWORD": "my-password"})},
        f"{JOBS}: job 'report': secrets: DB_PASSWORD: 'my-password' is not an SSM parameter "
        "or Secrets Manager secret ARN",
    ),
    (
        "reserved environment variable",
        {"jobs": with_job(environment={"CRONGUARD_SLOT": "x"})},
        f"{JOBS}: job 'report': environment: 'CRONGUARD_SLOT' is reserved: cronguard sets "
        "CRONGUARD_* itself",
    ),
    (
        "missing image",
        {"jobs": {"jobs": {"sync": {"schedule": "rate(1 hour)"}}}},
        f"{JOBS}: job 'sync': image: is required: the job's container image (unless "
        "task_definition_arn names a task definition of your own)",
    ),
    (
        "new job in an environment missing its schedule",
        {"env": {**BASE_ENV, "jobs": {"adhoc": {"image": "repo/adhoc:1"}}}},
        f"{ENV}: job 'adhoc': schedule: is required",
    ),
    (
        "starting deadline beyond the ledger retention",
        {
            "jobs": with_job(starting_deadline="3d"),
            "env": {**BASE_ENV, "ledger": {"retention_days": 2}},
        },
        f"{JOBS}: job 'report': starting_deadline: 3d is longer than the ledger retention (2d): "
        "a late duplicate could run again",
    ),
    (
        "a rate the slot watch cannot follow",
        {"jobs": with_job(schedule="rate(8 days)")},
        f"{JOBS}: job 'report': schedule: rate(8 days) plus the grace (5m) is longer than the "
        "slot watch looks back (7d: the ledger retention, at most 7d): once the last run's "
        "record has left that window, a run that never came could not be noticed; use a cron "
        "expression",
    ),
    (
        "every action",
        {
            "jobs": with_job(
                permissions=[{"actions": ["*"], "resources": ["*"], "reason": "x" * 10}]
            )
        },
        f"{JOBS}: job 'report': permissions[0].actions: '*' allows every action on every service; "
        "name the actions the job needs",
    ),
    (
        "a wildcard resource without a reason",
        {"jobs": with_job(permissions=[{"actions": ["s3:GetObject"], "resources": ["*"]}])},
        f"{JOBS}: job 'report': permissions[0]: * has a wildcard: add 'reason' saying why the job "
        "needs it (it becomes the cdk-nag acknowledgement)",
    ),
    (
        "an existing task role and permissions",
        {
            "jobs": with_job(
                task_role_arn="arn:aws:iam::123456789012:role/report",
                permissions=[{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::b/k"]}],
            )
        },
        f"{JOBS}: job 'report': task_role_arn is an existing role: cronguard does not change it; "
        "set either task_role_arn, or permissions/managed_policies for a role cronguard creates",
    ),
    (
        "an AWS managed policy without a reason",
        {"jobs": with_job(managed_policies=[{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}])},
        f"{JOBS}: job 'report': managed_policies[0]: arn:aws:iam::aws:policy/ReadOnlyAccess is AWS "
        "managed (broad, and changed by AWS): add 'reason' saying why the job needs it (it "
        "becomes the cdk-nag acknowledgement)",
    ),
    (
        "spot and a capacity strategy",
        {"jobs": with_job(spot=True, capacity_providers=[{"provider": "FARGATE"}])},
        f"{JOBS}: job 'report': spot and capacity_providers both choose where tasks run: use "
        "capacity_providers (spot: true is [{provider: FARGATE_SPOT}])",
    ),
    (
        "two capacity provider bases",
        {
            "jobs": with_job(
                capacity_providers=[
                    {"provider": "FARGATE", "base": 1},
                    {"provider": "FARGATE_SPOT", "base": 1},
                ]
            )
        },
        f"{JOBS}: job 'report': capacity_providers: only one capacity provider may have a base "
        "(ECS places it first)",
    ),
    (
        "ephemeral storage below Fargate's minimum",
        {"jobs": with_job(ephemeral_storage_gib=20)},
        f"{JOBS}: job 'report': ephemeral_storage_gib: input should be greater than or equal "
        "to 21 (got 20)",
    ),
    (
        "a role path without its slashes",
        {"env": {**BASE_ENV, "iam": {"role_path": "jobs"}}},
        f"{ENV}: iam.role_path: 'jobs' is not an IAM path; expected '/' or '/a/b/' (letters, "
        "digits and +=,.@-_ between slashes)",
    ),
    (
        "starting deadline shorter than the flexible window",
        {"jobs": with_job(starting_deadline="5m", flexible_window="15m")},
        f"{JOBS}: job 'report': starting_deadline: 5m is shorter than the flexible_window (15m): "
        "Scheduler may deliver any time in the window, and every delivery after the deadline "
        "would be skipped as late",
    ),
    (
        "cluster neither named nor created",
        {"env": {**BASE_ENV, "cluster": {}}},
        f"{ENV}: cluster: set 'name' of an existing cluster, or 'create: true'",
    ),
    (
        "retention out of range",
        {"env": {**BASE_ENV, "ledger": {"retention_days": 0}}},
        f"{ENV}: ledger.retention_days: input should be greater than or equal to 1 (got 0)",
    ),
    (
        "jobs file that is not a mapping",
        {"jobs": "- report\n- sync\n"},
        f"{JOBS}: must be a mapping of keys to values",
    ),
    (
        "protected service with neither an existing nor a created role",
        {"env": {**BASE_ENV, "task_protection": {"services": [{"name": "w", "cluster": "c"}]}}},
        f"{ENV}: task_protection.services[0]: set either 'task_role_arn' (an existing role) or "
        "'create_role: true'",
    ),
    (
        "e-mail addresses with a topic cronguard cannot subscribe them to",
        {
            "env": {
                **BASE_ENV,
                "alarms": {
                    "email": ["oncall@example.com"],
                    "topic_arn": "arn:aws:sns:us-east-1:123456789012:alarms",
                },
            }
        },
        f"{ENV}: alarms: email and topic_arn cannot both be set: cronguard subscribes e-mail "
        "addresses only to the topic it creates; subscribe them to your topic, or drop topic_arn",
    ),
    (
        "tag key in AWS's own namespace",
        {"env": {**BASE_ENV, "tags": {"team": "x", "aws:owner": "me"}}},
        f"{ENV}: tags: 'aws:owner': tag keys starting with 'aws:' are AWS's own",
    ),
    (
        "host-only time zone localtime",
        {"jobs": with_job(timezone="localtime")},
        f"{JOBS}: job 'report': timezone: 'localtime' is not an IANA time zone (like 'UTC', "
        "'Asia/Tokyo', 'Europe/London')",
    ),
    (
        "host-only time zone under posix/",
        {"jobs": with_job(timezone="posix/Europe/London")},
        f"{JOBS}: job 'report': timezone: 'posix/Europe/London' is not an IANA time zone "
        "(like 'UTC', 'Asia/Tokyo', 'Europe/London')",
    ),
    (
        "time zone that is a directory of zones",
        {"jobs": with_job(timezone="Europe")},
        f"{JOBS}: job 'report': timezone: 'Europe' is not an IANA time zone (like 'UTC', "
        "'Asia/Tokyo', 'Europe/London')",
    ),
    (
        "cron on a day that never comes",
        {"jobs": with_job(schedule="cron(0 0 30 2 ? *)")},
        f"{JOBS}: job 'report': schedule: cron(0 0 30 2 ? *) never fires again: no date from "
        "today on matches it",
    ),
    (
        "cron in a year gone by",
        {"jobs": with_job(schedule="cron(0 3 1 1 ? 2020)")},
        f"{JOBS}: job 'report': schedule: cron(0 3 1 1 ? 2020) never fires again: no date from "
        "today on matches it",
    ),
    (
        "variable both plain and secret",
        {
            "jobs": with_job(
                environment={"DB_PASSWORD": "x", "MODE": "y"},
                secrets={"DB_PASSWORD": "arn:aws:ssm:us-east-1:123456789012:parameter/db"},
            )
        },
        f"{JOBS}: job 'report': DB_PASSWORD set in both environment and secrets: keep one of them",
    ),
    (
        "description longer than the schedule can hold",
        {"jobs": with_job(description="d" * 421)},
        f"{JOBS}: job 'report': description: is 421 characters; at most 420 fit",
    ),
    (
        "image with a space",
        {"jobs": with_job(image="repo/report 1")},
        f"{JOBS}: job 'report': image: 'repo/report 1' is not an image URI; expected one without "
        "spaces, like '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1.0'",
    ),
    (
        "account id too short",
        {"env": {**BASE_ENV, "account": "12345"}},
        f"{ENV}: account: '12345' is not an AWS account id; expected 12 digits, quoted: "
        "'123456789012'",
    ),
    (
        "region in capitals",
        {"env": {**BASE_ENV, "region": "EU-WEST-1"}},
        f"{ENV}: region: 'EU-WEST-1' is not an AWS region; expected a region code like 'eu-west-1'",
    ),
    (
        "unquoted account id",
        {"env": "account: 123456789012\n" + yaml.safe_dump(BASE_ENV)},
        f"{ENV}: account: YAML read 123456789012 as a number; quote it to mean the text: "
        "'123456789012'",
    ),
    (
        "unquoted yes as an environment variable",
        {
            "jobs": "jobs:\n  report:\n    schedule: rate(1 hour)\n    image: a\n"
            "    environment:\n      DEBUG: yes\n"
        },
        f"{JOBS}: job 'report': environment.DEBUG: YAML read yes as a boolean; quote it to mean "
        "the text: 'yes'",
    ),
    (
        "one-letter job name",
        {"jobs": {"jobs": {"a": BASE_JOBS["jobs"]["sync"]}}},
        f"{JOBS}: job 'a': 'a' is not a job name; use at least 2 lowercase letters, digits and "
        "'-', starting with a letter and not ending with '-'",
    ),
    (
        "misspelt job in an environment override",
        {"env": {**BASE_ENV, "jobs": {"reprot": {"cpu": 1024, "memory": 2048}}}},
        f"{ENV}: job 'reprot': not a job in {JOBS}; did you mean 'report'? (a job only this "
        "environment has needs its own schedule and image)",
    ),
    (
        "empty jobs file under environment overrides",
        {"jobs": "", "env": {**BASE_ENV, "jobs": {"report": {"cpu": 1024}}}},
        f"{JOBS}: defines no jobs, but {ENV} overrides report: define them here (is this the "
        "right file, or is it empty?)",
    ),
    (
        "a name key in a job",
        {"jobs": with_job(name="other")},
        f"{JOBS}: job 'report': name: unknown key: a job's name is its key under jobs:, remove "
        "this",
    ),
    (
        "a complex YAML key",
        {"jobs": "jobs:\n  ? [a, b]\n  : {schedule: rate(1 hour), image: x}\n"},
        f"{JOBS}: line 2: invalid YAML: a key must be a plain value such as a name, not a list "
        "or a mapping",
    ),
    (
        "an alias that contains itself",
        {"jobs": "jobs: &loop\n  report: *loop\n"},
        f"{JOBS}: line 1: invalid YAML: an alias refers to a value that contains it",
    ),
    (
        "flexible window longer than Scheduler allows",
        {"jobs": with_job(flexible_window="2d")},
        f"{JOBS}: job 'report': flexible_window: 2d is out of range; allowed 1m to 1d",
    ),
    (
        "renamed_from names a job still in config",
        {"jobs": with_job(renamed_from="sync")},
        f"{JOBS}: job 'report': renamed_from: 'sync' is still a job here: a renamed job's old "
        "name is gone from config (remove that job, or this key)",
    ),
    (
        "renamed_from names the job itself",
        {"jobs": with_job(renamed_from="report")},
        f"{JOBS}: job 'report': renamed_from: 'report' is the job's own name; name the job's name "
        "before the rename",
    ),
    (
        "renamed_from is not a job name",
        {"jobs": with_job(renamed_from="Old Report")},
        f"{JOBS}: job 'report': renamed_from: 'Old Report' is not a job name: it names the "
        "job's old name",
    ),
    (
        "two jobs renamed from one name",
        {
            "jobs": {
                "jobs": {
                    **with_job(renamed_from="old-report")["jobs"],
                    "sync": {**BASE_JOBS["jobs"]["sync"], "renamed_from": "old-report"},
                }
            }
        },
        f"{JOBS}: job 'sync': renamed_from: 'old-report' is already the renamed_from of job "
        "'report'",
    ),
]

# AWS's own rules (issue 20): each message says what AWS requires and where the rule is from.
TAG_PATTERN = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"  # CloudFormation's, for ECS, SQS and IAM
CFN_LINT = metadata.version("cfn-lint")  # the IAM action list is the one it ships
STRATEGY_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html"
WITHIN_A_YEAR = (
    "past the one year (365 days) after which Step Functions ends an execution ('Maximum "
    "execution time', https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html)"
)
AWS_REFUSES: list[tuple[str, dict[str, Any], str]] = [
    (
        "a job tag key with a character CloudFormation refuses",
        {"jobs": with_job(tags={"cost#center": "x"})},
        f"{JOBS}: job 'report': tags: 'cost#center': CloudFormation refuses '#' in a tag key on "
        "AWS::ECS::TaskDefinition, AWS::IAM::Role and AWS::SSM::Parameter: it must match "
        f"{TAG_PATTERN} (cfn-lint E3031)",
    ),
    (
        "an environment tag value with braces",
        {"env": {**BASE_ENV, "tags": {"team": "{data}"}}},
        f"{ENV}: tags: 'team': value '{{data}}': CloudFormation refuses '{{' '}}' in a tag value "
        "on AWS::ECS::Cluster, AWS::ECS::TaskDefinition, AWS::IAM::Role and 1 more: it must "
        f"match {TAG_PATTERN} (cfn-lint E3031)",
    ),
    (
        "an empty job tag value",
        {"jobs": with_job(tags={"team": ""})},
        f"{JOBS}: job 'report': tags: 'team': value '': 0 characters; CloudFormation requires a "
        "tag value of 1-256 characters on AWS::CloudWatch::Alarm and "
        "AWS::StepFunctions::StateMachine (cfn-lint E3033)",
    ),
    (
        "an environment tag key too long",
        {"env": {**BASE_ENV, "tags": {"k" * 129: "x"}}},
        f"{ENV}: tags: '{'k' * 129}': 129 characters; CloudFormation requires a tag key of "
        "1-128 characters on AWS::CloudWatch::Alarm, AWS::CloudWatch::Dashboard, "
        "AWS::DynamoDB::Table and 10 more (cfn-lint E3033)",
    ),
    (
        "a resource that is not an ARN",
        {"jobs": with_job(permissions=[{"actions": ["s3:PutObject"], "resources": ["my-bucket"]}])},
        f"{JOBS}: job 'report': permissions[0].resources: 'my-bucket' is not an ARN: IAM takes "
        "a statement's resources as ARNs (arn:partition:service:region:account:resource, like "
        "'arn:aws:s3:::my-bucket/*') or '*' (cfn-lint E3510)",
    ),
    (
        "a misspelt action",
        {
            "jobs": with_job(
                permissions=[{"actions": ["s3:PutObjekt"], "resources": ["arn:aws:s3:::b/k"]}]
            )
        },
        f"{JOBS}: job 'report': permissions[0].actions: 's3:PutObjekt': s3 has no action "
        f"'PutObjekt'; did you mean 's3:putobject'? (IAM's action list in cfn-lint {CFN_LINT}, "
        "W3037)",
    ),
    (
        "an unknown service prefix",
        {
            "jobs": with_job(
                permissions=[{"actions": ["s3x:GetObject"], "resources": ["arn:aws:s3:::b/k"]}]
            )
        },
        f"{JOBS}: job 'report': permissions[0].actions: 's3x:GetObject': IAM has no service "
        f"prefix 's3x'; did you mean 's3'? (IAM's action list in cfn-lint {CFN_LINT}, W3037)",
    ),
    (
        "a wildcard action that matches no action",
        {
            "jobs": with_job(
                permissions=[
                    {
                        "actions": ["s3:Put*Objekt"],
                        "resources": ["arn:aws:s3:::b/k"],
                        "reason": "several put calls",
                    }
                ]
            )
        },
        f"{JOBS}: job 'report': permissions[0].actions: 's3:Put*Objekt': matches no s3 action "
        f"(IAM's action list in cfn-lint {CFN_LINT}, W3037)",
    ),
    (
        "a condition operator IAM does not know",
        {
            "jobs": with_job(
                permissions=[
                    {
                        "actions": ["s3:GetObject"],
                        "resources": ["arn:aws:s3:::b/k"],
                        "conditions": {"StringEqual": {"aws:SourceAccount": "123456789012"}},
                    }
                ]
            )
        },
        f"{JOBS}: job 'report': permissions[0].conditions: 'StringEqual' is not an IAM "
        "condition operator, like 'StringEquals' or 'ArnLike' (cfn-lint E3510)",
    ),
    (
        "a base that leaves the other provider unused",
        {
            "jobs": with_job(
                capacity_providers=[
                    {"provider": "FARGATE", "base": 1, "weight": 1},
                    {"provider": "FARGATE_SPOT", "weight": 3},
                ]
            )
        },
        f"{JOBS}: job 'report': capacity_providers: FARGATE has base 1, so every run lands on it "
        "and FARGATE_SPOT is never used: each run is one RunTask of one task, and ECS places a "
        f"strategy's base before it weighs the rest ({STRATEGY_DOC}); drop the base to share "
        "runs by weight, or list one provider",
    ),
    (
        "a provider of weight 0",
        {
            "jobs": with_job(
                capacity_providers=[
                    {"provider": "FARGATE", "weight": 1},
                    {"provider": "FARGATE_SPOT", "weight": 0},
                ]
            )
        },
        f"{JOBS}: job 'report': capacity_providers: FARGATE_SPOT has weight 0 and no base, so "
        f"ECS never places a run on it ({STRATEGY_DOC}); give it a weight or remove it",
    ),
    (
        "launch retries past Step Functions' one-year limit",
        {
            "jobs": with_job(
                launch_retries={"max_attempts": 10, "interval_seconds": 3600, "backoff_rate": 10}
            )
        },
        f"{JOBS}: job 'report': launch_retries: the run's time budget is 46,296,296 days "
        "(launch retry waits of 46,296,296 days, 1 run of up to 1h, a 15m margin), "
        f"{WITHIN_A_YEAR}: lower max_attempts, interval_seconds or backoff_rate",
    ),
    (
        "launch retries past the limit, set by an environment",
        {
            "env": {
                **BASE_ENV,
                "jobs": {"report": {"launch_retries": {"max_attempts": 9, "backoff_rate": 10}}},
            }
        },
        f"{ENV}: job 'report': launch_retries: the run's time budget is 12,860 days (launch "
        "retry waits of 12,860 days, 1 run of up to 1h, a 15m margin), "
        f"{WITHIN_A_YEAR}: lower max_attempts, interval_seconds or backoff_rate",
    ),
    (
        "a sweep interval that is not whole minutes",
        {"env": {**BASE_ENV, "task_protection": {"sweep_every": "90s"}}},
        f"{ENV}: task_protection.sweep_every: 90s is not whole minutes: EventBridge schedules "
        "the sweep with a rate expression, in minutes, hours or days "
        "(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html)",
    ),
    (
        "a flexible window that is not whole minutes",
        {"jobs": with_job(flexible_window="90s")},
        f"{JOBS}: job 'report': flexible_window: 90s is not whole minutes: Scheduler's flexible "
        "time window is set in minutes (MaximumWindowInMinutes, "
        "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_FlexibleTimeWindow.html)",
    ),
]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(files, expected, id=name)
        for name, files, expected in [*BAD_CONFIGS, *AWS_REFUSES]
    ],
)
def test_bad_config_is_reported_with_file_job_and_field(
    tmp_path: Path, files: dict[str, Any], expected: str
) -> None:
    config = write_config(tmp_path, jobs=files.get("jobs"), env=files.get("env"))
    with pytest.raises(ConfigError) as raised:
        load_environment("test", config)
    assert str(raised.value) == expected


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    jobs = {"jobs": {**with_job(cpu=300)["jobs"], "sync": {"schedule": "rate(0 hours)"}}}
    config = write_config(tmp_path, jobs=jobs)
    with pytest.raises(ConfigError) as raised:
        load_environment("test", config)
    assert [(p.job, p.field) for p in raised.value.problems] == [
        ("report", "cpu"),
        ("sync", "schedule"),
        ("sync", "image"),
    ]


def test_unknown_environment_lists_the_known_ones(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (config / "environments" / "prod.yaml").write_text(yaml.safe_dump(BASE_ENV))
    with pytest.raises(ConfigError) as raised:
        load_environment("nope", config)
    assert str(raised.value) == (
        "config/environments/nope.yaml: unknown environment 'nope'; known environments: prod, test"
    )


def test_environment_overrides_merge_field_by_field(tmp_path: Path) -> None:
    env = {
        **BASE_ENV,
        "jobs": {
            "report": {"memory": 2048, "launch_retries": {"max_attempts": 5}},
            "adhoc": {"schedule": "cron(0 12 ? * MON-FRI *)", "image": "repo/adhoc:2"},
        },
    }
    config = write_config(tmp_path, jobs=with_job(launch_retries={"interval_seconds": 30}), env=env)
    environment = load_environment("test", config)
    report = environment.job("report")
    assert (report.cpu, report.memory, report.timezone) == (512, 2048, "Asia/Tokyo")
    assert (report.launch_retries.max_attempts, report.launch_retries.interval_seconds) == (5, 30)
    assert [job.name for job in environment.jobs] == ["report", "sync", "adhoc"]


@pytest.mark.parametrize(
    ("job_retries", "retries", "shown"),
    [
        (2, 2, "2"),
        ({"max": 2, "on_exit_codes": [75, 137]}, 2, "2 on exit 75, 137"),
        ({"max": 1, "except_exit_codes": [2]}, 1, "1 except exit 2"),
    ],
)
def test_job_retries_take_a_number_or_a_mapping_by_exit_code(
    tmp_path: Path, job_retries: Any, retries: int, shown: str
) -> None:
    config = write_config(tmp_path, jobs=with_job(job_retries=job_retries, timeout="10m"))
    report = load_environment("test", config).job("report")
    assert (report.max_job_retries, str(report.job_retries)) == (retries, shown)
    assert report.time_budget.attempts == retries + 1  # the lease covers every attempt


def test_a_job_without_owner_has_the_environments_and_teams_share_one_topic(
    tmp_path: Path,
) -> None:
    payments = {"team": "payments", "email": ["payments@example.com"]}
    jobs = {
        "jobs": {
            "report": {**BASE_JOBS["jobs"]["report"], "owner": payments},
            "sync": BASE_JOBS["jobs"]["sync"],
            "reconcile": {"schedule": "rate(1 day)", "image": "repo/r:1", "owner": payments},
        }
    }
    env = {**BASE_ENV, "owner": {"team": "platform", "topic_arn": TOPIC_ARN}}
    environment = load_environment("test", write_config(tmp_path, jobs=jobs, env=env))
    owners = {job.name: environment.owner_of(job) for job in environment.jobs}
    assert {name: owner.team for name, owner in owners.items() if owner} == {
        "report": "payments",
        "sync": "platform",
        "reconcile": "payments",
    }
    assert sorted(environment.owners) == ["payments", "platform"]  # one topic a team
    assert environment.owners["platform"].topic_arn == TOPIC_ARN


def test_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    sync = load_environment("test", write_config(tmp_path)).job("sync")
    assert sync.concurrency is Concurrency.FORBID
    assert (sync.timezone, sync.enabled, sync.spot, sync.job_retries) == ("UTC", True, False, 0)
    assert sync.timeout == timedelta(hours=1)
    assert sync.starting_deadline is None
    assert (sync.cpu, sync.memory) == (256, 512)
    assert sync.launch_retries.max_attempts == 3


def test_a_real_jobs_permissions_platform_and_capacity_load(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        jobs=with_job(
            permissions=[
                {
                    "actions": ["s3:PutObject"],
                    "resources": ["arn:aws:s3:::reports/daily/*"],
                    "reason": "one object per day, named by date",
                },
            ],
            managed_policies=[{"arn": "arn:aws:iam::123456789012:policy/reporting"}],
            architecture="arm64",
            ephemeral_storage_gib=50,
            tags={"team": "finance"},
            capacity_providers=[
                {"provider": "FARGATE", "weight": 1},
                {"provider": "FARGATE_SPOT", "weight": 3},
            ],
        ),
        env={
            **BASE_ENV,
            "iam": {
                "permissions_boundary": "arn:aws:iam::123456789012:policy/b",
                "role_path": "/cronguard/",
            },
        },
    )
    environment = load_environment("test", config)
    report = environment.job("report")
    assert report.permissions[0].wildcards == ["arn:aws:s3:::reports/daily/*"]
    assert report.architecture.value == "arm64"
    assert report.capacity_strategy is not None
    assert [(s.provider.value, s.base, s.weight) for s in report.capacity_strategy] == [
        ("FARGATE", 0, 1),
        ("FARGATE_SPOT", 0, 3),
    ]
    assert environment.iam.role_path == "/cronguard/"
    spot = load_environment("test", write_config(tmp_path, jobs=with_job(spot=True))).job("report")
    assert [(s.provider.value, s.weight) for s in spot.capacity_strategy or []] == [
        ("FARGATE_SPOT", 1)
    ]
    assert load_environment("test", write_config(tmp_path)).job("report").capacity_strategy is None


def test_arm64_may_run_on_fargate_spot(tmp_path: Path) -> None:
    # ECS runs ARM64 Linux tasks on FARGATE_SPOT from platform version 1.4.0 (cronguard runs
    # LATEST): the ECS API reference in the pinned botocore says so, since AWS's 2024
    # announcement of Graviton-based Fargate Spot; the older developer guide still says not.
    for spot in ({"spot": True}, {"capacity_providers": [{"provider": "FARGATE_SPOT"}]}):
        config = write_config(tmp_path, jobs=with_job(architecture="arm64", **spot))
        job = load_environment("test", config).job("report")
        assert [share.provider.value for share in job.capacity_strategy or []] == ["FARGATE_SPOT"]


def test_a_single_provider_may_have_a_base(tmp_path: Path) -> None:
    strategy = [{"provider": "FARGATE_SPOT", "base": 2, "weight": 1}]
    config = write_config(tmp_path, jobs=with_job(capacity_providers=strategy))
    job = load_environment("test", config).job("report")
    assert [(s.provider.value, s.base) for s in job.capacity_strategy or []] == [
        ("FARGATE_SPOT", 2)
    ]


def test_durations_accept_units_and_seconds(tmp_path: Path) -> None:
    config = write_config(tmp_path, jobs=with_job(timeout=5400, starting_deadline="15m"))
    report = load_environment("test", config).job("report")
    assert report.timeout == timedelta(minutes=90)
    assert report.starting_deadline == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"alert_after": "45m"}, timedelta(minutes=45)),
        ({"alert_after": 5400, "timeout": "2h"}, timedelta(minutes=90)),
        ({}, None),
    ],
)
def test_alert_after_is_a_duration_shorter_than_the_timeout(
    tmp_path: Path, fields: dict[str, Any], expected: timedelta | None
) -> None:
    config = write_config(tmp_path, jobs=with_job(**fields))
    assert load_environment("test", config).job("report").alert_after == expected


def test_unknown_job_lookup_names_the_known_jobs(tmp_path: Path) -> None:
    environment = load_environment("test", write_config(tmp_path))
    with pytest.raises(
        KeyError, match="unknown job 'nope' in environment 'test'; known: report, sync"
    ):
        environment.job("nope")


def test_shipped_examples_load() -> None:
    assert known_environments(REPOSITORY_CONFIG) == ["dev", "prod"]
    dev, prod = (
        load_environment("dev", REPOSITORY_CONFIG),
        load_environment("prod", REPOSITORY_CONFIG),
    )
    assert [job.name for job in dev.jobs] == ["nightly-report", "hourly-sync", "weekly-cleanup"]
    assert dev.job("weekly-cleanup").enabled is False
    assert prod.job("weekly-cleanup").enabled is True
    assert dev.job("nightly-report").timezone == "Asia/Tokyo"
    assert (prod.account, prod.region) == ("123456789012", "ap-northeast-1")
    assert (dev.account, dev.region) == (None, None)


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and not regex.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# JSON Schema patterns are ECMA-262 regular expressions. CloudFormation's tag patterns use
# Unicode property escapes (\p{L}), which an editor's JavaScript reads (with the u flag) and
# Python's re does not: the tests match patterns with regex, as cfn-lint does.
SchemaValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"pattern": _pattern}
)


def _schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    schemas = config_schema.rendered()
    return (
        json.loads(schemas[config_schema.SCHEMA_DIR / "jobs.schema.json"]),
        json.loads(schemas[config_schema.SCHEMA_DIR / "environment.schema.json"]),
    )


# What no JSON Schema can say: sums over fields, a list of 20,000 IAM actions, whether '90s'
# is whole minutes.
BEYOND_A_SCHEMA = {
    "a misspelt action",
    "an unknown service prefix",
    "a wildcard action that matches no action",
    "launch retries past Step Functions' one-year limit",
    "launch retries past the limit, set by an environment",
    "a sweep interval that is not whole minutes",
    "a flexible window that is not whole minutes",
}


def test_whole_minutes_given_in_seconds_are_in_the_json_schema() -> None:
    jobs_schema, env_schema = _schemas()
    SchemaValidator(jobs_schema).validate(with_job(flexible_window=120))
    with pytest.raises(jsonschema.ValidationError, match="90 is not valid"):
        SchemaValidator(jobs_schema).validate(with_job(flexible_window=90))
    with pytest.raises(jsonschema.ValidationError, match="90 is not valid"):
        SchemaValidator(env_schema).validate({**BASE_ENV, "task_protection": {"sweep_every": 90}})


def test_shipped_examples_validate_against_the_json_schema() -> None:
    jobs_schema, env_schema = _schemas()
    SchemaValidator(jobs_schema).validate(_yaml(REPOSITORY_CONFIG / "jobs.yaml"))
    for name in known_environments(REPOSITORY_CONFIG):
        env_file = REPOSITORY_CONFIG / "environments" / f"{name}.yaml"
        SchemaValidator(env_schema).validate(_yaml(env_file))


@pytest.mark.parametrize(
    "files",
    [pytest.param(files, id=name) for name, files, _ in AWS_REFUSES if name not in BEYOND_A_SCHEMA],
)
def test_the_json_schema_refuses_what_aws_refuses_where_a_schema_can_say_it(
    files: dict[str, Any],
) -> None:
    jobs_schema, env_schema = _schemas()
    schema, document = (
        (env_schema, files["env"]) if "env" in files else (jobs_schema, files["jobs"])
    )
    with pytest.raises(jsonschema.ValidationError):
        SchemaValidator(schema).validate(document)


def test_json_schema_rejects_a_misspelt_key() -> None:
    jobs_schema = config_schema.jobs_file_schema()
    bad = {"jobs": {"report": {**BASE_JOBS["jobs"]["report"], "shedule": "rate(1 hour)"}}}
    with pytest.raises(jsonschema.ValidationError, match="shedule"):
        jsonschema.Draft202012Validator(jobs_schema).validate(bad)


def test_committed_json_schema_matches_the_models() -> None:
    for path, text in config_schema.rendered().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run `make schema`"


def test_json_schema_bounds_a_duration_as_the_model_does() -> None:
    jobs_schema = config_schema.jobs_file_schema()
    short = {"jobs": {"report": {**BASE_JOBS["jobs"]["report"], "timeout": 30}}}

    with pytest.raises(jsonschema.ValidationError) as refused:
        jsonschema.Draft202012Validator(jobs_schema).validate(short)
    assert "30 is less than the minimum of 60" in [
        reason.message for reason in refused.value.context
    ]
    with pytest.raises(ValueError, match="30s is out of range; allowed 1m to 7d"):
        Job(name="report", **short["jobs"]["report"])


def test_json_schema_defaults_are_written_as_a_config_file_writes_them() -> None:
    job = config_schema.jobs_file_schema()["$defs"]["Job"]["properties"]
    environment = config_schema.environment_file_schema()["properties"]

    assert job["timeout"]["default"] == "1h"
    assert Delivery.model_validate(job["delivery"]["default"]) == Delivery()
    assert LaunchRetry.model_validate(job["launch_retries"]["default"]) == LaunchRetry()
    assert TaskProtection.model_validate(environment["task_protection"]["default"]) == (
        TaskProtection()
    )
    assert environment["cluster"]["default"] == {"name": None, "create": True}


def test_every_config_key_is_described_in_the_reference() -> None:
    rows = [
        *config_reference.environment_rows(config_schema.environment_file_schema()),
        *config_reference.job_rows(config_schema.jobs_file_schema()),
    ]

    assert [row.key for row in rows if not row.meaning] == []
    keys = {row.key for row in rows}
    assert set(Job.model_fields) - {"name"} <= keys
    assert set(Environment.model_fields) - {"name"} <= keys
    assert {"task_protection.services[].name", "delivery.max_event_age"} <= keys


def test_the_reference_shows_a_duration_with_its_bounds_and_default() -> None:
    rows = {row.key: row for row in config_reference.job_rows(config_schema.jobs_file_schema())}

    assert rows["timeout"].type == "duration, 1m–7d"
    assert rows["timeout"].default == "`1h`"
    assert rows["starting_deadline"].default == "unset"
    assert rows["schedule"].default == "required"


def test_committed_config_reference_matches_the_schema() -> None:
    committed = config_reference.REFERENCE.read_text(encoding="utf-8")

    assert committed == config_reference.render(), (
        "docs/config-reference.md is stale: run `make schema`"
    )


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (config / "jobs.yaml").write_bytes(
        b"jobs:\n  report:\n    description: caf\xe9\n    schedule: rate(1 hour)\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_environment("test", config)
    assert (
        str(raised.value) == f"{JOBS}: line 3: not UTF-8 text (byte 0xe9); save the file as UTF-8"
    )


def test_an_environment_file_that_is_a_directory_cannot_be_read(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (config / "environments" / "odd.yaml").mkdir()
    with pytest.raises(ConfigError) as raised:
        load_environment("odd", config)
    assert str(raised.value) == "config/environments/odd.yaml: cannot read: Is a directory"


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)


def test_an_alias_bomb_is_refused_in_one_short_line(tmp_path: Path) -> None:
    # 10**9 values once expanded: it was once echoed in full (58 MB) by a type error.
    jobs = (
        ALIAS_BOMB + "jobs:\n  report:\n    schedule: rate(1 hour)\n    image: x\n    command: *i\n"
    )
    config = write_config(tmp_path, jobs=jobs)
    with pytest.raises(ConfigError) as raised:
        load_environment("test", config)
    assert str(raised.value) == (
        f"{JOBS}: line 5: invalid YAML: its aliases expand to more than 100000 values; refusing "
        "to read it"
    )


def test_aliases_within_reason_still_load(tmp_path: Path) -> None:
    jobs = (
        "x-command: &command [python, -m, report]\n"
        "jobs:\n  report:\n    schedule: rate(1 hour)\n    image: x\n    command: *command\n"
    )
    report = load_environment("test", write_config(tmp_path, jobs=jobs)).job("report")
    assert report.command == ["python", "-m", "report"]


def test_echoed_values_are_cut_to_about_200_characters(tmp_path: Path) -> None:
    huge = with_job(image="repo/" + "x " * 50_000, command=[[f"n{i}" for i in range(9999)]])
    config = write_config(tmp_path, jobs=huge)
    with pytest.raises(ConfigError) as raised:
        load_environment("test", config)
    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    assert all(len(line) < 400 for line in lines), [len(line) for line in lines]
    assert lines[0].startswith(f"{JOBS}: job 'report': image: 'repo/x x x")


def test_an_octal_looking_account_id_is_shown_as_written(tmp_path: Path) -> None:
    env = "account: 012345670123\n" + yaml.safe_dump(BASE_ENV)
    with pytest.raises(ConfigError) as raised:
        load_environment("test", write_config(tmp_path, env=env))
    assert str(raised.value) == (
        f"{ENV}: account: YAML read 012345670123 as a number; quote it to mean the text: "
        "'012345670123'"
    )


MERGED_JOBS = """\
x-defaults: &defaults
  image: repo/batch:1
  cpu: 512
  memory: 1024
  timeout: 2h
jobs:
  report:
    <<: *defaults
    schedule: cron(0 3 * * ? *)
    memory: 2048
  sync:
    <<: *defaults
    schedule: rate(1 hour)
"""


def test_yaml_merge_keys_share_job_defaults_from_an_x_key(tmp_path: Path) -> None:
    environment = load_environment("test", write_config(tmp_path, jobs=MERGED_JOBS))
    report, sync = environment.job("report"), environment.job("sync")
    assert (report.image, report.cpu, report.memory) == ("repo/batch:1", 512, 2048)
    assert (sync.image, sync.cpu, sync.memory) == ("repo/batch:1", 512, 1024)
    assert sync.timeout == timedelta(hours=2)


def test_a_key_twice_beside_a_merge_key_is_still_an_error(tmp_path: Path) -> None:
    jobs = MERGED_JOBS.replace("    memory: 2048\n", "    memory: 2048\n    memory: 4096\n")
    with pytest.raises(ConfigError) as raised:
        load_environment("test", write_config(tmp_path, jobs=jobs))
    assert str(raised.value) == (
        f"{JOBS}: line 11: invalid YAML: key 'memory' appears twice (lines 10 and 11)"
    )


def test_an_environment_file_may_hold_x_keys_for_anchors(tmp_path: Path) -> None:
    env = (
        "x-big: &big {cpu: 1024, memory: 4096}\n"
        + yaml.safe_dump(BASE_ENV)
        + ("jobs:\n  report: *big\n")
    )
    report = load_environment("test", write_config(tmp_path, env=env)).job("report")
    assert (report.cpu, report.memory) == (1024, 4096)
