"""Errors that name their fix, shared by the modules that load and convert models (models, kernels, quantized).

They live at the bottom of the package so that those modules can raise them without importing each other."""


class ModelLoadError(ValueError):
    """A model or pair could not be loaded; the message says why and what to do."""


def check_device(device, flag: str = "device=") -> None:
    """Refuse a device this machine cannot use, in one line that names the fix, before any model is loaded (torch
    itself fails much later, inside the model move, with an AssertionError and a traceback). `flag` names the
    argument in the message: ``--device`` on the command line, ``device=`` in Python."""
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as error:
        raise ModelLoadError(f"{flag} {device!r} is not a torch device ({error}); use cpu, cuda, cuda:N or "
                             "mps") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"{flag} {device}: this machine or torch build has no CUDA device "
                             f"(torch.cuda.is_available() is False); use {flag} cpu, or install a CUDA build of torch")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(f"{flag} {device}: no Apple MPS device here; use {flag} cpu")
