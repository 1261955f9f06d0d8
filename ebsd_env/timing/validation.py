"""Validation: does a clock predict the wall time of real generations?

`validate_costs` is the quick check `calibrate` runs on its own prompt; `validate_clock` is the yardstick's
check on held-out prompts at every draft length k in `VALIDATION_KS`, refused beyond `VALIDATION_TOLERANCE`;
`ebsd_env.timing.prompt_clock.calibrate_for` calibrates a pair for the prompts at hand and validates it so.
"""

from __future__ import annotations

import statistics

from ..decoding.decoder import SpeculativeDecoder
from ..decoding.models import ModelPair
from .cost_model import CostModel, block_contexts, price

# The prompt `calibrate` times on and `validate_costs` checks by default.
CALIBRATION_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def validate_costs(pair: ModelPair, costs: CostModel, ks: tuple[int, ...] = (0, 2, 4), max_new_tokens: int = 24,
                   temperature: float = 0.0, top_p: float = 1.0, prompt: str | None = None) -> dict:
    """Predicted vs measured decode time of fixed-k generations (k = 0: the verifier alone).

    Returns ``{"runs": [{"k", "measured_s", "predicted_s", "error"}], "mean_abs_error"}`` with error =
    predicted / measured - 1; ``mean_abs_error`` forgives each run 10 ms (a scheduler time slice on a shared
    CPU), which only matters for tiny test models. A clock that cannot predict a plain fixed-k generation cannot
    be trusted to rank policies; `calibrate` refuses one whose mean absolute error exceeds its tolerance. The
    stricter check on held-out prompts at every k is `validate_clock`.
    """
    text = prompt or CALIBRATION_PROMPT
    text_prompt = [{"role": "user", "content": text}] if getattr(pair.tokenizer, "chat_template", None) else text
    decoder = SpeculativeDecoder(pair, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=0)
    runs = []
    for k in ks:
        stats = decoder.generate(text_prompt, k).stats
        contexts = block_contexts(stats["prompt_tokens"], stats["accepted_lengths"])
        predicted = sum(price(costs, stats["draft_lengths"], stats["discarded"], contexts))
        runs.append({"k": k, "measured_s": stats["decode_s"], "predicted_s": predicted,
                     "error": predicted / stats["decode_s"] - 1.0})
    slack = 0.01
    return {"runs": runs, "mean_abs_error": statistics.mean(max(abs(r["predicted_s"] - r["measured_s"]) - slack, 0.0)
                                                            / r["measured_s"] for r in runs),
            "max_new_tokens": max_new_tokens}


# The draft lengths at which a clock is checked against the wall clock before anything trains on it.
VALIDATION_KS = (0, 1, 2, 3, 4, 8, 16)
VALIDATION_TOLERANCE = 0.05


class ClockValidationError(ValueError):
    """A clock that predicts a fixed-k generation's wall time worse than the tolerance at some k."""


def validate_clock(pair: ModelPair, costs: CostModel, prompts: list, ks: tuple[int, ...] = VALIDATION_KS,
                   max_new_tokens: int = 48, rounds: int = 2, tolerance: float = VALIDATION_TOLERANCE,
                   temperature: float = 0.0, top_p: float = 1.0, progress=None) -> dict:
    """The clock against the wall clock at every k in `ks`, on `prompts` the calibration did not use.

    Each round decodes every prompt at every k (the order of k rotates from round to round, so a burst of other
    work does not land on one k), and every point is the ratio of total predicted to total measured decode
    time at that k, over prompts and rounds (the objective's own totals). Returns ``{"points": [{"k",
    "measured_s", "predicted_s", "error", "anchored_error", "runs"}], "max_abs_error", "max_abs_anchored_error",
    "tolerance", "prompts", "rounds", "max_new_tokens"}``; raises `ClockValidationError` (one line naming the
    worst k and its error) when any point is off by more than `tolerance`.
    `progress(done, total)` is called after each generation. The generations are timed first
    (`time_generations`), then priced and judged (`judge_clock`): a caller may time them while calibrating
    (`ebsd_env.timing.prompt_clock.calibrate_for` times one prompt between each two of the calibration's rounds).

    ``anchored_error`` (where k = 0 is among `ks`) is the error of the clock's *speed-up* over the verifier
    alone: each prediction is rescaled by the measured / predicted time of the verifier-alone generation of the
    same prompt in the same round, decoded moments apart. A machine that runs uniformly faster or slower than
    when the clock was calibrated (a VM's drift, another tenant) moves every ``error`` alike and no
    ``anchored_error``; every figure the clock makes is a ratio to the verifier alone on the same clock, so the
    anchored error is what can mislead a ranking. The refusal is on ``error``, as the yardstick asks.
    """
    if tolerance <= 0:  # before any generation is timed
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    timed = time_generations(pair, prompts, ks, max_new_tokens, rounds, temperature, top_p, progress)
    return judge_clock(costs, timed, tolerance)


def time_generations(pair: ModelPair, prompts: list, ks: tuple[int, ...] = VALIDATION_KS, max_new_tokens: int = 48,
                     rounds: int = 2, temperature: float = 0.0, top_p: float = 1.0, progress=None) -> dict:
    """Decode every prompt at every k, `rounds` times (the order of k rotating from round to round), and keep what
    a clock needs to price each generation: ``{"runs": [{"round", "prompt", "k", "measured_s", "draft_lengths",
    "discarded", "contexts"}], "ks", "prompts", "rounds", "max_new_tokens"}`` (`judge_clock` prices them)."""
    if not prompts:
        raise ValueError("validate_clock needs at least one held-out prompt")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    decoder = SpeculativeDecoder(pair, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=0)
    runs = []
    total = rounds * len(prompts) * len(ks)
    for r in range(rounds):
        order = list(ks[r % len(ks):]) + list(ks[: r % len(ks)])
        for p, prompt in enumerate(prompts):
            for k in order:
                stats = decoder.generate(prompt, k).stats
                runs.append({"round": r, "prompt": p, "k": k, "measured_s": stats["decode_s"],
                             "draft_lengths": list(stats["draft_lengths"]), "discarded": stats["discarded"],
                             "contexts": block_contexts(stats["prompt_tokens"], stats["accepted_lengths"])})
                if progress is not None:
                    progress(len(runs), total)
    return {"runs": runs, "ks": tuple(ks), "prompts": len(prompts), "rounds": rounds,
            "max_new_tokens": max_new_tokens}


def join_generations(parts: list[dict]) -> dict:
    """One `time_generations` result from several timed apart (same ks, rounds and budget; each part's prompts
    numbered after the previous parts'), as `judge_clock` takes it."""
    if not parts:
        raise ValueError("join_generations needs at least one part")
    first = parts[0]
    if any((part["ks"], part["rounds"], part["max_new_tokens"]) != (first["ks"], first["rounds"],
                                                                   first["max_new_tokens"]) for part in parts):
        raise ValueError("the parts were timed with different ks, rounds or token budgets: time them alike")
    runs, offset = [], 0
    for part in parts:
        runs += [{**run, "prompt": run["prompt"] + offset} for run in part["runs"]]
        offset += part["prompts"]
    return {**first, "runs": runs, "prompts": offset}


def judge_clock(costs: CostModel, timed: dict, tolerance: float = VALIDATION_TOLERANCE) -> dict:
    """`validate_clock`'s report of generations timed by `time_generations`, priced by `costs`; raises
    `ClockValidationError` when a point is off by more than `tolerance`."""
    if tolerance <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    ks = timed["ks"]
    measured = {k: 0.0 for k in ks}
    predicted = {k: 0.0 for k in ks}
    count = {k: 0 for k in ks}
    # What the generations did, beside what they cost: two validations whose times differ can then be told apart
    # by their blocks (different work) or not (a different machine speed).
    blocks = {k: 0 for k in ks}
    drafted = {k: 0 for k in ks}
    anchored = {k: 0.0 for k in ks}  # predictions rescaled by the same (round, prompt)'s verifier-alone drift
    by_pair: dict[tuple[int, int], dict[int, tuple[float, float]]] = {}
    for run in timed["runs"]:
        k = run["k"]
        predicted_s = sum(price(costs, run["draft_lengths"], run["discarded"], run["contexts"]))
        measured[k] += run["measured_s"]
        predicted[k] += predicted_s
        count[k] += 1
        blocks[k] += len(run["draft_lengths"])
        drafted[k] += sum(run["draft_lengths"])
        by_pair.setdefault((run["round"], run["prompt"]), {})[k] = (run["measured_s"], predicted_s)
    for times in by_pair.values():
        if 0 in times:
            drift = times[0][0] / times[0][1]
            for k, (_, predicted_s) in times.items():
                anchored[k] += predicted_s * drift
    points = [{"k": k, "measured_s": measured[k], "predicted_s": predicted[k],
               "error": predicted[k] / measured[k] - 1.0,
               "anchored_error": anchored[k] / measured[k] - 1.0 if 0 in ks else None, "runs": count[k],
               "blocks": blocks[k], "drafted_tokens": drafted[k]} for k in ks]
    worst = max(points, key=lambda point: abs(point["error"]))
    report = {"points": points, "max_abs_error": abs(worst["error"]), "tolerance": tolerance,
              "max_abs_anchored_error": max(abs(p["anchored_error"]) for p in points) if 0 in ks else None,
              "prompts": timed["prompts"], "rounds": timed["rounds"], "max_new_tokens": timed["max_new_tokens"]}
    if abs(worst["error"]) > tolerance:
        raise ClockValidationError(
            f"the clock predicts fixed-k generations at k={worst['k']} {worst['error']:+.1%} off their wall time "
            f"(tolerance {tolerance:.0%}; {format_validation(report, one_line=True)}): calibrate again on a quiet "
            "machine, or widen the tolerance with --clock-tolerance (recorded in the fingerprint)")
    return report


def format_validation(report: dict, one_line: bool = False) -> str:
    """The validation table (markdown), or its points on one line."""
    if one_line:
        return ", ".join(f"k={p['k']} {p['error']:+.1%}" for p in report["points"])
    lines = ["| k | measured s | predicted s | error | speed-up error (anchored on k = 0) | blocks | drafted tokens |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {p['k']} | {p['measured_s']:.3f} | {p['predicted_s']:.3f} | {p['error']:+.1%} | "
              + ("–" if p.get("anchored_error") is None else f"{p['anchored_error']:+.1%}")
              + f" | {p.get('blocks', '–')} | {p.get('drafted_tokens', '–')} |" for p in report["points"]]
    return "\n".join(lines)
