#!/usr/bin/env python3
"""The CDK app: ``cdk synth|deploy -c env=<name>`` builds the stack ``cronguard-<name>``."""

from __future__ import annotations

import argparse
import sys

import aws_cdk as cdk

from cronguard.config import ConfigError, load_environment
from stacks.checks import add_compliance_checks
from stacks.environment_stack import CronguardStack

DEFAULT_ENVIRONMENT = "dev"


def build(app: cdk.App) -> CronguardStack:
    name = app.node.try_get_context("env") or DEFAULT_ENVIRONMENT
    environment = load_environment(str(name))
    stack_env = None
    if environment.account or environment.region:
        stack_env = cdk.Environment(account=environment.account, region=environment.region)
    stack = CronguardStack(app, environment.stack_name, environment=environment, env=stack_env)
    add_compliance_checks(app)
    return stack


def _context_arguments(argv: list[str]) -> dict[str, str]:
    """``python app.py -c env=prod`` works like ``cdk synth -c env=prod``."""
    parser = argparse.ArgumentParser(description="Synthesize a cronguard environment.")
    parser.add_argument("-c", "--context", action="append", default=[], metavar="KEY=VALUE")
    pairs = parser.parse_args(argv).context
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def main(argv: list[str]) -> int:
    app = cdk.App(context=_context_arguments(argv))
    try:
        build(app)
    except ConfigError as error:
        for problem in error.problems:
            print(f"cronguard: {problem}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
