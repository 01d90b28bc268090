"""The pure renderer alone: ``JobStackTemplate.render()`` of every job stack of a generated
config (environment ``bench`` in ``--config``), fastest of ``--repeat``, printed as JSON
seconds (run by benchmark.py for table 1b; the rest of 1b comes from the real synth's own
performance counters).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # as app.py


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True, help="a generated config dir")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from cronguard.config import load_environment
    from stacks.job.template import JobStackTemplate

    environment = load_environment("bench", args.config)
    buckets = list(environment.jobs_by_stack().values())
    taken = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        for jobs in buckets:
            JobStackTemplate(environment, jobs).render()
        taken.append(time.perf_counter() - started)
    json.dump({"render": min(taken)}, sys.stdout)


if __name__ == "__main__":
    main()
