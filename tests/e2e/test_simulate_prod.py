"""`cronguard simulate` for every sample job of prod (dev: test_simulate.py)."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest

import app as cdk_app
from tests.e2e.test_simulate import simulate_every_job


@pytest.fixture(scope="module")
def prod_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("prod") / "cdk.out"
    synthesized = cdk.App(
        outdir=str(outdir), context={"env": "prod", "aws:cdk:bundling-stacks": []}
    )
    cdk_app.build(synthesized)
    synthesized.synth()
    return outdir


def test_every_job_of_prod_holds_every_guarantee(prod_assembly: Path) -> None:
    simulate_every_job(prod_assembly, "prod")
