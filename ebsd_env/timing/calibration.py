"""Calibration: time the loaded pair through the decoder and fit the `CostModel` its clock charges.

`calibrate` measures drafting steps (a block's first step apart: `CostModel.catch_up_s`; and apart, the signals of
each step: `CostModel.signal_s`) and verifications of 1 to 9, 13 and 17 fed tokens (optionally after several
context lengths), fits a monotone curve of their means
(`expected_cost`) and checks it against the wall clock of a few fixed-k generations (`ebsd_env.timing.validation`).
`cached_cost_model` memoises it per pair for the process.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import threading
from collections.abc import Callable, Sequence

from ..decoding.decoder import DraftStep, SpeculativeDecoder
from ..decoding.models import ModelPair
from .cost_model import CostModel, fingerprint
from .validation import CALIBRATION_PROMPT, validate_costs

# Fed-token counts (k + 1) at which the verifier is timed: every count up to 9 (k <= 8, where drafts usually
# are), sparse beyond. Every count, because a CPU's cost by width is not smooth (kernel blocking): on a 2-core
# AVX2 EPYC with points at 3 and 5 only, verifying 4 tokens was priced 13.5 % above its wall time.
DEFAULT_FED_POINTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17)
DRAFT_TRIES = 100  # blocks tried per timed verification before a drafter that always ends early is refused
# Verifications of one token timed per round (every other count: one). Why more: verify(1) alone prices the
# verifier-alone baseline (ρ, the denominator of every speed-up) and every k = 0 block, and on a VM one call varies
# by several %; with one per round like the rest, `ebsd record --drafter feature-v2` on a 2-core AVX2 EPYC was
# refused twice at k = 0 alone (+6.2 %, +7.3 %) with every other k within 2 %.
BASELINE_BLOCKS = 4
# Scheduler and timer jitter on a shared CPU: differences below this are not held against a measurement.
NOISE_FLOOR_S = 0.0005
# A timed call slower than this many times its group's median was preempted (another process, a page fault
# storm), not slowed by the work it did: `expected_cost` leaves it out.
OUTLIER_FACTOR = 3.0


def expected_cost(times: list[float]) -> float:
    """The mean of `times` without preempted calls (above `OUTLIER_FACTOR` x the median). Why the mean and not
    the median: the clock's totals must match the wall clock's sums, and call times are skewed to the right
    (cache misses, longer contexts inside a group), so the median undercharges every call; on the 2-core AMD
    EPYC a median clock predicted fixed-k generations 3-8 % short at k >= 1."""
    if not times:
        raise ValueError("expected_cost needs at least one timed call")
    cap = OUTLIER_FACTOR * statistics.median(times)
    return statistics.fmean(t for t in times if t <= cap)


def isotonic(values: list[float]) -> list[float]:
    """Non-decreasing least-squares fit (pool adjacent violators): the closest monotone curve to the means."""
    blocks: list[list[float]] = []  # [mean, count]
    for value in values:
        blocks.append([float(value), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + mean * count) / (blocks[-1][1] + count),
                          blocks[-1][1] + count]
    return [mean for mean, count in blocks for _ in range(int(count))]


def check_plausible(costs: CostModel) -> None:
    """Refuse a cost curve no real pair produces: a drafting step dearer than 3 verifier steps, or a
    verification that grows faster than one verifier step per fed token."""
    one = costs.verify_cost(1)
    if costs.draft_s > 3 * one:
        raise ValueError(f"implausible cost curve: a drafting step ({costs.draft_s:.4g} s) costs more than 3 "
                         f"verifier steps ({one:.4g} s each); recalibrate on a quiet machine")
    fed, seconds = costs.verify_points[-1]
    if seconds > 1.5 * fed * one:
        raise ValueError(f"implausible cost curve: verifying {fed} tokens ({seconds:.4g} s) costs more than {fed} "
                         f"verifications of one ({one:.4g} s each); recalibrate on a quiet machine")


def _read_signals(steps: list[tuple[float, float]], step: DraftStep, _call_s: float) -> None:
    """Append a fresh draft step's own seconds and, read now, its signals' seconds to `steps`."""
    own_s = step.time_s  # before any read: a read adds the signals' seconds to time_s
    # Read as an entropy policy reads them, between draft steps, and priced apart (`signal_s`): the clocks
    # charge them only to policies whose observation reads them.
    step.signals()
    steps.append((own_s, step.signal_s))


@dataclasses.dataclass
class DraftTimes:
    """Timed drafting steps of one context group, without their signals: a block's first step (`first`: with the
    drafter's catch-up on the tokens the last verification committed) apart from its later ones (`later`). A first
    step that also prefilled the drafter (a sequence's first draft) is left out: that is once per sequence, not
    per block."""

    first: list[float] = dataclasses.field(default_factory=list)
    later: list[float] = dataclasses.field(default_factory=list)

    def extend(self, other: DraftTimes) -> None:
        self.first += other.first
        self.later += other.later

    def step_cost(self) -> float:
        """The expected seconds of a later step (`CostModel.draft_s`); of any step when none was later."""
        return expected_cost(self.later or self.first)

    def catch_up(self) -> float | None:
        """The expected extra seconds of a first step over a later one (None: not both were timed)."""
        if not self.first or not self.later:
            return None
        return expected_cost(self.first) - expected_cost(self.later)


def catch_up_cost(groups: list[DraftTimes]) -> float:
    """`CostModel.catch_up_s`: the mean over context groups of a first step's extra cost, never below 0 (a first
    step measured cheaper than a later one is noise: catching up never saves work)."""
    extras = [extra for extra in (g.catch_up() for g in groups) if extra is not None]
    return max(statistics.fmean(extras), 0.0) if extras else 0.0


def _measure(decoder: SpeculativeDecoder, text_prompt, fed_points: tuple[int, ...], repeats: int, prompt: str,
             contexts: list[int] | None = None) -> tuple[DraftTimes, dict[int, list[float]], list[float]]:
    """Draft-step times (without their signals), verification times per fed-token count and the seconds of each
    draft step's signals, `repeats` rounds over the points (fed = 1 `BASELINE_BLOCKS` times a round); the context
    length at each timed verification is appended to `contexts`."""
    budget = max(fed_points) + 1
    draft_times = DraftTimes()
    signal_times: list[float] = []
    verify_times: dict[int, list[float]] = {fed: [] for fed in fed_points}
    order = [fed for point in fed_points for fed in [point] * (BASELINE_BLOCKS if point == 1 else 1)]
    for _ in range(repeats):
        for fed in order:
            # A drafted end-of-sequence token ends a draft early: draft again from where the text has got to. An
            # unrelated drafter (the tests' random pair) drafts one every few tokens, so it takes many tries.
            for _attempt in range(DRAFT_TRIES):
                if decoder.finished or decoder.remaining < budget:
                    decoder.start(text_prompt)
                context = len(decoder.tokens)
                prefills = not decoder.drafter_started  # this block's first step prefills the drafter
                steps = []  # (the step's own seconds, its signals' seconds)
                # The times are each draft and verify call's own (`time_s`, `verify_time_s`), not the driver's.
                result = decoder.run_block(fed - 1, on_draft=functools.partial(_read_signals, steps))
                if steps and not prefills:
                    draft_times.first.append(steps[0][0])
                draft_times.later.extend(own_s for own_s, _ in steps[1:])
                signal_times.extend(signal_s for _, signal_s in steps)
                if len(steps) == fed - 1:
                    verify_times[fed].append(result.verify_time_s)
                    if contexts is not None:
                        contexts.append(context)
                    break
            if not verify_times[fed]:
                raise RuntimeError(f"calibration could not draft {fed - 1} tokens in a row on {prompt!r} in "
                                   f"{DRAFT_TRIES} tries: the drafter ends its drafts early every time; pass "
                                   "another calibration prompt")
    return draft_times, verify_times, signal_times


def context_prompt(pair: ModelPair, length: int) -> list[int]:
    """Token ids of exactly `length` tokens (the calibration text repeated): what a long prompt costs does not
    depend on what it says."""
    if length < 1:
        raise ValueError(f"a calibration context needs at least 1 token, got {length}")
    ids = pair.tokenizer.encode(CALIBRATION_PROMPT + " ", add_special_tokens=False)
    return (ids * (length // len(ids) + 1))[:length]


# Tokens a context's decoder generates before it restarts from its own prompt: each context's timings come from
# [context, context + CONTEXT_BUDGET), so context points must lie at least this far apart to stay distinct.
CONTEXT_BUDGET = 64


def calibration_contexts(prompt_lengths: list[int], max_new_tokens: int) -> tuple[int, ...]:
    """Context lengths that span the prompts at hand: the shortest prompt, the longest prompt plus the token
    budget, and their midpoint, each at least `CONTEXT_BUDGET` after the one before."""
    if not prompt_lengths:
        raise ValueError("calibration_contexts needs the lengths of the prompts at hand")
    low, high = min(prompt_lengths), max(prompt_lengths) + max_new_tokens
    points = [low]
    for wanted in ((low + high) // 2, high):
        if wanted > points[-1]:
            points.append(max(wanted, points[-1] + CONTEXT_BUDGET))
    return tuple(points) if len(points) >= 2 else (low, low + CONTEXT_BUDGET)


def _fit_group(medians: list[float], tolerance: float, breaks: list[int] = ()) -> tuple[list[float], float]:
    """The isotonic fit of one curve of medians (between measured falls: `isotonic_between`) and how far its
    worst point fell below it (relative)."""
    fitted = isotonic_between(medians, list(breaks))
    # A point below the fitted curve by less than the timer's noise floor is noise, not a falling curve.
    return fitted, max((f - m - NOISE_FLOOR_S) / f for m, f in zip(medians, fitted, strict=True))


def calibrate(pair: ModelPair, temperature: float = 0.0, top_p: float = 1.0,
              fed_points: tuple[int, ...] = DEFAULT_FED_POINTS, repeats: int = 5,
              prompt: str = CALIBRATION_PROMPT, tolerance: float = 0.2, attempts: int = 3,
              validate: bool = True, validation_tolerance: float = 0.5,
              contexts: tuple[int, ...] | None = None, between_rounds: Sequence[Callable[[], None]] = ()
              ) -> CostModel:
    """Time the pair through the decoder and fit a monotone cost curve over the tokens fed to the verifier.

    Each round times every draft step (a block's first apart, for `catch_up_s`; and apart, its signals: `signal_s`)
    and one verification per fed-token count;
    the means over `repeats` rounds (after an untimed warm-up block; `expected_cost` leaves out preempted calls) are
    made monotone by isotonic regression (`isotonic`), except at a fall every context group measured
    (`measured_falls`: the machine's, kept). Why: a curve that falls pays a policy for verifying more, and
    a clock must never do that. Where the medians fall by more than `tolerance` (relative) below an earlier point,
    the machine was too noisy to trust: the points are measured again (up to `attempts` times), then refused with a
    ValueError. So is an implausible curve (`check_plausible`). With `validate`, the fitted model then predicts the
    decode time of a few fixed-k generations and is compared with their wall time (`validate_costs`); a mean error
    above `validation_tolerance` in each of `attempts` validations is refused; the report is kept in ``validation``.

    With `contexts` (>= 2 context lengths, e.g. `calibration_contexts` of the prompts at hand) the same curve
    is measured after each context length, interleaved, and the model prices every block at its context
    (``context_points``, ``verify_grid``, ``draft_grid``); its context-free curve is that of the shortest.

    `between_rounds` are called in order, spread evenly between the first attempt's rounds (then at least
    ``len(between_rounds) + 1`` of them, every context group measured once a round): `calibrate_for` times one
    validation prompt's generations in each gap, so calibration and validation sample the machine alike over the
    same minutes, and a VM whose speed moves by several % over minutes is priced at the speed the validation met.
    """
    _check_settings(fed_points, repeats, attempts, contexts)
    text_prompt = [{"role": "user", "content": prompt}] if getattr(pair.tokenizer, "chat_template", None) else prompt
    # One decoder per context; a context's decoder restarts from its own prompt, so its verifications stay
    # within one budget of that context.
    groups = ([(text_prompt, 512)] if contexts is None
              else [(context_prompt(pair, c), CONTEXT_BUDGET) for c in contexts])
    decoders = _warm_decoders(pair, groups, temperature, top_p)
    rows, draft_times, signal_times, repeats_done, seen_contexts, falls = _monotone_curves(
        decoders, groups, fed_points, repeats, prompt, tolerance, attempts, between_rounds)
    drafts = [times.step_cost() for times in draft_times]
    grid = {}
    if contexts is not None:
        grid = {"context_points": tuple(int(statistics.median(seen)) for seen in seen_contexts),
                "verify_grid": tuple(tuple(row) for row in rows), "draft_grid": tuple(drafts)}
    points = tuple(zip(fed_points, rows[0], strict=True))
    source = (f"calibrated on {pair.drafter_name} / {pair.verifier_name} ({pair.device}), temperature={temperature}, "
              f"top_p={top_p}, {repeats_done} repeats, isotonic fit of means"
              + (f" between measured falls at {list(falls)}" if falls else "")
              + (f", contexts {list(contexts)}" if contexts is not None else ""))
    model = CostModel(draft_s=drafts[0], verify_points=points, source=source,
                      fingerprint=fingerprint(pair, temperature, top_p),
                      signal_s=expected_cost(signal_times) if signal_times else 0.0, measured_falls=falls,
                      catch_up_s=catch_up_cost(draft_times), **grid)
    check_plausible(model)
    return _validated(pair, model, temperature, top_p, attempts, validation_tolerance) if validate else model


def _check_settings(fed_points: tuple[int, ...], repeats: int, attempts: int, contexts: tuple[int, ...] | None) -> None:
    """`calibrate`'s arguments, refused in one line before anything is timed."""
    if repeats < 1 or attempts < 1:
        raise ValueError(f"repeats and attempts must be >= 1, got {repeats} and {attempts}")
    if sorted(set(fed_points)) != list(fed_points) or fed_points[0] != 1 or len(fed_points) < 2:
        raise ValueError(f"fed_points must be strictly increasing, start at 1 and have >= 2 entries: {fed_points}")
    if contexts is not None and (len(contexts) < 2 or any(b - a < CONTEXT_BUDGET
                                                          for a, b in zip(contexts[:-1], contexts[1:], strict=True))):
        raise ValueError(f"contexts must be >= 2 increasing context lengths at least {CONTEXT_BUDGET} apart (each is "
                         f"timed over the {CONTEXT_BUDGET} tokens after it), got {contexts}")


def _warm_decoders(pair: ModelPair, groups: list[tuple], temperature: float, top_p: float) -> list[SpeculativeDecoder]:
    """One decoder per (prompt, token budget) group, each warmed up by one untimed block (first calls allocate)."""
    decoders = []
    for group_prompt, budget in groups:
        decoder = SpeculativeDecoder(pair, temperature=temperature, top_p=top_p, max_new_tokens=budget, seed=0)
        decoder.start(group_prompt)
        decoder.run_block(1)
        decoders.append(decoder)
    return decoders


def _monotone_curves(decoders: list[SpeculativeDecoder], groups: list[tuple], fed_points: tuple[int, ...],
                     repeats: int, prompt: str, tolerance: float, attempts: int,
                     between_rounds: Sequence[Callable[[], None]] = ()
                     ) -> tuple[list[list[float]], list[DraftTimes], list[float], int, list[list[int]], tuple]:
    """Measure every group, more rounds at each attempt, until no group's medians fall more than `tolerance`
    below their isotonic fit (a ValueError after `attempts`): (the verification curve of each group's means,
    monotone between the falls every group measured, each group's drafting-step times, the signal times of all
    groups' steps, the verifications timed per point of the first group, each group's contexts, those falls'
    fed-token counts). `between_rounds` are called between the first attempt's rounds (`_interleaved`)."""
    draft_times = [DraftTimes() for _ in groups]
    signal_times: list[float] = []  # pooled over the contexts: signals are over the vocabulary, context-free
    verify_times = [{fed: [] for fed in fed_points} for _ in groups]
    seen_contexts = [[] for _ in groups]

    def measure(rounds: int) -> None:
        for g, (group_prompt, _) in enumerate(groups):
            more_draft, more_verify, more_signals = _measure(decoders[g], group_prompt, fed_points, rounds, prompt,
                                                             seen_contexts[g])
            draft_times[g].extend(more_draft)
            signal_times.extend(more_signals)
            for fed in fed_points:
                verify_times[g][fed] += more_verify[fed]

    for attempt in range(attempts):
        if attempt == 0 and between_rounds:
            _interleaved(measure, repeats, between_rounds)
        else:
            measure(repeats)
        # Whether the curve falls is a question about its shape, asked of the medians (robust to a burst of
        # other work); what a call costs is an expectation, charged from the means (`expected_cost`).
        medians = [[statistics.median(times[fed]) for fed in fed_points] for times in verify_times]
        breaks = [fed_points.index(fed) for fed in measured_falls(fed_points, medians, medians)]
        fits = [_fit_group(group, tolerance, breaks) for group in medians]
        worst_group = max(range(len(groups)), key=lambda g: fits[g][1])
        worst = fits[worst_group][1]
        if worst <= tolerance:
            break
        if attempt == attempts - 1:
            shown = ", ".join(f"{fed}: {m:.4g} s" for fed, m in zip(fed_points, medians[worst_group], strict=True))
            raise ValueError(f"calibration measured a non-monotone cost curve ({shown}; a point {worst:.0%} below "
                             f"an earlier one, tolerance {tolerance:.0%}) {attempts} times: the machine is too "
                             "busy; calibrate on a quiet machine, with more repeats, or load a cost profile")
    means = [[expected_cost(times[fed]) for fed in fed_points] for times in verify_times]
    falls = measured_falls(fed_points, means, medians)
    curves = [isotonic_between(group, [fed_points.index(fed) for fed in falls]) for group in means]
    return curves, draft_times, signal_times, len(verify_times[0][fed_points[-1]]), seen_contexts, falls


def _interleaved(measure: Callable[[int], None], repeats: int, calls: Sequence[Callable[[], None]]) -> None:
    """``max(repeats, len(calls) + 1)`` rounds of `measure`, one at a time, with `calls` (each once, in order)
    spread evenly over the gaps between them (with one call: after the first half of the rounds)."""
    rounds = max(repeats, len(calls) + 1)
    follows = [(j + 1) * rounds // (len(calls) + 1) - 1 for j in range(len(calls))]  # the round each call follows
    for r in range(rounds):
        measure(1)
        for call, after in zip(calls, follows, strict=True):
            if after == r:
                call()


# A verification this much cheaper than the fed-token count before it, in the means and medians of every context
# group, is the machine's (kernel blocking by rows), not noise: the clock keeps it (`CostModel.measured_falls`).
# Why 2 % and not 5 %: on a 2-core AVX2 EPYC verifying 4 tokens is 5-11 % cheaper than 3 in every calibration (the
# means of 8 rounds at 3 contexts), but some context group's median fell by only 4.7 %; pooled, the clock priced
# k = 2 4-5 % short and refused itself. Noise that makes every group's mean and median fall 2 % at once is rarer
# than that, and a kept fall of 2 % that was noise misprices by 2 %.
FALL_MARGIN = 0.02


def measured_falls(fed_points: tuple[int, ...], means: list[list[float]], medians: list[list[float]]
                   ) -> tuple[int, ...]:
    """The fed-token counts whose verification every group measured (means and medians) more than `FALL_MARGIN`
    cheaper than the count before it; none with fewer than two groups (contexts)."""
    if len(means) < 2:  # one group cannot tell the machine from a burst of noise: no fall is kept
        return ()
    return tuple(fed_points[i] for i in range(1, len(fed_points))
                 if all(curve[i] < (1 - FALL_MARGIN) * curve[i - 1] for curve in (*means, *medians)))


def isotonic_between(values: list[float], breaks: list[int]) -> list[float]:
    """`isotonic` on each run of `values` between the indices in `breaks` (a measured fall starts a new run):
    noise is pooled away, a measured fall is kept."""
    edges = [0, *sorted(breaks), len(values)]
    return [v for a, b in zip(edges[:-1], edges[1:], strict=True) for v in isotonic(values[a:b])]


def _validated(pair: ModelPair, model: CostModel, temperature: float, top_p: float, attempts: int,
               tolerance: float) -> CostModel:
    """`model` with its validation report (`validate_costs`), or a ValueError when its predictions of fixed-k
    generations miss their wall time by more than `tolerance` on average in each of `attempts` validations."""
    for _ in range(attempts):  # a burst of other work during one validation is not the clock's fault
        report = validate_costs(pair, model, temperature=temperature, top_p=top_p)
        if report["mean_abs_error"] <= tolerance:
            break
    else:
        errors = ", ".join(f"k={r['k']} {r['error']:+.0%}" for r in report["runs"])
        raise ValueError(f"the calibrated clock predicts fixed-k generations {report['mean_abs_error']:.0%} off "
                         f"their wall time on average ({errors}; tolerance {tolerance:.0%}): the "
                         "machine is too busy; calibrate on a quiet machine or load a cost profile")
    return dataclasses.replace(model, validation=report)


_CACHE: dict[tuple, CostModel] = {}
_CACHE_LOCK = threading.Lock()


def cached_cost_model(pair: ModelPair, temperature: float = 0.0, top_p: float = 1.0) -> CostModel:
    """`calibrate` memoised for the life of the process.

    Keyed by the pair's model names and device (costs depend on the architectures, not on the weights' values),
    so the copies that `gym.make` deep-copies from an env spec reuse the calibration of the original pair.
    """
    key = (pair.drafter_name, pair.verifier_name, str(pair.device), float(temperature), float(top_p))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = calibrate(pair, temperature, top_p)
        return _CACHE[key]
