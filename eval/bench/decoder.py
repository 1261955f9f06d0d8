"""`ebsd bench decoder`: drafters side by side, our decoder against transformers, on the same prompts.

Greedy decoding, the same chat prompts, interleaved repeats (every method once per prompt per round, in a
shuffled order), medians. Methods: the verifier alone through our decoder and through `model.generate` (the
faster of the two is the baseline every speedup is taken against), and for every drafter of `--drafters`: our
speculative decoder at each fixed k, and transformers' assisted generation in each of its modes where
transformers can run the drafter (a Hugging Face causal LM): constant k (`num_assistant_tokens=k`, confidence
off), `heuristic` (k0 = 5, +2 / -1), and the default since v4.45, 20 tokens with confidence threshold 0.4
re-fit on the ROC curve (needs scikit-learn). Each transformers run starts from those settings (transformers
carries its adapted k and threshold from one `generate` call to the next; we reset them so every prompt sees
the same start). Every run is timed end to end with `time.perf_counter()` (prefill included, the same way for
all) and counts only new tokens. Also printed, per drafter, from the same runs: the acceptance at each draft
position (P(token i accepted | tokens before it accepted), from the largest k), the cost ratio
(`policies.baselines.cost_ratio`: a single-token draft step over a verifier-alone decoding step, median whole
decoder calls, what the clock charges) and the forward cost ratio (the same steps' forward passes alone), and
the best fixed k (one k for all prompts), and the verification cost curve verify(k + 1) / verify(1)
for each k beside the speed-ups (median verification forwards of k draft tokens over verifier-alone steps).

Drafters are evaluated on prompts none of them was trained on: the built-in suite's prompts held out by every
trained drafter in the list (the ones `ebsd distill` records), one per category.

`ebsd bench env` is `eval.bench.env` (the environment's own overhead).
"""

from __future__ import annotations

import random
import statistics
import sys
from dataclasses import dataclass, field
from typing import Annotated

import tyro
from tqdm import tqdm

from ebsd_env.cli.args import ModelArgs, check_model_args, parse
from ebsd_env.io import write_json_atomic
from ebsd_env.prompts import common_heldout_ids
from policies.baselines import cost_ratio, fastest

from .methods import OurRuns, bench_methods, label, warm_up


@dataclass
class BenchDecoderConfig(ModelArgs):
    ks: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7, 8])
    """Fixed draft lengths to compare."""
    prompts: Annotated[int, tyro.conf.arg(name="num-prompts")] = 4
    ("Number of chat prompts (one per category of the built-in suite, in order; for a drafter trained by `ebsd "
     "distill`, the first of its held-out prompts in each category).")
    repeats: int = 3
    """Interleaved rounds; each figure is the median over prompts x rounds."""
    max_new_tokens: int = 48
    """Token budget of every run."""
    drafters: tuple[str, ...] = ()
    """Several drafters side by side (names as for load_pair, e.g. int4 distilled ngram); replaces --drafter."""
    transformers_modes: bool = True
    """Also run transformers' heuristic and confidence (ROC) modes, not only constant k."""
    out: str | None = None
    """Also write the report as JSON here (atomically)."""
    seed: int = 0
    """Seed of the interleaving order."""
    lossy_reference: bool = True
    ("Also time the verifier's int4 copy decoding alone on the same prompts, beside the verifier alone (a LOSSY "
     "reference: its output is its own; reported with its agreement with the verifier, never as a speed-up).")


def load_pair(*args, **kwargs):
    """`ebsd_env.decoding.models.load_pair`, imported when called: `ebsd bench decoder --help` imports no torch."""
    from ebsd_env.decoding.models import load_pair as load

    return load(*args, **kwargs)


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


def _position_acceptance(draft_lengths: list[int], accepted_lengths: list[int], k: int) -> list[float | None]:
    """P(draft token i accepted | tokens 1..i-1 accepted), i = 1..k, over blocks that drafted at least i."""
    out = []
    for i in range(1, k + 1):
        reached = [a for d, a in zip(draft_lengths, accepted_lengths, strict=True) if d >= i and a >= i - 1]
        out.append(sum(a >= i for a in reached) / len(reached) if reached else None)
    return out


def validate(config: BenchDecoderConfig) -> None:
    """Every check that needs no model: bad input is refused before the drafters load."""
    from ebsd_env.io import check_file_path
    from ebsd_env.prompts import BUILTIN_CATEGORIES

    check_model_args(config)
    if not config.ks or min(config.ks) < 1:
        raise ValueError(f"--ks must be a non-empty list of draft lengths >= 1, got {config.ks}")
    if not 1 <= config.prompts <= len(BUILTIN_CATEGORIES):
        raise ValueError(f"--num-prompts must be in [1, {len(BUILTIN_CATEGORIES)}] (one per category of the built-in "
                         f"suite), got {config.prompts}")
    for flag, value in (("--repeats", config.repeats), ("--max-new-tokens", config.max_new_tokens)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if config.out:
        check_file_path(config.out, "--out")


def bench_decoder(config: BenchDecoderConfig) -> dict:
    """Load the pairs, warm every method up, time them in interleaved rounds and summarise: the report
    `print_report` prints and ``--out`` keeps."""
    validate(config)  # before torch is imported
    import torch

    from ebsd_env.decoding.decoder import SpeculativeDecoder
    from ebsd_env.decoding.kernels import configure_threads, machine_state, warn_if_busy

    names = list(dict.fromkeys(config.drafters)) or [config.drafter]
    configure_threads(config.threads)
    machine = machine_state()
    busy = warn_if_busy()
    pairs = {name: load_pair(name, config.verifier, device=config.device, kernels=config.kernels)
             for name in tqdm(names, desc="loading drafters", unit="pair")}
    first = next(iter(pairs.values()))
    decoders = {name: SpeculativeDecoder(pair, max_new_tokens=config.max_new_tokens) for name, pair in pairs.items()}
    prompts = [decoders[names[0]].encode_prompt(chat)
               for chat in _bench_prompts(config.prompts, common_heldout_ids(pairs.values()))]
    ours = OurRuns(decoders, names, max(config.ks))
    methods = bench_methods(config, pairs, names, ours)
    failed = warm_up(methods, prompts[0][:16])
    ours.clear()  # the warm-up's steps are not measured
    rates, outside, outputs = _timed_rounds(methods, prompts, config.repeats, config.seed)
    # The verifier alone's rate here is the median over prompts x rounds of whole generate calls (prefill
    # included), per configuration: not `policies.baselines.verifier_alone_rate`, the objective (total tokens over
    # total decoding seconds) of an env run's units. The pick among configurations is `baselines.fastest` (both are
    # the verifier: none is privileged).
    alone = {m: statistics.median(rates[m]) for m in ("verifier alone (ours)", "verifier alone (model.generate)")}
    baseline = fastest(alone, is_privileged=lambda method: False)
    base = alone[baseline]
    rows = _method_rows(methods, rates, outside, outputs, ours.acceptance, base, len(prompts))
    verifier_s = statistics.median(ours.verifier_steps)
    verifier_call_s = statistics.median(ours.verifier_calls)
    drafters = {name: _drafter_summary(config, name, names, pairs[name], ours, rates, base, verifier_s,
                                       verifier_call_s) for name in names}
    return {"pair_verifier": first.verifier_name, "drafters": drafters, "prompts": len(prompts),
            "lossy_reference": _lossy_reference(config, first, prompts),
            "repeats": config.repeats, "max_new_tokens": config.max_new_tokens, "threads": torch.get_num_threads(),
            "rows": rows, "baseline": baseline, "baseline_tokens_per_s": base, "verifier_token_s": verifier_s,
            "transformers_failed": failed, "machine": machine, "machine_after": machine_state(),
            "busy_warning": busy}


def _timed_rounds(methods: dict, prompts: list[list[int]], repeats: int, seed: int) -> tuple[dict, dict, dict]:
    """(tokens/s per method, one per run; outside-forward shares likewise; the tokens of each (method, prompt)):
    `repeats` rounds, each every method on every prompt once in a shuffled order."""
    rng = random.Random(seed)
    rates = {name: [] for name in methods}
    outside = {name: [] for name in methods}
    outputs: dict[tuple[str, int], list[int]] = {}
    order = [(name, p) for name in methods for p in range(len(prompts))]
    with tqdm(total=len(order) * repeats, desc="bench decoder", unit="run") as bar:
        for _ in range(repeats):
            rng.shuffle(order)
            for name, p in order:
                tokens, seconds, share = methods[name](prompts[p])
                rates[name].append(len(tokens) / seconds)
                outside[name].append(share)
                outputs[(name, p)] = tokens
                bar.update()
    return rates, outside, outputs


def _method_rows(methods: dict, rates: dict, outside: dict, outputs: dict, acceptance: dict, base: float,
                 prompts: int) -> list[dict]:
    """One row per method: its median tokens/s, over the baseline's, its acceptance, its median share outside
    forward passes, and whether its outputs are model.generate's on every prompt."""
    reference = {p: outputs[("verifier alone (model.generate)", p)] for p in range(prompts)}
    identical = {name: all(outputs[(name, p)] == reference[p] for p in range(prompts)) for name in methods}
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
    return rows


def _drafter_summary(config: BenchDecoderConfig, name: str, names: list[str], pair, ours: OurRuns, rates: dict,
                     base: float, verifier_s: float, verifier_call_s: float) -> dict:
    """One drafter's figures: the best fixed k (one k for all prompts) and the speed-up at each k, the acceptance
    by draft position, the cost ratios, the verification cost curve, ours over transformers at each k, kernels."""
    ours_k = {k: statistics.median(rates[label(name, k, names)]) for k in config.ks}
    best_k = max(ours_k, key=ours_k.get)
    hf = {k: statistics.median(rates[method]) for k in config.ks
          if (method := label(name, k, names, "transformers")) in rates}
    steps, calls = ours.drafter_steps[name], ours.drafter_calls[name]
    drafter_s = statistics.median(steps) if steps else float("nan")
    return {
        "best_k": best_k, "best_k_speedup": ours_k[best_k] / base,
        "speedup_by_k": {k: v / base for k, v in ours_k.items()},
        "acceptance_by_position": _position_acceptance(*ours.positions[name], ours.kmax),
        "drafter_token_s": drafter_s,
        # THE cost ratio (whole draft and verify calls, `policies.baselines.cost_ratio`) and the ratio of
        # the forward passes alone, named apart: the two differ most for a cheap drafter.
        "cost_ratio": cost_ratio(statistics.median(calls) if calls else float("nan"), verifier_call_s),
        "forward_cost_ratio": drafter_s / verifier_s,
        # verify(k + 1) / verify(1): what a verification of k draft tokens costs in one-token steps.
        "verify_ratio_by_k": {k: statistics.median(ours.verify_steps[name][k]) / verifier_s
                              for k in sorted(ours.verify_steps[name])},
        "ours_over_transformers": {k: ours_k[k] / v for k, v in hf.items()},
        "kernels": pair.metadata.get("kernels")}


def _lossy_reference(config: BenchDecoderConfig, first, prompts: list[list[int]]) -> dict | None:
    """The verifier's int4 copy alone on the same prompts (`eval.bench.lossy`), unless --no-lossy-reference;
    ``{"skipped": why}`` where this verifier has no int4 copy."""
    if not config.lossy_reference:
        return None
    from .lossy import lossy_reference

    try:
        return lossy_reference(first, prompts, config.max_new_tokens)
    except ValueError as error:  # no int4 copy of this verifier here
        return {"skipped": str(error)}


def print_report(report: dict) -> None:
    print(f"\nverifier {report['pair_verifier']}; {report['prompts']} prompts x {report['repeats']} interleaved "
          f"rounds, {report['max_new_tokens']} new tokens, greedy, {report['threads']} threads; medians")
    machine, after = report["machine"], report["machine_after"]
    print(f"{machine['cpu']}, {machine['cores']} cores, 1-min load {machine['load_1min']:.2f} before, "
          f"{after['load_1min']:.2f} after\n")
    if report["busy_warning"]:
        print(report["busy_warning"])
    print(f"{'method':<44}{'tokens/s':>10}{'x verifier':>12}{'accepted':>10}{'outside fwd':>13}{'== verifier':>13}")
    for row in report["rows"]:
        share = "" if row["outside_forward_share"] is None else f"{100 * row['outside_forward_share']:.1f} %"
        accepted = "" if row["acceptance_rate"] is None else f"{row['acceptance_rate']:.3f}"
        print(f"{row['method']:<44}{row['tokens_per_s']:>10.2f}{row['vs_verifier_alone']:>11.2f}x{accepted:>10}"
              f"{share:>13}{str(row['identical_to_verifier']):>13}")
    print(f"\nbaseline (the fastest verifier-alone configuration): {report['baseline']}, "
          f"{report['baseline_tokens_per_s']:.2f} tokens/s; verifier one-token cost "
          f"{1000 * report['verifier_token_s']:.1f} ms")
    print(f"\n{'drafter':<16}{'kernels':<34}{'cost ratio':>11}{'forward':>9}{'best k':>8}{'speedup':>9}  "
          "acceptance by position (best k: one k for all prompts)")
    for name, d in report["drafters"].items():
        alphas = " ".join("-" if a is None else f"{a:.2f}" for a in d["acceptance_by_position"])
        kernels = ",".join(f"{r}={v}" for r, v in (d["kernels"] or {}).items())
        print(f"{str(name):<16}{kernels:<34}{d['cost_ratio']:>11.3f}{d['forward_cost_ratio']:>9.3f}{d['best_k']:>8}"
              f"{d['best_k_speedup']:>8.2f}x  "
              f"{alphas}")
        if d["verify_ratio_by_k"]:
            print(f"{'':<16}verify(k+1) / verify(1): "
                  + ", ".join(f"k={k}: {r:.2f}" for k, r in d["verify_ratio_by_k"].items())
                  + "  (speed-up at k: " + ", ".join(f"{k}: {s:.2f}x" for k, s in d["speedup_by_k"].items()) + ")")
        if d["ours_over_transformers"]:
            print(f"{'':<16}ours / transformers at the same k: "
                  + ", ".join(f"k={k}: {r:.2f}x" for k, r in d["ours_over_transformers"].items()))
    for method, error in report["transformers_failed"].items():
        print(f"transformers could not run {method}: {error}")
    lossy = report.get("lossy_reference")
    if lossy and "skipped" in lossy:
        print(f"\nlossy reference skipped: {lossy['skipped']}")
    elif lossy:
        print(f"\n{lossy['label']}: {lossy['tokens_per_s']:.1f} tokens/s decoding ({lossy['speedup']:.2f}x the "
              f"verifier alone's {lossy['verifier_tokens_per_s']:.1f} in the same run; end to end "
              f"{lossy['end_to_end_tokens_per_s']:.1f}); NOT lossless: agreement with the verifier "
              f"{lossy['agreement']:.3f} of positions, identical outputs {lossy['identical_share']:.2f}")


def main(argv: list[str] | None = None) -> int:
    """`ebsd bench decoder [options]` (the options after the word `decoder`; `eval.bench.main` routes here)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config = parse(BenchDecoderConfig, argv, "bench decoder", prog="ebsd bench decoder", description=__doc__)
    validate(config)
    report = bench_decoder(config)
    print_report(report)
    if config.out:
        write_json_atomic(config.out, report)
        print(f"[ebsd bench decoder] wrote {config.out}")
    return 0
