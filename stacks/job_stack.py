"""A job stack: a nested stack holding the jobs whose names hash to it.

CloudFormation allows 500 resources per stack and a job is 9, so jobs are spread over
nested stacks of the environment's stack. The assignment is a hash of the job's name alone
(``Environment.job_stack_of``): adding or removing other jobs never moves a job, which would
replace its state machine and terminate its running executions. ``cdk deploy`` still
deploys one stack, ``cronguard-<env>``.

The nested template is rendered by ``stacks/job_template.py`` and shipped as a file asset of
the environment's stack, the way the CDK ships a ``NestedStack``'s template (same file
suffix, same asset), so ``cdk deploy`` publishes it and tools find it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from aws_cdk import CfnStack, FileAssetPackaging, Stack, Stage
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cronguard.config import Environment, Job
from stacks.job_template import PARAMETERS, TEMPLATE_SUFFIX, JobStackTemplate, template_body


class JobStack(Construct):
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
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.jobs = {job.name: job for job in jobs}
        self.template = JobStackTemplate(environment, jobs).render()
        self.template_file = f"{stack.artifact_id}.{construct_id}{TEMPLATE_SUFFIX}"
        text = template_body(self.template)
        outdir = Path(Stage.of(self).outdir)  # type: ignore[union-attr]
        (outdir / self.template_file).write_text(text, encoding="utf-8")
        location = stack.synthesizer.add_file_asset(
            file_name=self.template_file,
            packaging=FileAssetPackaging.FILE,
            source_hash=hashlib.sha256(text.encode()).hexdigest(),
        )
        parameters: dict[str, Any] = {
            "LedgerTableName": ledger.table_name,
            "LedgerTableArn": ledger.table_arn,
            "ClusterArn": cluster.cluster_arn,
            "DeadLetterQueueArn": dead_letter_queue.queue_arn,
            "AlarmTopicArn": alarm_topic.topic_arn,
            "CodeS3Bucket": code.s3_bucket_name,
            "CodeS3Key": code.s3_object_key,
        }
        if set(parameters) != set(PARAMETERS):
            raise RuntimeError(f"job stack parameters out of step: {sorted(parameters)}")
        self.resource = CfnStack(
            self,
            "Default",  # the logical ID is this construct's id: Jobs00, Jobs01, ...
            template_url=location.http_url,
            parameters=parameters,
        )
        self.resource.add_metadata("aws:asset:path", self.template_file)
        self.resource.add_metadata("aws:asset:property", "TemplateURL")
