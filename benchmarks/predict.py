"""Prediction speed in one process: one spectrum end to end, and a batch of many.

Latency is the median of repeated ``predict_file`` calls on one file after its models are
loaded (reading, checks, pre_edge, autobk, xftf, models). Throughput predicts ``--n``
spectra (the test corpus's measured files, cycled) twice: file by file (one model call
per spectrum, as before 0.3) and as one batch (``predict_files``: one model call per
element), and profiles a batch of 200 to say where the time goes (each stage's milliseconds, and how
many times Larch's autobk, pre_edge and xftf run per spectrum). Model loading is timed apart: it
happens once per element and run. Issue 23's goal is >= 150 spectra/s on 2 cores.

Beside it, in the same run, **Larch alone**: the same files read with ``larch.io.read_ascii``
and taken through ``pre_edge``, ``autobk`` and ``xftf`` (mu from the columns our reader chose,
chosen before the timing), and the batch's time over Larch's (issue 32's goal: <= 1.0), in one
process and with the batch read and processed on a pool of all cores (``workers``; answers
checked equal to the one-process batch's). Larch alone runs as a Larch user calls it, with its
defaults: pre_edge makes the flattened spectrum and looks the edge up in xraydb, autobk
estimates its uncertainty; exafs-cn skips those three, whose results it does not use. Larch alone's
four steps are timed one by one too.

    python benchmarks/predict.py [--models-dir DIR] [--n 1000] [--e0 rule]

``--e0 rule`` times the processing without the E0 profile (one background removal per
spectrum instead of two), for the cost of the profile.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from itertools import cycle, islice
from pathlib import Path

import numpy as np

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import now_iso
from exafs_cn.measured import E0Option, MeasuredSpectrum, ModelStore, format_of, predict_file, predict_files, read_file
from exafs_cn.parallel import default_workers

REPO = Path(__file__).resolve().parents[1]
MEASURED = REPO / "tests" / "data" / "experimental"
#: The test copies read as they are, less those refused (KEK-PF BL12C's Hg L3 scan is no 3d K edge):
#: the ALBA SPEC scan needs --mu and is left out, and so is the
#: NSLS-II 6-BM scan (Ca0.25V2O5 through a steel mesh), on which Larch's autobk alone runs over a
#: second (its minimiser takes thousands of steps), so that one file would set every per-spectrum figure.
SLOW = {"examples__xafsdata__beamlines__NSLS6BM_2019.dat"}
FILES = [
    p
    for p in sorted(MEASURED.glob("*.xdi")) + sorted(MEASURED.glob("*.dat"))
    if format_of(p.read_bytes()[:4096]).name != "spec" and p.name not in SLOW and isinstance(read_file(p)[0], MeasuredSpectrum)
]
#: Spectra of the profiled batch.
PROFILED = 200
#: Where a batch's time goes, by the function that owns it (cumulative seconds in the profile).
STAGES = {
    "reading and checks": "read_file",
    "processing (pre_edge, autobk, xftf)": "process",
    "Larch's autobk (every call)": "autobk",
    "Larch's pre_edge (every call: the checks' and the processing's)": "pre_edge",
    "E0 profile, its second processing included": "_profiled",
    "pre-edge peak height (Larch's pre_edge_baseline)": "_pre_edge_height",
    "features": "_features",
    "models": "_predict_element",
}
#: Calls per spectrum of the functions that own the most time (from the same profile).
COUNTED = ("autobk", "pre_edge", "xftf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=None, help="default: $EXAFS_CN_MODELS, else the shipped models")
    parser.add_argument("--model", default="rf")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--e0", default="profile", help="as predict --e0: 'profile' (the default) or 'rule'")
    parser.add_argument("--out", type=Path, default=None, help="default: results/predict.json (predict_e0_rule.json with --e0 rule)")
    args = parser.parse_args()
    e0 = E0Option.parse(args.e0)
    args.out = args.out or Path(__file__).parent / "results" / ("predict.json" if e0 is None else f"predict_e0_{args.e0}.json")

    store = ModelStore(args.models_dir, args.model)
    one = FILES[0]
    start = time.perf_counter()
    predict_file(one, store, e0=e0)  # loads the model
    first = time.perf_counter() - start
    latencies = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        predict_file(one, store, e0=e0)
        latencies.append(time.perf_counter() - start)
    predict_files(FILES, store, e0=e0)  # load every element's models before timing throughput
    inputs = list(islice(cycle(FILES), args.n))

    start = time.perf_counter()
    for path in inputs:
        predict_file(path, store, e0=e0)
    one_by_one = time.perf_counter() - start

    start = time.perf_counter()
    answers = predict_files(inputs, store, e0=e0)
    batch = time.perf_counter() - start

    workers = default_workers()
    start = time.perf_counter()
    pooled = predict_files(inputs, store, e0=e0, workers=workers)
    pool = time.perf_counter() - start
    assert [a.to_dict() if hasattr(a, "cn") else a.error for a in pooled] == [a.to_dict() if hasattr(a, "cn") else a.error for a in answers]

    larch_alone, larch_stages = _larch_alone(inputs)

    profile = cProfile.Profile()  # apart from the timing: the profiler's overhead is not in the figures
    profile.enable()
    predict_files(inputs[:PROFILED], store, e0=e0)
    profile.disable()
    stats = pstats.Stats(profile).stats
    stages = {
        stage: round(sum(entry[3] for (_, _, name), entry in stats.items() if name == function) / PROFILED * 1000, 2)
        for stage, function in STAGES.items()
    }
    calls = {function: round(sum(entry[1] for (_, _, name), entry in stats.items() if name == function) / PROFILED, 2) for function in COUNTED}
    result = {
        "command": f"python benchmarks/predict.py --n {args.n} --e0 {args.e0}",
        "e0": args.e0,
        "created": now_iso(),
        "cores": len(os.sched_getaffinity(0)),
        "model": args.model,
        "file": one.name,
        "first_call_seconds_with_model_load": round(first, 3),
        "latency_ms_median": round(1000 * float(np.median(latencies)), 1),
        "latency_ms_p90": round(1000 * float(np.percentile(latencies, 90)), 1),
        "throughput_spectra": len(answers),
        "one_by_one_spectra_per_s": round(len(answers) / one_by_one, 1),
        "batch_spectra_per_s": round(len(answers) / batch, 1),
        "pool_workers": workers,
        "pool_spectra_per_s": round(len(pooled) / pool, 1),
        "larch_alone_spectra_per_s": round(len(inputs) / larch_alone, 1),
        "batch_over_larch_alone": round(batch / larch_alone, 2),
        "pool_over_larch_alone": round(pool / larch_alone, 2),
        "batch_ms_per_spectrum_profiled": stages,
        "batch_calls_per_spectrum": calls,
        "larch_alone_ms_per_spectrum": {stage: round(seconds / len(inputs) * 1000, 2) for stage, seconds in larch_stages.items()},
        "goal_spectra_per_s": 150,
        "note": "one process, one core; stages from a profiled batch of the first 200 (profiler overhead included there only); "
        "a separate `exafs-cn predict` call also pays the start-up (benchmarks/startup.py)",
    }
    write_json_atomic(result, args.out)
    print(
        f"latency {result['latency_ms_median']} ms; {len(answers)} spectra: one by one {result['one_by_one_spectra_per_s']}/s, "
        f"batched {result['batch_spectra_per_s']}/s, on {workers} processes {result['pool_spectra_per_s']}/s (goal {result['goal_spectra_per_s']}/s); "
        f"Larch alone {result['larch_alone_spectra_per_s']}/s: batch {result['batch_over_larch_alone']}x, pool {result['pool_over_larch_alone']}x Larch's time; "
        f"ms per spectrum by stage (profiled): {stages}; calls per spectrum {calls}; Larch alone's ms per spectrum "
        f"{result['larch_alone_ms_per_spectrum']}"
    )


def _larch_alone(inputs: list[Path]) -> tuple[float, dict[str, float]]:
    """Seconds for Larch alone to read every input and run pre_edge, autobk and xftf on it, and
    the seconds of each of the four (timed call by call: no profiler)."""
    from larch import Group
    from larch.io import read_ascii
    from larch.xafs import autobk, pre_edge, xftf

    from exafs_cn.larch_output import captured

    mu_of = {}
    for path in set(inputs):  # which arrays are energy and mu: our reader's choice, made before the timing
        (spectrum,) = read_file(path)[:1]
        mu_of[path] = (spectrum.energy, spectrum.mu)
    stages = dict.fromkeys(("read_ascii", "pre_edge", "autobk", "xftf"), 0.0)
    start = time.perf_counter()
    with captured():
        for path in inputs:
            t0 = time.perf_counter()
            read_ascii(str(path))
            energy, mu = mu_of[path]
            group = Group()
            t1 = time.perf_counter()
            pre_edge(energy, mu, group=group)
            t2 = time.perf_counter()
            autobk(energy, mu, group=group, rbkg=1.0)
            t3 = time.perf_counter()
            xftf(group.k, group.chi, group=group, kmin=3, kmax=12, dk=1, kweight=2)
            t4 = time.perf_counter()
            for stage, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                stages[stage] += seconds
    return time.perf_counter() - start, stages


if __name__ == "__main__":
    main()
