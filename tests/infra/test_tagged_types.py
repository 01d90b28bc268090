"""The resource types whose tag rules config tags are checked against are the ones the
synthesized templates put config tags on: a new tagged resource brings its rules in."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cronguard.config import aws_rules, load_environment
from tests.configs import REPOSITORY_CONFIG
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]
ENVIRONMENTS = ("dev", "prod")


def resources(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    yield from document["Resources"].values()


def tags_of(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """A resource's tags as {Key, Value} items (SSM parameters take a map of them)."""
    tags = resource.get("Properties", {}).get("Tags", [])
    if isinstance(tags, dict):
        return [{"Key": key, "Value": value} for key, value in tags.items()]
    return list(tags)


def taggable(kind: str) -> bool:
    return bool(aws_rules.resource_schema(kind).get("tagging", {}).get("taggable"))


def test_the_tagged_types_are_those_the_templates_tag(synth: Synth) -> None:
    job_tagged: set[str] = set()
    environment_tagged: set[str] = set()
    for name in ENVIRONMENTS:
        synthesized = synth(name)
        job_tags = [
            {"Key": key, "Value": value}
            for job in load_environment(name, REPOSITORY_CONFIG).jobs
            for key, value in job.tags.items()
        ]
        assert job_tags, f"{name} must have a job with tags for this test to mean anything"
        # The environment's tags are on its stack's resources and on the job stacks, and
        # CloudFormation propagates a stack's tags to every taggable resource in it.
        for resource in resources(synthesized.template.to_json()):
            if "Tags" in resource.get("Properties", {}):
                environment_tagged.add(resource["Type"])
        for nested in synthesized.nested_files:
            for resource in resources(json.loads(nested.read_text())):
                if taggable(resource["Type"]):
                    environment_tagged.add(resource["Type"])
                if any(tag in tags_of(resource) for tag in job_tags):
                    job_tagged.add(resource["Type"])
    assert job_tagged == set(aws_rules.JOB_TAGGED)
    assert environment_tagged == set(aws_rules.ENVIRONMENT_TAGGED)
