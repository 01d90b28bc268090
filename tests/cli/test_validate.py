"""`cronguard validate` refuses what AWS would refuse (issue 20), in one line per problem that
names the file, the job and the field, and says what AWS requires."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cronguard.cli import app
from cronguard.config.project import CONFIG_VARIABLE
from testkit.configs import write_config

runner = CliRunner()
REPORT: dict[str, Any] = {"schedule": "cron(0 3 * * ? *)", "image": "repo/report:1"}
BUCKET = "arn:aws:s3:::example-reports/nightly/*"


def statement(**fields: Any) -> dict[str, Any]:
    return {"permissions": [{"actions": ["s3:PutObject"], "resources": [BUCKET], **fields}]}


# (job settings, environment settings, file, where, what AWS requires)
REFUSED: list[tuple[str, dict[str, Any], dict[str, Any], str, str, str]] = [
    (
        "job tag",
        {"tags": {"cost{center}": "a"}},
        {},
        "jobs.yaml",
        "job 'report': tags",
        "CloudFormation refuses '{' '}' in a tag key",
    ),
    (
        "environment tag",
        {},
        {"tags": {"team": "data#platform"}},
        "environments/test.yaml",
        "tags",
        "CloudFormation refuses '#' in a tag value",
    ),
    (
        "resource",
        statement(resources=["my-bucket"]),
        {},
        "jobs.yaml",
        "job 'report': permissions[0].resources",
        "'my-bucket' is not an ARN",
    ),
    (
        "action",
        statement(actions=["s3:PutObjekt"]),
        {},
        "jobs.yaml",
        "job 'report': permissions[0].actions",
        "s3 has no action 'PutObjekt'",
    ),
    (
        "capacity base",
        {
            "capacity_providers": [
                {"provider": "FARGATE", "base": 1, "weight": 1},
                {"provider": "FARGATE_SPOT", "weight": 3},
            ]
        },
        {},
        "jobs.yaml",
        "job 'report': capacity_providers",
        "FARGATE_SPOT is never used",
    ),
    (
        "launch retries",
        {"launch_retries": {"max_attempts": 10, "interval_seconds": 3600, "backoff_rate": 10}},
        {},
        "jobs.yaml",
        "job 'report': launch_retries",
        "Step Functions ends an execution",
    ),
]


@pytest.mark.parametrize(
    ("job", "environment", "file", "where", "requires"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED],
)
def test_validate_refuses_what_aws_refuses_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    job: dict[str, Any],
    environment: dict[str, Any],
    file: str,
    where: str,
    requires: str,
) -> None:
    config = write_config(tmp_path, {"report": {**REPORT, **job}}, **environment)
    monkeypatch.setenv(CONFIG_VARIABLE, str(config))
    result = runner.invoke(app, ["validate", "--env", "test"])
    assert result.exit_code == 2, result.output
    (line,) = result.output.splitlines()
    assert line.startswith(f"error: {config}/{file}: {where}: "), line
    assert requires in line
    assert "cfn-lint" in line or "https://docs.aws.amazon.com/" in line  # where the rule is from
