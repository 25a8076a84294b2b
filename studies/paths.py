"""Paths in results files, written relative to the repository so that they mean the same on any machine.

A sibling module of the study scripts (run as ``python studies/<name>.py``; the script's folder
is on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def portable(value):
    """``value`` with every absolute path inside the repository made relative to it, and every
    one beside it (``../shared``) relative to it too; lists and dicts are walked.

    >>> portable({"corpus": str(REPO.parent / "shared" / "x.xdi"), "n": 3})
    {'corpus': '../shared/x.xdi', 'n': 3}
    """
    if isinstance(value, str):
        return value.replace(f"{REPO}/", "").replace(f"{REPO.parent}/", "../")
    if isinstance(value, dict):
        return {portable(key): portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(item) for item in value]
    return value
