"""Learning from the data: features in bulk, models, cross-validation, the study's experiments, final models."""
