"""How the FEFF pass scales on Dask, and what the scheduler costs per task.

1. Spectra per minute for a fixed sample of absorber sites (seeded, from the bundled
   set) on a Dask LocalCluster with 1 and with 2 single-threaded workers; the ratio
   is the speed-up. Cluster start-up is excluded (it is paid once per run).
2. Scheduler overhead per task: wall time per no-op task through the same
   submission loop, against the FEFF time per site.

    python benchmarks/scale.py [--sites 40] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import SiteTask, absorbers_in, inequivalent_sites, now_iso, read_bundled, simulate_one
from exafs_cn.feff import PRESETS
from exafs_cn.parallel import map_unordered


def sample_tasks(n: int, seed: int) -> list[SiteTask]:
    records = read_bundled()
    rng = np.random.default_rng(seed)
    tasks = []
    for index in rng.permutation(len(records)):
        structure = records[index].parse()
        element = absorbers_in(structure)[0]
        site = inequivalent_sites(structure, element)[0]
        tasks.append(SiteTask(records[index], element, site.site_index, site.multiplicity, 0, 0.0, PRESETS["fast"]))
        if len(tasks) == n:
            return tasks
    return tasks


def noop(x: int) -> int:
    return x


def timed(func, items, scheduler: str) -> tuple[float, list]:
    """Wall seconds from the first submission to the last result (cluster already up)."""
    runner = map_unordered(func, items, scheduler=scheduler, progress=False, retries=2)
    first = next(runner)  # the cluster starts inside the generator; time from here
    start = time.perf_counter()
    rest = list(runner)
    return time.perf_counter() - start, [first, *rest]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--noop-tasks", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scale.json")
    args = parser.parse_args()

    tasks = sample_tasks(args.sites + 1, args.seed)  # one extra: its result starts the clock
    runs = {}
    for workers in (1, 2):
        seconds, results = timed(simulate_one, tasks, f"local:{workers}")
        feff = [row["feff_seconds"] for kind, row in results if kind == "spectrum"]
        runs[workers] = {
            "seconds": round(seconds, 2),
            "spectra_per_minute": round(60 * args.sites / seconds, 1),
            "mean_feff_seconds": round(float(np.mean(feff)), 3),
        }
        print(workers, runs[workers], flush=True)
    noop_seconds, _ = timed(noop, range(args.noop_tasks + 1), "local:2")
    per_task = noop_seconds / args.noop_tasks
    summary = {
        "date": now_iso(),
        "sites": args.sites,
        "seed": args.seed,
        "workers": runs,
        "speedup_2_vs_1": round(runs[2]["spectra_per_minute"] / runs[1]["spectra_per_minute"], 2),
        "scheduler_overhead_ms_per_task": round(1000 * per_task, 2),
        "overhead_vs_feff_time": round(per_task / runs[1]["mean_feff_seconds"], 4),
    }
    write_json_atomic(summary, args.out)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
