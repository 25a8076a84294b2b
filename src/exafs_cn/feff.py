"""FEFF8L from the xraylarch wheel: input cards, one run per absorber site, failures.

Shared by the two flows that run FEFF: the dataset's site spectra (``exafs_cn.datagen``) and
the first-shell path of a fit to a measured spectrum (``exafs_cn.measured``'s ``--fit``).

Why not Larch's own runner: it changes the working directory of the calling process,
so parallel runs would trample each other. Each run here gets its own scratch folder
and runs the six feff8l modules as subprocesses with ``cwd`` set. FEFF reports fatal
errors on stdout and still exits 0, so every module's log is scanned and the expected
output checked; a failure raises :class:`FeffError` with a one-line reason.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import larch
import numpy as np
from larch.xafs.xafsutils import KTOE
from pymatgen.core import Element, Structure

from exafs_cn.exceptions import FeffError

#: FEFF8L's compiled atom limit (``Too many atoms, max is 1000``).
FEFF8L_MAX_ATOMS = 1000
FEFF_MODULES = ("rdinp", "pot", "xsph", "pathfinder", "genfmt", "ff2x")
#: The file each module must leave behind; a module that dies quietly is caught here,
#: not one step later as "file does not exist" from the next module.
FEFF_OUTPUTS = {"pot": "pot.pad", "xsph": "phase.pad", "pathfinder": "paths.dat", "genfmt": "list.dat", "ff2x": "xmu.dat"}
FEFF_PROGRAM = "feff8l (Feff85L for EXAFS, from xraylarch)"

_FATAL = re.compile(r"fatal|too many|max is|exceed|error", re.IGNORECASE)
_EF = re.compile(r"Mu=\s*(-?[\d.]+E[+-]\d+)")


@dataclass(frozen=True)
class FeffPreset:
    """The FEFF cards that differ between speed and faithfulness.

    ``cluster_radius`` is the radius of the ATOMS list. It must reach RPATH so that
    every path up to RPATH has its atoms; the extra Angstrom gives the overlapped
    (or SCF) potentials of the outermost shell their neighbours.

    ``omit_elements`` are left out of the cluster. Hydrogen is: feff8l's potential
    module runs for many minutes on hydrides (TiH2: over 400 s against 0.6 s for a
    typical site) and H backscatters too weakly to shape the spectrum. CN labels are
    CrystalNN's on the full structure either way.
    """

    name: str
    rpath: float
    nleg: int
    scf_radius: float | None
    cluster_radius: float
    timeout_s: float
    omit_elements: tuple[str, ...] = ("H",)

    def cards(self) -> list[str]:
        cards = ["EDGE K", "S02 1.0", "EXAFS 20", f"RPATH {self.rpath:g}", f"NLEG {self.nleg}"]
        if self.scf_radius is not None:
            cards.append(f"SCF {self.scf_radius:g}")
        return cards

    def describe(self) -> dict[str, object]:
        return {**asdict(self), "cards": self.cards(), "program": FEFF_PROGRAM}

    def physics(self) -> dict[str, object]:
        """What decides the spectra (everything but the time limit)."""
        described = self.describe()
        described.pop("timeout_s")
        described["omit_elements"] = list(self.omit_elements)
        return described


PRESETS: dict[str, FeffPreset] = {
    # Default for the bundled data: ~0.6 s/site on one core. E0 wanders by a few eV
    # without SCF, which the feature pipeline absorbs by re-finding E0.
    # A typical site takes ~0.6 s; a run 100 times longer is pathological and recorded.
    "fast": FeffPreset("fast", rpath=6.0, nleg=6, scf_radius=None, cluster_radius=7.0, timeout_s=60),
    # Close to Materials Project's own runs (they used SCF 4.5, RPATH 10 in FEFF9),
    # at ~14 s/site: the same spectra as SCF 4.5 at a tenth of the cost.
    "mp": FeffPreset("mp", rpath=8.0, nleg=8, scf_radius=3.0, cluster_radius=9.0, timeout_s=1800),
}


@dataclass(frozen=True)
class Cluster:
    """Atoms around one absorber, absorber first, sorted by distance."""

    symbols: list[str]
    coords: np.ndarray  # (n, 3), absorber at the origin
    radius: float  # the radius actually covered (smaller than asked when trimmed)
    trimmed: bool

    @property
    def distances(self) -> np.ndarray:
        return np.linalg.norm(self.coords, axis=1)


@dataclass(frozen=True)
class FeffSpectrum:
    """What FEFF gave for one site: mu(E) on its energy grid and chi(k) on its k grid."""

    energy: np.ndarray
    mu: np.ndarray
    k: np.ndarray
    chi: np.ndarray
    e0: float  # absolute energy where k = 0: FEFF's edge, the E0 that autobk needs
    e_fermi: float  # FEFF's Fermi level, relative energy (the "Mu=" header line)
    n_atoms: int
    cluster_radius: float
    trimmed: bool
    seconds: float


def build_cluster(
    structure: Structure,
    site_index: int,
    radius: float,
    max_atoms: int = FEFF8L_MAX_ATOMS,
    omit_elements: tuple[str, ...] = (),
) -> Cluster:
    """Atoms within ``radius`` of the absorber, cut back to FEFF's atom limit.

    Trimming drops whole distance shells from the outside, so the cluster stays
    spherical and what is kept is exact; ``radius`` then reports what was covered.
    """
    centre = structure[site_index].coords
    neighbours = [
        n for n in structure.get_neighbors(structure[site_index], radius) if n.specie.symbol not in omit_elements
    ]
    symbols = [structure[site_index].specie.symbol] + [n.specie.symbol for n in neighbours]
    coords = np.vstack([np.zeros(3)] + [n.coords - centre for n in neighbours])
    dist = np.linalg.norm(coords, axis=1)
    order = np.lexsort((coords[:, 2], coords[:, 1], coords[:, 0], np.round(dist, 4)))
    coords, dist = coords[order], dist[order]
    symbols = [symbols[i] for i in order]
    covered, trimmed = radius, False
    if len(symbols) > max_atoms:
        # Keep shells strictly inside the distance of the first atom that does not fit.
        cut = np.round(dist[max_atoms], 4)
        keep = np.round(dist, 4) < cut
        symbols = [s for s, k in zip(symbols, keep) if k]
        coords, covered, trimmed = coords[keep], float(cut), True
    return Cluster(symbols, coords, covered, trimmed)


def feff_input(cluster: Cluster, preset: FeffPreset, title: str, extra_cards: tuple[str, ...] = ()) -> str:
    """feff.inp text: preset cards (then ``extra_cards``), one potential per element, the cluster."""
    absorber = cluster.symbols[0]
    others = sorted(set(cluster.symbols[1:]), key=lambda s: Element(s).Z)
    ipot = {symbol: i + 1 for i, symbol in enumerate(others)}
    lines = [f"TITLE {title}", *preset.cards(), *extra_cards, "", "POTENTIALS", "*  ipot   Z  tag  lmax1 lmax2 xnatph"]
    lines.append(f"   0  {Element(absorber).Z:3d}  {absorber:<3s}  -1  -1  0.001")
    for symbol in others:
        count = sum(1 for s in cluster.symbols[1:] if s == symbol)
        lines.append(f"   {ipot[symbol]}  {Element(symbol).Z:3d}  {symbol:<3s}  -1  -1  {count}")
    lines += ["", "ATOMS", "*   x           y           z       ipot  tag   distance"]
    for i, (symbol, xyz, d) in enumerate(zip(cluster.symbols, cluster.coords, cluster.distances)):
        pot = 0 if i == 0 else ipot[symbol]
        lines.append(f"  {xyz[0]:11.5f} {xyz[1]:11.5f} {xyz[2]:11.5f}  {pot:3d}  {symbol:<3s} {d:9.5f}")
    lines += ["END", ""]
    return "\n".join(lines)


def feff_bin_dir() -> Path:
    """Folder of the feff8l executables inside the installed xraylarch."""
    folder = Path(larch.__file__).parent / "bin" / "linux64"
    if not (folder / "feff8l_rdinp").exists():
        raise FeffError(f"feff8l executables not found in {folder}")
    return folder


def run_feff_input(inp_text: str, timeout_s: float, keep_dir: Path | None = None) -> tuple[Path, float]:
    """Run all feff8l modules on ``inp_text`` in a fresh scratch folder.

    Returns the folder (caller removes it) and the wall time. Raises FeffError on any
    sign of failure: non-zero exit, a fatal message in a log, or no xmu.dat.
    """
    bin_dir = feff_bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="feff_", dir=keep_dir))
    (folder / "feff.inp").write_text(inp_text)
    start = time.perf_counter()
    try:
        for module in FEFF_MODULES:
            remaining = timeout_s - (time.perf_counter() - start)
            if remaining <= 0:
                raise subprocess.TimeoutExpired(module, timeout_s)
            proc = subprocess.run(
                [str(bin_dir / f"feff8l_{module}")],
                cwd=folder,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=remaining,
            )
            log = proc.stdout + proc.stderr
            (folder / f"log_{module}.txt").write_text(log)
            fatal = _fatal_line(log)
            if proc.returncode != 0 or fatal:
                reason = fatal or f"exit status {proc.returncode}"
                raise FeffError(f"feff8l_{module}: {reason}")
            expected = FEFF_OUTPUTS.get(module)
            if expected and not (folder / expected).exists():
                raise FeffError(f"feff8l_{module}: wrote no {expected}")
    except subprocess.TimeoutExpired:
        shutil.rmtree(folder, ignore_errors=True)
        raise FeffError(f"timeout after {timeout_s:g} s") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, time.perf_counter() - start


def read_xmu(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """energy, mu, k, chi and E_F from feff8l's xmu.dat."""
    text = path.read_text(errors="replace")
    match = _EF.search(text)
    if match is None:
        raise FeffError("xmu.dat has no 'Mu=' (Fermi level) header line")
    try:
        data = np.loadtxt(path, comments="#", ndmin=2)
    except ValueError as exc:
        raise FeffError(f"xmu.dat unreadable: {exc}") from None
    if data.shape[0] < 100 or data.shape[1] < 6 or not np.all(np.isfinite(data)):
        raise FeffError(f"xmu.dat has {data.shape[0]} rows x {data.shape[1]} columns or non-finite values")
    energy, _, k, mu, _, chi = data[:, :6].T
    return energy, mu, k, chi, float(match.group(1))


def simulate_site(structure: Structure, site_index: int, preset: FeffPreset, title: str) -> FeffSpectrum:
    """One absorber site through FEFF: cluster, input, run, parse, clean up."""
    cluster = build_cluster(structure, site_index, preset.cluster_radius, omit_elements=preset.omit_elements)
    if cluster.radius < preset.rpath:
        raise FeffError(
            f"cluster trimmed to {len(cluster.symbols)} atoms covers only {cluster.radius:.2f} A < RPATH {preset.rpath:g}"
        )
    folder, seconds = run_feff_input(feff_input(cluster, preset, title), preset.timeout_s)
    try:
        energy, mu, k, chi, e_fermi = read_xmu(folder / "xmu.dat")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return FeffSpectrum(
        energy=energy,
        mu=mu,
        k=k,
        chi=chi,
        # FEFF's grid sometimes starts at k = 0.05, so E0 is read off the whole grid.
        e0=float(np.median(energy - KTOE * k**2)),
        e_fermi=e_fermi,
        n_atoms=len(cluster.symbols),
        cluster_radius=cluster.radius,
        trimmed=cluster.trimmed,
        seconds=seconds,
    )


def _fatal_line(log: str) -> str | None:
    """The first line of a FEFF log that reports a fatal problem, if any.

    Lines FEFF itself calls WARNING are not fatal (e.g. "NO ATOMS CLOSE ENOUGH TO
    OVERLAP ... Rmt set to Rnorman. May be error in input file" in open structures:
    FEFF goes on and writes a valid spectrum), nor is the pathfinder's "keep and heap
    limits" line that every run prints.
    """
    for line in log.splitlines():
        text = line.strip()
        if text.upper().startswith("WARNING") or "heap limits" in text:
            continue
        if _FATAL.search(text):
            return " ".join(text.split())[:200]
    return None
