"""What every test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cronguard_simulation.engine import service_models

LONG_FILES_FIRST = ("tests/e2e/", "tests/cli/", "tests/infra/", "tests/local/")
"""The folders whose test files take longest (simulations, then synths and cfn-lint), in the
order xdist hands their files out."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """xdist gives its workers whole test files in collection order (`--dist loadfile
    --no-loadscope-reorder` in pyproject.toml): the long files first, so that the short ones
    fill the end of the run instead of a long one running alone. (xdist's own order, most
    tests first, sent the one-test simulations last.) Stable: a file's tests keep their order."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        starts = [path.startswith(folder) for folder in LONG_FILES_FIRST]
        return starts.index(True) if True in starts else len(LONG_FILES_FIRST)

    items.sort(key=rank)


@pytest.fixture(autouse=True, scope="session")
def _service_models_parsed_once() -> Iterator[None]:
    """moto gives every mock a new boto3 session, which would parse each botocore service model
    it uses again: most of a moto test's time (cronguard_simulation/engine/service_models.py)."""
    with service_models.parsed_once():
        yield
