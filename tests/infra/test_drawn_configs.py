"""Whatever `cronguard validate` accepts deploys: configs drawn across the schema's own bounds
(hypothesis), and every accepted one synthesized in one app, linted by cfn-lint once, and its
lease run through the guard's own arithmetic.

Drawing and validating is cheap and synthesizing is not, so each drawn config is only
validated, and the accepted ones are synthesized together at the end: one synth, one cfn-lint
run, whatever the number of examples.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronguard.config import ConfigError, Environment, load_environment
from cronguard.config.model import DAY, EXECUTION_LIMIT, FARGATE_SIZES, MINUTE, WEEK
from cronguard.config.schema import environment_file_schema, jobs_file_schema
from lambdas.core.ledger import LedgerTable, epoch
from lambdas.core.ledger_contract import LEASE_UNTIL
from lambdas.guard.handler import JobSettings
from testkit.configs import write_config
from testkit.generated import synthesize

CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")
ENVIRONMENT = "drawn"
JOB_SCHEMA = jobs_file_schema()["$defs"]
ENV_SCHEMA = environment_file_schema()["$defs"]
# Few enough to synthesize in one go, many enough to reach both sides of every rule;
# derandomized, so CI draws the same configs every time.
DRAWS = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Derandomized draws still differ with what ran earlier in the same process (of 40 jobs, 13
# accepted alone and 9 after a module importing cronguard.cli, as a CLI test file on the same
# xdist worker does): 60 keep both sides above their floors of 10 either way.
JOB_DRAWS = settings(DRAWS, max_examples=60)


def bounds(schemas: dict[str, Any], model: str, field: str) -> tuple[Any, Any]:
    """A numeric field's minimum and maximum, as the JSON Schema states them."""
    found = schemas[model]["properties"][field]
    forms = found.get("anyOf") or found.get("oneOf") or [found]  # oneOf: a number or a mapping
    (bounded,) = [part for part in forms if "minimum" in part]
    return bounded["minimum"], bounded["maximum"]


def within(schemas: dict[str, Any], model: str, field: str) -> st.SearchStrategy[int]:
    low, high = bounds(schemas, model, field)
    return st.integers(low, high)


def seconds(low: timedelta, high: timedelta) -> st.SearchStrategy[int]:
    """Whole seconds across a duration's bounds, a little past each end too."""
    lowest, highest = int(low.total_seconds()), int(high.total_seconds())
    return st.one_of(
        st.sampled_from([lowest, highest, lowest - 1, highest + 1, lowest + 30]),
        st.integers(max(lowest - 60, 0), highest + 60),
    )


TAG_TEXT = st.text(alphabet="aZ09 _.:/=+-@é#{}", max_size=6)
TAGS = st.dictionaries(TAG_TEXT, TAG_TEXT, max_size=3)
ACTIONS = ["s3:PutObject", "sqs:SendMessage", "s3:Get*", "logs:PutLogEvents", "s3:PutObjekt"]
RESOURCES = ["arn:aws:s3:::example-reports/nightly/*", "arn:aws:sqs:eu-west-1:123456789012:q"]
CONDITIONS = [
    {"StringEquals": {"aws:SourceAccount": "123456789012"}},
    {"StringEqual": {"aws:SourceAccount": "123456789012"}},
]


def permissions() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "actions": st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=2, unique=True),
            "resources": st.lists(
                st.sampled_from([*RESOURCES, "*", "my-bucket"]), min_size=1, max_size=2, unique=True
            ),
        },
        optional={
            "reason": st.just("Needs several of them."),
            "conditions": st.sampled_from(CONDITIONS),
        },
    )


def capacity_share() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"provider": st.sampled_from(["FARGATE", "FARGATE_SPOT"])},
        optional={
            "base": within(JOB_SCHEMA, "CapacityShare", "base"),
            "weight": within(JOB_SCHEMA, "CapacityShare", "weight"),
        },
    )


def jobs() -> st.SearchStrategy[dict[str, Any]]:
    sizes = [(cpu, memory) for cpu, allowed in FARGATE_SIZES.items() for memory in allowed[::3]]
    return st.fixed_dictionaries(
        {
            "schedule": st.sampled_from(["rate(1 hour)", "cron(0 3 * * ? *)", "rate(5 minutes)"]),
            "image": st.just("123456789012.dkr.ecr.eu-west-1.amazonaws.com/job:1"),
            "size": st.sampled_from([*sizes, (256, 4096)]),
            "timeout": seconds(MINUTE, WEEK),
            "launch_retries": st.fixed_dictionaries(
                {
                    "max_attempts": within(JOB_SCHEMA, "LaunchRetry", "max_attempts"),
                    "interval_seconds": within(JOB_SCHEMA, "LaunchRetry", "interval_seconds"),
                    "backoff_rate": st.floats(*bounds(JOB_SCHEMA, "LaunchRetry", "backoff_rate")),
                }
            ),
            "job_retries": st.one_of(
                within(JOB_SCHEMA, "Job", "job_retries"),
                st.fixed_dictionaries(
                    {
                        "max": within(JOB_SCHEMA, "JobRetries", "max"),
                        "on_exit_codes": st.lists(st.integers(1, 255), min_size=1, max_size=3),
                    }
                ),
            ),
            "concurrency": st.sampled_from(["forbid", "replace", "allow"]),
            "architecture": st.sampled_from(["x86_64", "arm64"]),
        },
        optional={
            "starting_deadline": seconds(timedelta(seconds=10), WEEK),
            "flexible_window": seconds(MINUTE, DAY),
            "delivery": st.fixed_dictionaries(
                {
                    "max_retries": within(JOB_SCHEMA, "Delivery", "max_retries"),
                    "max_event_age": seconds(MINUTE, DAY),
                }
            ),
            "catch_up": st.fixed_dictionaries({"window": seconds(MINUTE, WEEK)}),
            "spot": st.booleans(),
            "capacity_providers": st.lists(capacity_share(), min_size=1, max_size=2),
            "ephemeral_storage_gib": within(JOB_SCHEMA, "Job", "ephemeral_storage_gib"),
            "permissions": st.lists(permissions(), min_size=1, max_size=2),
            "tags": TAGS,
        },
    ).map(_with_size)


def _with_size(job: dict[str, Any]) -> dict[str, Any]:
    cpu, memory = job.pop("size")
    return {**job, "cpu": cpu, "memory": memory}


def environments() -> st.SearchStrategy[dict[str, Any]]:
    stale_after = MINUTE, DAY
    sweep_every = MINUTE, timedelta(hours=1)
    return st.fixed_dictionaries(
        {
            "ledger": st.fixed_dictionaries(
                # The longest retention too: the lease arithmetic below adds it to now.
                {"retention_days": st.sampled_from(bounds(ENV_SCHEMA, "Ledger", "retention_days"))}
            ),
            "task_protection": st.fixed_dictionaries(
                {
                    "services": st.just([{"name": "worker", "cluster": "c", "create_role": True}]),
                    "stale_after": seconds(*stale_after),
                    "sweep_every": seconds(*sweep_every),
                }
            ),
            "tags": TAGS,
        }
    )


def accepted(root: Path, jobs: dict[str, Any], environment: dict[str, Any]) -> Environment | None:
    """The environment ``cronguard validate`` accepts, or None if it refuses it."""
    try:
        config = write_config(root, jobs, name=ENVIRONMENT, **environment)
        return load_environment(ENVIRONMENT, config)
    except ConfigError:
        return None


class RecordingDynamoDB:
    """Takes the guard's claim as DynamoDB would, and keeps it."""

    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:  # noqa: N803
        self.written += TransactItems


def test_whatever_validate_accepts_synthesizes_lints_clean_and_leases(tmp_path: Path) -> None:
    drawn = iter(range(1_000))
    environments_accepted: list[dict[str, Any]] = []
    simple = {"simple": {"schedule": "rate(1 hour)", "image": "repo/job:1"}}

    @DRAWS
    @given(environments())
    def draw_environment(drawn_environment: dict[str, Any]) -> None:
        if accepted(tmp_path / f"env-{next(drawn)}", simple, drawn_environment) is not None:
            environments_accepted.append(drawn_environment)

    draw_environment()
    assert environments_accepted
    # The accepted environment with the most tags and the longest retention.
    chosen = max(
        environments_accepted,
        key=lambda drawn_environment: (
            len(drawn_environment["tags"]),
            drawn_environment["ledger"]["retention_days"],
        ),
    )
    jobs_accepted: dict[str, dict[str, Any]] = {}
    refused = 0

    @JOB_DRAWS
    @given(jobs())
    def draw_job(job: dict[str, Any]) -> None:
        nonlocal refused
        name = f"job-{next(drawn):03d}"
        if accepted(tmp_path / name, {name: job}, chosen) is None:
            refused += 1
        else:
            jobs_accepted[name] = job

    draw_job()
    assert len(jobs_accepted) >= 10 and refused >= 10, (len(jobs_accepted), refused)

    environment = accepted(tmp_path / "all", jobs_accepted, chosen)
    assert environment is not None, "each job was accepted on its own, so all of them are"
    assembly = synthesize(environment, tmp_path / "cdk.out")  # with cdk-nag, as `cdk synth`
    templates = sorted(assembly.glob("*.template.json"))
    # W3005 (redundant DependsOn) is how CDK writes dependencies; everything else counts.
    linted = subprocess.run(
        [CFN_LINT, "--ignore-checks", "W3005", "--", *map(str, templates)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr

    machines = [
        resource["Properties"]
        for template in templates
        for resource in json.loads(template.read_text())["Resources"].values()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    assert len(machines) == len(jobs_accepted)
    now = datetime.now(UTC)
    for machine in machines:
        definition = json.loads(machine["DefinitionString"])
        assert definition["TimeoutSeconds"] <= EXECUTION_LIMIT.total_seconds()
        job = JobSettings.from_payload(definition["States"]["Guard"]["Arguments"]["Payload"]["job"])
        assert job.lease.total_seconds() > definition["TimeoutSeconds"]
        dynamodb = RecordingDynamoDB()
        LedgerTable(dynamodb, "ledger").claim_slot(
            job=job.name,
            slot="2026-11-22T03:00:00Z",
            me="arn:aws:states:eu-west-1:123456789012:execution:m:e",
            now=now,
            retention=job.retention,
            lease_for=job.lease,
            attempt=1,
            forced=False,
            take_over=None,
            overwrite=None,
        )
        puts = [item["Put"]["Item"] for item in dynamodb.written if "Put" in item]
        (lease,) = [item for item in puts if LEASE_UNTIL in item]
        assert int(lease[LEASE_UNTIL]["N"]) == epoch(now + job.lease)
