"""From structures to a FEFF dataset: label every absorber site, then simulate each.

Two passes over the work, both parallel and both resumable:

1. labelling, one task per structure: inequivalent sites of each 3d element and
   their CrystalNN CN (seconds per structure; stored once in ``labels.parquet``);
2. simulation, one task per absorber site: a FEFF run (the expensive part), written
   in shards. Sites of pairs with an integer site-averaged CN (the study's filter)
   go first, so a partial dataset is already the useful one.

A task never raises for a bad input: it returns a failure row with the reason, and
the run goes on.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from exafs_cn import __version__
from exafs_cn.datagen._dataset import TRANSIENT_STAGE, Dataset, DatasetError, now_iso
from exafs_cn.datagen._first_shell_labels import ensure_first_shell
from exafs_cn.datagen._labels import crystalnn_cn, crystalnn_description, is_integer_cn, site_averaged_cn
from exafs_cn.datagen._structures import (
    BUNDLED_SOURCE,
    FOLDER_SOURCE,
    METALS_3D,
    MP_SOURCE,
    SYMPREC,
    StructureError,
    StructureRecord,
    absorbers_in,
    inequivalent_sites,
    read_source,
)
from exafs_cn.exceptions import one_line
from exafs_cn.feff import PRESETS, FeffError, FeffPreset, simulate_site
from exafs_cn.parallel import check_scheduler, lost_reason, map_unordered

#: Sites per shard: about 5 minutes of work for 2 cores with the fast preset.
DEFAULT_SHARD_SIZE = 500




@dataclass(frozen=True)
class SiteTask:
    record: StructureRecord
    absorber: str
    site_index: int
    multiplicity: int
    cn: int
    pair_cn: float
    preset: FeffPreset


@dataclass
class SimulationReport:
    """What one call of :func:`simulate` did."""

    structures: int
    structures_failed: int  # could not be read, or hold no 3d absorber (reasons: dataset info)
    labelled_now: int
    sites_planned: int
    sites_already_done: int
    sites_run: int
    failures_now: int
    shards_written: int


def label_structure(record: StructureRecord) -> tuple[list[dict], list[dict]]:
    """Label rows for every inequivalent site of every 3d element, and failures.

    All 3d elements are labelled whatever ``--elements`` asks for (it is cheap), so a
    later run asking for other elements finds their labels instead of a gap.
    """
    failure = {"material_id": record.material_id, "absorber": None, "site_index": None, "preset": None, "source": record.name}
    try:
        structure = record.parse()
    except StructureError as exc:
        return [], [{**failure, "stage": "structure", "reason": str(exc)}]
    present = absorbers_in(structure)
    if not present:
        reason = f"no absorber: none of {','.join(METALS_3D)} in the structure"
        return [], [{**failure, "stage": "structure", "reason": reason}]
    rows, failures = [], []
    for element in present:
        try:
            sites = inequivalent_sites(structure, element)
            cns = [crystalnn_cn(structure, site.site_index) for site in sites]
        except Exception as exc:  # CrystalNN raises bare ValueErrors on odd geometries
            reason = one_line(exc, 200)
            failures.append({**failure, "absorber": element, "stage": "labels", "reason": f"crystalnn: {reason}"})
            continue
        pair_cn = site_averaged_cn(cns, [s.multiplicity for s in sites])
        for site, cn in zip(sites, cns):
            rows.append(
                {
                    "material_id": record.material_id,
                    "formula": record.formula,
                    "absorber": element,
                    "site_index": site.site_index,
                    "multiplicity": site.multiplicity,
                    "cn": cn,
                    "pair_cn": pair_cn,
                    "pair_cn_is_integer": is_integer_cn(pair_cn),
                }
            )
    return rows, failures


def simulate_one(task: SiteTask) -> tuple[str, dict]:
    """("spectrum", row) or ("failure", row) for one absorber site."""
    key = {"material_id": task.record.material_id, "absorber": task.absorber, "site_index": task.site_index}
    try:
        structure = task.record.parse()
        title = f"{task.record.material_id} {task.record.formula} {task.absorber} site {task.site_index}"
        spectrum = simulate_site(structure, task.site_index, task.preset, title)
    except (FeffError, StructureError) as exc:
        return "failure", {**key, "preset": task.preset.name, "stage": "feff", "reason": str(exc), "source": task.record.name}
    return "spectrum", {
        **key,
        "formula": task.record.formula,
        "multiplicity": task.multiplicity,
        "cn": task.cn,
        "pair_cn": task.pair_cn,
        "preset": task.preset.name,
        "e0": spectrum.e0,
        "e_fermi": spectrum.e_fermi,
        "n_atoms": spectrum.n_atoms,
        "cluster_radius": spectrum.cluster_radius,
        "trimmed": spectrum.trimmed,
        "feff_seconds": spectrum.seconds,
        "energy": spectrum.energy,
        "mu": spectrum.mu,
        "k": spectrum.k,
        "chi": spectrum.chi,
    }


def label_lost(record: StructureRecord, exc: BaseException) -> tuple[list[dict], list[dict]]:
    """A labelling task whose worker died (or that raised): a recorded failure."""
    reason = lost_reason(exc)
    failure = {"material_id": record.material_id, "absorber": None, "site_index": None, "preset": None, "source": record.name}
    return [], [{**failure, "stage": "labels", "reason": reason}]


def site_lost(task: SiteTask, exc: BaseException) -> tuple[str, dict]:
    """A FEFF task whose worker died after the allowed retries (or that raised)."""
    reason = lost_reason(exc)
    key = {"material_id": task.record.material_id, "absorber": task.absorber, "site_index": task.site_index}
    return "failure", {**key, "preset": task.preset.name, "stage": TRANSIENT_STAGE, "reason": reason, "source": task.record.name}


def ensure_labels(
    dataset: Dataset,
    records: Sequence[StructureRecord],
    workers: int | None,
    progress: bool = True,
    scheduler: str | None = None,
) -> int:
    """Label the structures not labelled yet; return how many were labelled now."""
    labels, failures = dataset.labels(), dataset.label_failures()
    seen = set(labels["material_id"]) | set(failures["material_id"])
    todo = [r for r in records if r.material_id not in seen]
    if not todo:
        return 0
    new_rows, new_failures = [], []
    for rows, fails in map_unordered(
        label_structure,
        todo,
        workers=workers,
        scheduler=scheduler,
        total=len(todo),
        desc="labels (CrystalNN)",
        progress=progress,
        on_error=label_lost,
    ):
        new_rows += rows
        new_failures += fails
    dataset.write_labels(
        pd.concat([labels, pd.DataFrame(new_rows, columns=labels.columns)], ignore_index=True),
        pd.concat([failures, pd.DataFrame(new_failures, columns=failures.columns)], ignore_index=True),
    )
    return len(todo)


def plan_sites(
    labels: pd.DataFrame, material_ids: Sequence[str], elements: Sequence[str], integer_only: bool
) -> pd.DataFrame:
    """Sites to simulate, integer-CN pairs first, each group in material order."""
    order = {mid: i for i, mid in enumerate(material_ids)}
    plan = labels[labels["material_id"].isin(order) & labels["absorber"].isin(elements)].copy()
    if integer_only:
        plan = plan[plan["pair_cn_is_integer"]]
    plan["_order"] = plan["material_id"].map(order)
    plan["_later"] = ~plan["pair_cn_is_integer"]
    return plan.sort_values(["_later", "_order", "absorber", "site_index"]).drop(columns=["_order", "_later"])


def simulate(
    source: str,
    out: str,
    *,
    elements: Sequence[str] = METALS_3D,
    limit: int | None = None,
    preset: str = "fast",
    workers: int | None = None,
    scheduler: str | None = None,
    integer_only: bool = False,
    shard_size: int = DEFAULT_SHARD_SIZE,
    progress: bool = True,
) -> SimulationReport:
    """Label and simulate ``source`` into the dataset folder ``out``, resuming if present."""
    if preset not in PRESETS:
        raise DatasetError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    unknown = sorted(set(elements) - set(METALS_3D))
    if unknown:
        raise DatasetError(f"not a 3d transition metal: {', '.join(unknown)}")
    check_scheduler(scheduler)
    dataset = Dataset(out)
    with dataset.writer_lock():
        records = read_source(source)[:limit] if limit else read_source(source)
        _check_provenance(dataset, source, preset)
        dataset.remove_stale_temporaries()
        # Written before any shard, so a run killed midway still leaves its provenance.
        _update_provenance(dataset, source, preset, records)

        labelled_now = ensure_labels(dataset, records, workers, progress, scheduler)
        ensure_first_shell(dataset, records, workers, progress, scheduler)
        plan = plan_sites(dataset.labels(), [r.material_id for r in records], elements, integer_only)
        done = dataset.done_keys(preset)
        is_done = [(m, a, int(s)) in done for m, a, s in zip(plan["material_id"], plan["absorber"], plan["site_index"])]
        todo = plan[[not d for d in is_done]]

        by_id = {r.material_id: r for r in records}
        tasks = _site_tasks(todo, by_id, PRESETS[preset])
        spectra: list[dict] = []
        failures: list[dict] = []
        shards = failures_now = 0
        for kind, row in map_unordered(
            simulate_one,
            tasks,
            workers=workers,
            scheduler=scheduler,
            total=len(todo),
            desc=f"FEFF ({preset})",
            progress=progress,
            on_error=site_lost,
        ):
            (spectra if kind == "spectrum" else failures).append(row)
            failures_now += kind == "failure"
            if len(spectra) + len(failures) >= shard_size:
                dataset.append_shard(preset, spectra, failures)
                spectra, failures, shards = [], [], shards + 1
        if spectra or failures:
            dataset.append_shard(preset, spectra, failures)
            shards += 1
        _update_provenance(dataset, source, preset, records)
        label_failures = dataset.label_failures()
        unusable = label_failures.loc[label_failures["stage"] == "structure", "material_id"]
        return SimulationReport(
            structures=len(records),
            structures_failed=len(set(unusable) & {r.material_id for r in records}),
            labelled_now=labelled_now,
            sites_planned=len(plan),
            sites_already_done=int(sum(is_done)),
            sites_run=len(todo),
            failures_now=failures_now,
            shards_written=shards,
        )


def _site_tasks(todo: pd.DataFrame, by_id: dict[str, StructureRecord], preset: FeffPreset) -> Iterator[SiteTask]:
    for row in todo.itertuples(index=False):
        yield SiteTask(
            record=by_id[row.material_id],
            absorber=row.absorber,
            site_index=int(row.site_index),
            multiplicity=int(row.multiplicity),
            cn=int(row.cn),
            pair_cn=float(row.pair_cn),
            preset=preset,
        )


def _check_provenance(dataset: Dataset, source: str, preset: str) -> None:
    """Refuse to mix the bundled set with folders, or preset definitions, in one dataset folder.

    Folders are told apart by content, not by spelling: every structure is keyed by what
    it is, so any folder (by any path) may add to a folder-made dataset.
    """
    prov = dataset.provenance()
    kind = _source_kind(source)
    held = prov.get("source")
    if held is not None and _source_kind(held) != kind:
        what = {
            BUNDLED_SOURCE: "the bundled Materials Project set",
            FOLDER_SOURCE: "CIF/POSCAR files",
            MP_SOURCE: "Materials Project's own spectra (fetch-mp)",
        }
        raise DatasetError(f"{dataset.root}: holds data from {what[_source_kind(held)]}, not {what[kind]}; use a new dataset folder")
    if held is not None and kind == FOLDER_SOURCE and prov.get("keys") != "content":
        raise DatasetError(f"{dataset.root}: made by exafs-cn < 0.2, which keyed structures by file name; simulate into a new folder")
    old = prov.get("presets", {}).get(preset)
    if old and {k: v for k, v in old.items() if k != "timeout_s"} != PRESETS[preset].physics():
        raise DatasetError(f"{dataset.root}: preset {preset!r} was run with other FEFF cards; use a new folder")


def _source_kind(source: str) -> str:
    """The bundled set, MP's own spectra, or a folder (any path; datasets before 0.2 stored the path)."""
    return source if source in (BUNDLED_SOURCE, MP_SOURCE) else FOLDER_SOURCE


def _update_provenance(dataset: Dataset, source: str, preset: str, records: Sequence[StructureRecord]) -> None:
    prov = dataset.provenance()
    prov.setdefault("created", now_iso())
    kind = _source_kind(source)
    if kind == FOLDER_SOURCE:
        folders = set(prov.get("source_folders", [])) | {str(Path(source).resolve())}
        names = {**prov.get("structures", {}), **{r.material_id: r.name for r in records}}
        prov.update(
            {
                "keys": "content",
                "source_folders": sorted(folders),
                "structures": dict(sorted(names.items())),
                "source_description": f"CIF/POSCAR files keyed by content (exafs_cn.datagen._structures.content_key) from {', '.join(sorted(folders))}",
            }
        )
    else:
        prov["source_description"] = "Materials Project structures bundled with exafs-cn (src/exafs_cn/data/PROVENANCE.md)"
    prov.update(
        {
            "source": kind,
            "structures_requested": max(len(records), prov.get("structures_requested", 0)),
            "updated": now_iso(),
            "labels": {"crystalnn": crystalnn_description(), "symprec": SYMPREC, "site_average": "multiplicity-weighted"},
            "software": {
                "exafs_cn": __version__,
                "pymatgen": version("pymatgen"),
                "xraylarch": version("xraylarch"),
                "python": platform.python_version(),
            },
        }
    )
    prov.setdefault("presets", {})[preset] = PRESETS[preset].describe()
    dataset.write_provenance(prov)
