"""The project's entropy rules (docs/policies.md, "The entropy rules") and the baselines (fixed-k, random-k, no
speculation, the two oracles).

Entropies are in nats of the env's configured measure (`layout.entropies_nats`), most recent last; the
observation holds the current draft only, so H_t is the entropy of the token just drafted and H_{t-1} the one
before it in the same block.
"""

from __future__ import annotations

import time

import numpy as np

from .base import SPECS, Param, Policy, bounds_params, common_stop_mode, latest


class EntropyAbs(Policy):
    """Absolute entropy threshold: stop after a token with H_t > theta (EBSD rule 1).

    Defaults theta=1.0 nats, min=0, max=12.
    """

    name = "entropy-abs"
    description = "stop when the latest token's entropy H_t > theta (nats)"
    params = (Param("theta", float, 1.0, "entropy threshold in nats", low=0.0), *bounds_params(max_default=12))

    def decide(self, view, obs):
        h = latest(view.entropies)
        return h is not None and h > self.theta


class EntropyRel(Policy):
    """Relative increase: stop when H_t / max(H_{t-1}, floor) > theta (EBSD rule 2).

    Needs two tokens of the current draft, so it never stops at position 1 (except at max). `floor` keeps the
    ratio finite after a near-deterministic token. Defaults theta=2.0, floor=0.05 nats, min=0, max=12.
    """

    name = "entropy-rel"
    description = "stop when the entropy jumps: H_t / max(H_{t-1}, floor) > theta"
    params = (Param("theta", float, 2.0, "ratio threshold", low=0.0),
              Param("floor", float, 0.05, "lower bound on H_{t-1} in nats (avoids dividing by ~0)", low=1e-6),
              *bounds_params(max_default=12))

    def decide(self, view, obs):
        h = view.entropies
        return len(h) >= 2 and h[-1] / max(h[-2], self.floor) > self.theta


class EntropyWindow(Policy):
    """Sliding-window mean: stop when the mean of the last w entropies > theta (EBSD rule 3).

    Early in a draft (fewer than w tokens) the mean runs over the tokens drafted so far. w must not exceed the
    env's observation history. Defaults w=3, theta=1.0 nats, min=0, max=12.
    """

    name = "entropy-window"
    description = "stop when the mean entropy of the last w draft tokens > theta (nats)"
    params = (Param("w", int, 3, "window length in tokens (<= the env's history)", low=1),
              Param("theta", float, 1.0, "threshold on the window mean, nats", low=0.0),
              *bounds_params(max_default=12))

    def check_binding(self):
        if self.layout is not None and self.w > self.layout.history:
            raise ValueError(f"{self.spec}: window w={self.w} exceeds the observation history "
                             f"{self.layout.history}; use w <= {self.layout.history} or make the env with "
                             f"history >= {self.w}")

    def decide(self, view, obs):
        h = view.entropies[-self.w:]
        return len(h) > 0 and float(np.mean(h)) > self.theta


class EntropyPos(Policy):
    """Position-adaptive threshold: stop when H_t > theta + alpha * t, t = position in the draft (EBSD rule 4).

    A negative alpha makes the rule stricter deeper into the draft, where a rejection wastes more drafted
    tokens. Defaults theta=1.5 nats, alpha=-0.1 nats per token, min=0, max=12.
    """

    name = "entropy-pos"
    description = "stop when H_t > theta + alpha * t (threshold moves with the draft position t)"
    params = (Param("theta", float, 1.5, "threshold at t = 0, nats", low=0.0),
              Param("alpha", float, -0.1, "threshold change per drafted token, nats (may be negative)"),
              *bounds_params(max_default=12))

    def decide(self, view, obs):
        h = latest(view.entropies)
        return h is not None and h > self.theta + self.alpha * view.position


class Combined(Policy):
    """Several rules at once (EBSD rule 5): mode=any stops when one rule stops, mode=all when every one does.

    Each sub-rule keeps its own min / max (a sub-rule at its max votes stop); the combination's min / max
    apply on top. Default: any of entropy-abs (theta 1.0) and entropy-rel (theta 2.0), min=0, max=12.
    """

    name = "combined"
    description = "combine rules: mode=any (one says stop) or mode=all (all say stop)"
    params = (Param("mode", str, "any", "any | all"),
              Param("rules", SPECS, "[entropy-abs:theta=1.0;entropy-rel:theta=2.0]", "the rules to combine"),
              *bounds_params(max_default=12))
    block_state = True

    def validate(self):
        if self.mode not in ("any", "all"):
            raise ValueError(f"combined: mode must be 'any' or 'all', got {self.mode!r}")
        self.requires_extra_signals = any(r.requires_extra_signals for r in self.rules)
        self.privileged = any(r.privileged for r in self.rules)
        self.stop_mode = common_stop_mode(self.name, self.rules)

    def bind(self, env=None, layout=None, stop_mode=None):
        for rule in self.rules:
            rule.bind(env=env, layout=layout, stop_mode=stop_mode)
        return super().bind(env=env, layout=layout, stop_mode=stop_mode)

    def reset(self):
        super().reset()
        for rule in getattr(self, "rules", ()):
            rule.reset()

    def on_verify(self, info):
        for rule in self.rules:
            rule.on_verify(info)

    def stop_at_empty(self, view, obs):
        votes = [rule.stop_at_empty(view, obs) for rule in self.rules]
        return any(votes) if self.mode == "any" else all(votes)

    def decide(self, view, obs):
        votes = [rule.act(obs) == 1 for rule in self.rules]
        return any(votes) if self.mode == "any" else all(votes)


class FixedK(Policy):
    """Fixed draft length: always draft exactly k tokens (classic speculative decoding, Leviathan et al. 2023).

    Runs in include mode (stop after the k-th token, which is verified): in exclude mode it would have to draft
    a (k+1)-th token only to discard it. k=0 verifies every block without drafting: the verifier alone, as
    `no-spec`. The env ends a draft early only at a drafted end-of-sequence token or where the token budget
    does. Default k=4.
    """

    name = "fixed-k"
    reads_entropy = False
    reads_token_signals = False
    description = "draft exactly k tokens per block (k=0: the verifier alone)"
    params = (Param("k", int, 4, "draft length", low=0),)
    stop_mode = "include"

    def stop_at_empty(self, view, obs):
        return self.k == 0

    def decide(self, view, obs):
        return view.position >= self.k


class RandomK(Policy):
    """Random draft length: each block drafts k ~ Uniform{1..max_k}, from a generator seeded by `seed`.

    A sanity baseline: any rule worth its cost must beat it. Defaults max_k=8, seed=0.
    """

    name = "random-k"
    reads_entropy = False
    reads_token_signals = False
    description = "draft k ~ Uniform{1..max_k} tokens per block (seeded)"
    params = (Param("max_k", int, 8, "largest draft length", low=1), Param("seed", int, 0, "generator seed"))
    block_state = True
    stop_mode = "include"

    def validate(self):
        self.rng = np.random.default_rng(self.seed)

    def start_block(self):
        self.k = int(self.rng.integers(1, self.max_k + 1))

    def decide(self, view, obs):
        return view.position >= self.k


class NoSpec(Policy):
    """No speculation: stop at every block's empty draft, so the verifier alone produces each token (the
    speed-up reference). It runs through the env like any policy, in either stop mode: the same verification
    step and clock, no drafting work. Needs the env's `min_draft_len` = 0 (the default)."""

    name = "no-spec"
    reads_entropy = False
    reads_token_signals = False
    description = "the verifier alone: stop at every empty draft (k = 0)"

    def check_binding(self):
        env = self.env.unwrapped if self.env is not None else None
        if env is not None and env.min_draft_len > 0:
            raise ValueError(f"no-spec verifies empty drafts, but this env drafts at least min_draft_len="
                             f"{env.min_draft_len} tokens per block: make the env with min_draft_len=0")

    def stop_at_empty(self, view, obs):
        return True

    def decide(self, view, obs):
        return True  # reached only when the env drafted first (min_draft_len >= 1): stop as soon as possible


class OracleFirstReject(Policy):
    """PRIVILEGED: stop as soon as the verifier would reject the latest draft token (a first-rejection oracle).

    After each draft token it asks `env.unwrapped.decoder.peek_accepts()` how many draft tokens the verifier
    would accept, and stops when that is fewer than the tokens drafted (so the first rejected token is the last
    one drafted, as in DISCO's oracle, arXiv 2405.04304), or at `max`. In exclude mode the rejected token is
    discarded, so the verification feeds one token less for the same output. The peek runs outside the
    decoder's timers and the later `verify()` repeats (and is charged for) the same work, so reported speeds
    carry no cost for the oracle's knowledge. It is not an upper bound on every stopping policy: it always
    drafts at least one token, however costly drafting is (`oracle-dp` is the true optimum on a replay).
    Default max=16. Needs the env: ``make_policy("oracle-first-reject", env=env)``. Formerly ``oracle``.
    """

    name = "oracle-first-reject"
    reads_entropy = False
    reads_token_signals = False
    description = "PRIVILEGED: stop where the verifier would first reject (peeks at the verifier)"
    params = (Param("max", int, 16, "stop at this draft length", low=1),)
    privileged = True

    def check_binding(self):
        if self.env is None and self.layout is not None:
            raise ValueError("oracle-first-reject needs the env for its privileged peek: "
                             "make_policy('oracle-first-reject', env=env)")

    def decide(self, view, obs):
        if view.position >= min(self.max, self.layout.max_draft_len) and self.acting_mode == "include":
            return True  # the env verifies here anyway: no peek needed (exclude: discard the last if rejected)
        if self.env is None:
            raise ValueError("oracle-first-reject needs the env for its privileged peek: "
                             "make_policy('oracle-first-reject', env=env)")
        env = self.env.unwrapped
        started = time.perf_counter()
        accepts = env.decoder.peek_accepts()
        # The peek is the oracle's privilege, not its decision: the wall clock leaves it out (a replay prices it 0).
        exclude = getattr(env, "exclude_from_decision", None)
        if exclude is not None:
            exclude(time.perf_counter() - started)
        return accepts < len(env.decoder.draft_steps)


class OracleDP(Policy):
    """PRIVILEGED, replay only: the optimal stopping plan of the trace under the env's clock.

    `ebsd_env.replay.oracle.optimal_plan` solves max N / T exactly by dynamic programming over the block start
    positions of the recorded greedy output (k = 0 allowed), for the env's clock, `max_draft_len`, budget and
    stop mode; this policy follows the plan. No stopping policy reaches a higher tokens/s on that clock, so
    a policy's objective over oracle-dp's is its share of the optimum. Needs an `EBSD-Replay-v1` env (the
    plan needs the trace): ``make_policy("oracle-dp", env=replay_env)``.
    """

    name = "oracle-dp"
    reads_entropy = False
    reads_token_signals = False
    description = "PRIVILEGED, replay: the optimal plan for the trace under the env's clock (dynamic programming)"
    privileged = True
    replay_only = True  # commands that decode live refuse it before any episode (`ebsd eval`)

    def check_binding(self):
        if self.env is None:
            if self.layout is not None:
                raise ValueError("oracle-dp needs a replay env: make_policy('oracle-dp', env=replay_env)")
            return
        if not hasattr(self.env.unwrapped.decoder, "traces"):
            raise ValueError("oracle-dp plans on a recorded trace: run it on EBSD-Replay-v1 (record traces with "
                             "`ebsd record`), not on the live env")
        self._plans: dict[int, object] = {}

    def _plan(self):
        from ebsd_env.replay.oracle import optimal_plan

        env = self.env.unwrapped
        decoder = env.decoder
        key = decoder.trace_index
        if key not in self._plans:
            clock = env.decode_clock
            self._plans[key] = optimal_plan(decoder.trace, clock.costs, env.max_draft_len, env.stop_mode,
                                            env.max_new_tokens, clock.decide_s)
        return self._plans[key], decoder.j

    def stop_at_empty(self, view, obs):
        plan, j = self._plan()
        return plan.k[j] == 0

    def decide(self, view, obs):
        plan, j = self._plan()
        k = int(plan.k[j])
        if self.acting_mode == "exclude":
            # A draft planned to run to its natural end is verified whole by continuing there.
            return k < plan.k_max[j] and view.position >= k + 1
        return view.position >= k
