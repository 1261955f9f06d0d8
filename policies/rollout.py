"""One loop for every policy: `run_episode` (with a per-step trace), `decision_cost` (a policy's seconds per
decision) and `verify_callback` for SB3's evaluation."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from .base import Policy


def run_episode(env, policy: Policy, seed: int | None = None, options: dict | None = None) -> dict:
    """Run one episode of `env` (an `EBSD-v1` env) under `policy`; return its `episode_stats` plus a trace.

    Calls ``env.reset``, ``policy.reset``, ``policy.predict`` each step and ``policy.on_verify(info)`` after
    each verification. The trace (``result["trace"]``) holds, per decision step: the observation, the latest
    entropy (nats), the draft position, the action, whether that draft token was accepted, and the block's
    accepted count; plus the layout it was recorded under (what `policies.acceptance.fit` learns from).

    Every policy runs through the env, no-spec too (it stops at every empty draft).
    """
    if policy.env is not env:
        policy.bind(env=env)  # this env's layout (and, for the oracle, this env's decoder)
    obs, info = env.reset(seed=seed, options=options)
    policy.reset()
    # The loop keeps only what it must: the env charges everything between two `step` calls to the policy's
    # decision (`decide_s`), so the trace is built after the episode, from these.
    observations, actions, verified = [], [], []  # verified: (steps so far, accepted) at each verification
    episode_start = True
    while True:
        action, _ = policy.predict(obs, episode_start=episode_start, deterministic=True)
        episode_start = False
        observations.append(np.array(obs, dtype=np.float64))  # a copy: an env may reuse its array
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        if info.get("verified"):
            verified.append((len(actions), int(info["accepted"])))
            policy.on_verify(info)
        if terminated or truncated:
            break
    if "episode_stats" not in info:
        raise RuntimeError("the env ended an episode without info['episode_stats']; is it an EBSD-v1 env?")
    result = dict(info["episode_stats"])
    result["policy"] = policy.spec
    result["trace"] = episode_trace(env.unwrapped, observations, actions, verified)
    return result


def episode_trace(base_env, observations: list, actions: list, verified: list[tuple[int, int]]) -> dict:
    """`run_episode`'s trace from the episode's observations, actions and verifications (see there)."""
    layout = base_env.observation_layout
    base_size = getattr(base_env, "base_size", layout.size)  # EBSD-Multi appends its entries after the layout
    trace = {"layout": asdict(layout), "observations": [], "entropies": [], "positions": [], "actions": [],
             "accepted": [], "block_accepted": []}
    for obs, action in zip(observations, actions, strict=True):
        view = layout.decode(obs[:base_size])
        trace["observations"].append(obs.tolist())
        # No entropies in an observation="ltd" layout; none either at an empty draft.
        trace["entropies"].append(float(view.entropies[-1]) if view.entropies is not None and len(view.entropies)
                                  else None)
        trace["positions"].append(view.position)
        trace["actions"].append(int(action))
    trace["accepted"] = [None] * len(actions)
    trace["block_accepted"] = [None] * len(actions)
    block_start = 0  # index in the trace of the current block's first step
    for steps, accepted in verified:
        for i in range(block_start, steps):
            trace["accepted"][i] = int(trace["positions"][i] <= accepted)
            trace["block_accepted"][i] = accepted
        block_start = steps
    return trace


def decision_cost(env, policy: Policy, calls: int = 60, seed: int | None = None, options: dict | None = None,
                  cold: bool = True) -> float:
    """Seconds per decision of `policy`: the median of `calls` single `predict` calls on the observations of one
    episode of `env` (`run_episode` with `seed`, `options`), what the model and replay clocks charge it
    (store it in `CostModel.decide_s` under ``policy.spec``). `cold`: each call after reading
    `COLD_FLUSH_BYTES` of other memory, as a decision follows a model forward (`time_decisions`). Give a fresh
    policy: the episode moves its state."""
    from ebsd_env.timing.clock import cache_flush, time_decisions

    observations = run_episode(env, policy, seed=seed, options=options)["trace"]["observations"]
    return time_decisions(lambda obs: policy.predict(obs, deterministic=True), observations, calls,
                          flush=cache_flush() if cold else None)


def verify_callback(policy: Policy):
    """A callback for `stable_baselines3.common.evaluation.evaluate_policy` that feeds `policy.on_verify`.

    ``evaluate_policy(policy, env, callback=verify_callback(policy))`` lets adaptive rules (hf-heuristic,
    draft-verify, bandits, ...) learn as they do in `run_episode`; without it they keep their initial state.
    """

    def callback(locals_: dict, globals_: dict) -> None:
        info = locals_["info"]
        if info.get("verified"):
            policy.on_verify(info)

    return callback
