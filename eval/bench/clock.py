"""`python -m eval.bench.clock`: calibrate and validate the clock on model pairs of public shapes.

Timing does not depend on weight values, so a pair of randomly initialised models with the layer shapes of a
public model pair (no download) measures what that pair costs on this machine: the cost profile of the
``profile`` clock (`ebsd_env.timing`), calibrated over context lengths, and its validation against the wall
clock at every k of `VALIDATION_KS` on prompts the calibration did not use. Each shape writes
``profile-<verifier>--<drafter>.json`` (a context-aware cost profile with its validation and the machine) into
``--out``. On a GPU this is how the accelerator's cost regime (verification nearly flat in the tokens fed)
enters the training distribution of cost-aware policies.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import tyro

# Layer shapes of public models (their Hugging Face config.json): hidden, intermediate, layers, heads, KV heads.
SHAPES = {
    "llama3.1-8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                        num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=False),
    "llama3.2-1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                        num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True),
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=512, tie_word_embeddings=False),
}


@dataclass
class BenchClockConfig:
    pairs: list[str] = field(default_factory=lambda: ["llama3.1-8b/llama3.2-1b"])
    """verifier/drafter shape names (from SHAPES; both must share a vocabulary size)."""
    out: Path = Path("runs/bench-clock")
    """Folder of the profiles."""
    device: str = "cuda"
    dtype: str = "bfloat16"
    contexts: list[int] = field(default_factory=lambda: [128, 1024, 3072])
    """Context lengths the calibration spans."""
    prompt_lengths: list[int] = field(default_factory=lambda: [200, 900, 2500])
    """Lengths of the held-out validation prompts (random token ids, not used by the calibration)."""
    max_new_tokens: int = 48
    rounds: int = 2
    """Interleaved validation rounds."""
    tolerance: float = 0.05
    """Report every k; points beyond this are flagged (the profile is still written, marked as failing)."""
    seed: int = 0


def random_pair(verifier: str, drafter: str, device: str, dtype: torch.dtype):
    """A pair of randomly initialised Llama models of the named shapes, built directly on `device`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from ebsd_env.decoding.models import ModelPair
    from ebsd_env.decoding.tiny import tiny_tokenizer

    if SHAPES[verifier]["vocab_size"] != SHAPES[drafter]["vocab_size"]:
        raise ValueError(f"{verifier} and {drafter} have different vocabularies: pick shapes of one family")
    models = []
    for name in (verifier, drafter):
        config = LlamaConfig(**SHAPES[name], max_position_embeddings=8192, bos_token_id=None, eos_token_id=1,
                             pad_token_id=0)
        with torch.device(device):
            models.append(LlamaForCausalLM(config).to(dtype).eval())
    return ModelPair(models[1], models[0], tiny_tokenizer(), drafter, verifier, metadata={"random_weights": True})


def random_prompts(length: int, vocab: int, count: int, seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(2, vocab, (length,), generator=generator).tolist() for _ in range(count)]


def bench_pair(spec: str, config: BenchClockConfig) -> dict:
    from ebsd_env.timing.calibration import calibrate
    from ebsd_env.timing.validation import ClockValidationError, format_validation, validate_clock

    verifier, _, drafter = spec.partition("/")
    if verifier not in SHAPES or drafter not in SHAPES:
        raise ValueError(f"unknown shape in {spec!r}; valid: {', '.join(SHAPES)} as verifier/drafter")
    t0 = time.perf_counter()
    pair = random_pair(verifier, drafter, config.device, getattr(torch, config.dtype))
    print(f"[bench clock] {spec}: built on {pair.device} in {time.perf_counter() - t0:.0f} s", flush=True)
    costs = calibrate(pair, contexts=tuple(config.contexts), validate=False)
    prompts = [p for i, n in enumerate(config.prompt_lengths)
               for p in random_prompts(n, pair.vocab_size, 1, config.seed + i)]
    try:
        report = validate_clock(pair, costs, prompts, max_new_tokens=config.max_new_tokens, rounds=config.rounds,
                                tolerance=config.tolerance)
        passed = True
    except ClockValidationError as error:  # kept, and marked: a failing clock is a finding, not a crash
        print(f"[bench clock] {spec}: {error}", file=sys.stderr, flush=True)
        report = validate_clock(pair, costs, prompts, max_new_tokens=config.max_new_tokens, rounds=1,
                                tolerance=float("inf"))
        passed = False
    print(format_validation(report), flush=True)
    device = torch.cuda.get_device_name(pair.device) if pair.device.type == "cuda" else platform.processor()
    data = {**costs.to_dict(), "validation": {**report, "passed": passed},
            "source": f"{spec} random weights of the public shapes, {config.dtype}, eager transformers "
                      f"{__import__('transformers').__version__}, torch {torch.__version__}, on {device}",
            "machine": {"device": device, "threads": torch.get_num_threads()}}
    config.out.mkdir(parents=True, exist_ok=True)
    path = config.out / f"profile-{verifier}--{drafter}.json"
    path.write_text(json.dumps(data, indent=1))
    del pair
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {"pair": spec, "path": str(path), "passed": passed, "max_abs_error": report["max_abs_error"]}


def main(argv: list[str] | None = None) -> int:
    config = tyro.cli(BenchClockConfig, args=sys.argv[1:] if argv is None else argv, description=__doc__)
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda, but this torch sees no CUDA device: pass --device cpu")
    results = [bench_pair(spec, config) for spec in config.pairs]
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
