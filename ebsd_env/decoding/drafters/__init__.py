"""The project's own drafters, trained by `ebsd distill` against a verifier:

- `FeatureDrafter` (``feature.py``): EAGLE-style, reads the verifier's last hidden state; the kind shipped.
- `DistilledDrafter` (``layers.py``): a token-level small LM over the verifier's embedding (kept for comparison).

Both draft over a reduced vocabulary (``-inf`` logits elsewhere, so decoding stays lossless) and save only their
own weights: a folder with ``config.json`` (architecture, shape, training metadata) and ``model.safetensors``
(float16 on disk, float32 in memory). What they share with the verifier is taken from it at load time.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file
from transformers import PreTrainedModel

from ...io import save_atomic, write_json_atomic
from .feature import FEATURE_ARCHITECTURE, FeatureDrafter
from .layers import LAYERS_ARCHITECTURE, DistilledDrafter

# The feature drafters shipped for the embedded verifier, by their `load_pair` id (each folder written by
# `ebsd distill --export-to`, with its model card). Their old names, `feature` and `distilled`, still load them
# (`ebsd_env.drafter_ids`).
SHIPPED_DRAFTERS = {
    # v2: trained with EAGLE-3's training-time test on more generated data; the current one (alias `feature`).
    "feature-v2": Path(__file__).parent / "smollm2-135m-feature-v2",
    # v1, the first: kept because the verdict's traces and the shipped PPO policy were made for it (their
    # fingerprints name it `distilled` and hash its weights, so a retrained drafter would void them).
    "feature-v1": Path(__file__).parent / "smollm2-135m-feature",
}
SHIPPED_DRAFTER = SHIPPED_DRAFTERS["feature-v2"]
ARCHITECTURES = {FEATURE_ARCHITECTURE: FeatureDrafter, LAYERS_ARCHITECTURE: DistilledDrafter}
Drafter = FeatureDrafter | DistilledDrafter


def architecture_of(drafter: Drafter) -> str:
    return FEATURE_ARCHITECTURE if isinstance(drafter, FeatureDrafter) else LAYERS_ARCHITECTURE


def save_drafter(drafter: Drafter, folder: str | Path, metadata: dict | None = None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` (the drafter's own weights as float16) into `folder`,
    each file atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: (t.detach().cpu().half() if t.is_floating_point() else t.detach().cpu()).contiguous()
               for name, t in drafter.state_dict().items()}
    save_atomic(folder / "model.safetensors", lambda tmp: save_file(tensors, tmp))
    config = {"architecture": architecture_of(drafter), "num_layers": len(drafter.model.layers),
              "head_size": drafter.head_size, "init_layers": list(drafter.init_layers),
              "verifier_hidden_size": drafter.config.hidden_size, "verifier_vocab_size": drafter.config.vocab_size,
              "metadata": metadata or {}}
    write_json_atomic(folder / "config.json", config)
    return folder


def load_distilled_drafter(verifier: PreTrainedModel, path: str | Path | None = None) -> Drafter:
    """Load a saved drafter for `verifier` (default: the current one shipped for the embedded verifier,
    `SHIPPED_DRAFTER`)."""
    folder = Path(path) if path is not None else SHIPPED_DRAFTER
    config_file, weights_file = folder / "config.json", folder / "model.safetensors"
    if not (config_file.is_file() and weights_file.is_file()):
        hint = ("the package's shipped drafter is missing: reinstall the package" if path is None
                else "point to the export/ folder of an `ebsd distill` run")
        raise FileNotFoundError(f"no distilled drafter at {folder} (needs config.json and model.safetensors): {hint}")
    config = json.loads(config_file.read_text())
    cls = ARCHITECTURES.get(config.get("architecture"))
    if cls is None:
        raise ValueError(f"{config_file} describes {config.get('architecture')!r}; known drafter architectures: "
                         f"{', '.join(ARCHITECTURES)}")
    vconfig = verifier.config.get_text_config()
    if (config["verifier_hidden_size"], config["verifier_vocab_size"]) != (vconfig.hidden_size, vconfig.vocab_size):
        raise ValueError(
            f"the drafter at {folder} was trained for a verifier of width {config['verifier_hidden_size']} and "
            f"vocabulary {config['verifier_vocab_size']}, this one has {vconfig.hidden_size} and "
            f"{vconfig.vocab_size}: use the verifier it was distilled from"
        )
    state = load_file(str(weights_file))
    drafter = cls(verifier, config["num_layers"], state["head_index"], init_layers=())
    drafter.load_state_dict({name: t.float() if t.is_floating_point() else t for name, t in state.items()})
    drafter.metadata = config.get("metadata", {})
    return drafter.to(verifier.get_input_embeddings().weight.device).eval()


__all__ = ["SHIPPED_DRAFTER", "SHIPPED_DRAFTERS", "DistilledDrafter", "FeatureDrafter", "load_distilled_drafter",
           "save_drafter"]
