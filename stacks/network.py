"""The environment's network and ECS cluster, imported from config ids: synth never looks up AWS."""

from __future__ import annotations

from aws_cdk import Annotations, Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from cronguard.config import Environment


class JobNetwork(Construct):
    """The VPC, subnets, security groups and cluster every job of the environment runs in."""

    def __init__(self, scope: Construct, construct_id: str, *, environment: Environment) -> None:
        super().__init__(scope, construct_id)
        network = environment.network
        # Fn::GetAZs, resolved at deploy: Stack.availability_zones would be a context
        # lookup (AWS calls at synth) in an environment with an explicit account.
        self.vpc = ec2.Vpc.from_vpc_attributes(
            self, "Vpc", vpc_id=network.vpc_id, availability_zones=Fn.get_azs()
        )
        Annotations.of(self.vpc).acknowledge_warning(
            "@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones",
            "No construct takes subnets from this VPC: tasks get subnet ids from config.",
        )
        if environment.cluster.create:
            self.cluster: ecs.ICluster = ecs.Cluster(
                self,
                "Cluster",
                cluster_name=environment.cluster_name,
                vpc=self.vpc,
                container_insights_v2=ecs.ContainerInsights.ENABLED,
                enable_fargate_capacity_providers=True,
            )
        else:
            self.cluster = ecs.Cluster.from_cluster_attributes(
                self, "Cluster", cluster_name=environment.cluster_name, vpc=self.vpc
            )
