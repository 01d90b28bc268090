"""Thousands of jobs through the real ``npx cdk synth``, every check on (cdk-nag, the CDK's
built-in validation), as ``make demo`` runs it:

    .venv/bin/python bench/scale.py                 # 1,000 and 3,000 jobs (about 3 minutes)
    .venv/bin/python bench/scale.py --jobs 250      # any sizes

For each size: wall time and peak memory of the whole process tree, the job stacks, the
largest template (KB, resources, outputs, parameters), the first CloudFormation limit any
template exceeds (``stacks/limits.py``), whether every state machine is in the job stack the
lock file records, and how many placed jobs adding, removing and renaming jobs would move
(from the lock file synth wrote, as the next synth would place them). Targets: 3,000 jobs in
at most 5 minutes and 4 GB. Figures, never asserted: this machine is shared and noisy. It
prints the table and rewrites its group of ``docs/benchmark.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # as app.py

from benchmark import (  # noqa: E402  (bench/benchmark.py: the real synth, and its results file)
    RESULTS,
    Measured,
    Synth,
    write_results,
)
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from cronguard.config import load_environment  # noqa: E402
from cronguard.config.placement import Placement, stack_id  # noqa: E402
from stacks.limits import first_limit_hit, size_of, templates  # noqa: E402
from testkit.assembly import state_machine_stacks  # noqa: E402
from testkit.generated import generated_jobs, write_config  # noqa: E402

ENVIRONMENT = "bench"  # the environment Synth synthesizes (-c env=bench)
TARGET_SECONDS, TARGET_MB = 300, 4096
console = Console(width=170)


def load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def moved_by_changes(config: Path, count: int) -> dict[str, int]:
    """How many placed jobs an added, a removed and a renamed job would move, each alone and
    all together, from the lock file synth wrote."""
    placed = load_environment(ENVIRONMENT, config).placement()
    assert not placed.changed, "synth wrote the lock file"
    jobs = generated_jobs(count)
    changes: dict[str, dict[str, Any]] = {
        "add": {**jobs, "job-added": jobs["job-000"]},
        "remove": {name: job for name, job in jobs.items() if name != "job-001"},
        "rename": {
            ("job-renamed" if name == "job-002" else name): job for name, job in jobs.items()
        },
    }
    changes["all three"] = {
        **{k: v for k, v in changes["rename"].items() if k != "job-001"},
        "job-added": jobs["job-000"],
    }
    moved = {}
    for change, changed_jobs in changes.items():
        scratch = Path(tempfile.mkdtemp(prefix="cronguard-scale-"))
        try:
            shutil.copytree(config / "environments", scratch / "environments")
            write_config(scratch, changed_jobs, name=ENVIRONMENT)
            after = load_environment(ENVIRONMENT, scratch).placement()
        finally:
            shutil.rmtree(scratch)
        moved[change] = _moved(placed, after)
    return moved


def _moved(before: Placement, after: Placement) -> int:
    return sum(1 for job, index in before.stacks.items() if after.stacks.get(job, index) != index)


def measure(synth: Synth, count: int, workdir: Path) -> dict[str, Any]:
    config = write_config(workdir / f"config-{count}", generated_jobs(count), name=ENVIRONMENT)
    started_load = load()
    figures = synth.once("cronguard", count, config, keep=True)
    outdir = synth.last
    sizes = [size_of(path) for path in templates(outdir)]
    largest = max(sizes, key=lambda size: size.bytes)
    environment = load_environment(ENVIRONMENT, config)
    placement = environment.placement()
    expected = {f"bench-{job}": stack_id(index) for job, index in placement.stacks.items()}
    parent = outdir / f"{environment.stack_name}.template.json"
    found = {
        "jobs": count,
        "seconds": figures["seconds"],
        "peak_mb": figures["peak_tree_mb"],
        "largest_process_mb": figures["peak_process_mb"],
        "job_stacks": len(placement.by_stack()),
        "largest": largest,
        "most_resources": max(size.resources for size in sizes),
        "most_outputs": max(size.outputs for size in sizes),
        "most_parameters": max(size.parameters for size in sizes),
        "limit": first_limit_hit(outdir) or "none",
        "as_locked": state_machine_stacks(parent) == expected,
        "moved": moved_by_changes(config, count),
        "load": f"{started_load} → {load()}",
    }
    shutil.rmtree(outdir)
    return found


def table(rows: list[dict[str, Any]]) -> Table:
    result = Table(
        title="npx cdk synth of N generated jobs, cdk-nag and the CDK's validation on "
        f"(targets at 3,000: ≤ {TARGET_SECONDS} s, ≤ {TARGET_MB / 1024:.0f} GB)"
    )
    for column in (
        "jobs",
        "time",
        "peak memory (tree / largest process)",
        "job stacks",
        "largest template (KB, resources, outputs, parameters)",
        "most resources / outputs / parameters in a template",
        "first limit hit",
        "every job where the lock file says",
        "moved by add / remove / rename / all three",
        "load (1/5/15 min) start → end",
    ):
        result.add_column(column)
    for row in rows:
        largest = row["largest"]
        moved = row["moved"]
        result.add_row(
            f"{row['jobs']:,}",
            f"{row['seconds']:.1f} s",
            f"{row['peak_mb']:.0f} / {row['largest_process_mb']:.0f} MB",
            str(row["job_stacks"]),
            f"{largest.bytes / 1000:.0f} KB, {largest.resources}, {largest.outputs}, "
            f"{largest.parameters}",
            f"{row['most_resources']} / {row['most_outputs']} / {row['most_parameters']}",
            row["limit"],
            "yes" if row["as_locked"] else "NO",
            " / ".join(str(moved[change]) for change in moved),
            row["load"],
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--keep", type=Path, help="keep the configs and logs here")
    args = parser.parse_args()
    console.print(f"cronguard scale — {os.cpu_count()} cores, load (1/5/15 min) {load()}")
    workdir = Path(tempfile.mkdtemp(prefix="cronguard-scale-", dir=args.keep))
    measured = Measured.start(" ".join(["bench/scale.py", *sys.argv[1:]]))
    try:
        synth = Synth(workdir)
        synth.warm_up(write_config(workdir / "config-1", generated_jobs(1), name=ENVIRONMENT))
        rows = []
        for count in args.jobs:
            rows.append(measure(synth, count, workdir))
            console.print(f"{count} jobs: {rows[-1]['seconds']:.1f} s")
        console.print(table(rows))
        write_results(RESULTS, "scale", measured.ended(), [table(rows)])
        missed = [row for row in rows if row["limit"] != "none" or not row["as_locked"]]
        moved = [row for row in rows if any(row["moved"].values())]
        if missed or moved:
            raise SystemExit("a template exceeds a limit, a job is misplaced, or a job moved")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
