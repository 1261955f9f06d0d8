"""Errors that name their fix, shared by the modules that load and convert models (models, kernels, quantize).

They live at the bottom of the package so that those modules can raise them without importing each other."""


class ModelLoadError(ValueError):
    """A model or pair could not be loaded; the message says why and what to do."""
