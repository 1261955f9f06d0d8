"""`ebsd bench decoder`: our decoder against transformers on the same pair and prompts, side by side.

Greedy decoding, the same chat prompts, interleaved repeats (every method once per prompt per round, in a
shuffled order), medians. Methods: verifier alone through our decoder, verifier alone through
`model.generate`, our speculative decoder at fixed k, and transformers' assisted generation at the same k
(`num_assistant_tokens=k`, constant schedule, confidence threshold off; skipped for a drafter that is not a
Hugging Face causal LM, such as the feature drafter). Every run is timed end to end with
`time.perf_counter()` (prefill included, the same way for all) and counts only new tokens. Also printed, from
the same runs: the acceptance rate at every k, and the drafter's per-token cost relative to the verifier's
one-token cost (median forward-pass times inside our decoder: single-token draft steps against verifier-alone
decoding steps).

`ebsd bench env` routes to `eval.bench_env` (the environment's own overhead).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch
import tyro
from tqdm import tqdm
from transformers import PreTrainedModel

from ebsd_env.args import ModelArgs, check_model_args
from ebsd_env.decoder import SpeculativeDecoder, _sync
from ebsd_env.kernels import configure_threads, machine_state, warn_if_busy
from ebsd_env.models import load_pair
from ebsd_env.prompts import drafter_heldout_ids


@dataclass
class BenchDecoderConfig(ModelArgs):
    ks: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8])
    """Fixed draft lengths to compare."""
    prompts: int = 4
    """Number of chat prompts (one per category of the built-in suite, in order; for a drafter trained by
    `ebsd distill`, the first of its held-out prompts in each category)."""
    repeats: int = 3
    """Interleaved rounds; each figure is the median over prompts x rounds."""
    max_new_tokens: int = 48
    """Token budget of every run."""
    seed: int = 0
    """Seed of the interleaving order."""


def _bench_prompts(count: int, held_out: set[str] = frozenset()) -> list[list[dict]]:
    """The first user turn of one prompt per category of the built-in suite, `count` categories in suite order:
    the first of a trained drafter's held-out prompts (`held_out` ids), else a seeded pick."""
    from ebsd_env.prompts import heldout_prompts, load_prompts

    rows = heldout_prompts(held_out, limit_per_category=1) if held_out else load_prompts(limit_per_category=1)
    first: dict[str, dict] = {}
    for row in rows:
        first.setdefault(row["category"], row)
    if len(first) < count:
        raise ValueError(f"only {len(first)} prompt categories available, asked for {count}")
    return [[{"role": "user", "content": (row.get("prompt") or row["turns"][0])[:1200]}]
            for row in list(first.values())[:count]]


def _hf_generate(model, ids: list[int], max_new_tokens: int, assistant=None, k: int = 0) -> tuple[list[int], float]:
    kwargs = {}
    if assistant is not None:
        config = assistant.generation_config
        config.num_assistant_tokens = k
        config.num_assistant_tokens_schedule = "constant"
        config.assistant_confidence_threshold = 0.0
        kwargs["assistant_model"] = assistant
    inputs = torch.tensor([ids], device=model.device)
    _sync(model.device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=max_new_tokens,
                             do_sample=False, **kwargs)
    _sync(model.device)
    return out[0, len(ids):].tolist(), time.perf_counter() - t0


def bench_decoder(config: BenchDecoderConfig) -> dict:
    if not config.ks or min(config.ks) < 1:
        raise ValueError(f"ks must be a non-empty list of draft lengths >= 1, got {config.ks}")
    configure_threads(config.threads)
    machine = machine_state()
    busy = warn_if_busy()
    pair = load_pair(config.drafter, config.verifier, device=config.device, kernels=config.kernels)
    decoder = SpeculativeDecoder(pair, max_new_tokens=config.max_new_tokens)
    # A drafter trained by `ebsd distill` is benchmarked on prompts it was not trained on.
    prompts = [decoder.encode_prompt(chat) for chat in _bench_prompts(config.prompts, drafter_heldout_ids(pair))]

    drafter_steps: list[float] = []  # forward seconds of single-token draft steps (not a block's first)
    verifier_steps: list[float] = []  # forward seconds of verifier-alone decoding steps
    acceptance: dict[str, list[tuple[int, int]]] = {}

    def ours(ids, k):
        """`decoder.generate` with fixed k (k = 0: verifier alone), step by step to record forward times."""
        t0 = time.perf_counter()
        decoder.start(ids)
        while not decoder.finished:
            while k and decoder.draft_room > 0 and len(decoder.draft_steps) < k:
                step = decoder.draft()
                if step.position >= 2:  # a block's first step also reads the tokens just committed
                    drafter_steps.append(step.forward_s)
            result = decoder.verify()
            if not k:
                verifier_steps.append(result.forward_s)
        seconds = time.perf_counter() - t0
        stats = decoder.stats.as_dict()
        if k:
            acceptance.setdefault(f"speculative k={k} (ours)", []).append((stats["accepted"], stats["drafted"]))
        return decoder.new_tokens, seconds, stats["outside_forward_share"]

    hf_drafter = isinstance(pair.drafter, PreTrainedModel)
    methods = {"verifier alone (ours)": lambda ids: ours(ids, 0),
               "verifier alone (model.generate)": lambda ids: _hf_generate(pair.verifier, ids, config.max_new_tokens)
               + (float("nan"),)}
    for k in config.ks:
        methods[f"speculative k={k} (ours)"] = lambda ids, k=k: ours(ids, k)
        if hf_drafter:
            methods[f"assisted k={k} (transformers)"] = lambda ids, k=k: _hf_generate(
                pair.verifier, ids, config.max_new_tokens, pair.drafter, k) + (float("nan"),)

    for fn in methods.values():  # warm-up: first calls allocate and pick kernels
        fn(prompts[0][:16])
    drafter_steps.clear()
    verifier_steps.clear()
    acceptance.clear()
    rng = random.Random(config.seed)
    rates = {name: [] for name in methods}
    outside = {name: [] for name in methods}
    outputs: dict[tuple[str, int], list[int]] = {}
    order = [(name, p) for name in methods for p in range(len(prompts))]
    with tqdm(total=len(order) * config.repeats, desc="bench decoder", unit="run") as bar:
        for _ in range(config.repeats):
            rng.shuffle(order)
            for name, p in order:
                tokens, seconds, share = methods[name](prompts[p])
                rates[name].append(len(tokens) / seconds)
                outside[name].append(share)
                outputs[(name, p)] = tokens
                bar.update()
    reference = {p: outputs[("verifier alone (model.generate)", p)] for p in range(len(prompts))}
    identical = {name: all(outputs[(name, p)] == reference[p] for p in range(len(prompts))) for name in methods}
    base = statistics.median(rates["verifier alone (ours)"])
    rows = []
    for name in methods:
        median = statistics.median(rates[name])
        share = [s for s in outside[name] if s == s]
        accepted = sum(a for a, _ in acceptance.get(name, []))
        drafted = sum(d for _, d in acceptance.get(name, []))
        rows.append({"method": name, "tokens_per_s": median, "vs_verifier_alone": median / base,
                     "acceptance_rate": accepted / drafted if drafted else None,
                     "outside_forward_share": statistics.median(share) if share else None,
                     "identical_to_verifier": identical[name]})
    ratios = {k: statistics.median(rates[f"speculative k={k} (ours)"])
              / statistics.median(rates[f"assisted k={k} (transformers)"]) for k in config.ks} if hf_drafter else {}
    ours_k = {k: statistics.median(rates[f"speculative k={k} (ours)"]) for k in config.ks}
    best_k = max(ours_k, key=ours_k.get)
    drafter_s, verifier_s = statistics.median(drafter_steps), statistics.median(verifier_steps)
    return {"pair": pair.describe(), "prompts": len(prompts), "repeats": config.repeats,
            "max_new_tokens": config.max_new_tokens, "threads": torch.get_num_threads(), "rows": rows,
            "ours_over_transformers": ratios, "best_k": best_k, "best_k_speedup": ours_k[best_k] / base,
            "drafter_token_s": drafter_s, "verifier_token_s": verifier_s, "cost_ratio": drafter_s / verifier_s,
            "kernels": pair.metadata.get("kernels"), "machine": machine, "machine_after": machine_state(),
            "busy_warning": busy}


def print_report(report: dict) -> None:
    print(f"\n{report['pair']}; {report['prompts']} prompts x {report['repeats']} interleaved rounds, "
          f"{report['max_new_tokens']} new tokens, greedy, {report['threads']} threads; medians")
    machine, after = report["machine"], report["machine_after"]
    print(f"kernels {report['kernels']}; {machine['cpu']}, {machine['cores']} cores, 1-min load "
          f"{machine['load_1min']:.2f} before, {after['load_1min']:.2f} after\n")
    if report["busy_warning"]:
        print(report["busy_warning"])
    print(f"{'method':<34}{'tokens/s':>10}{'x verifier':>12}{'accepted':>10}{'outside fwd':>13}{'== verifier':>13}")
    for row in report["rows"]:
        share = "" if row["outside_forward_share"] is None else f"{100 * row['outside_forward_share']:.1f} %"
        accepted = "" if row["acceptance_rate"] is None else f"{row['acceptance_rate']:.3f}"
        print(f"{row['method']:<34}{row['tokens_per_s']:>10.2f}{row['vs_verifier_alone']:>11.2f}x{accepted:>10}"
              f"{share:>13}{str(row['identical_to_verifier']):>13}")
    print(f"\nbest fixed k: k={report['best_k']}, {report['best_k_speedup']:.2f}x the verifier alone")
    print(f"drafter per-token cost {1000 * report['drafter_token_s']:.1f} ms, verifier one-token cost "
          f"{1000 * report['verifier_token_s']:.1f} ms: ratio {report['cost_ratio']:.3f}")
    if report["ours_over_transformers"]:
        print("ours / transformers at the same k: "
              + ", ".join(f"k={k}: {ratio:.2f}x" for k, ratio in report["ours_over_transformers"].items()))
    else:
        print("transformers' assisted generation skipped: the drafter is not a Hugging Face causal LM")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = ("usage: ebsd bench decoder [options] | ebsd bench env [options]   (ebsd bench decoder --help, "
             "ebsd bench env --help for the options)")
    if argv[:1] in (["-h"], ["--help"]):
        print(usage)
        return 0
    if not argv or argv[0] not in ("decoder", "env"):
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == "env":
        from eval import bench_env

        return bench_env.main(argv[1:])
    config = tyro.cli(BenchDecoderConfig, args=argv[1:], prog="ebsd bench decoder", description=__doc__)
    check_model_args(config)
    report = bench_decoder(config)
    print_report(report)
    return 0
