"""Who is doing the work: task and container identity from the ECS task metadata endpoint v4."""

from __future__ import annotations

import http.client
import json
import logging
import os
import urllib.request
from dataclasses import dataclass
from typing import Any

_log = logging.getLogger("cronguard_worker")

UNKNOWN = "unknown"


@dataclass(frozen=True)
class TaskMetadata:
    task_arn: str = UNKNOWN
    cluster: str = UNKNOWN
    container_id: str = UNKNOWN
    container_name: str = UNKNOWN

    @classmethod
    def from_environment(cls, *, timeout_seconds: float = 2.0) -> TaskMetadata:
        """Read ``$ECS_CONTAINER_METADATA_URI_V4`` (``/task`` and the container document).

        Anything missing becomes ``"unknown"``: history must still be written
        outside ECS or when the endpoint misbehaves.
        """
        uri = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
        if not uri:
            _log.info("ECS_CONTAINER_METADATA_URI_V4 is not set: task identity is 'unknown'")
            return cls()
        base = uri.rstrip("/")
        task = _get_json(base + "/task", timeout_seconds)
        container = _get_json(base, timeout_seconds)
        return cls(
            task_arn=_text(task, "TaskARN"),
            cluster=_text(task, "Cluster"),
            container_id=_text(container, "DockerId"),
            container_name=_text(container, "Name"),
        )


def _get_json(url: str, timeout_seconds: float) -> dict[str, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_seconds) as response:
            doc = json.loads(response.read())
    except (OSError, ValueError, http.client.HTTPException) as err:
        _log.warning("task metadata unavailable from %s: %s", url, err)
        return {}
    return doc if isinstance(doc, dict) else {}


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    return value if isinstance(value, str) and value else UNKNOWN
