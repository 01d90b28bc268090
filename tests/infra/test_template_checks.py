"""The synthesized templates pass cfn-lint and cdk-nag (AwsSolutions) with no open findings."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs

from stacks.checks import add_compliance_checks
from testkit.apps import project_app
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]
ENVIRONMENTS = ["dev", "prod"]
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cfn_lint_is_clean(synth: Synth, env_name: str) -> None:
    # W3005 (redundant DependsOn) is how CDK writes dependencies; everything else counts.
    assert synth(env_name).nested_files, "the job stacks' templates must be linted too"
    result = subprocess.run(
        [
            CFN_LINT,
            "--ignore-checks",
            "W3005",
            "--",
            str(synth(env_name).template_file),
            *map(str, synth(env_name).nested_files),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cdk_nag_has_no_open_findings_and_every_acknowledgement_says_why(
    synth: Synth, env_name: str
) -> None:
    # cdk-nag v3 fails app.synth() on an open finding; its report says what was accepted.
    report_file = Path(synth(env_name).template_file).parent / "validation-report.json"
    report = json.loads(report_file.read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    for accepted in nag["suppressedViolations"]:
        assert len(accepted["reason"]) > 20, accepted["ruleName"]
    accepted_rules = {
        accepted["ruleName"].split("[")[0] for accepted in nag["suppressedViolations"]
    }
    # The only kinds of finding cronguard accepts; a new kind needs a deliberate review.
    # SF2 (no X-Ray on state machines): X-Ray is off everywhere (stacks.compliance.NO_TRACING).
    assert accepted_rules <= {
        "AwsSolutions-IAM5",
        "AwsSolutions-SQS3",
        "AwsSolutions-ECS2",
        "AwsSolutions-SF2",
    }


def test_cdk_nag_is_really_enforced(tmp_path: Path) -> None:
    app = project_app(tmp_path)
    stack = cdk.Stack(app, "Violating")
    sqs.Queue(stack, "PlainQueue")  # no DLQ, no SSL enforcement: AwsSolutions-SQS3/SQS4
    add_compliance_checks(app)
    with pytest.raises(RuntimeError, match=r"AwsSolutions-SQS3[\s\S]*AwsSolutions-SQS4"):
        app.synth()


def test_the_cdks_own_cloudformation_validation_fails_the_synth_as_in_cdk_synth(
    tmp_path: Path,
) -> None:
    """`cdk synth` also runs the CDK's built-in CloudFormation validation, and ``cdk.json``'s
    ``validateAgainstDefaultRules`` makes its findings errors. The shipped environments'
    assemblies are synthesized that way (``tests/assemblies.py``), so a template it rejects
    fails their synth, naming the rule; without the project's context it would only warn.
    It does not read nested stacks' templates (the job stacks): cfn-lint lints those."""

    def synthesized(app: cdk.App, *, nested: bool = False) -> None:
        stack: cdk.Stack = cdk.Stack(app, "Violating")
        if nested:
            stack = cdk.NestedStack(stack, "Jobs")
        cdk.CfnResource(stack, "Queue", type="AWS::SQS::Queue", properties={"Delay": 5})
        app.synth()

    with pytest.raises(RuntimeError, match=r"ValidationFailed"):
        synthesized(project_app(tmp_path / "project", builtin_validation=True))
    report = json.loads((tmp_path / "project" / "validation-report.json").read_text())
    (validate,) = [
        r for r in report["pluginReports"] if r["pluginName"] == "CloudFormation Validate"
    ]
    assert [(v["ruleName"], v["severity"]) for v in validate["violations"]] == [("F3002", "error")]
    assert "'Delay' was unexpected" in validate["violations"][0]["description"]

    synthesized(cdk.App(outdir=str(tmp_path / "bare")))  # a bare App: warned, not failed
    synthesized(project_app(tmp_path / "nested", builtin_validation=True), nested=True)
