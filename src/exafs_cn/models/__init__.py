"""Everything prediction loads, and nothing that trains.

A models folder holds, per absorber element, one file per model (``<element>/<name>.model``,
``_names``), each a ``SavedModel`` (``_files``) in the arrays-and-JSON archive format
(``_archive``) built from the classes ``_checks`` allows and checked before first use; beside
them the measured calibration (``_measured_calibration``), the E0 references and the training pairs'
bond lengths (``_bond_lengths``); in the package, the
reference sites ``--fit`` takes FEFF paths from and their structures (``_fit_references``). The
estimators of our own that a file may hold live here too (``_quantile_forest``,
``_power_calibrated``, ``_torch_mlp``), as does the "no answer" check (``_novelty``).
``exafs_cn.learn`` makes these files; ``exafs_cn.measured`` reads them; this package imports
neither.

The names below are this package's stable surface (studies, benchmarks and users may rely
on them); the modules, private as in scikit-learn (``_name``), are free to change.
"""

from exafs_cn.models._bond_lengths import BOND_LENGTHS_FILE, DENSITY_FLOOR, Z_90, BondLengths
from exafs_cn.models._files import MODEL_FORMAT, MODEL_SUFFIX, ModelFileError, SavedModel, model_path
from exafs_cn.models._measured_calibration import CALIBRATION_FILE, CalibrationFileError, PowerCalibration
from exafs_cn.models._names import AVERAGE_CN_MODEL, FIRST_SHELL_MODELS, MODEL_NAMES, NEIGHBOUR_MODEL, R1_MODEL
from exafs_cn.models._novelty import NoveltyCheck
from exafs_cn.models._quantile_forest import ConformalQuantileForest

__all__ = [
    "AVERAGE_CN_MODEL",
    "BOND_LENGTHS_FILE",
    "CALIBRATION_FILE",
    "DENSITY_FLOOR",
    "FIRST_SHELL_MODELS",
    "MODEL_FORMAT",
    "MODEL_NAMES",
    "MODEL_SUFFIX",
    "NEIGHBOUR_MODEL",
    "R1_MODEL",
    "Z_90",
    "BondLengths",
    "CalibrationFileError",
    "ConformalQuantileForest",
    "ModelFileError",
    "NoveltyCheck",
    "PowerCalibration",
    "SavedModel",
    "model_path",
]
