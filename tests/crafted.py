"""Helpers for the tests that hand-craft hostile model files (imported by those tests)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path


class RunsCode:
    """An object whose unpickling would run a shell command that creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def rewrite_members(path: Path, change) -> None:
    """Replace a model archive's members by ``change(members)`` ({name: bytes}), as a hand-crafted file would."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members = change(members)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def rewrite_model_json(path: Path, change) -> None:
    """Edit a model file's ``model.json`` by ``change(document)``, which returns a document or its text."""

    def edit(members: dict) -> dict:
        changed = change(json.loads(members["model.json"]))
        return {**members, "model.json": (changed if isinstance(changed, str) else json.dumps(changed)).encode()}

    rewrite_members(path, edit)
