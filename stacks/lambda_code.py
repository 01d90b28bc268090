"""The Lambda code asset: ``lambdas/`` plus its pinned dependencies, bundled without Docker.

Local bundling copies the runtime package and runs ``pip install --platform`` for the
Lambda runtime into the asset; the Docker image is only CDK's fallback and is never pulled
when local bundling succeeds. Tests skip bundling entirely (``aws:cdk:bundling-stacks``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parents[1]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_14
PIP_PLATFORM = ["--platform", "manylinux2014_x86_64", "--implementation", "cp"]
PIP_PYTHON_VERSION = "3.14"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "tests")


@jsii.implements(ILocalBundling)
class LocalPipBundling:
    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        out = Path(output_dir)
        shutil.copytree(LAMBDAS_DIR, out / "lambdas", ignore=IGNORED, dirs_exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                "-r",
                str(LAMBDAS_DIR / "requirements.txt"),
                "--target",
                str(out),
                *PIP_PLATFORM,
                "--python-version",
                PIP_PYTHON_VERSION,
                "--only-binary=:all:",
            ],
            check=True,
        )
        return True


EXCLUDE = ["__pycache__", "*.pyc"]


def _bundling() -> BundlingOptions:
    return BundlingOptions(
        image=RUNTIME.bundling_image,
        local=LocalPipBundling(),
        command=["false"],  # never used: local bundling always answers
    )


def lambda_code() -> lambda_.Code:
    """The code of a Lambda built with the CDK's ``lambda_.Function``."""
    return lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=EXCLUDE, bundling=_bundling())


def lambda_code_asset(scope: Construct, construct_id: str) -> s3_assets.Asset:
    """The same code as an S3 asset, for the functions of rendered job stacks (the same
    hash as ``lambda_code()``'s, so it is bundled and uploaded once)."""
    return s3_assets.Asset(
        scope, construct_id, path=str(LAMBDAS_DIR), exclude=EXCLUDE, bundling=_bundling()
    )
