"""The slot watch's jobs.json: deterministic bytes from config, read back exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lambdas.core.missed import JobSchedule
from lambdas.slot_watch.manifest import (
    Manifest,
    ManifestError,
    WatchedJob,
    load,
    parse,
    render,
)

NIGHTLY = WatchedJob(
    name="nightly",
    state_machine="dev-nightly",
    schedule=JobSchedule(
        "cron(30 2 * * ? *)",
        timezone="Europe/Berlin",
        flexible_window=timedelta(minutes=10),
        start=datetime(2026, 1, 1, tzinfo=UTC),
    ),
    catch_up=timedelta(hours=6),
)
POLL = WatchedJob(
    name="poll", state_machine="dev-poll", schedule=JobSchedule("rate(5 minutes)"), enabled=False
)


def test_a_manifest_reads_back_as_written() -> None:
    manifest = Manifest(environment="dev", retention=timedelta(days=7), jobs=(NIGHTLY, POLL))
    assert parse(render(manifest)) == manifest


def test_the_bytes_do_not_depend_on_the_order_of_the_jobs() -> None:
    one = Manifest(environment="dev", retention=timedelta(days=7), jobs=(POLL, NIGHTLY))
    other = Manifest(environment="dev", retention=timedelta(days=7), jobs=(NIGHTLY, POLL))
    assert render(one) == render(other)
    assert [job["name"] for job in json.loads(render(one))["jobs"]] == ["nightly", "poll"]


def test_the_fingerprint_says_whether_the_job_is_enabled() -> None:
    assert NIGHTLY.fingerprint.endswith(":enabled")
    assert POLL.fingerprint == "rate(5 minutes) UTC :disabled"


def test_a_broken_manifest_names_the_job_and_the_field(tmp_path: Path) -> None:
    document = json.loads(
        render(Manifest(environment="dev", retention=timedelta(days=7), jobs=(NIGHTLY,)))
    )
    document["jobs"][0]["schedule"] = "cron(0 3 * *)"
    with pytest.raises(ManifestError, match="job 'nightly': cron\\(0 3 \\* \\*\\): expected 6"):
        parse(json.dumps(document))
    del document["jobs"][0]["enabled"]
    document["jobs"][0]["schedule"] = "rate(1 hour)"
    with pytest.raises(ManifestError, match="job 'nightly': 'enabled' is missing"):
        parse(json.dumps(document))
    document["jobs"][0]["enabled"] = "yes"
    with pytest.raises(ManifestError, match="'enabled' has the wrong type \\(str\\)"):
        parse(json.dumps(document))
    with pytest.raises(ManifestError, match=r"cannot read the jobs manifest .*missing\.json"):
        load(str(tmp_path / "missing.json"))
