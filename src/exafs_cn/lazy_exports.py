"""A package's stable names, imported from its modules when first used (PEP 562).

``exafs_cn.learn`` and ``exafs_cn.datagen`` import scikit-learn, pymatgen and FEFF's
runner; ``exafs_cn.measured`` holds prediction, which must start fast. Their
``__init__`` declares the names that studies, benchmarks and users may rely on, and each
is imported from its module only when asked for, so importing one module of the package
does not import them all.

Examples
--------
>>> getattr_, dir_, names = attach("exafs_cn", {"elements": ("METALS_3D",)})
>>> names
['METALS_3D']
>>> getattr_("METALS_3D")[:3]
('Sc', 'Ti', 'V')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence


def attach(package: str, exports: Mapping[str, Sequence[str]]) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``, from ``{module: names}``."""
    for module, names in exports.items():
        if isinstance(names, str):  # ("name") without its comma: the letters would be exported
            raise TypeError(f"{package}.{module}: give its names as a tuple, not the string {names!r}")
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(where)

    return __getattr__, __dir__, sorted(where)


__all__ = ["attach"]
