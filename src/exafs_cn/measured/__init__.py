"""Measured spectra: reading beamline files and predicting their CN with the saved models.

The names below are this package's stable surface (what studies, benchmarks and users may
rely on), each imported from its module when first used; the modules, private as in scikit-learn
(``_name``), are free to change.
"""

from exafs_cn.lazy_exports import attach

#: Each module's stable names.
_EXPORTS = {
    "_readers": ("Columns", "E0Option", "MeasuredSpectrum", "SpectrumFileError", "checked", "read_file", "read_spectra"),
    "_formats": ("FORMATS", "format_of"),
    "_predict": ("DEFAULT_MODEL", "FileInput", "ModelStore", "bond_length_evidence", "predict_file", "predict_files", "predict_spectra", "shipped_models_dir"),
    "_prediction": ("Failure", "Prediction", "held_to_class"),
    "_pipeline": ("Batch", "predict_batches"),
    "_plot": ("Figure", "FigureNames", "write_figure"),
    "_e0_profile": ("FLOOR_PERCENTILE", "K_RANGE", "OFFSETS", "TOP", "profile", "score_floor"),
    "_fit": ("DEFAULT_S02", "FOIL_CLASS", "FitError", "ReferencePaths", "fit_first_shell", "fit_foil_s02"),
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
