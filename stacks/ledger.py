"""The ledger: one DynamoDB table per environment; an item per (job, slot), a lease per job."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

# The item layout is the runtime's (one copy, dependency-free).
from lambdas.core.ledger_contract import (
    PARTITION_KEY,
    RUNNING_ATTRIBUTE,
    RUNNING_INDEX,
    SORT_KEY,
    TTL_ATTRIBUTE,
)


class Ledger(Construct):
    """The environment's slot ledger.

    Its name and logical ID are fixed so config changes never replace it, and it is retained
    when the stack is deleted: it is the record of which slots already ran. Only the rollback
    of the deploy that created it removes it (``RetainExceptOnCreate``), so a failed first
    deploy leaves no table of that name behind to fail the retry.
    """

    def __init__(self, scope: Construct, construct_id: str, *, table_name: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(
                name=PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
            deletion_protection=True,
        )
        # Sparse: only items of runs in progress carry the key, so the reconciler reads just
        # those (adding an index to the existing table updates it in place).
        self.table.add_global_secondary_index(
            index_name=RUNNING_INDEX,
            partition_key=dynamodb.Attribute(
                name=RUNNING_ATTRIBUTE, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
        )
