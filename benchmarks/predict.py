"""Prediction speed: one measured spectrum end to end (file to CN, models loaded), and 1,000.

Latency is the median of repeated ``predict_file`` calls on one file after the model
is loaded (reading, checks, pre_edge, autobk, xftf, model). Throughput runs 1,000
spectra (the test corpus's measured files, cycled) through the same path in one
process. Model loading is timed separately: it happens once per element and run.

    python benchmarks/predict.py [--models-dir DIR] [--n 1000]
"""

from __future__ import annotations

import argparse
import time
from itertools import cycle, islice
from pathlib import Path

import numpy as np

from exafs_cn.datagen.dataset import now_iso, write_json_atomic
from exafs_cn.measured.predict import ModelStore, predict_file

REPO = Path(__file__).resolve().parents[1]
FILES = sorted((REPO / "tests" / "data" / "experimental").glob("*.xdi")) + sorted(
    (REPO / "tests" / "data" / "experimental").glob("*.dat")
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=None, help="default: $EXAFS_CN_MODELS, else the shipped models")
    parser.add_argument("--model", default="rf")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "predict.json")
    args = parser.parse_args()

    store = ModelStore(args.models_dir, args.model)
    one = FILES[0]
    start = time.perf_counter()
    predict_file(one, store)  # loads the model
    first = time.perf_counter() - start
    latencies = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        predict_file(one, store)
        latencies.append(time.perf_counter() - start)
    for path in FILES:  # load every element's model before timing throughput
        predict_file(path, store)
    start = time.perf_counter()
    for path in islice(cycle(FILES), args.n):
        predict_file(path, store)
    seconds = time.perf_counter() - start
    result = {
        "created": now_iso(),
        "model": args.model,
        "file": one.name,
        "first_call_seconds_with_model_load": round(first, 3),
        "latency_ms_median": round(1000 * float(np.median(latencies)), 1),
        "latency_ms_p90": round(1000 * float(np.percentile(latencies, 90)), 1),
        "throughput_spectra": args.n,
        "throughput_seconds": round(seconds, 2),
        "throughput_spectra_per_s": round(args.n / seconds, 1),
        "note": "one process; a separate `exafs-cn predict` call also pays ~2 s for importing larch and ~0.3 s per model load",
    }
    write_json_atomic(result, args.out)
    print(result)


if __name__ == "__main__":
    main()
