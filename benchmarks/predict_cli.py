"""A batch as a user runs it: ``exafs-cn predict FILE...`` against Larch alone on the same files, both with start-up.

Issue 32 measured it so: the command on 150 corpus XDI files took 2.2x what Larch alone takes to
read, pre_edge, autobk and xftf the same files in one process, each a fresh process from the
interpreter's start (goal: 1.0x). Unlike ``benchmarks/predict.py`` (models loaded before the
timing, one element's worth of files), this counts what a user waits for: the start, reading
the files on the workers, loading each element's models, the answers printed.

Larch alone: a fresh ``python`` that imports Larch, reads each file with ``read_ascii`` and runs
``pre_edge``, ``autobk`` (rbkg 1) and ``xftf`` (k 3-12, dk 1, k-weight 2) with Larch's defaults,
on the energy and mu our reader chose (arrays saved before the timing and loaded by it, so that
both sides process the same data). Each command runs ``--repeat`` times, alternating; the
medians and their ratio are printed and written to ``results/predict_cli.json``.

    python benchmarks/predict_cli.py [FILE ...] [--n 150] [--repeat 3]

Without files: the measured copies in ``tests/data/experimental`` (as ``benchmarks/predict.py``
takes them), cycled to ``--n`` paths; the issue's set is ``../shared/data/experimental/*.xdi``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

import numpy as np

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import now_iso
from exafs_cn.measured import MeasuredSpectrum, read_file
from exafs_cn.parallel import default_workers

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from predict import FILES  # noqa: E402  (the sibling benchmark's file list)

#: Larch alone, as a script of its own: argv[1] an .npz of energy_<i>/mu_<i>, argv[2:] the files.
LARCH_ALONE = """
import sys
import numpy as np
from larch import Group
from larch.io import read_ascii
from larch.xafs import autobk, pre_edge, xftf
arrays = np.load(sys.argv[1])
for i, path in enumerate(sys.argv[2:]):
    read_ascii(path)
    energy, mu = arrays[f"energy_{i}"], arrays[f"mu_{i}"]
    group = Group()
    pre_edge(energy, mu, group=group)
    autobk(energy, mu, group=group, rbkg=1.0)
    xftf(group.k, group.chi, group=group, kmin=3, kmax=12, dk=1, kweight=2)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="default: the test copies, cycled to --n")
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "predict_cli.json")
    args = parser.parse_args()
    paths = [p.resolve() for p in args.files] or list(islice(cycle(FILES), args.n))
    spectra = _spectra(paths)
    kept = [path for path, spectrum in zip(paths, spectra) if spectrum is not None]
    with tempfile.TemporaryDirectory() as scratch:
        arrays = Path(scratch) / "arrays.npz"
        chosen = [s for s in spectra if s is not None]
        np.savez(arrays, **{f"energy_{i}": s.energy for i, s in enumerate(chosen)}, **{f"mu_{i}": s.mu for i, s in enumerate(chosen)})
        predict = [sys.executable, "-m", "exafs_cn", "predict", *map(str, kept)]
        larch = [sys.executable, "-c", LARCH_ALONE, str(arrays), *map(str, kept)]
        ours, theirs = [], []
        for _ in range(args.repeat):  # alternating, so that a slow minute of the machine hits both
            theirs.append(_seconds(larch))
            ours.append(_seconds(predict))
    result = {
        "command": _command(args, parser.get_default("out")),
        "created": now_iso(),
        "cores": len(os.sched_getaffinity(0)),
        "workers": default_workers(),
        "files": len(kept),
        "elements": sorted({s.element for s in chosen}),
        "repeat": args.repeat,
        "exafs_cn_predict_s": [round(t, 2) for t in ours],
        "larch_alone_s": [round(t, 2) for t in theirs],
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 2),
        "goal_ratio": 1.0,
    }
    write_json_atomic(result, args.out)
    print(
        f"{len(kept)} files ({', '.join(result['elements'])}): exafs-cn predict {statistics.median(ours):.2f} s, "
        f"Larch alone {statistics.median(theirs):.2f} s (medians of {args.repeat}, both with start-up): "
        f"{result['ratio']}x (goal {result['goal_ratio']}x)"
    )
    print(f"written to {args.out}")


def _command(args: argparse.Namespace, default_out: Path) -> str:
    """The command that regenerates this result: the files as the shell pattern that gives them
    all (``<folder>/*.xdi``) where there is one, else each file; ``--out`` where not the default."""
    words = ["python", "benchmarks/predict_cli.py"]
    folders, suffixes = {p.parent for p in args.files}, {p.suffix for p in args.files}
    if not args.files:
        words += ["--n", str(args.n)]
    elif len(folders) == len(suffixes) == 1 and sorted(args.files) == sorted(next(iter(folders)).glob(f"*{next(iter(suffixes))}")):
        words.append(f"{next(iter(folders))}/*{next(iter(suffixes))}")
    else:
        words += [str(p) for p in args.files]
    if args.repeat != 3:
        words += ["--repeat", str(args.repeat)]
    if args.out != default_out:
        words += ["--out", str(args.out)]
    return " ".join(words)


def _spectra(paths: list[Path]) -> list[MeasuredSpectrum | None]:
    """Each file's first spectrum as our reader takes it (None where it takes none: left out of both runs)."""
    found: dict[Path, MeasuredSpectrum | None] = {}
    for path in dict.fromkeys(paths):
        items = read_file(path)
        found[path] = items[0] if items and isinstance(items[0], MeasuredSpectrum) else None
    return [found[path] for path in paths]


def _seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
