"""The model clock of a pair, calibrated for the prompts at hand and validated on them: `calibrate_for`, the clock
`ebsd record` saves beside its traces and the verdict prices its replays with."""

from __future__ import annotations

import dataclasses

from ..decoding.decoder import SpeculativeDecoder
from .calibration import calibrate, calibration_contexts
from .cost_model import CostModel
from .validation import VALIDATION_KS, format_validation, join_generations, judge_clock, time_generations


def calibrate_for(pair, prompts: list, categories: list[str], max_new_tokens: int, progress: bool = True,
                  tolerance: float | None = None, rounds: int = 1) -> CostModel:
    """The model clock of `pair` calibrated over the context lengths of `prompts` (as the decoder takes them; plus
    the token budget) and, with a `tolerance`, validated on the first prompt of each of their `categories` at every
    k (`validate_clock`; its table is printed): `ebsd record`'s clock, saved beside the traces.

    Calibration and validation are interleaved: one validation prompt's generations (every k, `rounds` times) are
    timed between each two of the calibration's rounds (`calibrate`'s `between_rounds`), then all are priced by
    the finished clock (`judge_clock`); the fit sees none of them. Why: on a 2-core AMD EPYC VM the machine's
    speed moved by 4-7 % over minutes. Timed after the calibration, that alone refused clocks whose speed-up
    errors were within 2 %; timed in one block halfway through it, one run in five still had every k 3-7 % high."""
    from tqdm import tqdm

    if tolerance is not None and not tolerance > 0:  # before anything is timed
        raise ValueError(f"the clock tolerance must be > 0, got {tolerance}")
    decoder = SpeculativeDecoder(pair, temperature=0.0, max_new_tokens=max_new_tokens)
    contexts = calibration_contexts([len(decoder.encode_prompt(p)) for p in prompts], max_new_tokens)
    first_per_category: dict[str, object] = {}
    for category, prompt in zip(categories, prompts, strict=True):
        first_per_category.setdefault(category, prompt)
    checked = list(first_per_category.values()) if tolerance is not None else []
    if progress:
        print(f"[ebsd] calibrating the model clock at contexts {list(contexts)}"
              + (f", its validation on {len(checked)} prompts timed between its rounds" if checked else "")
              + " ...", flush=True)
    parts: list[dict] = []
    bar = tqdm(desc="validate clock", unit="generation", total=len(checked) * len(VALIDATION_KS) * rounds,
               disable=not (progress and checked))

    def timer(prompt):
        def time_one_prompt() -> None:
            done = bar.n
            parts.append(time_generations(pair, [prompt], max_new_tokens=max_new_tokens, rounds=rounds,
                                          progress=lambda n, _total: bar.update(done + n - bar.n)))
        return time_one_prompt

    try:
        costs = calibrate(pair, contexts=contexts, between_rounds=[timer(prompt) for prompt in checked])
    finally:
        bar.close()
    if progress:
        print(f"[ebsd] model clock: verify(1) {costs.verify_cost(1) * 1e3:.1f} ms, draft "
              f"{costs.draft_s * 1e3:.2f} ms at {contexts[0]} tokens of context; at {contexts[-1]}: verify(1) "
              f"{costs.verify_cost(1, contexts[-1]) * 1e3:.1f} ms, draft {costs.draft_cost(contexts[-1]) * 1e3:.2f} ms"
              f"; a block's first step's catch-up: {costs.catch_up_s * 1e3:.2f} ms; a draft step's signals, when "
              f"read: {costs.signal_s * 1e3:.2f} ms", flush=True)
    if tolerance is None:
        return costs
    report = judge_clock(costs, join_generations(parts), tolerance)
    if progress:
        print("[ebsd] the model clock against the wall clock (fixed-k generations, held-out prompts, "
              f"{rounds} interleaved round(s), timed between the calibration's rounds):\n" + format_validation(report),
              flush=True)
    return dataclasses.replace(costs, validation=report,
                               fingerprint={**costs.fingerprint, "clock_tolerance": tolerance})
