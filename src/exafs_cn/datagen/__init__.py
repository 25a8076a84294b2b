"""Making the training data: structures -> CrystalNN labels -> FEFF spectra -> dataset shards.

The names below are this package's stable surface (what studies and benchmarks rely on), each
imported from its module when first used; the modules themselves are free to change.
"""

from exafs_cn.lazy_exports import attach

#: Each module's stable names.
_EXPORTS = {
    "dataset": ("AVERAGE_K", "Dataset", "locate_dataset", "now_iso"),
    "feff": ("FeffError", "PRESETS", "simulate_site"),
    "labels": ("crystalnn_description", "crystalnn_label_weight"),
    "simulate": ("SiteTask", "simulate_one"),
    "structures": ("StructureRecord", "absorbers_in", "inequivalent_sites", "read_bundled"),
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
