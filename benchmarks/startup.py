"""Cold start: ``exafs-cn predict FILE`` against ``python -c "import larch.xafs"``, as a ratio.

Each command runs ``--repeat`` times in a fresh process with the interpreter that runs this
script (so a venv without torch measures that install); the medians and their ratio are
printed and written to ``benchmarks/results/startup.json``. Issue 23's goal is a ratio of at
most 1.35. What the prediction path imports that ``larch.xafs`` does not is listed too
(watched packages, by ``-X importtime``), so a regression names its cause.

    python benchmarks/startup.py [--repeat 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import now_iso

REPO = Path(__file__).resolve().parents[1]
SPECTRUM = REPO / "tests" / "data" / "experimental" / "data__Cu__cu_metal_rt.xdi"
PREDICT = [sys.executable, "-m", "exafs_cn", "predict", str(SPECTRUM)]
LARCH = [sys.executable, "-c", "import larch.xafs"]


def _seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


#: Packages whose import cost the prediction path may pay; skops, pymatgen, pyarrow, dask and torch should not appear.
WATCHED = ("larch.xafs", "sklearn", "skops.io", "scipy", "pandas", "matplotlib", "pymatgen", "pyarrow", "dask", "torch")


def _import_costs() -> dict[str, float]:
    """Cumulative import time (s) of each watched package the prediction path loads."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import exafs_cn.cli, exafs_cn.measured._predict, exafs_cn.models._archive"],
        capture_output=True,
        text=True,
        check=True,
    )
    costs: dict[str, float] = {}
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and parts[2].strip() in WATCHED:
            costs[parts[2].strip()] = max(costs.get(parts[2].strip(), 0.0), int(parts[1]) / 1e6)
    return dict(sorted(costs.items(), key=lambda item: -item[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "startup.json")
    args = parser.parse_args()
    _seconds(PREDICT)  # warm the file-system cache and Python's bytecode
    larch = [_seconds(LARCH) for _ in range(args.repeat)]
    predict = [_seconds(PREDICT) for _ in range(args.repeat)]
    ratio = statistics.median(predict) / statistics.median(larch)
    import importlib.util

    result = {
        "created": now_iso(),
        "python": sys.version.split()[0],
        "torch_installed": importlib.util.find_spec("torch") is not None,
        "repeat": args.repeat,
        "import_larch_xafs_s": round(statistics.median(larch), 3),
        "predict_one_file_s": round(statistics.median(predict), 3),
        "ratio": round(ratio, 3),
        "goal_ratio": 1.35,
        "import_costs_s": {name: round(seconds, 3) for name, seconds in _import_costs().items()},
        "command": "python benchmarks/startup.py",
    }
    write_json_atomic(result, args.out)
    print(
        f"Python {result['python']} (torch {'installed' if result['torch_installed'] else 'not installed'}): "
        f"import larch.xafs {result['import_larch_xafs_s']:.2f} s, exafs-cn predict FILE {result['predict_one_file_s']:.2f} s, "
        f"ratio {ratio:.2f} (goal <= 1.35)"
    )
    print(
        "imports on the prediction path: "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result["import_costs_s"].items())
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
