"""`ebsd generate`: one speculative generation on a pair, printed with its statistics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import tyro

from .decoder import SpeculativeDecoder, fixed_k
from .models import load_pair


@dataclass
class GenerateConfig:
    prompt: str = "Explain in three sentences why the sky is blue."
    """User message, sent through the verifier's chat template (plain text if it has none)."""
    drafter: str | None = None
    """Drafter: Hugging Face id, folder, .gguf file, int4 / int8 / int8-dynamic / bf16 / self, or
    distilled[:FOLDER] (default: the shipped feature drafter, `distilled`)."""
    verifier: str | None = None
    """Verifier: Hugging Face id, folder or .gguf file (default: embedded SmolLM2-135M-Instruct)."""
    k: int = 4
    """Fixed draft length of the speculative run."""
    max_new_tokens: int = 64
    """Token budget of each run."""
    temperature: float = 0.0
    """0 = greedy; > 0 = lossless speculative sampling."""
    seed: int = 0
    """Sampler seed."""
    device: str = "cpu"
    """Device of both models."""
    threads: int | None = None
    """torch CPU threads (default: $EBSD_THREADS, else torch's default: the number of physical cores)."""
    kernels: Literal["auto", "plain", "onednn"] = "auto"
    """Linear-layer kernels (auto: the fastest measured on this machine, cached; see `ebsd_env.kernels`)."""


def main(argv: list[str] | None = None) -> int:
    config = tyro.cli(GenerateConfig, args=argv, description=__doc__)
    pair = load_pair(config.drafter, config.verifier, device=config.device, kernels=config.kernels,
                     threads=config.threads)
    decoder = SpeculativeDecoder(pair, temperature=config.temperature, max_new_tokens=config.max_new_tokens,
                                 seed=config.seed)
    chat = [{"role": "user", "content": config.prompt}]
    prompt = chat if getattr(pair.tokenizer, "chat_template", None) else config.prompt
    decoder.generate(prompt, fixed_k(config.k), max_new_tokens=8)  # warm-up: first calls allocate
    decoder.reseed(config.seed)
    baseline = decoder.generate(prompt, None)
    decoder.reseed(config.seed)
    result = decoder.generate(prompt, fixed_k(config.k))
    print(f"pair: {pair.describe()}  threads={pair.metadata['threads']}  kernels={pair.metadata['kernels']}")
    print(f"prompt: {config.prompt}\n\n{result.text}\n")
    keys = ("new_tokens", "tokens_per_s", "acceptance_rate", "mean_accepted_tokens", "mean_draft_len",
            "draft_s", "verify_s", "prefill_s")
    rows = {"verifier alone": baseline.stats, f"speculative k={config.k}": result.stats}
    print(f"{'':<18}" + "".join(f"{key:>22}" for key in keys))
    for name, stats in rows.items():
        print(f"{name:<18}" + "".join(f"{stats[key]:>22.3f}" for key in keys))
    print(f"\nspeedup (tokens/s) over the verifier alone: "
          f"{result.stats['tokens_per_s'] / baseline.stats['tokens_per_s']:.2f}x")
    if config.temperature == 0:
        print(f"greedy output identical to the verifier's own: {result.token_ids == baseline.token_ids}")
    print(json.dumps({"speculative": {k: result.stats[k] for k in keys}}))
    return 0
