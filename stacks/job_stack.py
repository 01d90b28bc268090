"""A job stack: a nested stack holding up to 35 jobs.

CloudFormation allows 500 resources per stack and a job is 10, so jobs are spread over
nested stacks of the environment's stack. Which job is in which stack is recorded in the
environment's lock file and never changed by synth (``cronguard/config/placement.py``):
adding, removing or renaming other jobs never moves a job, which would replace its state
machine and end its runs in progress. ``cdk deploy`` still deploys one stack,
``cronguard-<env>``.

Its resources are rendered by ``stacks/job/`` (``template.py`` composes the concerns) and
included with ``CfnInclude`` into a real ``NestedStack``: they are constructs of the app like
any other, so Aspects (``iam.PermissionsBoundary.of(app)``, ``Tags.of(app)``) and cdk-nag
reach them, and the CDK writes, ships and diffs the template as it does any nested stack's.
Their logical IDs are the rendered ones, and the stack's own is its construct id
(``Jobs00``), as before.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import CfnResource, NestedStack, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import cloudformation_include as cfn_include
from constructs import Construct

from cronguard.config import Environment, Job
from cronguard.config.model import OWNER_TAG
from stacks.compliance import acknowledge_all
from stacks.job.shapes import JobResources, owner_parameters
from stacks.job.template import JobStackTemplate, template_body


class JobStack(NestedStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Environment,
        jobs: list[Job],
        ledger: dynamodb.ITable,
        cluster: ecs.ICluster,
        dead_letter_queue: sqs.IQueue,
        alarm_topic: sns.ITopic,
        code: s3_assets.Asset,
        owner_topics: Mapping[str, sns.ITopic] | None = None,
    ) -> None:
        renderer = JobStackTemplate(environment, jobs)
        template = renderer.render()
        # What the template declares, each filled in from the environment's stack.
        parameters = {
            "LedgerTableName": ledger.table_name,
            "LedgerTableArn": ledger.table_arn,
            "ClusterArn": cluster.cluster_arn,
            "DeadLetterQueueArn": dead_letter_queue.queue_arn,
            "AlarmTopicArn": alarm_topic.topic_arn,
            "CodeS3Bucket": code.s3_bucket_name,
            "CodeS3Key": code.s3_object_key,
            # The alarm topics of the teams owning these jobs (stacks.alerts.OwnerTopics).
            **{
                parameter: (owner_topics or {})[owner.team].topic_arn
                for parameter, owner in owner_parameters(environment, jobs).items()
            },
        }
        if set(parameters) != set(template["Parameters"]):
            raise RuntimeError(
                f"job stack parameters: {sorted(template['Parameters'])} declared, "
                f"{sorted(parameters)} passed"
            )
        # Compact, as CloudFormation takes at most 1 MB: a full job stack is about 750 KB
        # this way, and would not fit indented.
        super().__init__(
            scope, construct_id, parameters=parameters, suppress_template_indentation=True
        )
        self.jobs = {job.name: job for job in jobs}
        self.template = template
        resource = self.nested_stack_resource
        assert resource is not None  # a NestedStack always has one
        resource.override_logical_id(construct_id)  # Jobs00, ...: as deployed before
        self.resource: CfnResource = resource

        included = include(self, "Template", template_body(template))
        for job in jobs:
            owner = environment.owner_of(job)
            tags = {**job.tags, **({OWNER_TAG: owner.team} if owner is not None else {})}
            for logical_id in JobResources.of(job).logical_ids:
                if tags and logical_id in template["Resources"]:
                    for key, value in tags.items():
                        Tags.of(included.get_resource(logical_id)).add(key, value)
        for logical_id, accepted in renderer.acknowledgements.items():
            acknowledge_all(included.get_resource(logical_id), accepted)


def include(scope: Construct, construct_id: str, body: str) -> cfn_include.CfnInclude:
    """``CfnInclude`` of a template given as text: it reads only files (``template_file``
    is required), so the text goes through a scratch file outside the output folder that
    lives only while ``CfnInclude`` reads it."""
    with tempfile.TemporaryDirectory(prefix="cronguard-job-stack-") as scratch:
        template_file = Path(scratch) / "template.json"
        template_file.write_text(body, encoding="utf-8")
        return cfn_include.CfnInclude(scope, construct_id, template_file=str(template_file))
