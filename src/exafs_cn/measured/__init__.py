"""Measured spectra: reading beamline files and predicting their CN with the saved models."""
