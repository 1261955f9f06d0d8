"""A deterministic cost model of a drafter/verifier pair, calibrated by timing the loaded pair itself.

The environment's ``clock="model"`` charges every drafting step and every verification from this model instead
of the wall clock, so rewards and episode statistics repeat exactly from run to run (tests, CI, fast
experiments) while keeping the pair's real cost ratios. The model has two parts:

- ``draft_s``: seconds per drafting step (the mean of measured `SpeculativeDecoder.draft` calls, without their
  signals);
- ``signal_s``: seconds to compute one draft step's signals (entropy, probabilities) when a policy's observation
  reads them: charged only to such policies (a fixed-k policy reads none); 0 in profiles that do not give it;
- ``catch_up_s``: seconds a block's first drafting step costs beyond a later one (the drafter catching up on the
  tokens the last verification committed), charged once per block that drafts; 0 in profiles that do not give it;
- ``verify_points``: seconds of one verification as a function of the number of tokens fed to the verifier
  (``k + 1`` for a draft of k tokens), measured at a few k and linearly interpolated between them (linearly
  extrapolated past the last point).

All are measured through the decoder's own code path (forward passes, signals read as an entropy policy reads them,
acceptance, cache rollback), so the model charges what the wall clock would, minus the noise. ``verifier_rate``
(tokens per second of the verifier decoding alone, one token per verification of an empty draft) is the baseline
rate ρ of the environment's reward.

A calibration is cached per pair (model names, device) and sampler settings for the life of the process, so
the copies of a vectorised environment share one. ``CostModel.save`` / ``CostModel.load`` pin a calibration to a
JSON file when runs on different machines or days must share one clock.
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..decoding.kernels import cpu_model
from ..decoding.models import ModelPair
from ..drafter_ids import canonical_drafter
from ..io import read_json, write_json_atomic


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
    # Context-length dependence (optional; empty = the costs above at every context). Why: verification reads
    # the KV cache of the whole context, and so does a drafter that attends over it (int4), so a 1.5k-token RAG
    # prompt pays visibly more per step than a 60-token chat turn. `context_points` are context lengths (tokens
    # already in the cache when the block starts); `verify_grid[i][j]` is the seconds of verifying
    # `verify_points[j][0]` fed tokens at `context_points[i]`; `draft_grid[i]` the seconds of a drafting step
    # there. Costs are interpolated linearly in both axes and extrapolated linearly in context.
    context_points: tuple[int, ...] = ()
    verify_grid: tuple[tuple[float, ...], ...] = ()
    draft_grid: tuple[float, ...] = ()
    # Seconds of one decision per policy spec (`ebsd_env.timing.clock.time_decisions`): what the model and replay
    # clocks charge for each `step` a policy decides; part of the fingerprint hash when present.
    decide_s: dict = field(default_factory=dict, compare=False)
    # Seconds to compute one draft step's signals when a policy's observation reads them (signals are computed
    # on read: `ebsd_env.decoding.protocol.DraftStep`): charged per read step, apart from `draft_s`, so a policy
    # that reads none (fixed k) pays for none. Context-free (the signals are over the vocabulary); part of the
    # fingerprint hash when nonzero (files without it load as 0 and keep their hashes).
    signal_s: float = 0.0
    # Fed-token counts whose verification measured clearly cheaper than the count before (`calibrate` keeps such a
    # fall only when every context group reproduced it beyond noise): on a 2-core AVX2 EPYC, float32 matmuls over
    # an odd number of rows cost more than over the next even number, so verifying 4 tokens took 80 ms and 3 took
    # 95 ms. A fall anywhere else is refused as noise. Empty in files without it (their hashes unchanged).
    measured_falls: tuple[int, ...] = ()
    # Seconds a block's first drafting step costs beyond a later one (`block_draft_cost`): the drafter catches up
    # on what the last verification committed (a model drafter runs a forward over those tokens, the feature
    # drafter over their verifier features; prompt lookup extends its index). Why apart from `draft_s`: a mean over
    # all steps undercharges short drafts, where every step is a first one; with it folded in, the clock predicted
    # fixed-k generations 6-10 % short at k = 1-3 for the feature and prompt-lookup drafters on a Zen 5 EPYC.
    # Context-free; 0 (and left out of files and the fingerprint hash) in models that do not give it.
    catch_up_s: float = 0.0

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
        # Feeding more tokens never costs less, except at a fall calibration measured in every context group
        # (`measured_falls`): any other falling curve was measured on a noisy machine and would pay policies for
        # verifying more (the PPO calibration shipped before the clock charged 5 tokens 0.294 s and 2 tokens 0.402 s).
        falls = tuple(sorted({int(fed) for fed in self.measured_falls}))
        object.__setattr__(self, "measured_falls", falls)
        for (fed_a, sec_a), (fed_b, sec_b) in zip(points[:-1], points[1:], strict=True):
            if sec_b < sec_a and fed_b not in falls:
                raise ValueError(f"non-monotone cost curve: verifying {fed_b} fed tokens costs {sec_b:.4g} s but "
                                 f"{fed_a} cost {sec_a:.4g} s; recalibrate on a quiet machine "
                                 "(ebsd_env.timing.clock.calibrate fits a monotone curve) or fix the profile")
        object.__setattr__(self, "verify_points", points)
        self._check_context_grid()
        decide = {str(spec): float(seconds) for spec, seconds in dict(self.decide_s).items()}
        bad = {spec: seconds for spec, seconds in decide.items() if not seconds >= 0}
        if bad:
            raise ValueError(f"decide_s holds seconds per decision >= 0 per policy spec, got {bad}")
        object.__setattr__(self, "decide_s", decide)
        signal_s = float(self.signal_s)
        if not 0 <= signal_s < float("inf"):
            raise ValueError(f"signal_s must be >= 0 seconds per read draft step, got {self.signal_s}")
        object.__setattr__(self, "signal_s", signal_s)
        catch_up_s = float(self.catch_up_s)
        if not 0 <= catch_up_s < float("inf"):
            raise ValueError(f"catch_up_s must be >= 0 seconds per drafting block, got {self.catch_up_s}")
        object.__setattr__(self, "catch_up_s", catch_up_s)

    def _check_context_grid(self) -> None:
        contexts = tuple(int(c) for c in self.context_points)
        grid = tuple(tuple(float(s) for s in row) for row in self.verify_grid)
        drafts = tuple(float(s) for s in self.draft_grid)
        if not contexts and not grid and not drafts:
            return
        if len(contexts) < 2 or any(b <= a for a, b in zip(contexts[:-1], contexts[1:], strict=True)):
            raise ValueError(f"context_points must be >= 2 strictly increasing context lengths, got {contexts}")
        if len(grid) != len(contexts) or any(len(row) != len(self.verify_points) for row in grid):
            raise ValueError(f"verify_grid must have one row per context point ({len(contexts)}) and one column per "
                             f"verify point ({len(self.verify_points)})")
        if len(drafts) != len(contexts):
            raise ValueError(f"draft_grid must have one drafting cost per context point ({len(contexts)})")
        if any(s <= 0 for row in grid for s in row) or any(s <= 0 for s in drafts):
            raise ValueError("context-grid costs must be > 0 seconds")
        object.__setattr__(self, "context_points", contexts)
        object.__setattr__(self, "verify_grid", grid)
        object.__setattr__(self, "draft_grid", drafts)

    @property
    def context_aware(self) -> bool:
        return bool(self.context_points)

    def _along_context(self, values: list[float], context: float | None, fallback: float) -> float:
        """Linear in context between the grid's points, linear extrapolation beyond them (never below 5 % of the
        nearest point: a steep fit must not make a long context free)."""
        if context is None or not self.context_points:
            return fallback
        xs = self.context_points
        if xs[0] <= context <= xs[-1]:
            return float(np.interp(context, xs, values))
        i = 0 if context < xs[0] else len(xs) - 2
        slope = (values[i + 1] - values[i]) / (xs[i + 1] - xs[i])
        edge = 0 if context < xs[0] else -1
        return max(values[edge] + slope * (context - xs[edge]), 0.05 * values[edge])

    def context_arrays(self, feds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The context grid as arrays, to price many blocks at once (`along_context_many`): the context points,
        the seconds of verifying fed = 1 .. `feds` tokens at each of them (points x feds) and of a drafting step."""
        fed_points = [fed for fed, _ in self.verify_points]
        curves = [list(zip(fed_points, row, strict=True)) for row in self.verify_grid]
        return (np.asarray(self.context_points, dtype=np.float64),
                np.asarray([[self._along_fed(curve, fed) for fed in range(1, feds + 1)] for curve in curves],
                           dtype=np.float64),
                np.asarray(self.draft_grid, dtype=np.float64))

    @staticmethod
    def _along_fed(points: list[tuple[int, float]], fed: int) -> float:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        if fed <= xs[-1]:
            return float(np.interp(fed, xs, ys))
        slope = max((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]), 0.0)
        return ys[-1] + slope * (fed - xs[-1])

    def verify_cost(self, fed: int, context: float | None = None) -> float:
        """Seconds of one verification feeding `fed` tokens (the draft plus the last committed token), after
        `context` tokens already in the cache (None: the context-free curve `verify_points`)."""
        if fed < 1:
            raise ValueError(f"a verification feeds at least 1 token, got {fed}")
        base = self._along_fed(self.verify_points, fed)
        if context is None or not self.context_points:
            return base
        feds = [p[0] for p in self.verify_points]
        per_context = [self._along_fed(list(zip(feds, row, strict=True)), fed) for row in self.verify_grid]
        return self._along_context(per_context, context, base)

    def draft_cost(self, context: float | None = None) -> float:
        """Seconds of one drafting step after `context` tokens (None: the context-free `draft_s`)."""
        return self._along_context(list(self.draft_grid), context, self.draft_s)

    def block_draft_cost(self, steps: int, context: float | None = None) -> float:
        """Seconds of a block's `steps` drafting steps (verified and discarded ones, signals apart) after `context`
        tokens: `steps` steps and, when there is any, the first step's catch-up (`catch_up_s`)."""
        return steps * self.draft_cost(context) + (self.catch_up_s if steps > 0 else 0.0)

    @property
    def verifier_rate(self) -> float:
        """Tokens per second of the verifier alone: one token per verification of an empty draft."""
        return 1.0 / self.verify_cost(1)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verify_points"] = [list(p) for p in self.verify_points]
        if not self.context_points:  # context-free models keep the files they always had
            for key in ("context_points", "verify_grid", "draft_grid"):
                data.pop(key)
        else:
            data["context_points"] = list(self.context_points)
            data["verify_grid"] = [list(row) for row in self.verify_grid]
            data["draft_grid"] = list(self.draft_grid)
        if not self.decide_s:
            data.pop("decide_s")
        if not self.signal_s:  # models without a signal cost keep the files they always had
            data.pop("signal_s")
        if not self.catch_up_s:
            data.pop("catch_up_s")
        if self.measured_falls:
            data["measured_falls"] = list(self.measured_falls)
        else:
            data.pop("measured_falls")
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
            contexts = tuple(int(c) for c in data.get("context_points") or ())
            grid = tuple(tuple(float(s) for s in row) for row in data.get("verify_grid") or ())
            drafts = tuple(float(s) for s in data.get("draft_grid") or ())
            signal_s = float(data.get("signal_s") or 0.0)
            catch_up_s = float(data.get("catch_up_s") or 0.0)
            falls = tuple(int(fed) for fed in data.get("measured_falls") or ())
        except (TypeError, ValueError) as error:
            raise ValueError(f"cost profile fields are malformed ({error}): draft_s is a number, verify_points a "
                             "list of [fed tokens, seconds] pairs, context_points a list of context lengths, "
                             "verify_grid one list of seconds per context point, draft_grid one number per "
                             "context point, signal_s and catch_up_s numbers, measured_falls a list of fed-token "
                             "counts") from None
        return cls(draft_s=draft_s, verify_points=points, source=str(data.get("source", "")),
                   fingerprint=dict(data.get("fingerprint") or {}), validation=dict(data.get("validation") or {}),
                   context_points=contexts, verify_grid=grid, draft_grid=drafts,
                   decide_s=dict(data.get("decide_s") or {}), signal_s=signal_s,
                   measured_falls=falls, catch_up_s=catch_up_s)

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


def along_context_many(xs: np.ndarray, values: np.ndarray, context: np.ndarray) -> np.ndarray:
    """`CostModel._along_context` for an array of contexts, with the same arithmetic (so the numpy vector envs and
    the replay env agree to the bit): linear between the points, linear beyond them, never below 5 % of the edge."""
    x = np.asarray(context, dtype=np.float64)
    low = np.maximum(values[0] + (values[1] - values[0]) / (xs[1] - xs[0]) * (x - xs[0]), 0.05 * values[0])
    high = np.maximum(values[-1] + (values[-1] - values[-2]) / (xs[-1] - xs[-2]) * (x - xs[-1]), 0.05 * values[-1])
    return np.where(x < xs[0], low, np.where(x > xs[-1], high, np.interp(x, xs, values)))


def weight_state(model: torch.nn.Module) -> dict:
    """`model.state_dict()` with the layout of kernel variants undone: a module with a ``dense_state`` gives its
    state through it, in place of its own parameters and buffers. A linear layer prepacked for oneDNN (whose
    packed weights the state dict leaves out) gives back the dense ``weight`` / ``bias`` of the stock layer under
    the stock names; an int4 layer (`ebsd_env.decoding.quantized.weights.Int4Linear`, packed differently on AVX2 and
    AVX-512 CPUs) a digest of its integers. So a model has the same state whichever kernels and CPU it runs on."""
    state = dict(model.state_dict())
    for name, module in model.named_modules(remove_duplicate=False):  # shared modules under every name, as state_dict
        dense = getattr(module, "dense_state", None)
        if callable(dense):
            prefix = f"{name}." if name else ""
            for key in (*module._parameters, *module._buffers):  # the module's own entries, laid out for its kernel
                state.pop(prefix + key, None)
            state.update({prefix + key: tensor for key, tensor in dense().items()})
    return state


def drafter_hash(pair: ModelPair) -> str:
    """A short hash of the drafter's weights and buffers (its own and shared ones), whatever kernel layout they
    run in (`weight_state`): traces and calibrations from another drafter with the same name are told apart.
    Cached per loaded drafter."""
    key = pair.drafter
    if key not in _HASHES:
        digest = hashlib.blake2b(digest_size=8)
        with torch.no_grad():
            for name, tensor in sorted(weight_state(pair.drafter).items()):
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
    """What the drafter's proposals depend on: the pair's names (the drafter's canonical id,
    `ebsd_env.drafter_ids`), the drafter's weight hash, the kernels and the verifier's attention (the int4 copy
    drafts from the verifier's cache, whose bits they set), and the int4 / int8 copy's own attention."""
    return {"drafter": canonical_drafter(pair.drafter_name, warn=False), "verifier": pair.verifier_name,
            "drafter_hash": drafter_hash(pair),
            "vocab_size": int(pair.vocab_size), "eos_ids": sorted(int(i) for i in pair.eos_token_ids),
            "kernels": pair.metadata.get("kernels"), "verifier_attention": pair.metadata.get("verifier_attention"),
            # the int4 / int8 copies' attention, where there is one (absent for other drafters, as before)
            **({"drafter_attention": pair.metadata["drafter_attention"]}
               if pair.metadata.get("drafter_attention") else {})}


def fingerprint(pair: ModelPair, temperature: float = 0.0, top_p: float = 1.0) -> dict:
    """What a timing depends on: the pair (`pair_fingerprint`), device, threads, CPU model, sampler."""
    return {**pair_fingerprint(pair), "device": str(pair.device), "threads": torch.get_num_threads(),
            "cpu": cpu_model(), "temperature": float(temperature), "top_p": float(top_p)}


def block_contexts(prompt_tokens: int, accepted_lengths: list[int]) -> list[int]:
    """The context length at the start of each block of a sequence: the prompt plus every token emitted before
    (each block emits its accepted tokens and one from the verifier)."""
    contexts, context = [], int(prompt_tokens)
    for accepted in accepted_lengths:
        contexts.append(context)
        context += int(accepted) + 1
    return contexts


def price(costs: CostModel, draft_lengths: list[int], discarded: int = 0,
          contexts: list[int] | None = None) -> tuple[float, float]:
    """(draft seconds, verify seconds) of blocks that verified `draft_lengths` tokens (plus `discarded` dropped
    draft tokens) under `costs`; `contexts` (one per block, `block_contexts`) prices a context-aware model at
    each block's context, and every block that drafted pays the catch-up (`CostModel.block_draft_cost`). No
    signal cost (`signal_s`): a fixed-k generation (`SpeculativeDecoder.generate`) reads no signals, and
    discards none (`discarded` dropped tokens are priced as later steps of the last block)."""
    if contexts is None:
        contexts = [None] * len(draft_lengths)
    if len(contexts) != len(draft_lengths):
        raise ValueError(f"price needs one context per block: {len(contexts)} contexts, {len(draft_lengths)} blocks")
    verify_s = sum(costs.verify_cost(k + 1, c) for k, c in zip(draft_lengths, contexts, strict=True))
    draft_s = sum(costs.block_draft_cost(k, c) for k, c in zip(draft_lengths, contexts, strict=True))
    last = contexts[-1] if contexts else None
    return draft_s + discarded * costs.draft_cost(last), verify_s


