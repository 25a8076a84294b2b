"""Where structures come from, and which absorber sites in them are distinct.

Two sources feed the pipeline: the Materials Project set bundled with the package
(``data/mp_3d_structures.csv.gz``, see ``data/PROVENANCE.md``) and any folder of
CIF/POSCAR files a user points at. Both yield :class:`StructureRecord` objects that
carry the structure *text*, not a parsed object, so records are cheap to ship to
worker processes and a corrupt file fails inside the unit that reads it, where the
failure is recorded, instead of stopping the whole run.

A bundled structure is keyed by its mp-id (the table is fixed by its checksum). A file
from a folder is keyed by its content (:func:`content_key`): renaming a file redoes
nothing, editing it redoes it, two files with one stem stay two structures, and two
copies of one structure are one. The file names are kept for display.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from exafs_cn.elements import METALS_3D
from exafs_cn.exceptions import StructureError, one_line
from exafs_cn.models._fit_references import bundled_structures_path

#: The 3d transition metals exafs-cn predicts for, in Z order.

#: Symmetry tolerance for finding inequivalent sites (pymatgen's default).
SYMPREC = 0.01

#: The kinds of source a dataset folder is made from (``provenance.json`` "source").
BUNDLED_SOURCE = "bundled"
FOLDER_SOURCE = "folder"
MP_SOURCE = "materials-project-api"  # Materials Project's own spectra (fetch-mp)
_STRUCTURE_SUFFIXES = {".cif": "cif", ".vasp": "poscar", ".poscar": "poscar"}


@dataclass(frozen=True)
class StructureRecord:
    """One structure as text, with enough metadata to name it in the dataset."""

    material_id: str
    formula: str
    text: str
    fmt: str  # "cif" or "poscar"
    source: str
    name: str = ""  # the file name(s) for a folder's structure; the mp-id for the bundled set

    def parse(self) -> Structure:
        """Parse the text; any parser complaint becomes a one-line StructureError."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structure = Structure.from_str(self.text, fmt=self.fmt)
        except Exception as exc:  # pymatgen raises many types for bad files
            raise StructureError(f"unreadable {self.fmt.upper()}: {one_line(exc)}") from None
        if len(structure) == 0:
            raise StructureError(f"{self.fmt.upper()} holds no atoms")
        if not structure.is_ordered:
            raise StructureError("partial occupancies: FEFF needs an ordered structure")
        _check_size(structure)
        return structure


#: Bounds of a crystal the labels and FEFF can take. The bundled MP set reaches a = 88 A,
#: 63 A^3 per atom and 152 sites (a 1,500-structure sample); a cell of 3615 A with a few
#: atoms kept CrystalNN searching for neighbours for over 40 s at 5 GB.
MAX_CELL_LENGTH = 500.0
MAX_VOLUME_PER_ATOM = 1000.0
MAX_SITES = 5000


def _check_size(structure: Structure) -> None:
    lengths = structure.lattice.abc
    if not all(np.isfinite(lengths)) or max(lengths) > MAX_CELL_LENGTH:
        raise StructureError(f"cell length {max(lengths):.4g} A: more than the {MAX_CELL_LENGTH:g} A of any crystal exafs-cn labels")
    per_atom = structure.volume / len(structure)
    if not np.isfinite(per_atom) or per_atom > MAX_VOLUME_PER_ATOM:
        raise StructureError(f"{per_atom:.4g} A^3 per atom: not a condensed solid (at most {MAX_VOLUME_PER_ATOM:g})")
    if len(structure) > MAX_SITES:
        raise StructureError(f"{len(structure)} sites in the cell, more than {MAX_SITES}")


@dataclass(frozen=True)
class AbsorberSite:
    """A symmetry-inequivalent absorber site and how many equivalent copies it has."""

    site_index: int
    multiplicity: int


def read_bundled(path: Path | None = None) -> list[StructureRecord]:
    """All structures of the bundled MP set, in material_id order."""
    path = path or bundled_structures_path()
    with gzip.open(path, "rt") as handle:
        table = pd.read_csv(handle, usecols=["material_id", "formula", "cif"])
    table = table.sort_values("material_id", key=_mp_id_key, kind="stable")
    return [
        StructureRecord(mid, formula, cif, "cif", BUNDLED_SOURCE, mid)
        for mid, formula, cif in table.itertuples(index=False)
    ]


def read_folder(folder: Path) -> list[StructureRecord]:
    """Every CIF/POSCAR file in ``folder``, keyed by content (see :func:`content_key`).

    Files named ``POSCAR``/``CONTCAR`` count too. A file that does not parse is still
    listed (keyed by its bytes), so its failure is recorded by the unit that labels it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise StructureError(f"{folder}: not a folder of CIF/POSCAR files")
    by_key: dict[str, StructureRecord] = {}
    for path in sorted(folder.iterdir()):
        fmt = _STRUCTURE_SUFFIXES.get(path.suffix.lower())
        if fmt is None and path.name.upper().startswith(("POSCAR", "CONTCAR")):
            fmt = "poscar"
        if fmt is None or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        record = StructureRecord("", path.stem, text, fmt, FOLDER_SOURCE, path.name)
        try:  # the formula that groups CV folds is the structure's, not the file's name
            structure = record.parse()
            key, formula = content_key(structure), structure.composition.reduced_formula
        except StructureError:
            key, formula = "file-" + hashlib.sha256(text.encode()).hexdigest()[:12], path.stem
        if key in by_key:  # the same structure in two files: one record, both names
            by_key[key] = replace(by_key[key], name=f"{by_key[key].name}, {path.name}")
        else:
            by_key[key] = replace(record, material_id=key, formula=formula)
    if not by_key:
        raise StructureError(f"{folder}: no .cif, .vasp or POSCAR files found")
    return list(by_key.values())


def content_key(structure: Structure) -> str:
    """A short hash of what the structure is, not how its file is written.

    Lattice vectors and fractional coordinates rounded to 1e-5, sites sorted, so the
    same structure written as CIF or POSCAR, or with its atoms listed in another order,
    gets one key.
    """
    lattice = [[round(float(v), 5) for v in row] for row in structure.lattice.matrix]
    sites = sorted((site.species_string, *(round(float(c) % 1.0, 5) % 1.0 for c in site.frac_coords)) for site in structure)
    text = json.dumps({"lattice": lattice, "sites": sites}, separators=(",", ":"))
    return "sha-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def read_source(source: str) -> list[StructureRecord]:
    """``"bundled"`` for the packaged MP set, otherwise a folder path."""
    return read_bundled() if source == BUNDLED_SOURCE else read_folder(Path(source))


def absorbers_in(structure: Structure, elements: Sequence[str] = METALS_3D) -> list[str]:
    """The requested absorber elements present in ``structure``, in Z order."""
    present = {el.symbol for el in structure.composition.elements}
    return [el for el in METALS_3D if el in present and el in elements]


def inequivalent_sites(
    structure: Structure, element: str, symprec: float = SYMPREC
) -> list[AbsorberSite]:
    """Symmetry-inequivalent sites of ``element`` with their multiplicities.

    Materials Project computes one spectrum per inequivalent site and averages them
    by multiplicity, so these are exactly the FEFF runs an MP-style spectrum needs.
    """
    if element not in {el.symbol for el in structure.composition.elements}:
        raise StructureError(f"no {element} atom in the structure")
    try:
        symmetrized = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetrized_structure()
        groups = symmetrized.equivalent_indices
    except Exception as exc:  # spglib failures on odd cells: fall back to P1
        warnings.warn(f"symmetry analysis failed ({one_line(exc)}); treating every site as distinct", stacklevel=2)
        groups = [[i] for i in range(len(structure))]
    return [
        AbsorberSite(site_index=min(group), multiplicity=len(group))
        for group in groups
        if structure[group[0]].specie.symbol == element
    ]


def _mp_id_key(ids: pd.Series) -> pd.Series:
    """Sort mp-ids numerically (mp-2 before mp-10) so every run plans in one order."""
    return pd.to_numeric(ids.str.extract(r"(\d+)$")[0], errors="coerce").fillna(-1)


__all__ = [
    "METALS_3D",
    "SYMPREC",
    "AbsorberSite",
    "StructureError",
    "StructureRecord",
    "absorbers_in",
    "content_key",
    "inequivalent_sites",
    "read_bundled",
    "read_folder",
    "read_source",
]
