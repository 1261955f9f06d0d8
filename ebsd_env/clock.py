"""The clock: the one ledger of decoding time for the env, statistics, evaluation, tuning and replay.

Every place that turns decoder work into seconds asks a `Clock`; nothing else prices time. Three kinds:

- ``wall``: the decoder's own measured ``perf_counter`` times (noisy; cannot be replayed);
- ``model``: a `CostModel` calibrated on this pair and machine (`ebsd_env.cost_model.calibrate`: isotonic fit
  of medians, refused when non-monotone beyond noise, implausible, or far from the wall clock);
- ``profile``: a `CostModel` loaded from a JSON file, e.g. measured on a user's GPU (``draft_s`` and
  ``verify_points``; refused when a field is missing or the curve falls).

A cost model prices a block of ``k`` verified draft tokens, ``d`` discarded ones, as
``(k + d) * draft_s + verify_cost(k + 1)``; it carries a `fingerprint` of what it was measured on (pair names,
drafter weight hash, kernels, threads, CPU) so a calibration is never applied to another set-up unknowingly.
The ``wall`` clock still holds a cost model: its verifier-alone rate ρ = 1 / verify_cost(1) is the reward's
baseline, the same on every clock.
"""

from __future__ import annotations

import hashlib
import statistics
import weakref
from dataclasses import dataclass
from pathlib import Path

import torch

from .cost_model import CostModel, cached_cost_model
from .kernels import cpu_model
from .models import ModelPair

CLOCK_KINDS = ("wall", "model", "profile")
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


def validate(pair: ModelPair, costs: CostModel, ks: tuple[int, ...] = (0, 2, 4), max_new_tokens: int = 24,
             temperature: float = 0.0, top_p: float = 1.0, prompt: str | None = None) -> dict:
    """Predicted vs measured decode time of fixed-k generations (k = 0: the verifier alone).

    Returns ``{"runs": [{"k", "measured_s", "predicted_s", "error"}], "mean_abs_error"}`` with error =
    predicted / measured - 1; ``mean_abs_error`` forgives each run 10 ms (a scheduler time slice on a shared
    CPU), which only matters for tiny test models. A clock that cannot predict a plain fixed-k generation cannot
    be trusted to rank policies; `calibrate` refuses one whose mean absolute error exceeds its tolerance.
    """
    from .cost_model import CALIBRATION_PROMPT
    from .decoder import SpeculativeDecoder, fixed_k

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


@dataclass(frozen=True)
class Clock:
    """Prices decoder work in seconds: measured (``wall``) or from a cost model (``model``, ``profile``)."""

    kind: str
    costs: CostModel

    def __post_init__(self):
        if self.kind not in CLOCK_KINDS:
            raise ValueError(f"unknown clock {self.kind!r}; valid: {', '.join(CLOCK_KINDS)}")

    @property
    def replayable(self) -> bool:
        """Whether recorded traces can be timed on this clock (the wall clock measures live work only)."""
        return self.kind != "wall"

    @property
    def baseline_rate(self) -> float:
        """ρ: tokens per second of the verifier alone (one token per verification of an empty draft)."""
        return self.costs.verifier_rate

    def draft_time(self, measured_s: float = 0.0) -> float:
        """Seconds charged for one drafting step."""
        return measured_s if self.kind == "wall" else self.costs.draft_s

    def verify_time(self, drafted: int, measured_s: float = 0.0) -> float:
        """Seconds charged for verifying a draft of `drafted` tokens (the verifier is fed drafted + 1)."""
        return measured_s if self.kind == "wall" else self.costs.verify_cost(drafted + 1)

    def block_times(self, drafted: int, discarded: int, measured_draft_s: float = 0.0,
                    measured_verify_s: float = 0.0) -> tuple[float, float]:
        """(draft seconds, verify seconds) of one block: `drafted` verified and `discarded` dropped tokens."""
        if self.kind == "wall":
            return measured_draft_s, measured_verify_s
        return (drafted + discarded) * self.costs.draft_s, self.costs.verify_cost(drafted + 1)

    def sequence_times(self, stats: dict) -> dict:
        """``draft_s``, ``verify_s``, ``decode_s``, ``tokens_per_s`` of a decoder's `SequenceStats.as_dict()` on
        this clock (the wall clock returns the measured ones)."""
        if self.kind == "wall":
            draft_s, verify_s = stats["draft_s"], stats["verify_s"]
        else:
            draft_s, verify_s = price(self.costs, stats["draft_lengths"], stats.get("discarded", 0))
        decode_s = draft_s + verify_s
        return {"draft_s": draft_s, "verify_s": verify_s, "decode_s": decode_s,
                "tokens_per_s": stats["new_tokens"] / decode_s if decode_s else float("nan")}

    def describe(self) -> dict:
        return {"kind": self.kind, "costs": self.costs.to_dict()}


def check_fingerprint(costs: CostModel, expected: dict, what: str) -> None:
    """Refuse a calibration measured on another pair (its model names differ from `expected`): its cost ratios
    belong to other models. Weights are not compared: costs depend on the architectures, not on the weights'
    values (`cached_cost_model` shares a calibration the same way). Profiles, hand-made models and old files
    carry no fingerprint."""
    found = costs.fingerprint or {}
    for key in ("drafter", "verifier"):
        if found.get(key) is not None and expected.get(key) is not None and found[key] != expected[key]:
            raise ValueError(f"the cost model was calibrated with {key}={found[key]!r} but {what} has "
                             f"{expected[key]!r}: calibrate this pair (omit cost_model) or pass a cost profile for it "
                             "with clock='profile'")


def make_clock(kind: str | Clock = "wall", pair: ModelPair | None = None,
               cost_model: CostModel | str | Path | None = None, temperature: float = 0.0,
               top_p: float = 1.0) -> Clock:
    """A clock of `kind`. ``wall`` and ``model`` take `cost_model` (a `CostModel` or JSON path) or calibrate
    `pair` once per process; ``profile`` needs `cost_model` (a cost profile file or `CostModel`)."""
    if isinstance(kind, Clock):
        return kind
    if kind not in CLOCK_KINDS:
        raise ValueError(f"unknown clock {kind!r}; valid: {', '.join(CLOCK_KINDS)}")
    if isinstance(cost_model, (str, Path)):
        cost_model = CostModel.load(cost_model)
    if cost_model is None:
        if kind == "profile":
            raise ValueError("clock='profile' needs a cost profile: pass cost_model='profile.json' (draft_s and "
                             "verify_points, e.g. measured on your GPU)")
        if pair is None:
            raise ValueError(f"clock={kind!r} needs a pair to calibrate or a cost_model")
        cost_model = cached_cost_model(pair, temperature, top_p)
    elif kind == "model" and pair is not None:
        check_fingerprint(cost_model, pair_fingerprint(pair), "this pair")
    return Clock(kind, cost_model)
