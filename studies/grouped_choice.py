"""A choice between model variants made on the measured corpus, scored leave-one-compound-out.

Picking the variant (E0 rule, augmentation ranges, ...) that scores best on the corpus
and reporting that score would tune to the corpus. Here each compound is scored with the
variant that is best on all the *other* compounds (exact accuracy, spectra whose labels
are not doubtful; ties go to the variant listed first), so the figure is what the choice
gives on a compound it was not made on. Reads ``studies/measured.py`` results.

    python studies/grouped_choice.py NAME=results/measured_a.json NAME=results/measured_b.json [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from exafs_cn.atomic import write_json_atomic
from exafs_cn.datagen import now_iso


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", help="NAME=measured.json, in order of preference on ties")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "grouped_choice.json")
    args = parser.parse_args()
    variants = {}
    for item in args.variants:
        name, _, path = item.partition("=")
        variants[name] = json.loads(Path(path).read_text())["table"]
    result = grouped_choice(variants)
    result.update(created=now_iso(), inputs=dict(item.partition("=")[::2] for item in args.variants))
    write_json_atomic(result, args.out)
    for name, score in result["each_variant"].items():
        print(f"{name:20s} {score['right']}/{score['spectra']} (all labels {score['right_all']}/{score['spectra_all']})")
    print(
        f"chosen leave-one-compound-out: {result['grouped']['right']}/{result['grouped']['spectra']} "
        f"(all labels {result['grouped']['right_all']}/{result['grouped']['spectra_all']}); "
        f"choices {result['choices']}; written to {args.out}"
    )


def grouped_choice(variants: dict[str, list[dict]]) -> dict:
    """Each variant's score, and the leave-one-compound-out score of choosing among them."""
    names = list(variants)
    # (compound, doubtful, right) per spectrum; every variant scores the same spectra in the same order.
    rows = {n: [(t["compound"], t["doubtful"], t.get("predicted_cn") == t["known_class"]) for t in table] for n, table in variants.items()}
    compounds = sorted({c for c, _, _ in rows[names[0]]})

    def score(name: str, keep) -> tuple[int, int]:
        kept = [ok for c, doubtful, ok in rows[name] if keep(c, doubtful)]
        return sum(kept), len(kept)

    def best_without(held: str) -> str:
        return max(names, key=lambda n: (score(n, lambda c, d: c != held and not d)[0], -names.index(n)))

    choices = {held: best_without(held) for held in compounds}

    def chosen(keep) -> tuple[int, int]:
        picked = [ok for i, (c, doubtful, _) in enumerate(rows[names[0]]) if keep(c, doubtful) for ok in [rows[choices[c]][i][2]]]
        return sum(picked), len(picked)

    def both(fn) -> dict:
        clean, everything = fn(lambda c, d: not d), fn(lambda c, d: True)
        return {"right": clean[0], "spectra": clean[1], "right_all": everything[0], "spectra_all": everything[1]}

    return {
        "each_variant": {n: both(lambda keep, n=n: score(n, keep)) for n in names},
        "grouped": both(chosen),
        "choices": dict(Counter(choices.values())),
        "chosen_by_compound": choices,
    }


if __name__ == "__main__":
    main()
