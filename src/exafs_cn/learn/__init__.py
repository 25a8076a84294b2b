"""Learning from the data: features in bulk, models, cross-validation, the study's experiments, final models.

The names below are this package's stable surface (what studies and benchmarks rely on), each
imported from its module when first used; the modules, private as in scikit-learn (``_name``), are
free to change.
"""

from exafs_cn.lazy_exports import attach

#: Each module's stable names.
_EXPORTS = {
    "_augment": ("Augmentation", "DEFAULT_AUGMENTATION"),
    "_average_cn": ("average_cn_metrics", "cross_validate_average_cn"),
    "_bond_lengths": ("build_bond_lengths", "write_bond_lengths"),
    "_calibration": ("calibrated", "top_label_ece"),
    "_corpus": ("cached_features", "dataset_fingerprint", "default_cache_dir", "feff_spectrum", "load_average_cn_features", "load_features", "pair_spectra", "short_hash"),
    "_evaluate": ("ElementData", "cross_validate", "majority_accuracy", "splitter"),
    "_first_shell": ("FIRST_SHELL_FEATURE_SET", "fit_first_shell_models", "pair_labels"),
    "_holdout": ("HOLDOUT_FOLDS", "stack_copies"),
    "_models": ("make_model",),
    "_reproduce": (
        "CrossElementRows",
        "ExperimentPlan",
        "MODEL_SPECS",
        "ModelSpec",
        "cross_element_cv",
        "cross_element_probabilities",
        "cross_element_rows",
        "plan_features",
        "select_subset",
    ),
    "_train": ("DEFAULT_MIN_CLASS_COUNT", "PREDICT_MIN_LEAF", "PREDICT_TREES", "fit_models", "prediction_params", "train_models", "training_set", "usable_rows"),
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)
