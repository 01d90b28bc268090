"""The two CDK apps the benchmark synthesizes with the real CLI (``npx cdk synth --app …``).

``cronguard``: the repository's own ``app.py`` (``main``: ``build`` + ``add_compliance_checks``,
exactly what ``make demo`` runs), reading its config from the directory in
``CRONGUARD_CONFIG``. ``app.py`` itself always reads the repository's ``config/`` (the
``cronguard`` command line honours ``CRONGUARD_CONFIG``, synth does not), so this entry point
hands ``main`` that directory and changes nothing else but this: synth writes the
environment's lock file of job stacks there even under ``CI=true`` (a generated config has
no reviewed one).

``baseline --jobs N``: N ``aws_ecs_patterns.ScheduledFargateTask`` (the CDK's own answer to
"run this container on a schedule") in stacks of 50, imported VPC and cluster, with cdk-nag's
AwsSolutions pack applied the same way (``Validations``). Its one finding per task (IAM5: the
events role may run tasks ``task/<cluster>/*``) is acknowledged on each task with a reason,
as cronguard acknowledges its findings next to each resource, so both synthesize cleanly.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # as app.py

BASELINE_TASKS_PER_STACK = 50
VPC_ID = "vpc-0123456789abcdef0"
SUBNET_ID = "subnet-0123456789abcdef0"
SECURITY_GROUP_ID = "sg-0123456789abcdef0"
ROUTE_TABLE_ID = "rtb-0123456789abcdef0"
TASKS_FINDING = (
    "AwsSolutions::AwsSolutions-IAM5"
    "[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:*:task/bench/*]"
)


def cronguard_main() -> int:
    import app as cdk_app

    configured = os.environ.get("CRONGUARD_CONFIG")
    if not configured:
        status: int = cdk_app.main([], cdk_app.PROJECT_CONFIG)
        return status
    # A generated config has no reviewed lock file: synth places its jobs (and writes the
    # file, once) even under CI=true, as on a developer's machine.
    status = cdk_app.main(["-c", f"{cdk_app.STRICT_CONTEXT}=false"], Path(configured))
    return status


def baseline_stacks(app: object, count: int) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_applicationautoscaling as autoscaling
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_ecs_patterns as patterns

    names = [f"job-{i:03d}" for i in range(count)]
    # CloudFormation's 500-resource limit holds for the baseline too: 50 tasks per stack.
    for index in range(0, count, BASELINE_TASKS_PER_STACK):
        stack = cdk.Stack(app, f"baseline-{index // BASELINE_TASKS_PER_STACK}")  # type: ignore[arg-type]
        vpc = ec2.Vpc.from_vpc_attributes(
            stack,
            "Vpc",
            vpc_id=VPC_ID,
            availability_zones=["us-east-1a"],
            private_subnet_ids=[SUBNET_ID],
            private_subnet_route_table_ids=[ROUTE_TABLE_ID],
        )
        cluster = ecs.Cluster.from_cluster_attributes(
            stack, "Cluster", cluster_name="bench", vpc=vpc
        )
        group = ec2.SecurityGroup.from_security_group_id(stack, "Group", SECURITY_GROUP_ID)
        for i, name in enumerate(names[index : index + BASELINE_TASKS_PER_STACK]):
            task = patterns.ScheduledFargateTask(
                stack,
                name,
                cluster=cluster,
                schedule=autoscaling.Schedule.expression(f"cron({i % 60} {i % 24} * * ? *)"),
                scheduled_fargate_task_image_options=patterns.ScheduledFargateTaskImageOptions(
                    image=ecs.ContainerImage.from_registry("repo/job:1"),
                    cpu=256,
                    memory_limit_mib=512,
                ),
                security_groups=[group],
            )
            cdk.Validations.of(task).acknowledge(
                cdk.Acknowledgment(
                    id=TASKS_FINDING, reason="The schedule's role runs this task family only."
                )
            )


def baseline_main(count: int) -> int:
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App()
    baseline_stacks(app, count)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["cronguard", "baseline"])
    parser.add_argument("--jobs", type=int, default=1, help="baseline only")
    args = parser.parse_args()
    return cronguard_main() if args.kind == "cronguard" else baseline_main(args.jobs)


if __name__ == "__main__":
    sys.exit(main())
