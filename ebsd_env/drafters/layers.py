"""A token-level distilled drafter: a few Llama layers over the verifier's frozen embedding, with a
reduced-vocabulary draft head.

Architecture (`DistilledDrafter`):
- input: the verifier's token embedding, shared and frozen (taken from the verifier at load time, never saved);
- body: `num_layers` Llama decoder layers of the verifier's width (initialised from verifier layers) + final norm;
- head: a linear layer over only `head_index`, the most frequent tokens of the verifier's own outputs. The
  forward pass returns full vocabulary-width logits with ``-inf`` outside the head, so every token outside it
  has drafter probability q = 0: greedy and rejection-sampling verification stay exact (such tokens are simply
  never drafted).

The module is called like a Hugging Face causal LM:
``model(input_ids=..., cache=DynamicCache(), use_cache=True, logits_to_keep=1).logits``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from transformers import DynamicCache, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.llama.modeling_llama import LlamaModel

LAYERS_ARCHITECTURE = "ebsd-distilled-drafter-v1"


class DistilledDrafter(nn.Module):
    """A small causal LM that drafts for `verifier`, reading the verifier's embedding.

    Args:
        verifier: the Llama-family verifier whose embedding is shared (frozen) and whose config gives the width.
        num_layers: decoder layers of the drafter.
        head_index: token ids the draft head covers (sorted or not; stored as given).
        init_layers: verifier layer indices copied into the drafter's layers (None = the first `num_layers`);
            use an empty tuple for a random initialisation.
    """

    def __init__(self, verifier: PreTrainedModel, num_layers: int, head_index: torch.Tensor,
                 init_layers: tuple[int, ...] | None = None):
        super().__init__()
        vconfig = verifier.config.get_text_config()
        if getattr(vconfig, "model_type", None) != "llama":
            raise ValueError(f"the distilled drafter reuses Llama layers; the verifier is {vconfig.model_type!r}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        head_index = torch.as_tensor(head_index, dtype=torch.long).flatten()
        if head_index.numel() == 0 or int(head_index.min()) < 0 or int(head_index.max()) >= vconfig.vocab_size:
            raise ValueError(f"head_index must be a non-empty set of token ids in [0, {vconfig.vocab_size})")
        if head_index.unique().numel() != head_index.numel():
            raise ValueError("head_index holds duplicate token ids")
        # Outer config: the verifier's (vocab size, context, eos) with the drafter's depth; the pair reads it.
        self.config: PretrainedConfig = copy.deepcopy(vconfig)
        self.config.num_hidden_layers = num_layers
        self.config.tie_word_embeddings = False
        body_config = copy.deepcopy(self.config)
        body_config.vocab_size, body_config.pad_token_id = 1, None  # the body never embeds: see `forward`
        self.model = LlamaModel(body_config)
        self.model.embed_tokens = None
        self.head = nn.Linear(vconfig.hidden_size, head_index.numel(), bias=False)
        self.register_buffer("head_index", head_index, persistent=True)
        # Not a submodule: shared with the verifier, excluded from state_dict, parameters() and training.
        object.__setattr__(self, "_embedding", verifier.get_input_embeddings())
        self.init_layers = tuple(range(num_layers)) if init_layers is None else tuple(init_layers)
        self._initialise(verifier)
        self.to(device=self._embedding.weight.device, dtype=torch.float32)
        self._flops_per_token = 2.0 * sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))

    @torch.no_grad()
    def _initialise(self, verifier: PreTrainedModel) -> None:
        layers = verifier.get_decoder().layers
        if self.init_layers:
            if len(self.init_layers) != len(self.model.layers):
                raise ValueError(f"init_layers {self.init_layers} must name one verifier layer per drafter layer "
                                 f"({len(self.model.layers)})")
            for target, source in zip(self.model.layers, self.init_layers, strict=True):
                if not 0 <= source < len(layers):
                    raise ValueError(f"init_layers names layer {source}; the verifier has {len(layers)}")
                target.load_state_dict(layers[source].state_dict())
        self.model.norm.load_state_dict(verifier.get_decoder().norm.state_dict())
        # The head starts as the verifier's output rows of the covered tokens (its tied embedding for SmolLM2).
        out_rows = verifier.get_output_embeddings().weight
        self.head.weight.copy_(out_rows[self.head_index.to(out_rows.device)].float())

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.head.weight.dtype

    @property
    def head_size(self) -> int:
        return self.head_index.numel()

    def flops_per_token(self) -> float:
        """2 x the weights one drafted token multiplies: layers and the reduced head (attention over the context
        left out, as in `eval.metrics.forward_flops_per_token`); counted before any kernel repacking."""
        return self._flops_per_token

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               cache: DynamicCache | None = None, use_cache: bool = False) -> tuple[torch.Tensor, DynamicCache | None]:
        with torch.no_grad():  # the shared embedding stays frozen even while the drafter trains
            embeds = self._embedding(input_ids).to(self.dtype)
        out = self.model(inputs_embeds=embeds, attention_mask=attention_mask, cache=cache, use_cache=use_cache)
        return out.last_hidden_state, out.cache

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                past_key_values: DynamicCache | None = None, cache: DynamicCache | None = None,
                use_cache: bool = True, logits_to_keep: int = 0, **_: object) -> CausalLMOutputWithPast:
        hidden, cache = self.hidden(input_ids, attention_mask, cache if cache is not None else past_key_values,
                                    use_cache)
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        logits = hidden.new_full((*hidden.shape[:-1], self.config.vocab_size), float("-inf"))
        logits.index_copy_(-1, self.head_index, self.head(hidden))
        return CausalLMOutputWithPast(logits=logits, cache=cache)
