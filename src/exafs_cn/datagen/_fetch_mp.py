"""Materials Project's own K-edge EXAFS spectra, fetched with ``mp-api``, as an exafs-cn dataset.

MP computed its spectra with FEFF9 (SCF, RPATH 10) and stores one spectrum per
(material, absorbing element), already averaged over the absorber's inequivalent sites
by multiplicity. We keep that average as it is: each spectrum becomes one row of the
usual spectrum shards with ``site_index = SOURCE_AVERAGED`` (-1), under the preset name
``mp-api``; the per-site CrystalNN labels are computed here exactly as for our FEFF data,
so the pair CN and the integer filter mean the same thing in both datasets.

The download is done in batches of document ids, each batch retried with exponential
backoff, each written as one shard (spectra, failures and the MP document ids), so an
interrupted fetch resumes where it stopped.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from exafs_cn import __version__
from exafs_cn.datagen._dataset import DOCUMENT_SCHEMA, SOURCE_AVERAGED, Dataset, DatasetError, now_iso, write_table_atomic
from exafs_cn.datagen._labels import crystalnn_description
from exafs_cn.datagen._simulate import label_structure
from exafs_cn.datagen._structures import MP_SOURCE, SYMPREC, StructureRecord, one_line
from exafs_cn.exceptions import MPFetchError

#: Preset name of MP's spectra in a dataset folder.
MP_PRESET = "mp-api"
DEFAULT_ENDPOINT = "https://api.materialsproject.org/"
#: Documents per request: small enough that one failed request costs little.
DEFAULT_BATCH_SIZE = 200
MP_FEFF_DESCRIPTION = {
    "name": MP_PRESET,
    "program": "FEFF9 (run by the Materials Project; spectra downloaded, not computed here)",
    "cards": ["EDGE K", "SCF 4.5 (MP default)", "RPATH 10 (MP default)", "EXAFS"],
    "averaging": "MP's multiplicity-weighted average over inequivalent absorber sites",
    "e0": "larch find_e0 on MP's mu(E) (maximum of the derivative)",
}


@dataclass
class FetchReport:
    documents_listed: int
    already_fetched: int
    spectra_written: int
    failures: int
    shards_written: int
    database_version: str | None


def fetch_mp(
    out: Dataset,
    elements: Sequence[str],
    *,
    api_key: str | None = None,
    endpoint: str = DEFAULT_ENDPOINT,
    batch_size: int = DEFAULT_BATCH_SIZE,
    retries: int = 4,
    progress: bool = True,
) -> FetchReport:
    """Download MP's K-edge EXAFS documents for ``elements`` into the dataset ``out``.

    Everything that can fail before data arrives (key, connection, database version)
    is checked first, so an unusable setup writes nothing.
    """
    api_key = api_key or os.environ.get("MP_API_KEY")
    if not api_key:
        raise MPFetchError(
            "MP_API_KEY is not set: get a key at https://next-gen.materialsproject.org/api and export MP_API_KEY=<key>"
        )
    _check_folder(out)
    client = _open_client(api_key, endpoint)
    with client:
        db_version = getattr(client, "db_version", None)
        listed = {
            el: _call(partial(_list_task_ids, client, el), f"list of {el} K-edge EXAFS documents", retries) for el in elements
        }
        # Held from the first write on: one writer per dataset folder (see Dataset.writer_lock).
        with out.writer_lock():
            done = set(out.documents(MP_PRESET)["task_id"])
            todo = [(el, tid) for el, ids in listed.items() for tid in ids if tid not in done]
            _write_provenance(out, db_version, elements, endpoint)
            report = FetchReport(sum(map(len, listed.values())), sum(map(len, listed.values())) - len(todo), 0, 0, 0, db_version)
            bar = tqdm(total=len(todo), desc="MP EXAFS documents", unit="doc", disable=not progress)
            for element, batch in _batches(todo, batch_size):
                docs = _call(partial(_download, client, element, batch), f"{element} documents {batch[0]}..", retries)
                spectra, failures, documents, labels, label_failures = convert_documents(docs)
                out.add_labels(pd.DataFrame(labels), pd.DataFrame(label_failures))
                number = out.append_shard(MP_PRESET, spectra, failures)
                write_table_atomic(
                    pa.Table.from_pylist(documents, DOCUMENT_SCHEMA),
                    out.shard_dir("documents", MP_PRESET) / f"part-{number:05d}.parquet",
                )
                report.spectra_written += len(spectra)
                report.failures += len(failures)
                report.shards_written += 1
                bar.update(len(batch))
            bar.close()
    return report


def convert_documents(docs: Iterable[Any]) -> tuple[list[dict], list[dict], list[dict], list[dict], list[dict]]:
    """Spectrum rows, failure rows, document rows, label rows and label failures.

    A document that is not a K-edge EXAFS spectrum of a 3d metal, or whose structure
    CrystalNN cannot label, becomes a failure with its reason; the rest go on.
    """
    spectra, failures, documents, labels, label_failures = [], [], [], [], []
    for doc in docs:
        spectrum = doc.spectrum
        material_id = _mp_id(doc.task_id)
        absorber = str(getattr(doc.absorbing_element, "value", doc.absorbing_element))
        key = {"material_id": material_id, "absorber": absorber, "site_index": SOURCE_AVERAGED, "preset": MP_PRESET}
        documents.append(
            {
                "material_id": material_id,
                "absorber": absorber,
                "task_id": _mp_id(doc.task_id),
                "spectrum_id": _spectrum_id(doc),
                "last_updated": str(doc.last_updated),
            }
        )
        problem = _document_problem(doc)
        if problem:
            failures.append({**key, "stage": "document", "reason": problem})
            continue
        structure = spectrum.structure
        record = StructureRecord(material_id, structure.composition.reduced_formula, structure.to(fmt="cif"), "cif", MP_SOURCE)
        site_rows, site_failures = label_structure(record)
        labels += site_rows
        label_failures += site_failures
        pair = [row for row in site_rows if row["absorber"] == absorber]
        if not pair:
            reason = next((f["reason"] for f in site_failures if f["absorber"] in (absorber, None)), "no label")
            failures.append({**key, "stage": "labels", "reason": reason})
            continue
        energy = np.asarray(spectrum.x, float)
        mu = np.asarray(spectrum.y, float)
        pair_cn = pair[0]["pair_cn"]
        spectra.append(
            {
                **key,
                "formula": record.formula,
                "multiplicity": int(sum(row["multiplicity"] for row in pair)),
                "cn": int(round(pair_cn)) if pair[0]["pair_cn_is_integer"] else None,
                "pair_cn": pair_cn,
                "e0": _find_e0(energy, mu),
                "e_fermi": None,
                "n_atoms": len(structure),
                "cluster_radius": None,
                "trimmed": False,
                "feff_seconds": None,
                "energy": energy,
                "mu": mu,
                "k": np.empty(0),
                "chi": np.empty(0),
            }
        )
    return spectra, failures, documents, labels, label_failures


def _document_problem(doc: Any) -> str | None:
    spectrum = doc.spectrum
    if spectrum is None or getattr(spectrum, "structure", None) is None:
        return "document has no spectrum or no structure"
    edge = str(getattr(doc.edge, "value", doc.edge))
    kind = str(getattr(doc.spectrum_type, "value", doc.spectrum_type))
    if edge != "K" or kind not in ("EXAFS", "XAFS"):
        return f"not a K-edge EXAFS spectrum ({edge} edge, {kind})"
    energy = np.asarray(spectrum.x, float)
    mu = np.asarray(spectrum.y, float)
    if energy.size < 50 or not np.all(np.isfinite(energy)) or not np.all(np.isfinite(mu)):
        return f"spectrum has {energy.size} points or non-finite values"
    if np.any(np.diff(energy) <= 0):
        return "energies not strictly increasing"
    return None


def _find_e0(energy: np.ndarray, mu: np.ndarray) -> float:
    from larch.xafs import find_e0

    return float(find_e0(energy, mu))


def _mp_id(task_id: Any) -> str:
    """MP's legacy id (``mp-19009``): AlphaIDs of newer emmet versions know it as ``.string``."""
    return str(getattr(task_id, "string", task_id))


def _spectrum_id(doc: Any) -> str:
    try:
        return str(doc.spectrum_id)
    except ValueError:  # emmet derives it from task_id, which a document may lack
        return ""


def _check_folder(dataset: Dataset) -> None:
    prov = dataset.provenance()
    if prov and prov.get("source") != MP_SOURCE:
        raise DatasetError(f"{dataset.root}: holds data from source {prov.get('source')!r}; fetch MP spectra into a new folder")


def _open_client(api_key: str, endpoint: str) -> Any:
    from mp_api.client import MPRester

    try:
        return MPRester(api_key=api_key, endpoint=endpoint, use_document_model=True, mute_progress_bars=True)
    except Exception as exc:  # requests' ConnectionError, MPRestError for a refused key, ...
        raise MPFetchError(f"cannot reach the Materials Project API at {endpoint}: {one_line(exc, 300)}") from None


def _call(fn: Callable[[], Any], what: str, retries: int) -> Any:
    """Run one API request, retrying with exponential backoff (1, 2, 4, ... s)."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as exc:
            if not _retryable(exc):
                raise MPFetchError(f"Materials Project API refused the {what}: {one_line(exc, 300)}") from None
            if attempt == retries:
                raise MPFetchError(
                    f"Materials Project API failed on the {what} after {retries + 1} tries: {one_line(exc, 300)}"
                ) from None
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


def _retryable(exc: BaseException) -> bool:
    """Connection trouble, rate limits and server errors pass; a refused key or a bad query does not."""
    match = re.search(r"status\s+code\s+(\d{3})", str(exc))
    return match is None or match.group(1) == "429" or match.group(1).startswith("5")


def _list_task_ids(client: Any, element: str) -> list[str]:
    docs = client.materials.xas.search(absorbing_element=element, edge="K", spectrum_type="EXAFS", fields=["task_id"])
    return sorted({_mp_id(doc.task_id) for doc in docs})


def _download(client: Any, element: str, task_ids: list[str]) -> list[Any]:
    return client.materials.xas.search(absorbing_element=element, edge="K", spectrum_type="EXAFS", task_ids=task_ids)


def _batches(todo: list[tuple[str, str]], size: int) -> Iterable[tuple[str, list[str]]]:
    by_element: dict[str, list[str]] = {}
    for element, task_id in todo:
        by_element.setdefault(element, []).append(task_id)
    for element, ids in by_element.items():
        for start in range(0, len(ids), size):
            yield element, ids[start : start + size]


def _write_provenance(dataset: Dataset, db_version: str | None, elements: Sequence[str], endpoint: str) -> None:
    prov = dataset.provenance()
    prov.setdefault("created", now_iso())
    fetched = sorted(set(prov.get("elements", [])) | set(elements))
    prov.update(
        {
            "source": MP_SOURCE,
            "source_description": f"Materials Project XAS documents (K edge, EXAFS) via mp-api from {endpoint}",
            "mp_database_version": db_version,
            "elements": fetched,
            "documents": "documents/mp-api/part-*.parquet: MP task and spectrum ids per row",
            "updated": now_iso(),
            "labels": {"crystalnn": crystalnn_description(), "symprec": SYMPREC, "site_average": "multiplicity-weighted"},
            "software": {
                "exafs_cn": __version__,
                "mp_api": version("mp-api"),
                "emmet_core": version("emmet-core"),
                "pymatgen": version("pymatgen"),
                "xraylarch": version("xraylarch"),
                "python": platform.python_version(),
            },
        }
    )
    prov.setdefault("presets", {})[MP_PRESET] = MP_FEFF_DESCRIPTION
    dataset.write_provenance(prov)
