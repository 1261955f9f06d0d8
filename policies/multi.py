"""Baselines that choose the drafter of each block on `EBSD-Multi-v1` / `EBSD-Multi-Replay-v1`.

At a block start a multi-drafter policy returns ``2 + i`` (drafter i drafts the block) or 1 (k = 0, the verifier
alone); inside the block it stops after its chosen drafter's fixed k (include mode, as `fixed-k`). Drafters are
named as the env names them (``int4``, ``ngram``, ...) or by index. Every one is a `Policy`, so `make_policy`,
`run_episode` and `ebsd policies` serve them as any other; they bind only to a multi-drafter env.

- `multi-static`: one drafter at a fixed k (each drafter's best static policy, picked on training traces with
  `fit_static`, then evaluated elsewhere);
- `multi-cascade`: prompt lookup when its match is long enough, else another drafter (hand-made);
- `multi-ucb`: UCB1 over drafters per block, MetaSD-style (arXiv 2604.05417);
- `multi-fullinfo`: after every verification, scores every drafter it can against the verified tokens and
  drafts with the best so far ("Not-a-Bandit", arXiv 2510.20064).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ebsd_env.drafter_ids import comparable_drafter
from ebsd_env.envs.objective import arm_value
from ebsd_env.envs.observation import FIRST_DRAFTER, MAX_SUFFIX

from .base import CONTINUE, STOP, Param, Policy
from .learned import block_work

NONE = -1  # the block's "drafter" when it verifies at once (k = 0)


def parse_ks(text: str, default: int, count: int, owner: str) -> list[int]:
    """Per-drafter draft lengths from ``"8/4/6"`` (one per drafter, in order), or `default` for each if empty;
    each >= 1 (a learner's arm that never drafts would never be scored)."""
    if not text.strip():
        return [default] * count
    try:
        ks = [int(part) for part in text.split("/")]
    except ValueError:
        ks = []
    if len(ks) != count or min(ks) < 1:
        raise ValueError(f"{owner}: ks={text!r} must give {count} draft lengths >= 1 separated by '/', one per "
                         f"drafter in the env's order (e.g. ks={'/'.join(['4'] * count)})")
    return ks


def is_lookup(name: str) -> bool:
    """Prompt lookup: the drafter whose proposals need no model (scored for free after the fact)."""
    return name.split(":")[0] == "ngram"


class MultiPolicy(Policy):
    """Base: choose a drafter (or none) at each block start, then draft that drafter's k tokens and stop."""

    reads_entropy = False
    stop_mode = "include"
    block_state = True
    multi_drafter = True  # binds only to a multi-drafter env (what runs every policy on EBSD-v1 skips it)

    def check_binding(self):
        env = getattr(self.env, "unwrapped", None)
        if env is None or not hasattr(env, "drafter_names"):
            raise ValueError(f"{self.name} chooses among drafters: bind it to an EBSD-Multi-v1 or "
                             "EBSD-Multi-Replay-v1 env (make_policy(spec, env=multi_env)), not a single-drafter env "
                             "or a layout alone")
        self.names = list(env.drafter_names)
        self.base_size = int(env.base_size)
        self.resolve()

    def drafter_index(self, ref: str, param: str) -> int:
        """A drafter named as the env names it, or its index."""
        ref = str(ref).strip()
        names, key = comparable_drafter(self.names), comparable_drafter(ref)  # an old name finds its new id's drafter
        if key in names:
            return names.index(key)
        if ref.isdigit() and int(ref) < len(self.names):
            return int(ref)
        raise ValueError(f"{self.name}: {param}={ref!r} is not a drafter of this env; valid: "
                         f"{', '.join(self.names)} (or an index 0..{len(self.names) - 1})")

    def resolve(self) -> None:
        """Turn the parameters into drafter indices and per-drafter k (`self.draft_lens`) once the env is known."""
        self.draft_lens = parse_ks(getattr(self, "ks", ""), getattr(self, "k", 4), len(self.names), self.name)

    def reset(self):
        super().reset()
        self.block_drafter = NONE

    def choose(self, obs: np.ndarray) -> int:
        """The drafter of the block starting now (`NONE`: the verifier alone)."""
        raise NotImplementedError

    def act(self, obs):
        if self.layout is None or not hasattr(self, "names"):
            raise ValueError(f"{self.spec} is not bound: make_policy(spec, env=multi_env) or policy.bind(multi_env)")
        obs = np.asarray(obs, dtype=np.float32)
        view = self.layout.decode(obs[: self.base_size])
        if view.position <= self._last_position:
            self.start_block()
        self._last_position = view.position
        if view.position == 0:
            self.block_drafter = int(self.choose(obs))
            if self.block_drafter == NONE or self.draft_lens[self.block_drafter] == 0:
                self.block_drafter = NONE
                return STOP
            return FIRST_DRAFTER + self.block_drafter
        return STOP if view.position >= self.draft_lens[self.block_drafter] else CONTINUE

    def lookup_suffix(self, obs: np.ndarray) -> int:
        """Prompt lookup's longest repeated suffix, from the env's ``lookup_suffix`` entry (exact up to 8)."""
        return int(round(float(obs[-2]) * MAX_SUFFIX))


class MultiStatic(MultiPolicy):
    """One drafter at a fixed draft length: `fixed-k` with a choice of drafter (k = 0: the verifier alone).

    Each drafter's best static policy is this with the k that `fit_static` finds best on training traces (total
    tokens over total time, the objective), evaluated then on other prompts. Defaults drafter=0, k=4.
    """

    name = "multi-static"
    description = "EBSD-Multi: one drafter at a fixed k every block (k=0: the verifier alone)"
    params = (Param("drafter", str, "0", "the drafter: its name in the env, or its index"),
              Param("k", int, 4, "draft length", low=0))

    def resolve(self):
        self.index = self.drafter_index(self.drafter, "drafter")
        self.draft_lens = [self.k] * len(self.names)

    def choose(self, obs):
        return self.index


class MultiCascade(MultiPolicy):
    """Hand-made cascade: prompt lookup when its longest repeated suffix is at least `min_match` tokens (the text
    repeats its context), else the fallback drafter; each at its own fixed k.

    The suffix is the env's ``lookup_suffix`` signal (committed tokens only; exact up to 8). Defaults
    lookup=ngram, fallback=int4, min_match=2, k_lookup=8, k_fallback=4.
    """

    name = "multi-cascade"
    description = "EBSD-Multi: prompt lookup if its match >= min_match tokens, else the fallback drafter"
    params = (Param("lookup", str, "ngram", "the prompt-lookup drafter (name or index)"),
              Param("fallback", str, "int4", "the drafter used otherwise (name or index)"),
              Param("min_match", int, 2, "least matching suffix length to use prompt lookup", low=1, high=MAX_SUFFIX),
              Param("k_lookup", int, 8, "draft length with prompt lookup", low=1),
              Param("k_fallback", int, 4, "draft length with the fallback drafter (0: the verifier alone)", low=0))

    def resolve(self):
        self.lookup_index = self.drafter_index(self.lookup, "lookup")
        self.fallback_index = self.drafter_index(self.fallback, "fallback")
        if self.lookup_index == self.fallback_index:
            raise ValueError(f"{self.name}: lookup and fallback are the same drafter ({self.lookup}); give two")
        self.draft_lens = [0] * len(self.names)
        self.draft_lens[self.lookup_index] = self.k_lookup
        self.draft_lens[self.fallback_index] = self.k_fallback

    def choose(self, obs):
        return self.lookup_index if self.lookup_suffix(obs) >= self.min_match else self.fallback_index


class DrafterStats(MultiPolicy):
    """Base of the selectors that learn drafter values: per drafter, tokens and seconds summed over its blocks."""

    def resolve(self):
        super().resolve()
        self.clear()

    def clear(self):
        count = len(getattr(self, "names", ()))
        self.counts = np.zeros(count, dtype=np.int64)
        self.tokens = np.zeros(count)
        self.seconds = np.zeros(count)

    def reset(self):
        super().reset()
        if not getattr(self, "persist", 0):
            self.clear()

    def values(self) -> np.ndarray:
        """Each drafter's tokens per second over its blocks (nan before any)."""
        return np.asarray([arm_value(t, s) if c else float("nan")
                           for t, s, c in zip(self.tokens, self.seconds, self.counts, strict=True)])


class MultiUCB(DrafterStats):
    """MetaSD-style UCB1 over drafters (Kim et al., "A Unified Framework for Speculative Decoding with Multiple
    Drafters as a Bandit", arXiv 2604.05417): each block is a round, the arm is the drafter, the reward the
    tokens the block emitted (accepted + the verifier's own) per second of its drafting and verification on the
    env's clock. Each drafter once, then argmax of value / best value + sqrt(c ln n / n_i) (values as ratios of
    sums, normalised to [0, 1] as UCB1 assumes; `bandit-ucb` does the same over draft lengths). k is fixed per
    drafter (`k`, or `ks` one per drafter). Statistics start afresh per prompt (persist=0, MetaSD's per-query
    bandit) or carry over (persist=1). Defaults k=4, c=2.
    """

    name = "multi-ucb"
    description = "EBSD-Multi: UCB1 over drafters per block, reward = tokens per second of the block (MetaSD)"
    params = (Param("k", int, 4, "draft length of every drafter (unless ks)", low=1),
              Param("ks", str, "", "per-drafter draft lengths 'k0/k1/..' in the env's order (empty: k for all)"),
              Param("c", float, 2.0, "exploration coefficient in sqrt(c ln n / n_i)", low=0.0),
              Param("persist", int, 0, "1: keep the statistics across episodes", low=0, high=1))

    def choose(self, obs):
        untried = np.flatnonzero(self.counts == 0)
        if len(untried):
            return int(untried[0])
        values = self.values()
        bonus = np.sqrt(self.c * math.log(self.counts.sum()) / self.counts)
        return int(np.argmax(values / values.max() + bonus))

    def on_verify(self, info):
        if self.block_drafter == NONE:
            return
        tokens, seconds = block_work(info)
        self.counts[self.block_drafter] += 1
        self.tokens[self.block_drafter] += tokens
        self.seconds[self.block_drafter] += seconds


def agreement(proposal: Sequence[int], verified: Sequence[int]) -> int:
    """How many leading tokens of `proposal` the verified tokens confirm (at most len(verified): beyond them the
    output is not known yet, so the count is a lower bound when it reaches that)."""
    count = 0
    for proposed, true in zip(proposal, verified, strict=False):
        if proposed != true:
            break
        count += 1
    return count


class MultiFullInfo(DrafterStats):
    """Full-information selector ("Not-a-Bandit", arXiv 2510.20064): after each verification, every drafter whose
    proposal at the block's start can be had is scored against the verified tokens as if it had drafted the block
    at its k: a = its proposal's agreement with them (capped at k), value = (a + 1) tokens over k of its drafting
    steps plus a verification of k + 1 (the env's calibrated costs, `MultiClock.costs`), summed per drafter with
    weight `decay` on the past. The next block is drafted by the best sum ratio (each drafter first once).

    What can be scored, and what it costs:

    - the drafter that drafted the block: always, from the verification (accepted tokens), for free;
    - prompt lookup (ngram): always. Live (`EBSD-Multi-v1`) its proposal is recomputed from the committed tokens
      by `MultiDraftDecoder.proposal` inside the policy's decision, so the wall clock charges it as decision time
      (the model clock charges the spec's measured `decide_s` when the cost model holds one, as for any policy);
    - model drafters (int4, feature, LM): live, never: their proposal would take k forward passes of their own,
      so they are scored only on the blocks they draft (bandit feedback). In replay their recorded chains hold
      the proposal at no cost, but reading them is what live decoding could not do for free: score=all does (an
      optimistic bound, not a live policy); score=cheap (default) scores only what live scores, so replay and live
      agree.

    Agreement beyond the verified tokens is unknown, so a drafter that agrees with all of them is credited only
    them (a lower bound, low after a block that was rejected early). Defaults k=4, score=cheap, decay=1.
    """

    name = "multi-fullinfo"
    description = "EBSD-Multi: score every drafter against the verified tokens, draft with the best (Not-a-Bandit)"
    params = (Param("k", int, 4, "draft length of every drafter (unless ks)", low=1),
              Param("ks", str, "", "per-drafter draft lengths 'k0/k1/..' in the env's order (empty: k for all)"),
              Param("score", str, "cheap", "cheap: score what live decoding can for free; all: every recorded "
                                           "chain in replay (optimistic)"),
              Param("decay", float, 1.0, "weight of the past in each drafter's sums", low=1e-6, high=1.0),
              Param("persist", int, 0, "1: keep the statistics across episodes", low=0, high=1))

    def validate(self):
        if self.score not in ("cheap", "all"):
            raise ValueError(f"{self.name}: score must be 'cheap' or 'all', got {self.score!r}")

    def resolve(self):
        super().resolve()
        env = self.env.unwrapped
        self.costs = env.multi_clock.costs
        self.scorable = [self.score == "all" or is_lookup(name) for name in self.names]

    def choose(self, obs):
        self.block_start = len(self.env.unwrapped.decoder.new_tokens)  # where `on_verify` scores proposals from
        untried = np.flatnonzero(self.counts == 0)
        if len(untried):
            return int(untried[0])
        return int(np.nanargmax(self.values()))

    def estimate(self, drafter: int, agreed: int) -> tuple[float, float]:
        """(tokens, seconds) of a block of `drafter` at its k that `agreed` tokens of the verifier confirm."""
        k = self.draft_lens[drafter]
        seconds = self.costs[drafter].block_draft_cost(k) + self.costs[0].verify_cost(k + 1)
        return min(agreed, k) + 1.0, seconds

    def on_verify(self, info):
        decoder = self.env.unwrapped.decoder
        verified = list(decoder.new_tokens[self.block_start:])
        for d in range(len(self.names)):
            if d == self.block_drafter:
                agreed = int(info["accepted"])  # exact below its draft length, a lower bound at it
            elif self.scorable[d]:
                proposal = decoder.proposal(d, self.block_start, self.draft_lens[d])
                if proposal is None:  # a model drafter, live: nothing to score without running it
                    continue
                agreed = agreement(proposal, verified)
            else:
                continue
            tokens, seconds = self.estimate(d, agreed)
            self.counts[d] += 1
            self.tokens[d] = self.decay * self.tokens[d] + tokens
            self.seconds[d] = self.decay * self.seconds[d] + seconds


def fit_static(traces, ks: Sequence[int] | None = None, **env_kwargs) -> dict:
    """Each drafter's best `multi-static` policy on training `traces` (a `MultiTraceSet` or its folder): for every
    drafter and k in `ks` (default 1..max_draft_len), every trace once through `EBSD-Multi-Replay-v1`, ranked by
    total tokens over total time (the objective). Returns ``{"drafters": {name: {"spec", "tokens_per_s"}},
    "verifier_alone": tokens_per_s, "best": spec}``; `env_kwargs` go to the env (clock, cost_model, ...)."""
    from ebsd_env.envs.objective import objective
    from ebsd_env.replay.multi import MultiReplayEnv

    from .rollout import run_episode

    env = MultiReplayEnv(traces, **env_kwargs)
    ks = list(range(1, env.max_draft_len + 1)) if ks is None else [int(k) for k in ks]
    if not ks or min(ks) < 0:
        raise ValueError(f"fit_static: ks must be draft lengths >= 0, got {ks}")

    def rate(policy: MultiStatic) -> float:
        runs = [run_episode(env, policy, options={"prompt_index": i}) for i in range(len(env.prompts))]
        return objective([r["new_tokens"] for r in runs], [r["decode_s"] for r in runs])

    alone = MultiStatic(k=0)
    result = {"drafters": {}, "verifier_alone": rate(alone)}
    best = (alone.spec, result["verifier_alone"])
    for name in env.drafter_names:
        scored = {policy.spec: rate(policy) for policy in (MultiStatic(drafter=name, k=k) for k in ks)}
        spec = max(scored, key=scored.get)
        result["drafters"][name] = {"spec": spec, "tokens_per_s": scored[spec]}
        best = max(best, (spec, scored[spec]), key=lambda item: item[1])
    result["best"] = best[0]
    return result
