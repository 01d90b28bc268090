"""Where the environment's alarms go: an encrypted SNS topic, or one the config names.

A topic policy replaces SNS's default policy, and ``enforce_ssl`` writes one whose only
statement is a Deny: without an explicit Allow for CloudWatch no alarm could publish. The
topic's own key needs the same principal, under the same conditions, in its key policy.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from cronguard.config import Environment


class AlarmTopic(Construct):
    """The alarm topic. A created topic is encrypted with its own key, because CloudWatch
    alarms cannot publish to a topic encrypted with the AWS managed SNS key."""

    def __init__(self, scope: Construct, construct_id: str, *, environment: Environment) -> None:
        super().__init__(scope, construct_id)
        alarms = environment.alarms
        if alarms.topic_arn is not None:
            self.topic: sns.ITopic = sns.Topic.from_topic_arn(self, "Topic", alarms.topic_arn)
            return
        key = kms.Key(
            self,
            "Key",
            description=f"cronguard {environment.name} alarm topic",
            enable_key_rotation=True,
        )
        key.add_to_resource_policy(
            alarms_may(["kms:Decrypt", "kms:GenerateDataKey*"], resource="*", scope=self)
        )
        topic = sns.Topic(
            self,
            "Topic",
            display_name=f"cronguard {environment.name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        topic.add_to_resource_policy(
            alarms_may(["sns:Publish"], resource=topic.topic_arn, scope=self)
        )
        for address in alarms.email:
            topic.add_subscription(subscriptions.EmailSubscription(address))
        self.topic = topic


def alarms_may(actions: list[str], *, resource: str, scope: Construct) -> iam.PolicyStatement:
    """Let CloudWatch act for this account's alarms in this region, and no one else's
    (``aws:SourceAccount``/``aws:SourceArn`` guard against the confused deputy)."""
    stack = Stack.of(scope)
    return iam.PolicyStatement(
        sid="CloudWatchAlarms",
        principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions=actions,
        resources=[resource],
        conditions={
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name="*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            },
        },
    )
