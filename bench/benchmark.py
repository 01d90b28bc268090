"""cronguard's cost, measured here, each figure beside a baseline measured in the same run.

    .venv/bin/python bench/benchmark.py            # everything (about 20 minutes on 2 cores)
    .venv/bin/python bench/benchmark.py --quick    # 1 and 50 jobs, 1 run: a smoke check

Prints these tables:

1. the real ``npx cdk synth -c env=bench`` as a whole process (the CLI, app.py, cdk-nag's
   AwsSolutions checks and the CDK's built-in validation: what ``make demo`` runs) for 1, 50,
   250 and 1,000 generated jobs, beside an app of N ``ScheduledFargateTask`` (the CDK's own
   scheduled-container construct) with the same AwsSolutions checks, runs alternated: time,
   peak memory, templates, the largest template's bytes and resources, per-job slope, ratio;
1b. where cronguard's synth time goes (render only, building the app, cdk-nag alone);
2. Step Functions state transitions per normal run and per skipped duplicate, counted from
   the local engine's execution history of the synthesized definition;
3. AWS API calls the guard makes per decision (run, duplicate, overlap);
4. the guard's cold import time in a fresh interpreter (beside ``import boto3``, which
   every Python Lambda pays anyway) and the bundled asset's size;
5. cfn-lint over every template of the 250-job app (the tests lint one job stack of it).

Figures are min / median of several runs: these machines are noisy, so targets are read
from here, never asserted in timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")

console = Console(width=170)

TARGETS = {
    "transitions_run": 5,
    "transitions_duplicate": 3,
    "cold_import_ms": 300,
    "duplicate_calls": 2,
    "synth_ratio": 1.5,
    "synth_1000_seconds": 180.0,
}


def spread(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    low, middle = min(values) * scale, statistics.median(values) * scale
    return f"{low:.2f} / {middle:.2f} {unit}"


# --- 1. synth: the real `npx cdk synth`, as a whole process ----------------------------------

NETWORK = {
    "vpc_id": "vpc-0123456789abcdef0",
    "subnet_ids": ["subnet-0123456789abcdef0"],
    "security_group_ids": ["sg-0123456789abcdef0"],
}
# A hash bucket of 1,000 jobs over the default 32 job stacks holds 40 jobs, more than the 35
# that fit one (synth stops and says so; issue 16), so the largest app gets the maximum, 64.
JOB_STACKS_FROM = {1000: 64}
CDK = ROOT / "node_modules" / ".bin" / "cdk"
APP = f"{Path(sys.executable)} {ROOT / 'bench' / 'cdk_app.py'}"
TEMPLATE_BYTES_LIMIT = 1_000_000  # CloudFormation: 1 MB for a template in S3
TEMPLATE_RESOURCES_LIMIT = 500


def generated_config(root: Path, count: int) -> Path:
    """``count`` jobs in environment ``bench``, as tests/infra/test_scale.py generates them."""
    jobs = {
        f"job-{i:03d}": {"schedule": f"cron({i % 60} {i % 24} * * ? *)", "image": "repo/job:1"}
        for i in range(count)
    }
    environment: dict[str, Any] = {"network": NETWORK}
    stacks = max((n for threshold, n in JOB_STACKS_FROM.items() if count >= threshold), default=0)
    if stacks:
        environment["job_stacks"] = stacks
    (root / "environments").mkdir(parents=True)
    (root / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
    (root / "environments" / "bench.yaml").write_text(yaml.safe_dump(environment))
    return root


def _tree_rss(root_pid: int) -> int:
    """Resident bytes of a process and all its descendants now (from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    total = 0
    for pid in tree:
        try:
            total += int((Path("/proc") / str(pid) / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE")


def run_measured(command: list[str], env: dict[str, str], log: Path) -> dict[str, float]:
    """Wall time, the largest single process's peak RSS (wait4) and the peak of the whole
    process tree's RSS (sampled every 0.2 s) of one command."""
    with log.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)
        peak_tree = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not done.wait(0.2):
                peak_tree = max(peak_tree, _tree_rss(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{log.read_text()[-3000:]}")
    return {
        "seconds": seconds,
        "peak_process_mb": usage.ru_maxrss / 1024,  # KB on Linux
        "peak_tree_mb": peak_tree / 2**20,
    }


def templates_of(outdir: Path) -> dict[str, float]:
    templates = list(outdir.glob("*.template.json"))
    sizes = [path.stat().st_size for path in templates]
    counts = [len(json.loads(path.read_text())["Resources"]) for path in templates]
    return {
        "templates": len(templates),
        "resources": sum(counts),
        "largest_bytes": max(sizes),
        "largest_resources": max(counts),
    }


def counters_of(outdir: Path, seconds: float) -> dict[str, float]:
    counters = json.loads((outdir / "performance-counters.json").read_text())["counters"]
    construct = counters["phase:Construction"] / 1000  # App() to app.synth(): the Python app
    synthesis, validate = counters["phase:Synthesis"] / 1000, counters["validateTemplates"] / 1000
    cfn_validate = counters.get("CloudFormationValidate.validate", 0) / 1000
    return {
        "construct": construct,
        "write": synthesis - validate,
        "nag": validate - cfn_validate,
        "cfn_validate": cfn_validate,
        "outside": seconds - construct - synthesis,  # CLI, Python, imports, jsii loading
    }


class Synth:
    """Runs ``npx cdk synth`` of either app into a fresh output folder each time."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runs = 0
        self.last = workdir
        self.assets = workdir / "assets"  # the bundled Lambda code, as a user's cdk.out holds it

    def env(self, config: Path) -> dict[str, str]:
        return {**os.environ, "CRONGUARD_CONFIG": str(config), "CI": "true"}

    def command(self, kind: str, jobs: int, outdir: Path) -> list[str]:
        app = f"{APP} cronguard" if kind == "cronguard" else f"{APP} baseline --jobs {jobs}"
        return [
            *(str(CDK), "synth", "--quiet", "--app", app, "-c", "env=bench"),
            # The CDK writes its performance counters (performance-counters.json) only for a
            # synth slower than this per stack (10 s by default): always, here.
            *("-c", "@aws-cdk/core.slowSynthThreshold=0", "-o", str(outdir)),
        ]

    def warm_up(self, config: Path) -> None:
        """One untimed synth of each kind: the cronguard one bundles the Lambda code (pip,
        once per code change; cached in cdk.out as for any user), later runs reuse it."""
        self.once("cronguard", 1, config, keep=True)
        kept = self.last
        self.once("baseline", 1, config)
        self.assets.mkdir()
        for asset in kept.glob("asset.*"):
            asset.rename(self.assets / asset.name)
        shutil.rmtree(kept)

    def once(self, kind: str, jobs: int, config: Path, keep: bool = False) -> dict[str, float]:
        self.runs += 1
        outdir = self.last = self.workdir / f"run-{self.runs}"
        outdir.mkdir()
        if kind == "cronguard" and self.assets.exists():
            for asset in self.assets.iterdir():
                (outdir / asset.name).symlink_to(asset)
        log = self.workdir / f"run-{self.runs}.log"
        figures = run_measured(self.command(kind, jobs, outdir), self.env(config), log)
        figures.update(templates_of(outdir))
        figures.update(counters_of(outdir, figures["seconds"]))
        if not keep:
            shutil.rmtree(outdir)
        return figures


def slope(
    samples: dict[int, list[float]], jobs: int, smallest: int, pick: Callable[[list[float]], float]
) -> float:
    """Marginal cost per job: the slope from the smallest app, so each app's fixed cost (the
    environment's shared resources, the processes starting) cancels out."""
    return (pick(samples[jobs]) - pick(samples[smallest])) / (jobs - smallest)


def synth_tables(job_counts: list[int], runs: int, workdir: Path) -> tuple[Table, Table, Path]:
    synth = Synth(workdir)
    configs = {jobs: generated_config(workdir / f"config-{jobs}", jobs) for jobs in job_counts}
    synth.warm_up(configs[job_counts[0]])
    kinds = ("cronguard", "baseline")
    seconds: dict[str, dict[int, list[float]]] = {kind: {} for kind in kinds}
    last: dict[tuple[str, int], dict[str, float]] = {}
    memory: dict[tuple[str, int], list[float]] = {}
    phases: dict[tuple[str, int], list[dict[str, float]]] = {}
    lint_jobs = LINT_JOBS if LINT_JOBS in job_counts else job_counts[-1]
    lint_dir = workdir / "lint"
    for jobs in job_counts:
        for run in range(runs):
            # Alternate the two kinds (and which goes first), so a slow spell of this shared
            # machine hits both.
            for kind in kinds if run % 2 == 0 else kinds[::-1]:
                keep = kind == "cronguard" and jobs == lint_jobs and not lint_dir.exists()
                figures = synth.once(kind, jobs, configs[jobs], keep=keep)
                if keep:
                    synth.last.rename(lint_dir)
                seconds[kind].setdefault(jobs, []).append(figures["seconds"])
                memory.setdefault((kind, jobs), []).append(figures["peak_tree_mb"])
                phases.setdefault((kind, jobs), []).append(figures)
                last[kind, jobs] = figures
                console.print(
                    f"  synth {kind} {jobs} jobs, run {run + 1}: {figures['seconds']:.1f} s",
                    style="dim",
                )

    table = Table(
        title="1. npx cdk synth -c env=… as a whole process, cdk-nag (AwsSolutions) on both sides"
    )
    for column in (
        "jobs",
        "app",
        "min / median",
        "peak memory (tree / largest process)",
        "templates",
        "resources",
        "largest template",
        "per-job slope from 1 job (min; median)",
    ):
        table.add_column(column, justify="right")
    smallest = job_counts[0]
    for jobs in job_counts:
        for kind in kinds:
            figures = last[kind, jobs]
            if jobs == smallest:
                per_job = "(fixed cost)"
            else:
                low = slope(seconds[kind], jobs, smallest, min)
                middle = slope(seconds[kind], jobs, smallest, statistics.median)
                per_job = f"{low * 1000:.0f}; {middle * 1000:.0f} ms"
                if kind == "baseline":
                    ours_low = slope(seconds["cronguard"], jobs, smallest, min)
                    ours_mid = slope(seconds["cronguard"], jobs, smallest, statistics.median)
                    per_job += f"\nratio {ours_low / low:.2f}x; {ours_mid / middle:.2f}x"
            largest = (
                f"{figures['largest_bytes'] / 1000:.0f} KB, {figures['largest_resources']:.0f}"
            )
            within = (
                figures["largest_bytes"] <= TEMPLATE_BYTES_LIMIT
                and figures["largest_resources"] <= TEMPLATE_RESOURCES_LIMIT
            )
            stacks = JOB_STACKS_FROM.get(jobs)
            name = "cronguard" if kind == "cronguard" else "ScheduledFargateTask"
            if kind == "cronguard" and stacks:
                name += f"\n(job_stacks: {stacks})"
            table.add_row(
                str(jobs) if kind == "cronguard" else "",
                name,
                spread(seconds[kind][jobs]),
                f"{max(memory[kind, jobs]):.0f} / {figures['peak_process_mb']:.0f} MB",
                f"{figures['templates']:.0f}",
                f"{figures['resources']:.0f}",
                largest + ("" if within else " OVER LIMIT"),
                per_job,
                end_section=kind == "baseline",
            )
    table.caption = (
        f"{runs} runs of each, alternated; fresh output folder per run (the bundled Lambda "
        "code reused, as in a cdk.out). Targets: per-job slope at 250 jobs ≤ "
        f"{TARGETS['synth_ratio']}x ScheduledFargateTask + cdk-nag; 1,000 jobs ≤ "
        f"{TARGETS['synth_1000_seconds']:.0f} s, every template ≤ 1 MB and "
        f"≤ {TEMPLATE_RESOURCES_LIMIT} resources."
    )
    return table, components_table(job_counts, configs, phases), lint_dir


def render_only(config: Path) -> float:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "synth_once.py"), "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(result.stdout)["render"])


def components_table(
    job_counts: list[int],
    configs: dict[int, Path],
    phases: dict[tuple[str, int], list[dict[str, float]]],
) -> Table:
    """Where the whole-process time goes, from the CDK's own performance counters of the same
    runs (``performance-counters.json``, written for every synth with context
    ``@aws-cdk/core.slowSynthThreshold=0``), medians over the runs."""
    table = Table(title="1b. where the synth time goes (medians of the same runs, CDK counters)")
    for column in (
        "jobs",
        "app",
        "whole process",
        "CLI, Python, imports, jsii load",
        "build the app",
        "(render only)",
        "write templates",
        "cdk-nag",
        "CFN Validate",
        "cdk-nag per job",
    ):
        table.add_column(column, justify="right")
    smallest = job_counts[0]

    def median(kind: str, jobs: int, key: str) -> float:
        return statistics.median(sample[key] for sample in phases[kind, jobs])

    for jobs in job_counts:
        rendered = render_only(configs[jobs])
        for kind in ("cronguard", "baseline"):
            nag = median(kind, jobs, "nag")
            per_job = (
                f"{(nag - median(kind, smallest, 'nag')) / (jobs - smallest) * 1000:.0f} ms"
                if jobs != smallest
                else "-"
            )
            table.add_row(
                str(jobs) if kind == "cronguard" else "",
                "cronguard" if kind == "cronguard" else "ScheduledFargateTask",
                f"{median(kind, jobs, 'seconds'):.1f} s",
                f"{median(kind, jobs, 'outside'):.1f} s",
                f"{median(kind, jobs, 'construct'):.1f} s",
                f"{rendered * 1000:.0f} ms" if kind == "cronguard" else "-",
                f"{median(kind, jobs, 'write'):.1f} s",
                f"{nag:.1f} s",
                f"{median(kind, jobs, 'cfn_validate'):.1f} s",
                per_job,
                end_section=kind == "baseline",
            )
    table.caption = (
        "build the app: the Python app building its constructs (cronguard: render + CfnInclude "
        "of each job stack), phase:Construction; write templates: the rest of "
        "phase:Synthesis; cdk-nag: validateTemplates minus the built-in CloudFormation "
        "validation; per job: slope from 1 job. Render only: JobStackTemplate.render() of every "
        "job stack in a Python process of its own, fastest of 3."
    )
    return table


# --- 5. cfn-lint over every template --------------------------------------------------------

LINT_JOBS = 250


def lint_table(outdir: Path, jobs: int) -> Table:
    """cfn-lint over every template of ``jobs`` jobs (synthesized by table 1). The tests lint
    the environment's stack and one full job stack (every job stack is rendered by the same
    code); this lints all."""
    table = Table(title=f"5. cfn-lint over all templates of {jobs} jobs")
    for column in ("templates", "resources", "cfn-lint", "result"):
        table.add_column(column, justify="right")
    templates = sorted(outdir.glob("*.template.json"))
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
    parser.add_argument("--quick", action="store_true", help="1 and 50 jobs, 1 run (a smoke check)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each synth (default 3)")
    parser.add_argument("--synth-only", action="store_true", help="tables 1, 1b and 5 only")
    parser.add_argument("--keep", type=Path, help="keep the configs, outputs and logs here")
    args = parser.parse_args()
    job_counts = [1, 50] if args.quick else [1, 50, 250, 1000]
    runs = 1 if args.quick else args.runs
    console.print(
        f"cronguard benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores"
    )
    if not args.synth_only:
        console.print(guard_table(max(runs, 5) * 2))
        for table in engine_tables():
            console.print(table)
    workdir = Path(tempfile.mkdtemp(prefix="cronguard-bench-", dir=args.keep))
    try:
        synth, components, lint_dir = synth_tables(job_counts, runs, workdir)
        console.print(synth)
        console.print(components)
        lint_jobs = LINT_JOBS if LINT_JOBS in job_counts else job_counts[-1]
        console.print(lint_table(lint_dir, lint_jobs))
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
