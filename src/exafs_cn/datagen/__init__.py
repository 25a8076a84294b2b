"""Making the training data: structures -> CrystalNN labels -> FEFF spectra -> dataset shards.

The names below are this package's stable surface (what studies and benchmarks rely on), each
imported from its module when first used; the modules, private as in scikit-learn (``_name``), are
free to change.
"""

from exafs_cn.lazy_exports import attach

#: Each module's stable names.
_EXPORTS = {
    "_dataset": ("AVERAGE_K", "Dataset", "locate_dataset", "now_iso"),
    "_labels": ("crystalnn_description", "crystalnn_label_weight"),
    "_simulate": ("SiteTask", "simulate_one"),
    "_structures": ("StructureRecord", "absorbers_in", "inequivalent_sites", "read_bundled"),
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
