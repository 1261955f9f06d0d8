"""Tiny model pairs built from a config, for tests, CI smoke runs and quick experiments (no download).

The tokenizer is character level over a small alphabet, with ``<pad>``, ``<eos>`` and ``<unk>`` and a
minimal chat template, so every code path that handles text, chat messages and EOS runs on these pairs.
"""

from __future__ import annotations

import string

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from .models import ModelPair

DEFAULT_ALPHABET = string.ascii_lowercase + string.digits + " .,:?!\n"
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def tiny_tokenizer(alphabet: str = DEFAULT_ALPHABET) -> PreTrainedTokenizerFast:
    specials = ["<pad>", "<eos>", "<unk>"]
    vocab = {token: i for i, token in enumerate(specials + list(dict.fromkeys(alphabet)))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>",
                                        unk_token="<unk>")
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return tokenizer


def tiny_model(vocab_size: int, seed: int, layers: int = 2, hidden: int = 32, context: int = 256,
               init_scale: float = 0.5) -> LlamaForCausalLM:
    """A randomly initialised Llama. A large `init_scale` gives peaked, varied next-token distributions."""
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=context, initializer_range=init_scale, bos_token_id=None,
                         eos_token_id=1, pad_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def tiny_pair(drafter: str = "noisy", seed: int = 0, alphabet: str = DEFAULT_ALPHABET, noise: float = 0.3,
              context: int = 256) -> ModelPair:
    """A config-built pair.

    drafter: ``"copy"`` (the verifier's weights: every greedy draft token is accepted), ``"random"`` (an
    unrelated model: most drafts are rejected) or ``"noisy"`` (the verifier's weights plus Gaussian noise of
    relative size `noise`: partial agreement whose confidence varies, like a real drafter).
    """
    tokenizer = tiny_tokenizer(alphabet)
    vocab = len(tokenizer)
    verifier = tiny_model(vocab, seed, context=context)
    if drafter == "copy":
        draft_model = tiny_model(vocab, seed, context=context)
    elif drafter == "random":
        draft_model = tiny_model(vocab, seed + 1000, context=context)
    elif drafter == "noisy":
        draft_model = tiny_model(vocab, seed, context=context)
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for param in draft_model.parameters():
                param.add_(noise * param.std() * torch.randn(param.shape, generator=generator))
    else:
        raise ValueError(f"unknown tiny drafter {drafter!r}; valid: copy, random, noisy")
    return ModelPair(draft_model, verifier, tokenizer, f"tiny-{drafter}-{seed}", f"tiny-verifier-{seed}",
                     metadata={"tiny": True})
