"""The few X-ray tables the readers use (xraydb), behind one lock: K edges, L3/L2 edges,
element symbols by atomic number, and a guess of what an edge is.

The K edges of the ten 3d metals, which every file's checks read, are kept here as xraydb
gives them (``tests/test_measured_files.py`` checks them against it): xraydb's first query opens
its database, ~50 ms of every ``exafs-cn predict`` (``benchmarks/startup.py``).
"""

from __future__ import annotations

import functools
import threading

#: xraydb answers from one SQLite connection shared by the process: two threads asking at once
#: get each other's rows or an InterfaceError (seen on Python 3.13). Every call goes through
#: this lock, and the few tables the readers need are read once.
XRAYDB = threading.Lock()


#: K-edge energies (eV) of Sc..Zn from xraydb 4.5 (Elam, Ravel and Sieber's tables).
K_EDGES_3D = {
    "Sc": 4492.0, "Ti": 4966.0, "V": 5465.0, "Cr": 5989.0, "Mn": 6539.0,
    "Fe": 7112.0, "Co": 7709.0, "Ni": 8333.0, "Cu": 8979.0, "Zn": 9659.0,
}  # fmt: skip


@functools.cache
def k_edge(element: str) -> float:
    if element in K_EDGES_3D:
        return K_EDGES_3D[element]
    import xraydb

    with XRAYDB:
        return float(xraydb.xray_edge(element, "K").energy)


@functools.cache
def l_edges() -> tuple[tuple[str, float, float], ...]:
    """(symbol, L3 edge, L2 edge) in eV for Sc to Cf: the L3 edges that can sit near a 3d K edge."""
    import xraydb

    found = []
    with XRAYDB:
        for z in range(21, 99):
            symbol = xraydb.atomic_symbol(z)
            edges = xraydb.xray_edges(symbol)
            if edges.get("L3") is not None and edges.get("L2") is not None:
                found.append((symbol, float(edges["L3"].energy), float(edges["L2"].energy)))
    return tuple(found)


def looks_like(e0: float) -> str:
    import xraydb

    with XRAYDB:
        guess = xraydb.guess_edge(e0)
    return f" looks like {guess[0]} {guess[1]}" if guess else ""


def symbol(text: str | None) -> str | None:
    if text is None:
        return None
    text = str(text).strip()
    if text.isdigit():  # Athena stores Z in some versions
        import xraydb

        if not 1 <= int(text) <= 98:
            return None
        with XRAYDB:
            return xraydb.atomic_symbol(int(text))
    return text.capitalize() or None
