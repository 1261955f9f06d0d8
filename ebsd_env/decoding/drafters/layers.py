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

import torch
from torch import nn
from transformers import DynamicCache, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from .common import DrafterModule, checked_head, copy_verifier_layers, llama_body

LAYERS_ARCHITECTURE = "ebsd-distilled-drafter-v1"


class DistilledDrafter(DrafterModule):
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
        head_index = checked_head(verifier, num_layers, head_index, "distilled")
        self.config, self.model = llama_body(verifier, num_layers)
        self.head = nn.Linear(self.config.hidden_size, head_index.numel(), bias=False)
        self.register_buffer("head_index", head_index, persistent=True)
        # Not a submodule: shared with the verifier, excluded from state_dict, parameters() and training.
        object.__setattr__(self, "_embedding", verifier.get_input_embeddings())
        self.init_layers = tuple(range(num_layers)) if init_layers is None else tuple(init_layers)
        self._initialise(verifier)
        self.to(device=self._embedding.weight.device, dtype=torch.float32)
        self._flops_per_token = 2.0 * sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))

    @torch.no_grad()
    def _initialise(self, verifier: PreTrainedModel) -> None:
        copy_verifier_layers(self.model, verifier, self.init_layers)
        # The head starts as the verifier's output rows of the covered tokens (its tied embedding for SmolLM2).
        out_rows = verifier.get_output_embeddings().weight
        self.head.weight.copy_(out_rows[self.head_index.to(out_rows.device)].float())

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
