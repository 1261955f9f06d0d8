"""What both drafters build the same way: argument checks, a Llama body without an embedding, layer copies."""

from __future__ import annotations

import copy

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.models.llama.modeling_llama import LlamaModel


def checked_head(verifier: PreTrainedModel, num_layers: int, head_index, kind: str) -> torch.Tensor:
    """The head's token ids as a long tensor, after checking the verifier family, the depth and the ids."""
    vconfig = verifier.config.get_text_config()
    if getattr(vconfig, "model_type", None) != "llama":
        raise ValueError(f"the {kind} drafter reuses Llama layers; the verifier is {vconfig.model_type!r}")
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    head_index = torch.as_tensor(head_index, dtype=torch.long).flatten()
    if head_index.numel() == 0 or int(head_index.min()) < 0 or int(head_index.max()) >= vconfig.vocab_size:
        raise ValueError(f"head_index must be a non-empty set of token ids in [0, {vconfig.vocab_size})")
    if head_index.unique().numel() != head_index.numel():
        raise ValueError("head_index holds duplicate token ids")
    return head_index


def llama_body(verifier: PreTrainedModel, num_layers: int) -> tuple[PretrainedConfig, LlamaModel]:
    """(outer config, body): the verifier's config (vocabulary, context, EOS: what the pair reads) at the
    drafter's depth, and `num_layers` Llama layers + final norm that take embeddings, never token ids."""
    config = copy.deepcopy(verifier.config.get_text_config())
    config.num_hidden_layers = num_layers
    config.tie_word_embeddings = False
    body_config = copy.deepcopy(config)
    body_config.vocab_size, body_config.pad_token_id = 1, None
    body = LlamaModel(body_config)
    body.embed_tokens = None
    return config, body


@torch.no_grad()
def copy_verifier_layers(body: LlamaModel, verifier: PreTrainedModel, init_layers: tuple[int, ...]) -> None:
    """Copy verifier layers `init_layers` into the body's layers (none: keep the random ones) and its final norm."""
    layers = verifier.get_decoder().layers
    if init_layers:
        if len(init_layers) != len(body.layers):
            raise ValueError(f"init_layers {init_layers} must name one verifier layer per drafter layer "
                             f"({len(body.layers)})")
        for target, source in zip(body.layers, init_layers, strict=True):
            if not 0 <= source < len(layers):
                raise ValueError(f"init_layers names layer {source}; the verifier has {len(layers)}")
            target.load_state_dict(layers[source].state_dict())
    body.norm.load_state_dict(verifier.get_decoder().norm.state_dict())


class DrafterModule(nn.Module):
    """Accessors both drafters share; subclasses set `model` (the body), `head_index` and `_flops_per_token`."""

    @property
    def device(self) -> torch.device:
        return self.model.norm.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.norm.weight.dtype

    @property
    def head_size(self) -> int:
        return self.head_index.numel()

    def flops_per_token(self) -> float:
        """2 x the weights one drafted token multiplies, head rows included (attention over the context left out,
        as in `eval.metrics.forward_flops_per_token`); counted at construction, before any kernel repacking."""
        return self._flops_per_token
