"""The package declares what it imports: the command's dependencies, and the simulation
(``cronguard_simulation``) as the optional ``simulate`` extra; ``cronguard simulate`` without it
says what to install. The wheel ships the command, the simulation and the handlers, and nothing
dev-only."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import grimp
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cronguard.extras import PROVIDED_BY, SIMULATE

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DEPENDENCIES = [Requirement(text) for text in PROJECT["dependencies"]]
EXTRAS = {
    extra: [Requirement(text) for text in texts]
    for extra, texts in PROJECT["optional-dependencies"].items()
}
SIMULATION = ROOT / "cronguard_simulation"  # the simulate extra's own code
# The packages of the wheel: the command, the simulate extra's code, the handlers it runs.
WHEEL_PACKAGES = ("cronguard", "cronguard_simulation", "lambdas")


def pins(*files: str) -> dict[str, Requirement]:
    """Each ``name==version`` line of the files (``-r``/``-c`` lines and comments skipped)."""
    found: dict[str, Requirement] = {}
    for file in files:
        for line in (ROOT / file).read_text().splitlines():
            text = line.split("#")[0].strip()
            if text and not text.startswith("-"):
                requirement = Requirement(text)
                found[canonicalize_name(requirement.name)] = requirement
    return found


def pinned_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"{requirement} is not an exact pin"
    return specifier.version


@pytest.mark.parametrize(
    "declared",
    [*DEPENDENCIES, *(requirement for extra in EXTRAS.values() for requirement in extra)],
    ids=str,
)
def test_each_declared_dependency_admits_its_pin_and_the_venv_has_it(declared):
    name = canonicalize_name(declared.name)
    pinned = pins("requirements.txt", "requirements-dev.txt")[name]
    constrained = pins("constraints.txt")[name]
    assert pinned_version(pinned) == pinned_version(constrained)
    assert declared.specifier.contains(pinned_version(pinned))
    assert declared.extras == pinned.extras  # moto's services
    assert declared.specifier.contains(metadata.version(declared.name))  # `make setup` did


TYPE_CHECKING_TESTS = {"TYPE_CHECKING", "typing.TYPE_CHECKING"}


def test_the_simulate_extra_is_the_distributions_that_provide_its_modules():
    assert {canonicalize_name(r.name) for r in EXTRAS[SIMULATE]} == {
        canonicalize_name(distribution) for distribution in PROVIDED_BY[SIMULATE].values()
    }
    for module, distribution in PROVIDED_BY[SIMULATE].items():
        provided = metadata.packages_distributions()[module]
        assert canonicalize_name(distribution) in {canonicalize_name(d) for d in provided}


def runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (never run: type stubs)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in TYPE_CHECKING_TESTS:
            for branch in node.orelse:
                yield branch
                yield from runtime_nodes(branch)
            continue
        yield node
        yield from runtime_nodes(node)


def test_imports_under_type_checking_are_not_run_time_imports() -> None:
    tree = ast.parse(
        "import boto3\n"
        "if TYPE_CHECKING:\n    import mypy_boto3_ecs\nelse:\n    import yaml\n"
        "def f():\n    import rich\n"
    )
    imported = {
        alias.name
        for node in runtime_nodes(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert imported == {"boto3", "yaml", "rich"}


def imported_distributions(paths: list[Path]) -> dict[str, set[str]]:
    """Third-party distribution -> the files importing one of its modules (at any level)."""
    providers = metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in runtime_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in (name.split(".")[0] for name in modules):
                if module in sys.stdlib_module_names or module in WHEEL_PACKAGES:
                    continue
                for distribution in providers.get(module, [f"<no distribution: {module}>"]):
                    found.setdefault(canonicalize_name(distribution), set()).add(
                        str(path.relative_to(ROOT))
                    )
    return found


def installed_with(requirements: list[Requirement]) -> set[str]:
    """The distributions ``requirements`` install, their own requirements included."""
    found: set[str] = set()
    queue = list(requirements)
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found.add(name)
        for text in metadata.requires(requirement.name) or []:
            nested = Requirement(text)
            if nested.marker is None or any(
                nested.marker.evaluate({"extra": extra}) for extra in requirement.extras or {""}
            ):
                queue.append(nested)
    return found


def test_the_command_imports_only_what_the_package_declares():
    code = list((ROOT / "cronguard").rglob("*.py"))
    # The runtime modules the command reaches, however indirectly (grimp, import-linter's
    # graph); the simulation is left out of the graph: it is the simulate extra's (below).
    graph = grimp.build_graph("cronguard", "lambdas")
    reached = graph.find_upstream_modules("cronguard", as_package=True)
    paths = (ROOT / module.replace(".", "/") for module in reached)
    contracts = [
        path / "__init__.py" if path.is_dir() else path.with_suffix(".py") for path in paths
    ]
    assert all(path.is_file() for path in contracts), contracts
    assert ROOT / "lambdas" / "core" / "schedule.py" in contracts  # the graph was read
    undeclared = {
        distribution: files
        for distribution, files in imported_distributions(code + contracts).items()
        if distribution not in installed_with(DEPENDENCIES)
    }
    assert undeclared == {}


def test_the_simulation_imports_only_what_the_simulate_extra_adds():
    code = [
        *SIMULATION.rglob("*.py"),
        *(ROOT / "lambdas").rglob("*.py"),  # the handlers it runs in-process
    ]
    undeclared = {
        distribution: files
        for distribution, files in imported_distributions(code).items()
        if distribution not in installed_with(DEPENDENCIES + EXTRAS[SIMULATE])
    }
    assert undeclared == {}


def wheel_files(tmp_path: Path) -> list[str]:
    """The files of the wheel ``pip install .`` builds, from a copy of the checkout (a build
    writes build/ and *.egg-info beside the sources)."""
    source, out = tmp_path / "checkout", tmp_path / "wheel"
    skipped = (".git", ".venv", "node_modules", "cdk.out", "build", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*skipped, ".*_cache"))
    built = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--no-index", "--wheel-dir", str(out), str(source)),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (file,) = out.glob("cronguard-*.whl")
    with zipfile.ZipFile(file) as archive:
        return archive.namelist()


def test_the_wheel_ships_every_module_of_its_packages_and_nothing_dev_only(tmp_path):
    modules = {
        path.relative_to(ROOT).as_posix()
        for package in WHEEL_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert {module.split("/")[0] for module in modules} == set(WHEEL_PACKAGES)
    assert {name for name in wheel_files(tmp_path) if name.endswith(".py")} == modules


BLOCKED = """
import sys

class WithoutTheExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == {module!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, WithoutTheExtra())
from cronguard.cli import main
main({args!r})
"""


def without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``cronguard ARGS`` in a Python where ``module`` cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", BLOCKED.format(module=module, args=list(args))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("module", "distribution"), sorted(PROVIDED_BY[SIMULATE].items()))
def test_simulate_without_the_extra_says_what_to_install_in_one_line(module, distribution):
    ran = without(module, "simulate", "--env", "dev")

    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.splitlines() == [
        f"error: cronguard simulate needs the optional 'simulate' extra, and {distribution} "
        "is not installed: pip install 'cronguard[simulate]' (make setup installs it)"
    ]
    assert ran.stdout == ""


def test_the_command_runs_without_the_extra():
    for module in PROVIDED_BY[SIMULATE]:
        ran = without(module, "--help")
        assert (ran.returncode, ran.stderr) == (0, "")
        assert "simulate" in ran.stdout
