"""The Examples sections of the docstrings run, and give what they show (the API pages quote them)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULES = [
    "exafs_cn.atomic",
    "exafs_cn.lazy_exports",
    "exafs_cn.datagen._first_shell",
    "exafs_cn.datagen._fit_references",
    "exafs_cn.examples",
    "exafs_cn.exceptions",
    "exafs_cn.features",
    "exafs_cn.larch_output",
    "exafs_cn.learn._first_shell",
    "exafs_cn.models._bond_lengths",
    "exafs_cn.models._measured_calibration",
    "exafs_cn.models._archive",
    "exafs_cn.models._checks",
    "exafs_cn.models._power_calibrated",
    "exafs_cn.learn._models",
    "exafs_cn.measured._athena",
    "exafs_cn.measured._columns",
    "exafs_cn.measured._e0_profile",
    "exafs_cn.models._e0_references",
    "exafs_cn.measured._expressions",
    "exafs_cn.measured._fit",
    "exafs_cn.measured._near_edge",
    "exafs_cn.measured._api",
    "exafs_cn.measured._prediction",
    "exafs_cn.measured._readers",
    "exafs_cn.regular_files",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.chdir(REPO)  # the examples name files of the repository's tests/data
    monkeypatch.delenv("EXAFS_CN_MODELS", raising=False)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see the output above)"


def test_every_module_with_examples_is_checked():
    with_examples = {
        ".".join(path.relative_to(REPO / "src").with_suffix("").parts)
        for path in (REPO / "src" / "exafs_cn").rglob("*.py")
        if ">>> " in path.read_text()
    }
    assert with_examples <= set(MODULES), sorted(with_examples - set(MODULES))


def test_the_api_page_shows_no_raw_sphinx_roles():
    """mkdocstrings renders numpydoc but not Sphinx roles: ``:func:`x``` would show as typed."""
    import inspect
    import re

    names = re.findall(r"^::: (\S+)", (REPO / "docs" / "api.md").read_text(), flags=re.M)
    assert len(names) >= 7
    for name in names:
        module, _, attribute = name.rpartition(".")
        obj = getattr(importlib.import_module(module), attribute)
        docs = [inspect.getdoc(obj) or ""]
        if inspect.isclass(obj):
            docs += [inspect.getdoc(v) or "" for k, v in vars(obj).items() if not k.startswith("_") and (callable(v) or isinstance(v, property))]
        roles = [role for doc in docs for role in re.findall(r":\w+:`[^`]+`", doc)]
        assert not roles, f"{name}: {roles}"
