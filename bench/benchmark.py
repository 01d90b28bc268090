"""cronguard's cost, measured here, each figure beside a baseline measured in the same run.

    .venv/bin/python bench/benchmark.py            # everything (about 8 minutes on 2 cores)
    .venv/bin/python bench/benchmark.py --quick    # fewer jobs and runs

Prints five tables:

1. synth time and resource count for N jobs, beside N ``ScheduledFargateTask`` (the CDK's
   own scheduled-container construct), and the per-job cost ratio;
2. Step Functions state transitions per normal run and per skipped duplicate, counted from
   the local engine's execution history of the synthesized definition;
3. AWS API calls the guard makes per decision (run, duplicate, overlap);
4. the guard's cold import time in a fresh interpreter (beside ``import boto3``, which
   every Python Lambda pays anyway) and the bundled asset's size;
5. cfn-lint over every template of the largest app (the tests lint one job stack of it).

Figures are min / median of several runs: these machines are noisy, so targets are read
from here, never asserted in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

console = Console(width=140)

TARGETS = {
    "transitions_run": 5,
    "transitions_duplicate": 3,
    "cold_import_ms": 300,
    "duplicate_calls": 2,
    "synth_ratio": 1.5,
}


def spread(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    low, middle = min(values) * scale, statistics.median(values) * scale
    return f"{low:.2f} / {middle:.2f} {unit}"


# --- 1. synth -------------------------------------------------------------------------------


def synth_once(kind: str, jobs: int) -> dict[str, float]:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "synth_once.py"),
            "--kind",
            kind,
            "--jobs",
            str(jobs),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CDK_VALIDATION": "false"},
    )
    figures: dict[str, float] = json.loads(result.stdout)
    return figures


def synth_table(job_counts: list[int], runs: int) -> Table:
    table = Table(title="1. synth (fresh process each run; no bundling, no cdk-nag)")
    for column in (
        "jobs",
        "cronguard min / median",
        "resources",
        "ScheduledFargateTask min / median",
        "resources",
        "per-job cost vs baseline",
    ):
        table.add_column(column, justify="right")
    fastest: dict[tuple[str, int], float] = {}
    for jobs in job_counts:
        row: list[str] = [str(jobs)]
        # Runs alternate between the two kinds, so a slow spell of the machine hits both.
        samples: dict[str, list[dict[str, float]]] = {"cronguard": [], "baseline": []}
        for _ in range(runs):
            for kind in samples:
                samples[kind].append(synth_once(kind, jobs))
        for kind, taken in samples.items():
            seconds = [sample["seconds"] for sample in taken]
            fastest[kind, jobs] = min(seconds)
            row += [spread(seconds), str(int(taken[0]["resources"]))]
        smallest = job_counts[0]
        if jobs == smallest:
            row.append("(fixed cost)")
        else:
            # Marginal cost per job: the slope from the smallest app, so the fixed cost of
            # each app (the environment's shared resources, process start) cancels out. From
            # the fastest runs: noise on these machines only ever adds time.
            ours = (fastest["cronguard", jobs] - fastest["cronguard", smallest]) / (jobs - smallest)
            theirs = (fastest["baseline", jobs] - fastest["baseline", smallest]) / (jobs - smallest)
            row.append(f"{ours * 1000:.1f} ms vs {theirs * 1000:.1f} ms = {ours / theirs:.2f}x")
        table.add_row(*row)
        console.print(f"  synth {jobs} jobs done", style="dim")
    table.caption = f"target: per-job cost ≤ {TARGETS['synth_ratio']}x ScheduledFargateTask"
    return table


# --- 5. cfn-lint over every template --------------------------------------------------------


def lint_table(jobs: int) -> Table:
    """cfn-lint over every template of ``jobs`` jobs. The tests lint the environment's stack
    and one full job stack (every job stack is rendered by the same code); this lints all."""
    table = Table(title=f"5. cfn-lint over all templates of {jobs} jobs")
    for column in ("templates", "resources", "cfn-lint", "result"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as outdir:
        subprocess.run(
            [
                *(sys.executable, str(ROOT / "bench" / "synth_once.py"), "--kind", "cronguard"),
                *("--jobs", str(jobs), "--outdir", outdir),
            ],
            capture_output=True,
            check=True,
            env={**os.environ, "CDK_VALIDATION": "false"},
        )
        templates = sorted(Path(outdir).glob("*.template.json"))
        resources = sum(len(json.loads(path.read_text())["Resources"]) for path in templates)
        started = time.perf_counter()
        linted = subprocess.run(
            [
                *(str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005"),
                *("--", *(str(path) for path in templates)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
    result = "pass" if linted.returncode == 0 else f"FAIL: {linted.stdout[-500:]}"
    table.add_row(str(len(templates)), str(resources), f"{seconds:.1f} s", result)
    return table


# --- 2 and 3. the local engine ----------------------------------------------------------------

_calls = threading.local()


@contextmanager
def counting_api_calls() -> Iterator[Callable[[], list[str]]]:
    """Record every AWS API call the guard makes, in the thread that runs it."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counted(self: Any, operation: str, params: Any) -> Any:
        recorder = getattr(_calls, "recorder", None)
        if recorder is not None:
            recorder.append(operation)
        return original(self, operation, params)

    BaseClient._make_api_call = counted
    try:
        yield lambda: list(getattr(_calls, "recorder", []) or [])
    finally:
        BaseClient._make_api_call = original


def engine_tables() -> tuple[Table, Table]:
    import aws_cdk as cdk

    import app as cdk_app
    from cronguard.config import load_environment
    from cronguard.local import LocalAws, TaskScript
    from cronguard.simulation.deploy import LocalEnvironment
    from lambdas.guard import handler as guard_handler

    environment = load_environment("dev")
    assembly = Path(tempfile.mkdtemp()) / "cdk.out"
    app = cdk.App(outdir=str(assembly), context={"env": "dev", "aws:cdk:bundling-stacks": []})
    cdk_app.build(app)
    app.synth()

    decisions: dict[str, list[list[str]]] = {}
    original_handler = guard_handler.lambda_handler

    def recording_guard(event: dict[str, Any], context: Any) -> Any:
        _calls.recorder = []
        try:
            answer = original_handler(event, context)
        finally:
            made, _calls.recorder = _calls.recorder, None
        if event.get("action") == "claim":
            kind = answer["reason"] if answer["action"] == "skip" else "run"
            decisions.setdefault(kind, []).append(made)
        return answer

    guard_handler.lambda_handler = recording_guard  # the engine resolves the handler by name
    try:
        with counting_api_calls(), LocalAws(default_task_script=TaskScript(0.5)) as aws:
            local = LocalEnvironment(aws, environment, assembly).deploy()
            job = local.jobs["nightly-report"]
            slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            text = slot.strftime("%Y-%m-%dT%H:%M:%SZ")
            nxt = (slot + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            aws.script_tasks(job.task_definition_arn, TaskScript(duration_seconds=2))
            run = aws.start(job.state_machine_arn, "bench-run", {"scheduledTime": text})
            while not aws.tasks_started(job.task_definition_arn):
                pass
            overlap = aws.run(job.state_machine_arn, "bench-overlap", {"scheduledTime": nxt})
            aws.wait(run)
            duplicate = aws.run(job.state_machine_arn, "bench-duplicate", {"scheduledTime": text})
            transitions = {
                "normal run": aws.state_transitions(run),
                "skipped duplicate": aws.state_transitions(duplicate["executionArn"]),
                "skipped overlap": aws.state_transitions(overlap["executionArn"]),
            }
    finally:
        guard_handler.lambda_handler = original_handler

    transitions_table = Table(title="2. state transitions (states entered, local engine)")
    transitions_table.add_column("execution")
    transitions_table.add_column("transitions", justify="right")
    transitions_table.add_column("target", justify="right")
    targets = {
        "normal run": TARGETS["transitions_run"],
        "skipped duplicate": TARGETS["transitions_duplicate"],
    }
    for name, count in transitions.items():
        target = targets.get(name)
        transitions_table.add_row(name, str(count), f"≤ {target}" if target else "-")

    calls_table = Table(title="3. AWS API calls per guard decision")
    calls_table.add_column("decision")
    calls_table.add_column("calls", justify="right")
    calls_table.add_column("which")
    for kind in ("run", "duplicate", "overlap"):
        made = decisions.get(kind, [[]])[0]
        calls_table.add_row(kind, str(len(made)), ", ".join(made))
    calls_table.caption = f"target: ≤ {TARGETS['duplicate_calls']} calls for a duplicate"
    return transitions_table, calls_table


# --- 4. the guard itself --------------------------------------------------------------------

IMPORT_TIMER = (
    "import time; started = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - started)"
)


def cold_import(module: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_TIMER.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "0"},
    )
    return float(result.stdout.strip())


def asset_size() -> tuple[int, int] | None:
    import aws_cdk as cdk

    from stacks.lambda_code import LocalPipBundling

    out = Path(tempfile.mkdtemp())
    try:
        LocalPipBundling().try_bundle(str(out), image=cdk.DockerImage.from_registry("unused"))
    except subprocess.CalledProcessError:
        return None  # no package index reachable
    files = [path for path in out.rglob("*") if path.is_file()]
    return sum(path.stat().st_size for path in files), len(files)


def guard_table(runs: int) -> Table:
    cold_import("lambdas.guard.handler")  # compile bytecode once, as a deployed asset has
    guard = [cold_import("lambdas.guard.handler") for _ in range(runs)]
    boto = [cold_import("boto3") for _ in range(runs)]
    table = Table(title="4. the guard Lambda")
    table.add_column("figure")
    table.add_column("min / median", justify="right")
    table.add_column("baseline (same run)", justify="right")
    table.add_row(
        "cold import of lambdas.guard.handler",
        spread(guard, "ms", 1000),
        f"import boto3: {spread(boto, 'ms', 1000)}; ratio "
        f"{statistics.median(guard) / statistics.median(boto):.2f}x",
    )
    size = asset_size()
    table.add_row(
        "bundled asset (code + Powertools)",
        f"{size[0] / 1e6:.1f} MB, {size[1]} files" if size else "no package index reachable",
        "-",
    )
    table.caption = f"target: cold import ≤ {TARGETS['cold_import_ms']} ms median"
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 25 jobs, 2 runs")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    job_counts = [1, 25] if args.quick else [1, 25, 100, 250]
    runs = 2 if args.quick else args.runs
    console.print(
        f"cronguard benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores"
    )
    console.print(guard_table(max(runs, 5) * 2))
    for table in engine_tables():
        console.print(table)
    console.print(synth_table(job_counts, runs))
    console.print(lint_table(job_counts[-1]))


if __name__ == "__main__":
    main()
