"""`cronguard simulate` for every sample job of prod (dev: test_simulate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.assemblies import environment_assembly
from tests.e2e.test_simulate import simulate_every_job


@pytest.fixture(scope="module")
def prod_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return environment_assembly(tmp_path_factory, "prod")


def test_every_job_of_prod_holds_every_guarantee(prod_assembly: Path) -> None:
    simulate_every_job(prod_assembly, "prod")
