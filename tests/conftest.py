"""What every test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cronguard_simulation.engine import service_models


@pytest.fixture(autouse=True, scope="session")
def _service_models_parsed_once() -> Iterator[None]:
    """moto gives every mock a new boto3 session, which would parse each botocore service model
    it uses again: most of a moto test's time (cronguard_simulation/engine/service_models.py)."""
    with service_models.parsed_once():
        yield
