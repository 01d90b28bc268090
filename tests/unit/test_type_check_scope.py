"""mypy reads only the aws_cdk and moto modules cronguard imports (pyproject.toml): every other
one is skipped, so a module imported later but not listed would be checked as Any without a
word. This keeps each list equal to what the checked code imports."""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MYPY = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
SCOPED = ("aws_cdk", "moto")
"""The packages mypy skips (``follow_imports = "skip"`` for ``<package>.*``) but for a list."""


def followed_modules(package: str) -> set[str]:
    overrides: list[dict[str, Any]] = MYPY["overrides"]
    (followed,) = [
        section
        for section in overrides
        if section.get("follow_imports") == "normal" and package in section["module"]
    ]
    return set(followed["module"])


def skipped_packages() -> set[str]:
    overrides: list[dict[str, Any]] = MYPY["overrides"]
    return {
        module.removesuffix(".*")
        for section in overrides
        if section.get("follow_imports") == "skip"
        for module in section["module"]
    }


def imported_modules(package: str) -> set[str]:
    """Each module of ``package`` the type-checked files import (``from aws_cdk import
    aws_iam`` names a module too), with the packages that hold them."""
    found: set[str] = set()
    for root in MYPY["files"]:
        path = ROOT / root
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {a.name for a in node.names if a.name.split(".")[0] == package}
                elif (
                    isinstance(node, ast.ImportFrom)
                    and (node.module or "").split(".")[0] == package
                ):
                    found.add(str(node.module))
                    found |= {
                        f"{node.module}.{a.name}"
                        for a in node.names
                        if _is_module(f"{node.module}.{a.name}")
                    }
    return found | {parent for name in found for parent in _parents(name)}


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module of the installed package (``from aws_cdk import aws_iam``
    imports one, ``from aws_cdk import Stack`` a class), found without importing the package."""
    package, *inside = name.split(".")
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    where = Path(spec.origin).parent.joinpath(*inside)
    return (where / "__init__.py").is_file() or where.with_suffix(".py").is_file()


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def test_the_scoped_packages_are_the_skipped_ones() -> None:
    assert skipped_packages() == set(SCOPED)


@pytest.mark.parametrize("package", SCOPED)
def test_mypy_reads_exactly_the_modules_the_code_imports(package: str) -> None:
    imported = imported_modules(package)
    # the scan sees `from aws_cdk import aws_iam as iam`, and moto's interpreter modules
    assert {"aws_cdk": "aws_cdk.aws_iam", "moto": "moto.stepfunctions.parser.api"}[
        package
    ] in imported
    assert followed_modules(package) == imported
