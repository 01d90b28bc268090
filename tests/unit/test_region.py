"""Which region the CLI calls: config, then AWS_REGION, then AWS_DEFAULT_REGION, then the
profile (boto3 alone reads neither the first two nor says which one is missing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronguard.config import Environment
from cronguard.operations.environment import OperationError, resolve_region, session_for
from testkit.configs import NETWORK

VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def environment(region: str | None = None) -> Environment:
    return Environment.model_validate({"name": "dev", "region": region, "network": NETWORK})


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An AWS config file whose default profile has a region, and no region variables."""
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = ap-southeast-2\n")
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    return config


def test_the_environments_region_wins_over_everything(profile: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert session_for(environment("ap-northeast-1")).region_name == "ap-northeast-1"


def test_aws_region_is_read_although_boto3_ignores_it(profile: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert session_for(environment()).region_name == "eu-west-1"


def test_aws_default_region_comes_before_the_profile(profile: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert session_for(environment()).region_name == "us-west-2"


def test_the_profiles_region_is_the_last_resort(profile: Path) -> None:
    assert session_for(environment()).region_name == "ap-southeast-2"


def test_no_region_anywhere_names_all_four_places(profile: Path) -> None:
    profile.write_text("[default]\n")
    with pytest.raises(OperationError) as raised:
        session_for(environment())
    message = str(raised.value)
    assert message.startswith("no AWS region for environment 'dev': ")
    for place in ("environment's region", "AWS_REGION", "AWS_DEFAULT_REGION", "profile"):
        assert place in message


def test_an_empty_variable_does_not_count() -> None:
    assert resolve_region(environment(), {"AWS_REGION": ""}, "eu-north-1") == "eu-north-1"


def test_a_missing_profile_is_an_operation_error(profile: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(OperationError, match=r"\(nope\) could not be found: check AWS_PROFILE"):
        session_for(environment())
