"""botocore's service models, parsed once per process.

Every botocore session gets its own loader, and a loader parses each service model it is asked
for (EC2's alone is megabytes of JSON). moto gives every mock a new boto3 default session, so a
process that starts many mocks (the simulation, the tests) parses the same models again and
again: a large share of its time. The models are read-only once loaded, so every session made
inside `parsed_once()` shares one loader.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.loaders
import botocore.session

_shared: botocore.loaders.Loader | None = None
_lock = threading.Lock()


def _shared_loader() -> botocore.loaders.Loader:
    global _shared
    with _lock:
        if _shared is None:
            _shared = botocore.loaders.create_loader()
        return _shared


@contextmanager
def parsed_once() -> Iterator[None]:
    """Sessions created inside share one loader (a session given its own `AWS_DATA_PATH`
    keeps its own)."""
    original: Any = botocore.session.create_loader

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        if search_path_string is None:
            return _shared_loader()
        loader: botocore.loaders.Loader = original(search_path_string)
        return loader

    botocore.session.create_loader = create_loader
    try:
        yield
    finally:
        botocore.session.create_loader = original
