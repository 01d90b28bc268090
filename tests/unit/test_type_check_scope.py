"""mypy reads only the aws_cdk modules cronguard imports (pyproject.toml): every other one is
skipped, so a module imported later but not listed would be checked as Any without a word.
This keeps the list equal to what the checked code imports."""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MYPY = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]


def followed_cdk_modules() -> set[str]:
    overrides: list[dict[str, Any]] = MYPY["overrides"]
    (followed,) = [
        section
        for section in overrides
        if section.get("follow_imports") == "normal" and "aws_cdk" in section["module"]
    ]
    return set(followed["module"])


def imported_cdk_modules() -> set[str]:
    """Each aws_cdk module the type-checked files import (``from aws_cdk import aws_iam``
    names a module too), with the packages that hold them."""
    found: set[str] = set()
    for root in MYPY["files"]:
        path = ROOT / root
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {a.name for a in node.names if a.name.split(".")[0] == "aws_cdk"}
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aws_cdk"):
                    found.add(str(node.module))
                    found |= {
                        f"{node.module}.{a.name}"
                        for a in node.names
                        if _is_module(f"{node.module}.{a.name}")
                    }
    return found | {parent for name in found for parent in _parents(name)}


def _is_module(name: str) -> bool:
    """Whether ``name`` is a package of the installed aws_cdk (``from aws_cdk import aws_iam``
    imports one, ``from aws_cdk import Stack`` a class), found without importing aws_cdk."""
    spec = importlib.util.find_spec("aws_cdk")
    assert spec is not None and spec.origin is not None
    root = Path(spec.origin).parent
    return (root.joinpath(*name.split(".")[1:]) / "__init__.py").is_file()


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def test_mypy_reads_exactly_the_cdk_modules_the_code_imports() -> None:
    imported = imported_cdk_modules()
    assert "aws_cdk.aws_iam" in imported  # the scan sees `from aws_cdk import aws_iam as iam`
    assert followed_cdk_modules() == imported
