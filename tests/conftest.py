"""What every test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cronguard_simulation.engine import service_models

FIRST_FOLDERS = ("tests/e2e/", "tests/infra/", "tests/cli/", "tests/local/", "tests/worker/")
"""The folders whose files xdist hands out first, a file of each in turn: the simulations
(e2e, cli: part of their time waiting on simulated tasks and retry intervals), the synths
and cfn-lint runs (infra, local: never waiting), the worker client's tests (mostly waiting
on its agent's clock)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """xdist gives its workers whole test files in collection order (`--dist loadfile
    --no-loadscope-reorder` in pyproject.toml). The long files go first, taken from each of
    ``FIRST_FOLDERS`` in turn, so that a simulation waiting on its tasks runs beside files that
    use the CPU; the short files last, to fill the end of the run. (xdist's own order, most
    tests first, sent the one-test simulations last, where one ran alone; the simulations all
    at once left a core half idle.) A file's tests keep their order."""
    turn: dict[str, int] = {}  # file -> its position among its folder's files
    taken: dict[int, int] = {}  # folder -> files of it so far

    def folder(path: str) -> int:
        starts = [path.startswith(first) for first in FIRST_FOLDERS]
        return starts.index(True) if True in starts else len(FIRST_FOLDERS)

    def rank(item: pytest.Item) -> tuple[bool, int, int]:
        path = item.nodeid.split("::")[0]
        where = folder(path)
        if path not in turn:
            turn[path] = taken[where] = taken.get(where, -1) + 1
        return (where == len(FIRST_FOLDERS), turn[path], where)

    items.sort(key=rank)


@pytest.fixture(autouse=True, scope="session")
def _service_models_parsed_once() -> Iterator[None]:
    """moto gives every mock a new boto3 session, which would parse each botocore service model
    it uses again: most of a moto test's time (cronguard_simulation/engine/service_models.py)."""
    with service_models.parsed_once():
        yield
