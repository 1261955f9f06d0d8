"""One loop for every policy: `run_episode` (with a per-step trace) and `verify_callback` for SB3's evaluation."""

from __future__ import annotations

import time
from dataclasses import asdict

import numpy as np

from .base import Policy


def run_episode(env, policy: Policy, seed: int | None = None, options: dict | None = None) -> dict:
    """Run one episode of `env` (an `EBSD-v0` env) under `policy`; return its `episode_stats` plus a trace.

    Calls ``env.reset``, ``policy.reset``, ``policy.predict`` each step and ``policy.on_verify(info)`` after
    each verification. The trace (``result["trace"]``) holds, per decision step: the observation, the latest
    entropy (nats), the draft position, the action, whether that draft token was accepted, and the block's
    accepted count; plus the layout it was recorded under (what `policies.acceptance.fit` learns from).

    A policy with ``drafts = False`` (no-spec) is run on the env's decoder with the verifier alone
    (``decoder.generate(prompt, stop=None)``): the same verification step and timers with an empty draft.
    """
    if not policy.drafts:
        return _run_verifier_only(env, seed, options)
    if policy.env is not env:
        policy.bind(env=env)  # this env's layout (and, for the oracle, this env's decoder)
    layout = env.unwrapped.observation_layout
    obs, info = env.reset(seed=seed, options=options)
    policy.reset()
    trace = {"layout": asdict(layout), "observations": [], "entropies": [], "positions": [], "actions": [],
             "accepted": [], "block_accepted": []}
    block_start = 0  # index in the trace of the current block's first step
    episode_start = True
    while True:
        action, _ = policy.predict(obs, episode_start=episode_start, deterministic=True)
        episode_start = False
        view = layout.decode(obs)
        trace["observations"].append(np.asarray(obs, dtype=np.float64).tolist())
        trace["entropies"].append(float(view.entropies[-1]) if len(view.entropies) else None)
        trace["positions"].append(view.position)
        trace["actions"].append(int(action))
        trace["accepted"].append(None)
        trace["block_accepted"].append(None)
        obs, _, terminated, truncated, info = env.step(action)
        if info.get("verified"):
            accepted = int(info["accepted"])
            for i in range(block_start, len(trace["positions"])):
                trace["accepted"][i] = int(trace["positions"][i] <= accepted)
                trace["block_accepted"][i] = accepted
            block_start = len(trace["positions"])
            policy.on_verify(info)
        if terminated or truncated:
            break
    if "episode_stats" not in info:
        raise RuntimeError("the env ended an episode without info['episode_stats']; is it an EBSD-v0 env?")
    result = dict(info["episode_stats"])
    result["policy"] = policy.spec
    result["trace"] = trace
    return result


def _run_verifier_only(env, seed: int | None, options: dict | None) -> dict:
    """no-spec: select and encode the episode's prompt through ``env.reset``, then decode it with the verifier
    alone on the env's decoder. Times follow the env's clock (``clock="model"``: the cost model's price of a
    verification of one fed token per emitted token), so the figures compare with the env's episode_stats."""
    _, info = env.reset(seed=seed, options=options)
    base = env.unwrapped
    decoder = base.decoder
    prompt_ids = decoder.tokens[: decoder.prompt_len]
    t0 = time.perf_counter()
    generation = decoder.generate(prompt_ids, stop=None, max_new_tokens=base.max_new_tokens)
    wall_s = time.perf_counter() - t0
    stats = generation.stats
    verify_s = stats["verify_s"] if base.clock == "wall" else stats["blocks"] * base.cost_model.verify_cost(1)
    return {
        "tokens_per_s": stats["new_tokens"] / verify_s,
        "wall_tokens_per_s": stats["new_tokens"] / wall_s,
        "baseline_tokens_per_s": base.baseline_rate,
        "acceptance_rate": float("nan"),
        "mean_accepted_tokens": stats["mean_accepted_tokens"],
        "mean_draft_len": 0.0,
        "new_tokens": stats["new_tokens"],
        "blocks": stats["blocks"],
        "drafted": 0,
        "accepted": 0,
        "draft_s": 0.0,
        "verify_s": verify_s,
        "decode_s": verify_s,
        "wall_draft_s": stats["draft_s"],
        "wall_verify_s": stats["verify_s"],
        "wall_prefill_s": stats["prefill_s"],
        "draft_lengths": stats["draft_lengths"],
        "accepted_lengths": stats["accepted_lengths"],
        "output_ids": list(generation.token_ids),
        "prompt_id": info["prompt_id"],
        "category": info["category"],
        "clock": base.clock,
        "policy": "no-spec",
        "trace": None,
    }


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
