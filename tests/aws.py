"""What several test suites need from a moto account: credentials and cronguard's tables."""

from __future__ import annotations

import pytest

from testkit.history import create_ledger_table as create_ledger_table  # shared with bench/

REGION = "us-east-1"


def use_fake_credentials(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Point boto3 at moto's fake account (never a real profile), plus ``variables``."""
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **variables,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
