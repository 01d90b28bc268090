"""The CDK apps tests and the benchmark synthesize in-process, built as `cdk synth` does.

`cdk synth` hands the app this project's ``cdk.json`` context: its feature flags (which shape
the templates, e.g. ``@aws-cdk/aws-iam:minimizePolicies``) and
``@aws-cdk/core:validateAgainstDefaultRules``, which makes the findings of the CDK's built-in
CloudFormation validation errors that fail the synth. A bare ``cdk.App()`` has neither.

The built-in validation is off in these apps unless asked for: its engine (WebAssembly)
costs about 10 s of CPU in each jsii process that first synthesizes with it, it reads only
the top-level stack's template (not the job stacks'), and cfn-lint runs the same schema
checks on every template the tests lint. The shipped environments' shared assemblies
(``tests/assemblies.py``) are synthesized with it, as `cdk synth` synthesizes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk

PROJECT_FILE = Path(__file__).resolve().parents[1] / "cdk.json"
PROJECT_CONTEXT: Mapping[str, Any] = json.loads(PROJECT_FILE.read_text())["context"]
NO_BUNDLING: Mapping[str, Any] = {"aws:cdk:bundling-stacks": []}
"""No stack's Lambda code is bundled: no pip in the tests' loop (``stacks/lambda_code.py``)."""


def project_app(
    outdir: Path | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    builtin_validation: bool = False,
) -> cdk.App:
    """An app with this project's ``cdk.json`` context, ``context`` added, no bundling; the
    CDK's built-in CloudFormation validation only with ``builtin_validation``."""
    return cdk.App(
        outdir=None if outdir is None else str(outdir),
        context={**PROJECT_CONTEXT, **NO_BUNDLING, **(context or {})},
        builtin_cloud_formation_validation=builtin_validation,
    )
