"""`ebsd generate`: one speculative generation on a pair, printed with its statistics."""

from __future__ import annotations

import math
from dataclasses import dataclass

import tyro

from ..io import to_json
from .args import ModelArgs, check_model_args


@dataclass
class GenerateConfig(ModelArgs):
    prompt: str = "Explain in three sentences why the sky is blue."
    """User message, sent through the verifier's chat template (plain text if it has none)."""
    k: int = 4
    """Fixed draft length of the speculative run."""
    max_new_tokens: int = 64
    """Token budget of each run."""
    temperature: float = 0.0
    """0 = greedy; > 0 = lossless speculative sampling."""
    top_p: float = 1.0
    """Nucleus sampling for temperature > 0: both models' distributions keep their smallest top-p set (1 = off)."""
    seed: int = 0
    """Sampler seed."""


def number(value: float, spec: str) -> str:
    """`value` in `spec`, or n/a where it is not a number (an acceptance rate with nothing drafted)."""
    return format(value, spec) if math.isfinite(value) else "n/a"


def validate(config: GenerateConfig) -> None:
    """Every check that needs no model, before the 15-25 s of loading one: a typo costs a second, not half a
    minute."""
    check_model_args(config)
    if config.k < 1:
        raise ValueError(f"--k must be >= 1, got {config.k}")
    if config.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {config.max_new_tokens}")
    if not (math.isfinite(config.temperature) and config.temperature >= 0):
        raise ValueError(f"--temperature must be a finite number >= 0 (0 = greedy), got {config.temperature}")
    if not 0 < config.top_p <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {config.top_p}")
    if not config.prompt.strip():
        raise ValueError("--prompt is empty: give the user message to continue")


def load_pair(*args, **kwargs):
    """`ebsd_env.decoding.models.load_pair`, imported when called: `ebsd generate --help` imports no torch."""
    from ..decoding.models import load_pair as load

    return load(*args, **kwargs)


def main(argv: list[str] | None = None) -> int:
    config = tyro.cli(GenerateConfig, args=argv, description=__doc__, prog="ebsd generate")
    validate(config)
    from ..decoding.decoder import SpeculativeDecoder  # here: --help and a refused input import no torch

    pair = load_pair(config.drafter, config.verifier, device=config.device, kernels=config.kernels,
                     threads=config.threads)
    decoder = SpeculativeDecoder(pair, temperature=config.temperature, top_p=config.top_p,
                                 max_new_tokens=config.max_new_tokens, seed=config.seed)
    chat = [{"role": "user", "content": config.prompt}]
    prompt = chat if getattr(pair.tokenizer, "chat_template", None) else config.prompt
    decoder.generate(prompt, config.k, max_new_tokens=8)  # warm-up: first calls allocate
    decoder.reseed(config.seed)
    baseline = decoder.generate(prompt, k=0)
    decoder.reseed(config.seed)
    result = decoder.generate(prompt, config.k)
    print(f"pair: {pair.describe()}  threads={pair.metadata['threads']}  kernels={pair.metadata['kernels']}")
    print(f"prompt: {config.prompt}\n\n{result.text}\n")
    keys = ("new_tokens", "tokens_per_s", "acceptance_rate", "mean_accepted_tokens", "mean_draft_len",
            "draft_s", "verify_s", "prefill_s")
    rows = {"verifier alone": baseline.stats, f"speculative k={config.k}": result.stats}
    print(f"{'':<18}" + "".join(f"{key:>22}" for key in keys))
    for name, stats in rows.items():
        print(f"{name:<18}" + "".join(f"{number(stats[key], '.3f'):>22}" for key in keys))
    print(f"\nspeedup (tokens/s) over the verifier alone: "
          f"{number(result.stats['tokens_per_s'] / baseline.stats['tokens_per_s'], '.2f')}x")
    if config.temperature == 0:
        print(f"greedy output identical to the verifier's own: {result.token_ids == baseline.token_ids}")
    print(to_json({"speculative": {k: result.stats[k] for k in keys}}, indent=None), end="")  # strict: null, not NaN
    return 0
