"""Synthesize one app in this process and print its cost as JSON (run by benchmark.py).

``--kind cronguard`` builds cronguard's environment stack for N generated jobs;
``--kind baseline`` builds N ``aws_ecs_patterns.ScheduledFargateTask`` in one stack with an
imported VPC and cluster — the CDK's own answer to "run this container on a schedule".
Both skip asset bundling and cdk-nag, so the comparison is construct cost alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # as app.py

BASELINE_TASKS_PER_STACK = 50
VPC_ID = "vpc-0123456789abcdef0"
SUBNET_ID = "subnet-0123456789abcdef0"
SECURITY_GROUP_ID = "sg-0123456789abcdef0"
NETWORK = {"vpc_id": VPC_ID, "subnet_ids": [SUBNET_ID], "security_group_ids": [SECURITY_GROUP_ID]}


def job_names(count: int) -> list[str]:
    return [f"job-{i:03d}" for i in range(count)]


def cronguard_app(app: object, count: int) -> None:
    from cronguard.config import load_environment
    from stacks.environment_stack import CronguardStack

    root = Path(tempfile.mkdtemp())
    (root / "environments").mkdir()
    jobs = {
        name: {"schedule": "cron(0 3 * * ? *)", "image": "repo/job:1"} for name in job_names(count)
    }
    (root / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
    (root / "environments" / "bench.yaml").write_text(yaml.safe_dump({"network": NETWORK}))
    environment = load_environment("bench", root)
    CronguardStack(app, "cronguard-bench", environment=environment)  # type: ignore[arg-type]


def baseline_app(app: object, count: int) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_applicationautoscaling as autoscaling
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_ecs as ecs
    from aws_cdk import aws_ecs_patterns as patterns

    names = job_names(count)
    # CloudFormation's 500-resource limit holds for the baseline too: 50 tasks per stack.
    for index in range(0, count, BASELINE_TASKS_PER_STACK):
        stack = cdk.Stack(app, f"baseline-{index // BASELINE_TASKS_PER_STACK}")  # type: ignore[arg-type]
        vpc = ec2.Vpc.from_vpc_attributes(
            stack,
            "Vpc",
            vpc_id=VPC_ID,
            availability_zones=["us-east-1a"],
            private_subnet_ids=[SUBNET_ID],
        )
        cluster = ecs.Cluster.from_cluster_attributes(
            stack, "Cluster", cluster_name="bench", vpc=vpc
        )
        group = ec2.SecurityGroup.from_security_group_id(stack, "Group", SECURITY_GROUP_ID)
        for name in names[index : index + BASELINE_TASKS_PER_STACK]:
            patterns.ScheduledFargateTask(
                stack,
                name,
                cluster=cluster,
                schedule=autoscaling.Schedule.expression("cron(0 3 * * ? *)"),
                scheduled_fargate_task_image_options=patterns.ScheduledFargateTaskImageOptions(
                    image=ecs.ContainerImage.from_registry("repo/job:1"),
                    cpu=256,
                    memory_limit_mib=512,
                ),
                security_groups=[group],
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["cronguard", "baseline"], required=True)
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--outdir", help="keep the cloud assembly here (default: a temp dir)")
    args = parser.parse_args()
    started = time.perf_counter()
    import aws_cdk as cdk

    outdir = args.outdir or tempfile.mkdtemp()
    app = cdk.App(outdir=outdir, context={"aws:cdk:bundling-stacks": []})
    (cronguard_app if args.kind == "cronguard" else baseline_app)(app, args.jobs)
    app.synth()
    elapsed = time.perf_counter() - started
    resources = sum(
        len(json.loads(path.read_text())["Resources"])
        for path in Path(outdir).glob("*.template.json")
    )
    json.dump({"seconds": elapsed, "resources": resources}, sys.stdout)


if __name__ == "__main__":
    main()
