"""The first-shell labelling pass: every labelled site of a dataset gets its first shell.

A pass over ``labels.parquet``: the sites without a first-shell row are grouped by
structure (parsed once each), computed in parallel (:mod:`exafs_cn.parallel`), and written
in shards under ``first_shell/`` as they come, so a killed run keeps what it finished and
the next one does only the rest. ``simulate`` runs it after its labelling pass, and
``exafs-cn dataset first-shell`` runs it on a dataset made before it existed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version

from exafs_cn.datagen._dataset import Dataset, now_iso
from exafs_cn.datagen._first_shell import site_first_shell
from exafs_cn.datagen._labels import crystalnn_description
from exafs_cn.datagen._structures import BUNDLED_SOURCE, FOLDER_SOURCE, StructureRecord, read_source
from exafs_cn.exceptions import one_line
from exafs_cn.parallel import lost_reason, map_unordered

#: Structures per shard.
SHARD_STRUCTURES = 1000


@dataclass(frozen=True)
class _Task:
    record: StructureRecord
    sites: tuple[tuple[str, int], ...]  # (absorber, site index)


def _first_shells(task: _Task) -> list[dict]:
    """The first-shell row of every site of one structure; a site that fails is a row with its reason."""
    key = {"material_id": task.record.material_id}
    try:
        structure = task.record.parse()
    except Exception as exc:
        return [_failed(key, absorber, index, f"structure: {one_line(exc, 150)}") for absorber, index in task.sites]
    rows = []
    for absorber, index in task.sites:
        try:
            shell = site_first_shell(structure, index)
        except Exception as exc:  # CrystalNN raises bare ValueErrors on odd geometries
            rows.append(_failed(key, absorber, index, f"crystalnn: {one_line(exc, 150)}"))
            continue
        neighbours = json.dumps(shell.pop("neighbours"), sort_keys=True)
        rows.append({**key, "absorber": absorber, "site_index": index, **shell, "neighbours": neighbours, "reason": None})
    return rows


def _failed(key: dict, absorber: str, index: int, reason: str) -> dict:
    nan = float("nan")
    distances = {"r1": nan, "r1_std": nan, "r1_min": nan, "r1_max": nan}
    return {**key, "absorber": absorber, "site_index": index, "cn": None, **distances, "neighbours": None, "reason": reason}


def _lost(task: _Task, exc: BaseException) -> list[dict]:
    key = {"material_id": task.record.material_id}
    return [_failed(key, absorber, index, lost_reason(exc)) for absorber, index in task.sites]


def ensure_first_shell(
    dataset: Dataset,
    records: Sequence[StructureRecord],
    workers: int | None = None,
    progress: bool = True,
    scheduler: str | None = None,
) -> int:
    """First-shell rows for the labelled sites of ``records`` that have none; return how many sites were done now."""
    labels, done = dataset.labels(), dataset.first_shell()
    have = set(zip(done["material_id"], done["absorber"], done["site_index"].astype(int)))
    todo = labels[[key not in have for key in zip(labels["material_id"], labels["absorber"], labels["site_index"].astype(int))]]
    by_id = {r.material_id: r for r in records}
    todo = todo[todo["material_id"].isin(by_id)]
    if todo.empty:
        return 0
    tasks = [
        _Task(by_id[material_id], tuple(zip(group["absorber"], group["site_index"].astype(int))))
        for material_id, group in todo.groupby("material_id", sort=True)
    ]
    rows: list[dict] = []
    finished = 0
    run = map_unordered(
        _first_shells, tasks, workers=workers, scheduler=scheduler, total=len(tasks), desc="first shells (CrystalNN)", progress=progress, on_error=_lost
    )
    for result in run:
        rows += result
        finished += 1
        if finished % SHARD_STRUCTURES == 0:
            dataset.append_first_shell(rows)
            rows = []
    if rows:
        dataset.append_first_shell(rows)
    _record_provenance(dataset)
    return len(todo)


def label_dataset(
    dataset: Dataset, source: str | None = None, workers: int | None = None, progress: bool = True, scheduler: str | None = None
) -> int:
    """:func:`ensure_first_shell` for a whole dataset folder, its structures read from ``source``, else
    from every source it was made from (a folder dataset may have been simulated from several)."""
    provenance = dataset.provenance()
    if source:
        sources = [source]
    elif provenance.get("source") == FOLDER_SOURCE:
        sources = provenance.get("source_folders") or []
    else:
        sources = [BUNDLED_SOURCE]
    with dataset.writer_lock():
        dataset.remove_stale_temporaries()
        records = [record for name in sources for record in read_source(name)]
        return ensure_first_shell(dataset, records, workers, progress, scheduler)


def _record_provenance(dataset: Dataset) -> None:
    prov = dataset.provenance()
    prov["first_shell"] = {
        "neighbours": f"the neighbours that give each site its CN label: {crystalnn_description()} get_nn_info",
        "distances": "absorber-neighbour distances from the structure's Cartesian coordinates (A; MP PBE cells run ~1% long)",
        "r1": "mean over the neighbours; r1_std their population standard deviation; pairs: multiplicity-weighted",
        "pymatgen": version("pymatgen"),
        "updated": now_iso(),
    }
    dataset.write_provenance(prov)
