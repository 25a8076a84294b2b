"""Every model name a models folder can hold, in one place: what ``train --models`` writes and
``predict`` looks for (``<models_dir>/<element>/<name>.model``)."""

from __future__ import annotations

#: CN classifier families that ``train`` can write and ``predict --model`` can use.
MODEL_NAMES = ("rf", "et", "bagging", "nn", "hgb")
#: The average-CN regressor (median CN and a 90% interval).
AVERAGE_CN_MODEL = "cn_mean"
#: The mean first-shell distance (R1) regressor.
R1_MODEL = "r1"
#: The first-shell neighbour classifier.
NEIGHBOUR_MODEL = "neighbour"
#: The first-shell models, written together.
FIRST_SHELL_MODELS = (R1_MODEL, NEIGHBOUR_MODEL)
