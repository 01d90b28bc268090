"""Where alarms go: the environment's encrypted SNS topic, or one the config names; and
one topic per team that owns jobs (``owner:``) and gives e-mail addresses.

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
        self.topic = encrypted_topic(self, f"cronguard {environment.name}", alarms.email)


class OwnerTopics(Construct):
    """One alarm topic per team that gives e-mail addresses, shared by all of its jobs in
    every job stack (which get its ARN as a parameter), made like the environment's topic.
    A team that names only ``topic_arn`` gets no topic here: its alarms notify that one."""

    def __init__(self, scope: Construct, construct_id: str, *, environment: Environment) -> None:
        super().__init__(scope, construct_id)
        self.topics: dict[str, sns.ITopic] = {
            owner.team: encrypted_topic(
                Construct(self, owner.topic_id),
                f"cronguard {environment.name} {owner.team}",
                owner.email,
            )
            for owner in environment.owners.values()
            if owner.email
        }


def encrypted_topic(scope: Construct, name: str, email: list[str]) -> sns.Topic:
    """A topic encrypted with its own key (``Key``, ``Topic`` in ``scope``), which CloudWatch
    may use and publish to, with ``email`` subscribed."""
    key = kms.Key(scope, "Key", description=f"{name} alarm topic", enable_key_rotation=True)
    key.add_to_resource_policy(
        alarms_may(["kms:Decrypt", "kms:GenerateDataKey*"], resource="*", scope=scope)
    )
    topic = sns.Topic(
        scope, "Topic", display_name=f"{name} alarms", master_key=key, enforce_ssl=True
    )
    topic.add_to_resource_policy(alarms_may(["sns:Publish"], resource=topic.topic_arn, scope=scope))
    for address in email:
        topic.add_subscription(subscriptions.EmailSubscription(address))
    return topic


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
