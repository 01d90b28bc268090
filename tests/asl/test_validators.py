"""Every kind of state machine definition cronguard renders passes AWS's own validator (the
AWS Toolkit's amazon-states-language-service) and asl-validator, both pinned npm packages
that read JSONata: no diagnostic at all. ``validate.mjs`` runs both, once for all
definitions. The project's own checks stay for what neither catches (JSONPath fields inside
JSONata states, ``States.ALL`` placement)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cronguard.config import load_environment
from testkit.assembly import nested_templates
from testkit.configs import write_config
from testkit.generated import synthesize

ROOT = Path(__file__).resolve().parents[2]
VALIDATE = Path(__file__).with_name("validate.mjs")
ENVIRONMENT = "asl"
IMAGE = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/job:1"
# One job per way the definition is rendered differently.
JOBS: dict[str, dict[str, Any]] = {
    "forbid": {},
    "replace": {"concurrency": "replace"},
    "allow": {"concurrency": "allow"},
    "job-retries": {"job_retries": 2},
    "exit-code-retries": {"job_retries": {"max": 2, "on_exit_codes": [75, 137]}},
    "capacity": {
        "capacity_providers": [
            {"provider": "FARGATE", "weight": 1},
            {"provider": "FARGATE_SPOT", "weight": 3},
        ]
    },
    "public-ip": {"network": {"assign_public_ip": True}},
}
# CloudFormation puts an ARN where a definition says ``${<substitution>}``.
SUBSTITUTION = re.compile(r"\$\{(\w+)\}")


def deployed(properties: dict[str, Any]) -> str:
    """The definition as Step Functions receives it: each substitution an ARN."""
    names = properties["DefinitionSubstitutions"]

    def arn(match: re.Match[str]) -> str:
        assert match[1] in names, match[0]
        return f"arn:aws:states:ap-northeast-1:123456789012:substituted:{match[1]}"

    return SUBSTITUTION.sub(arn, properties["DefinitionString"])


@pytest.fixture(scope="module")
def definitions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each job's state machine definition (parsed), from one synth of all of them."""
    root = tmp_path_factory.mktemp("asl")
    jobs = {
        name: {"schedule": "rate(1 hour)", "image": IMAGE, **settings}
        for name, settings in JOBS.items()
    }
    environment = load_environment(
        ENVIRONMENT, write_config(root / "config", jobs, name=ENVIRONMENT)
    )
    outdir = synthesize(environment, root / "cdk.out")
    found = {}
    for template_file in nested_templates(
        outdir / f"{environment.stack_name}.template.json"
    ).values():
        for resource in json.loads(template_file.read_text())["Resources"].values():
            if resource["Type"] == "AWS::StepFunctions::StateMachine":
                properties = resource["Properties"]
                job = properties["StateMachineName"].removeprefix(f"{ENVIRONMENT}-")
                found[job] = json.loads(deployed(properties))
    assert sorted(found) == sorted(JOBS)
    return found


def validate(definitions: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Each definition's diagnostics from both validators (one node process for all)."""
    node = shutil.which("node")
    assert node is not None, "Node.js runs the validators (make setup installs them with npm ci)"
    result = subprocess.run(
        [node, str(VALIDATE)],
        input=json.dumps({name: json.dumps(body) for name, body in definitions.items()}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, list[str]] = json.loads(result.stdout)
    return report


def run_state(definition: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any]
    (state,) = [
        state
        for state in definition["States"].values()
        if state.get("Resource") == "arn:aws:states:::ecs:runTask.sync"
    ]
    return state


def test_the_jobs_render_each_way_a_definition_differs(
    definitions: dict[str, dict[str, Any]],
) -> None:
    def concurrency(job: str) -> str:
        policy: str = definitions[job]["States"]["Guard"]["Arguments"]["Payload"]["job"][
            "concurrency"
        ]
        return policy

    assert [concurrency(job) for job in ("forbid", "replace", "allow")] == [
        "forbid",
        "replace",
        "allow",
    ]

    def job_retries(job: str) -> Any:
        return definitions[job]["States"]["Guard"]["Arguments"]["Payload"]["job"]["jobRetries"]

    assert job_retries("job-retries") == {"max": 2, "intervalSeconds": 30}
    assert job_retries("exit-code-retries") == {
        "max": 2,
        "intervalSeconds": 30,
        "onExitCodes": [75, 137],
    }
    assert "CapacityProviderStrategy" in run_state(definitions["capacity"])["Arguments"]
    network = run_state(definitions["public-ip"])["Arguments"]["NetworkConfiguration"]
    assert network["AwsvpcConfiguration"]["AssignPublicIp"] == "ENABLED"


def test_every_rendered_definition_passes_both_validators(
    definitions: dict[str, dict[str, Any]],
) -> None:
    assert validate(definitions) == {job: [] for job in definitions}


def test_both_validators_report_a_broken_definition(
    definitions: dict[str, dict[str, Any]],
) -> None:
    """The harness really runs both: a state whose ``Next`` is misspelt fails each."""
    broken = json.loads(json.dumps(definitions["forbid"]))
    broken["States"]["Guard"]["Nextt"] = broken["States"]["Guard"].pop("Next")
    (diagnostics,) = validate({"broken": broken}).values()
    validators = {line.split(":")[0] for line in diagnostics}
    assert validators == {"amazon-states-language-service", "asl-validator"}
