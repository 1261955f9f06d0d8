"""A deterministic cost model of a drafter/verifier pair, calibrated by timing the loaded pair itself.

The environment's ``clock="model"`` charges every drafting step and every verification from this model instead
of the wall clock, so rewards and episode statistics repeat exactly from run to run (tests, CI, fast
experiments) while keeping the pair's real cost ratios. The model has two parts:

- ``draft_s``: seconds per drafting step (the median of measured `SpeculativeDecoder.draft` calls);
- ``verify_points``: seconds of one verification as a function of the number of tokens fed to the verifier
  (``k + 1`` for a draft of k tokens), measured at a few k and linearly interpolated between them (linearly
  extrapolated past the last point).

Both are measured through the decoder's own code path (forward passes, entropy signals, acceptance, cache
rollback), so the model charges what the wall clock would, minus the noise. ``verifier_rate`` (tokens per
second of the verifier decoding alone, one token per verification of an empty draft) is the baseline rate ρ of
the environment's reward.

A calibration is cached per pair (model names, device) and sampler settings for the life of the process, so
the copies of a vectorised environment share one. ``CostModel.save`` / ``CostModel.load`` pin a calibration to a
JSON file when runs on different machines or days must share one clock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import statistics
import threading
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..decoding.decoder import SpeculativeDecoder
from ..decoding.kernels import cpu_model
from ..decoding.models import ModelPair
from ..io import read_json, write_json_atomic

# Fed-token counts (k + 1) at which the verifier is timed: dense where drafts usually are, sparse beyond.
DEFAULT_FED_POINTS = (1, 2, 3, 5, 9, 17)
# Scheduler and timer jitter on a shared CPU: differences below this are not held against a measurement.
NOISE_FLOOR_S = 0.0005
CALIBRATION_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


@dataclass(frozen=True)
class CostModel:
    """Seconds charged per drafting step and per verification of ``fed`` tokens (``fed = k + 1``)."""

    draft_s: float
    verify_points: tuple[tuple[int, float], ...]
    source: str = ""
    # What the costs were measured on (`ebsd_env.timing.clock.fingerprint`: pair, drafter hash, kernels, threads, CPU)
    # and how they compared with the wall clock (`validate_costs`); empty for hand-made models.
    fingerprint: dict = field(default_factory=dict, compare=False)
    validation: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not self.draft_s > 0:
            raise ValueError(f"draft_s must be > 0 seconds, got {self.draft_s}")
        points = tuple((int(fed), float(seconds)) for fed, seconds in self.verify_points)
        if len(points) < 2 or points[0][0] != 1:
            raise ValueError("verify_points needs at least two (fed tokens, seconds) points, the first at fed=1")
        if any(b[0] <= a[0] for a, b in zip(points[:-1], points[1:], strict=True)):
            raise ValueError(f"verify_points must have strictly increasing fed-token counts, got {points}")
        if any(seconds <= 0 for _, seconds in points):
            raise ValueError(f"verification costs must be > 0 seconds, got {points}")
        # Feeding more tokens never costs less: a curve that falls was measured on a noisy machine and would
        # pay policies for verifying more (the PPO calibration shipped before the clock charged 5 tokens
        # 0.294 s and 2 tokens 0.402 s).
        for (fed_a, sec_a), (fed_b, sec_b) in zip(points[:-1], points[1:], strict=True):
            if sec_b < sec_a:
                raise ValueError(f"non-monotone cost curve: verifying {fed_b} fed tokens costs {sec_b:.4g} s but "
                                 f"{fed_a} cost {sec_a:.4g} s; recalibrate on a quiet machine "
                                 "(ebsd_env.timing.clock.calibrate fits a monotone curve) or fix the profile")
        object.__setattr__(self, "verify_points", points)

    def verify_cost(self, fed: int) -> float:
        """Seconds of one verification feeding `fed` tokens (the draft plus the last committed token)."""
        if fed < 1:
            raise ValueError(f"a verification feeds at least 1 token, got {fed}")
        xs = [p[0] for p in self.verify_points]
        ys = [p[1] for p in self.verify_points]
        if fed <= xs[-1]:
            return float(np.interp(fed, xs, ys))
        slope = max((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]), 0.0)
        return ys[-1] + slope * (fed - xs[-1])

    @property
    def verifier_rate(self) -> float:
        """Tokens per second of the verifier alone: one token per verification of an empty draft."""
        return 1.0 / self.verify_cost(1)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verify_points"] = [list(p) for p in self.verify_points]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CostModel:
        """A cost model or cost profile from JSON; files written before fingerprints existed load too."""
        if not isinstance(data, dict):
            raise ValueError(f"a cost profile is a JSON object with draft_s and verify_points, got {type(data)}")
        missing = [key for key in ("draft_s", "verify_points") if key not in data]
        if missing:
            raise ValueError(f"cost profile lacks field(s) {', '.join(missing)}: give draft_s (seconds per drafting "
                             "step) and verify_points ([[fed tokens, seconds], ...] from fed=1)")
        try:
            points = tuple((int(fed), float(sec)) for fed, sec in data["verify_points"])
            draft_s = float(data["draft_s"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"cost profile fields are malformed ({error}): draft_s is a number, verify_points a "
                             "list of [fed tokens, seconds] pairs") from None
        return cls(draft_s=draft_s, verify_points=points, source=str(data.get("source", "")),
                   fingerprint=dict(data.get("fingerprint") or {}), validation=dict(data.get("validation") or {}))

    def save(self, path: str | Path) -> None:
        """Write the calibration as JSON, atomically (a reader never sees half a file)."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> CostModel:
        data = read_json(path, "cost model file", "write one with CostModel.save (a run's cost_model.json)")
        try:
            return cls.from_dict(data)
        except ValueError as error:
            raise ValueError(f"cost model file {str(path)!r}: {error}") from None


# Keyed by the drafter module itself, weakly: an id() could be reused by a later drafter once this one is freed.
_HASHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def isotonic(values: list[float]) -> list[float]:
    """Non-decreasing least-squares fit (pool adjacent violators): the closest monotone curve to the medians."""
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


def drafter_hash(pair: ModelPair) -> str:
    """A short hash of the drafter's weights and buffers (its own and shared ones): traces and calibrations
    from another drafter with the same name are told apart. Cached per loaded drafter."""
    key = pair.drafter
    if key not in _HASHES:
        digest = hashlib.blake2b(digest_size=8)
        with torch.no_grad():
            for name, tensor in sorted(pair.drafter.state_dict().items()):
                digest.update(name.encode())
                if not isinstance(tensor, torch.Tensor):
                    digest.update(repr(tensor).encode())
                    continue
                try:
                    data = tensor.detach().cpu()
                    data = data.float() if data.is_floating_point() else data
                    digest.update(data.contiguous().numpy().tobytes())
                except (TypeError, RuntimeError):  # packed or quantized layouts: their shape and dtype at least
                    digest.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def pair_fingerprint(pair: ModelPair) -> dict:
    """What the drafter's proposals depend on: the pair's names, the drafter's weight hash and the kernels."""
    return {"drafter": pair.drafter_name, "verifier": pair.verifier_name, "drafter_hash": drafter_hash(pair),
            "vocab_size": int(pair.vocab_size), "eos_ids": sorted(int(i) for i in pair.eos_token_ids),
            "kernels": pair.metadata.get("kernels")}


def fingerprint(pair: ModelPair, temperature: float = 0.0, top_p: float = 1.0) -> dict:
    """What a timing depends on: the pair (`pair_fingerprint`), device, threads, CPU model, sampler."""
    return {**pair_fingerprint(pair), "device": str(pair.device), "threads": torch.get_num_threads(),
            "cpu": cpu_model(), "temperature": float(temperature), "top_p": float(top_p)}


def price(costs: CostModel, draft_lengths: list[int], discarded: int = 0) -> tuple[float, float]:
    """(draft seconds, verify seconds) of blocks that verified `draft_lengths` tokens (plus `discarded` dropped
    draft tokens) under `costs`."""
    verify_s = sum(costs.verify_cost(k + 1) for k in draft_lengths)
    return (sum(draft_lengths) + discarded) * costs.draft_s, verify_s


def validate_costs(pair: ModelPair, costs: CostModel, ks: tuple[int, ...] = (0, 2, 4), max_new_tokens: int = 24,
             temperature: float = 0.0, top_p: float = 1.0, prompt: str | None = None) -> dict:
    """Predicted vs measured decode time of fixed-k generations (k = 0: the verifier alone).

    Returns ``{"runs": [{"k", "measured_s", "predicted_s", "error"}], "mean_abs_error"}`` with error =
    predicted / measured - 1; ``mean_abs_error`` forgives each run 10 ms (a scheduler time slice on a shared
    CPU), which only matters for tiny test models. A clock that cannot predict a plain fixed-k generation cannot
    be trusted to rank policies; `calibrate` refuses one whose mean absolute error exceeds its tolerance.
    """
    from ..decoding.decoder import fixed_k

    text = prompt or CALIBRATION_PROMPT
    text_prompt = [{"role": "user", "content": text}] if getattr(pair.tokenizer, "chat_template", None) else text
    decoder = SpeculativeDecoder(pair, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=0)
    runs = []
    for k in ks:
        stats = decoder.generate(text_prompt, stop=fixed_k(k) if k else None, max_draft_len=max(k, 1)).stats
        predicted = sum(price(costs, stats["draft_lengths"], stats["discarded"]))
        runs.append({"k": k, "measured_s": stats["decode_s"], "predicted_s": predicted,
                     "error": predicted / stats["decode_s"] - 1.0})
    slack = 0.01
    return {"runs": runs, "mean_abs_error": statistics.mean(max(abs(r["predicted_s"] - r["measured_s"]) - slack, 0.0)
                                                            / r["measured_s"] for r in runs),
            "max_new_tokens": max_new_tokens}


def _measure(decoder: SpeculativeDecoder, text_prompt, fed_points: tuple[int, ...], repeats: int,
             prompt: str) -> tuple[list[float], dict[int, list[float]]]:
    """Draft-step times and verification times per fed-token count, `repeats` rounds over the points."""
    budget = max(fed_points) + 1
    draft_times: list[float] = []
    verify_times: dict[int, list[float]] = {fed: [] for fed in fed_points}
    for _ in range(repeats):
        for fed in fed_points:
            for _attempt in range(10):  # a drafted end-of-sequence token ends a draft early: draft again
                if decoder.finished or decoder.remaining < budget:
                    decoder.start(text_prompt)
                steps = []
                while len(steps) < fed - 1 and decoder.draft_room > 0:
                    steps.append(decoder.draft())
                result = decoder.verify()
                draft_times.extend(step.time_s for step in steps)
                if len(steps) == fed - 1:
                    verify_times[fed].append(result.verify_time_s)
                    break
            if not verify_times[fed]:
                raise RuntimeError(f"calibration could not draft {fed - 1} tokens in a row on {prompt!r}: the "
                                   "drafter ends its drafts early every time; pass another calibration prompt")
    return draft_times, verify_times


def calibrate(pair: ModelPair, temperature: float = 0.0, top_p: float = 1.0,
              fed_points: tuple[int, ...] = DEFAULT_FED_POINTS, repeats: int = 5,
              prompt: str = CALIBRATION_PROMPT, tolerance: float = 0.2, attempts: int = 3,
              validate: bool = True, validation_tolerance: float = 0.5) -> CostModel:
    """Time the pair through the decoder and fit a monotone cost curve over the tokens fed to the verifier.

    Each round times every draft step and one verification per fed-token count; the medians over `repeats`
    rounds (after an untimed warm-up block) are made monotone by isotonic regression (`isotonic`). Why: a
    curve that falls pays a policy for verifying more, and a clock must never do that. Where the medians fall
    by more than `tolerance` (relative) below an earlier point, the machine was too noisy to trust: the
    points are measured again (up to `attempts` times), then refused with a ValueError. So is an implausible
    curve (`check_plausible`). With `validate`, the fitted model then predicts the decode time of a few fixed-k
    generations and is compared with their wall time (`validate_costs`); a mean error above
    `validation_tolerance` in each of `attempts` validations is refused; the report is kept in ``validation``.
    """
    if repeats < 1 or attempts < 1:
        raise ValueError(f"repeats and attempts must be >= 1, got {repeats} and {attempts}")
    if sorted(set(fed_points)) != list(fed_points) or fed_points[0] != 1 or len(fed_points) < 2:
        raise ValueError(f"fed_points must be strictly increasing, start at 1 and have >= 2 entries: {fed_points}")
    decoder = SpeculativeDecoder(pair, temperature=temperature, top_p=top_p, max_new_tokens=512, seed=0)
    text_prompt = [{"role": "user", "content": prompt}] if getattr(pair.tokenizer, "chat_template", None) else prompt
    decoder.start(text_prompt)
    decoder.draft()  # warm-up, untimed: first calls allocate
    decoder.verify()
    draft_times: list[float] = []
    verify_times: dict[int, list[float]] = {fed: [] for fed in fed_points}
    for attempt in range(attempts):
        more_draft, more_verify = _measure(decoder, text_prompt, fed_points, repeats, prompt)
        draft_times += more_draft
        for fed in fed_points:
            verify_times[fed] += more_verify[fed]
        medians = [statistics.median(verify_times[fed]) for fed in fed_points]
        fitted = isotonic(medians)
        # A point below the fitted curve by less than the timer's noise floor is noise, not a falling curve.
        worst = max((f - m - NOISE_FLOOR_S) / f for m, f in zip(medians, fitted, strict=True))
        if worst <= tolerance:
            break
        if attempt == attempts - 1:
            shown = ", ".join(f"{fed}: {m:.4g} s" for fed, m in zip(fed_points, medians, strict=True))
            raise ValueError(f"calibration measured a non-monotone cost curve ({shown}; a point {worst:.0%} below "
                             f"an earlier one, tolerance {tolerance:.0%}) {attempts} times: the machine is too "
                             "busy; calibrate on a quiet machine, with more repeats, or load a cost profile")
    points = tuple(zip(fed_points, fitted, strict=True))
    source = (f"calibrated on {pair.drafter_name} / {pair.verifier_name} ({pair.device}), temperature={temperature}, "
              f"top_p={top_p}, {len(verify_times[1])} repeats, isotonic fit of medians")
    model = CostModel(draft_s=statistics.median(draft_times), verify_points=points, source=source,
                      fingerprint=fingerprint(pair, temperature, top_p))
    check_plausible(model)
    if validate:
        for _ in range(attempts):  # a burst of other work during one validation is not the clock's fault
            report = validate_costs(pair, model, temperature=temperature, top_p=top_p)
            if report["mean_abs_error"] <= validation_tolerance:
                break
        else:
            errors = ", ".join(f"k={r['k']} {r['error']:+.0%}" for r in report["runs"])
            raise ValueError(f"the calibrated clock predicts fixed-k generations {report['mean_abs_error']:.0%} off "
                             f"their wall time on average ({errors}; tolerance {validation_tolerance:.0%}): the "
                             "machine is too busy; calibrate on a quiet machine or load a cost profile")
        model = dataclasses.replace(model, validation=report)
    return model


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
