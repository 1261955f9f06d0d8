"""A feature-level drafter (EAGLE-style, Li et al. 2024): it reads the verifier's last hidden state.

The drafter predicts the verifier's next *feature* (the final-norm hidden state that the verifier's output head
turns into logits) rather than the next token directly:

    input at token j:  [embed(x_j) ; f_{j-1}]  ->  fuse (2H -> H)  ->  Llama layer(s)  ->  norm  ->  f^_j
    draft logits:       head(f^_j) over `head_index` tokens (the verifier's own output rows, frozen; -inf elsewhere)

where f_{j-1} is the verifier's feature at the previous position (zeros before the first token). Inside a draft,
tokens the verifier has not seen yet get the drafter's own prediction f^ in place of f. Since the verifier
already computed f for every committed token, the drafter only has to extrapolate one position ahead at
the first draft token, which is far easier than language modelling from scratch: that is why one layer suffices.

Everything shared with the verifier (token embedding, output rows of the head tokens) is taken from the verifier
at load time and never saved; the drafter's own weights are the fuse layer, its decoder layer(s) and norm.
The class declares ``draft_strategy = "feature"``: `ebsd_env.decoding.drafting.strategy_for` drafts with it through
`FeatureDraft`, which ``reads_verifier_features``, so `SpeculativeDecoder` feeds it the verifier's features.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import DynamicCache, PreTrainedModel

from .common import DrafterModule, checked_head, copy_verifier_layers, llama_body

FEATURE_ARCHITECTURE = "ebsd-feature-drafter-v1"


class FeatureDrafter(DrafterModule):
    """Drafts for `verifier` from its features and the token embeddings (see the module docstring).

    Args:
        verifier: the Llama-family verifier; its embedding, final norm and output rows are shared or copied.
        num_layers: decoder layers of the drafter.
        head_index: token ids the draft head covers; the others get drafter probability 0.
        init_layers: verifier layers copied into the drafter's layers (None = the verifier's last
            `num_layers` layers, which already map features to features); an empty tuple = random.
    """

    draft_strategy = "feature"  # the `ebsd_env.decoding.drafting.STRATEGIES` entry that drafts with it
    reads_verifier_features = True  # read by the trainer's measurement (train/drafter/measure.py)

    def __init__(self, verifier: PreTrainedModel, num_layers: int, head_index: torch.Tensor,
                 init_layers: tuple[int, ...] | None = None):
        super().__init__()
        head_index = checked_head(verifier, num_layers, head_index, "feature")
        self.config, self.model = llama_body(verifier, num_layers)
        hidden = self.config.hidden_size
        self.fuse = nn.Linear(2 * hidden, hidden, bias=False)
        self.register_buffer("head_index", head_index, persistent=True)
        # Shared with the verifier, not saved and never trained: the embedding and the head's output rows.
        object.__setattr__(self, "_embedding", verifier.get_input_embeddings())
        out_rows = verifier.get_output_embeddings().weight.detach()
        self.register_buffer("head_weight", out_rows[head_index.to(out_rows.device)].float().clone(),
                             persistent=False)
        depth = len(verifier.get_decoder().layers)
        self.init_layers = tuple(range(depth - num_layers, depth)) if init_layers is None else tuple(init_layers)
        self._initialise(verifier)
        self.to(device=self._embedding.weight.device, dtype=torch.float32)
        linear = sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Linear))
        self._flops_per_token = 2.0 * (linear + self.head_weight.numel())

    @torch.no_grad()
    def _initialise(self, verifier: PreTrainedModel) -> None:
        copy_verifier_layers(self.model, verifier, self.init_layers)
        # Start as "previous feature plus a little of the token": the residual stream begins near f_{j-1}.
        hidden = self.fuse.out_features
        self.fuse.weight.zero_()
        self.fuse.weight[:, hidden:].copy_(torch.eye(hidden))
        self.fuse.weight[:, :hidden].normal_(0.0, 0.02)

    def features(self, input_ids: torch.Tensor, verifier_features: torch.Tensor,
                 attention_mask: torch.Tensor | None = None, cache: DynamicCache | None = None,
                 use_cache: bool = False, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted features f^_j for tokens x_j, given f_{j-1} for each ([B, T] ids, [B, T, H] features).
        `attention_mask` may be a 2-D padding mask or a prepared [B, 1, T, keys] boolean one (training-time
        test); `position_ids` default to the positions after the cached ones."""
        with torch.no_grad():  # the shared embedding stays frozen even while the drafter trains
            embeds = self._embedding(input_ids).to(self.dtype)
        fused = self.fuse(torch.cat([embeds, verifier_features.to(self.dtype)], dim=-1))
        return self.model(inputs_embeds=fused, attention_mask=attention_mask, cache=cache, use_cache=use_cache,
                          position_ids=position_ids).last_hidden_state

    def head_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Logits over the head tokens only ([..., head_size])."""
        return features @ self.head_weight.T

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Vocabulary-width logits, -inf outside the head (so such tokens have q = 0 and are never drafted)."""
        full = features.new_full((*features.shape[:-1], self.config.vocab_size), float("-inf"))
        return full.index_copy_(-1, self.head_index, self.head_logits(features))
