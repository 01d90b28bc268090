"""The CDK app's entry point (`app.py`, run by `cdk synth`): quiet start, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import app as cdk_app

ROOT = Path(__file__).resolve().parents[2]


def test_starting_the_app_prints_no_node_end_of_life_banner() -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "PIP_NO_COLOR")
    }
    started = subprocess.run(
        [sys.executable, "-c", "import app, aws_cdk; aws_cdk.App()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "end-of-life" not in started.stderr + started.stdout
    assert started.stderr == ""


def raise_unexpected(*_: object) -> object:
    raise RuntimeError("ValidationFailed: Validation failed.\nA copy of this report is here")


def test_an_unexpected_synth_error_is_one_line_with_a_debug_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CDK_DEBUG", raising=False)
    monkeypatch.setattr(cdk_app, "build", raise_unexpected)
    assert cdk_app.main(["-c", "env=dev"]) == 1
    assert capsys.readouterr().err == (
        "cronguard: unexpected RuntimeError: ValidationFailed: Validation failed. A copy of this "
        "report is here (run with --debug for the traceback)\n"
    )


@pytest.mark.parametrize(
    ("argv", "cdk_debug"), [(["--debug"], None), ([], "true")], ids=["--debug", "cdk --debug"]
)
def test_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], cdk_debug: str | None
) -> None:
    if cdk_debug is None:
        monkeypatch.delenv("CDK_DEBUG", raising=False)
    else:
        monkeypatch.setenv("CDK_DEBUG", cdk_debug)
    monkeypatch.setattr(cdk_app, "build", raise_unexpected)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        cdk_app.main(argv)
