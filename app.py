#!/usr/bin/env python3
"""The CDK app: ``cdk synth|deploy -c env=<name>`` builds the stack ``cronguard-<name>``."""

from __future__ import annotations

import os

# Before aws_cdk starts its jsii process: Node 20 is past its end of life and jsii prints a
# banner for it in every process (docs/development.md, "Supported Node versions"). `cdk synth`
# runs this file directly, so the Makefile's setting alone does not reach it.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# The local Lambda bundling runs pip, whose colour codes end up as stray `[0m` in logs.
os.environ.setdefault("PIP_NO_COLOR", "1")

import argparse
import sys
from pathlib import Path

import aws_cdk as cdk

from cronguard.config import ConfigError, load_environment
from cronguard.config.loader import record_job_stacks
from cronguard.config.project import CONFIG_DIR
from stacks.checks import add_compliance_checks
from stacks.environment_stack import CronguardStack

DEFAULT_ENVIRONMENT = "dev"
# This project's config, beside this file (cdk runs the app from the directory of cdk.json).
PROJECT_CONFIG = Path(__file__).resolve().parent / CONFIG_DIR
DEBUG_FLAG = "--debug"  # `npx cdk synth --debug` sets CDK_DEBUG=true instead
STRICT_CONTEXT = "strict"  # `-c strict=true|false`: whether synth may write the lock file
_FALSE = ("", "0", "false", "no")


def strict(app: cdk.App) -> bool:
    """Whether synth may only check the job stacks' lock file, never write it: in CI (where
    a lock file that does not match config must fail, not silently diverge), unless the
    context says otherwise."""
    asked = app.node.try_get_context(STRICT_CONTEXT)
    if asked is not None:
        return str(asked).lower() not in _FALSE
    return os.environ.get("CI", "").lower() not in _FALSE


def build(app: cdk.App, config_dir: Path = PROJECT_CONFIG) -> CronguardStack:
    name = app.node.try_get_context("env") or DEFAULT_ENVIRONMENT
    environment = load_environment(str(name), config_dir)
    written = record_job_stacks(environment, config_dir, strict=strict(app))
    if written:
        print(f"cronguard: {written}", file=sys.stderr)
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
    parser.add_argument(DEBUG_FLAG, action="store_true", help="show an error's traceback")
    pairs = parser.parse_args(argv).context
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def _unexpected(error: Exception) -> str:
    """An error nobody planned for, on one line (a failed cdk-nag check lands here too,
    after the CDK has printed its report)."""
    text = " ".join(str(error).split())
    detail = f": {text[:500]}{'…' if len(text) > 500 else ''}" if text else ""
    return f"unexpected {type(error).__name__}{detail} (run with {DEBUG_FLAG} for the traceback)"


def main(argv: list[str], config_dir: Path = PROJECT_CONFIG) -> int:
    debug = DEBUG_FLAG in argv or os.environ.get("CDK_DEBUG") == "true"
    try:
        app = cdk.App(context=_context_arguments(argv))
        build(app, config_dir)
        app.synth()
    except ConfigError as error:
        for problem in error.problems:
            print(f"cronguard: {problem}", file=sys.stderr)
        return 2
    except Exception as error:
        if debug:
            raise
        print(f"cronguard: {_unexpected(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
