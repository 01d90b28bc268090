"""Where the environment's alarms go: an encrypted SNS topic, or one the config names."""

from __future__ import annotations

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
        for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
            key.grant(iam.ServicePrincipal(service), "kms:Decrypt", "kms:GenerateDataKey*")
        topic = sns.Topic(
            self,
            "Topic",
            display_name=f"cronguard {environment.name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        for address in alarms.email:
            topic.add_subscription(subscriptions.EmailSubscription(address))
        self.topic = topic
