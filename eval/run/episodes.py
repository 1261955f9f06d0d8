"""The episodes of `ebsd eval`: every (condition, variant, prompt, seed) through `EBSD-v1` and `run_episode`, one
row each in ``episodes.jsonl`` (a rerun resumes where a run stopped), then the summary and report."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import gymnasium as gym
from tqdm.auto import tqdm

from ebsd_env.io import json_safe, write_json_atomic

from ..multi.envs import chooses_drafter
from .config import ENV_KEYS, EvalConfig
from .plan import Condition, Plan, Variant
from .results import finish, lossy_row, run_meta
from .rows import append_row, read_rows, row_key

Episode = tuple[Condition, Variant, int, int]  # (condition, variant, prompt index, seed)


class BlockRecorder(gym.Wrapper):
    """Records every verification's info (draft, accepted, emitted, times, entropies) as the env reports it. The
    entropies are read for the calibration of every drafting policy, fixed k included: a diagnostic that charges
    no one (`ebsd_env.envs.transition.BlockEntropies`)."""

    def __init__(self, env):
        super().__init__(env)
        self.blocks: list[dict] = []

    def reset(self, **kwargs):
        self.blocks = []
        self._decide_s = 0.0  # the policy's decisions since the last verification
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._decide_s += float(info.get("decide_s", 0.0))
        if info.get("verified"):
            self.blocks.append({"drafted": int(info["drafted"]), "accepted": int(info["accepted"]),
                                "emitted": int(info["emitted"]), "draft_s": float(info["draft_time_s"]),
                                "verify_s": float(info["verify_time_s"]), "decide_s": self._decide_s,
                                "entropies": [float(h) for h in info["block_entropies"]]})
            self._decide_s = 0.0
        return obs, reward, terminated, truncated, info


def charge_decisions(env, spec: str, index: int, seed: int, saved: Path) -> None:
    """Make the model clock of `env` charge policy `spec`'s decisions: the cost model's measured seconds per
    decision, measured first where it has none (`decision_cost`, a fresh instance on prompt `index`) and kept in
    `saved` so that a resumed run charges the same."""
    from ebsd_env.timing.clock import Clock
    from ebsd_env.timing.cost_model import CostModel
    from policies.registry import make_policy
    from policies.rollout import decision_cost

    costs = env.decode_clock.costs
    if spec not in costs.decide_s:
        on_disk = CostModel.load(saved).decide_s if saved.exists() else {}  # another env of the run may add some
        if spec in on_disk:  # measured before the run was interrupted (a given --cost-model lacks it): the same
            seconds = on_disk[spec]
        else:
            policy = make_policy(spec, env=env)
            # A privileged oracle decides by peeking at the live verifier, which a replay of its observations after
            # the episode cannot do; its peek runs outside every timer anyway, so its decisions are charged nothing.
            seconds = 0.0 if policy.privileged else decision_cost(env, policy, seed=seed,
                                                                  options={"prompt_index": index})
        costs = replace(costs, decide_s={**on_disk, **costs.decide_s, spec: seconds})
        costs.save(saved)
    env.decode_clock = Clock(env.decode_clock.kind, costs).for_policy(spec)


def verifier_nll(pair, ids: list[int], prompt_len: int) -> float:
    """Mean negative log-likelihood (nats) of the generated tokens under the verifier (temperature 1)."""
    import torch

    if len(ids) <= prompt_len:
        return float("nan")
    with torch.inference_mode():
        logits = pair.verifier(input_ids=torch.tensor([ids], device=pair.device)).logits[0, prompt_len - 1:-1]
        logp = torch.log_softmax(logits[:, : pair.vocab_size].float(), dim=-1)
        targets = torch.tensor(ids[prompt_len:], device=logp.device)
        return float(-logp.gather(1, targets[:, None]).mean())


def run_in(out: Path, config: EvalConfig, pair, plan: Plan, probes: dict, prompts: list[dict]) -> Path:
    """Run the episodes of `plan` that OUT does not hold yet (a run with other settings there is refused), then
    write the summary and the report from the rows of this plan."""
    from ebsd_env.decoding.kernels import machine_state, warn_if_busy

    check_identity(out, config, pair)
    episodes_path = out / "episodes.jsonl"
    rows = read_rows(episodes_path)
    done = {row["key"] for row in rows}
    planned = planned_episodes(plan, config.seeds, prompts)
    todo = [episode for episode in planned if episode_key(episode, prompts) not in done]
    # Wall-clock speedups are only comparable on a quiet machine: say so when it is not, and keep the load.
    machine_before, busy = machine_state(), (warn_if_busy() if config.clock == "wall" else None)
    bindings = Bindings(out, config, pair, prompts, probes)
    # Every policy is bound to its env before the first episode: a trained artifact made for another env is
    # refused (its fingerprint, `ebsd_env.fingerprint`) before any episode runs, not after the policies before it.
    for cond, variant in dict.fromkeys((cond, variant) for cond, variant, _, _ in todo):
        bindings(cond, variant)
    run_episodes(episodes_path, todo, len(planned), rows, bindings)

    wanted = {episode_key(episode, prompts) for episode in planned}
    current = [row for row in rows if row["key"] in wanted]
    meta = {**run_meta(config, plan, pair, prompts, bindings.envs, probes), "machine": machine_before,
            "machine_after": machine_state(), "busy_warning": busy}
    if config.lossy_reference:
        meta["lossy_reference"] = lossy_row(out, pair, prompts, config.max_new_tokens)
    finish(out, current, meta, tensorboard=config.tensorboard)
    return out


def check_identity(out: Path, config: EvalConfig, pair) -> None:
    """Write OUT/run.json, or refuse to resume a run in OUT made with other settings (its rows would mix)."""
    identity = _run_identity(config, pair)
    identity_path = out / "run.json"
    if identity_path.exists():
        previous = json.loads(identity_path.read_text())
        changed = {k: (previous.get(k), v) for k, v in identity.items() if previous.get(k) != v}
        if changed:
            raise ValueError(f"{out} holds a run with different settings {changed} (old, new): resuming would mix "
                             "them; pass a new --out")
    else:
        write_json_atomic(identity_path, identity)


def _run_identity(config: EvalConfig, pair) -> dict:
    return {"drafter": pair.drafter_name, "verifier": pair.verifier_name, "clock": config.clock,
            "prompts": config.prompts, "top_p": config.top_p}


def planned_episodes(plan: Plan, seeds, prompts: list[dict]) -> list[Episode]:
    """Every episode of the plan, interleaved: all variants of one prompt run back to back, in an order rotated
    from prompt to prompt, so drifting machine load (a shared CPU) hits every policy alike instead of whichever
    runs last."""
    n = len(plan.variants)
    return [(cond, plan.variants[(j + index) % n], index, seed) for cond in plan.conditions for seed in seeds
            for index in range(len(prompts)) for j in range(n)]


def episode_key(episode: Episode, prompts: list[dict]) -> str:
    cond, variant, index, seed = episode
    return row_key(variant.label, prompts[index]["id"], seed, cond.temperature, cond.max_new_tokens)


class Bindings:
    """The env and the bound policy of each (condition, variant), made once and kept: one env per condition and
    env settings, one policy instance per env (adaptive policies keep learning across prompts)."""

    def __init__(self, out: Path, config: EvalConfig, pair, prompts: list[dict], probes: dict):
        self.out, self.config, self.pair, self.prompts, self.probes = out, config, pair, prompts, probes
        self.base_env = {key: getattr(config, key) for key in ENV_KEYS}
        self.envs: dict[tuple, object] = {}
        self.policies: dict[tuple, object] = {}

    def __call__(self, cond: Condition, variant: Variant) -> tuple[dict, object, object]:
        """(env settings, env, bound policy) of a variant under a condition."""
        from policies.registry import make_policy

        settings = self.settings(variant)
        env_key = (cond, tuple(sorted(settings.items())))
        if env_key not in self.envs:
            self.envs[env_key] = self._make_env(cond, settings, variant.spec)
        env = self.envs[env_key]
        policy_key = (env_key, variant.spec)
        if policy_key not in self.policies:
            self.policies[policy_key] = make_policy(variant.spec, env=env)
        return settings, env, self.policies[policy_key]

    def settings(self, variant: Variant) -> dict:
        """The env settings of a variant: the run's, the variant's own, then what its policy needs."""
        probe = self.probes[variant.spec]
        # A rule whose source stops in a given mode runs in an env of that mode. A policy that reads no draft-token
        # signal (fixed k, the verifier alone, the oracles) runs where none is computed, so it pays for none.
        # A trained model runs in an env of the layout and mode it was trained in (its fingerprint).
        return {**self.base_env, **dict(variant.env), **({"stop_mode": probe.stop_mode} if probe.stop_mode else {}),
                **probe.signal_settings(), **probe.env_requirements()}

    def cost_model_path(self, cond: Condition) -> Path:
        return self.out / f"cost_model_T{cond.temperature:g}.json"

    def _make_env(self, cond: Condition, settings: dict, spec: str) -> BlockRecorder:
        # The env calibrates a cost model per pair and temperature (its reward baseline and the model
        # clock); it is kept in OUT so a resumed run charges exactly the same model clock. EBSD-v1, or
        # EBSD-Multi-v1 on a '+'-joined pair (`eval.multi.envs` keeps each kind's calibration).
        from ..multi.envs import make_eval_env

        env = make_eval_env(self.pair, self.cost_model_path(cond), self.config.cost_model, spec,
                            prompts=self.prompts, temperature=cond.temperature, top_p=self.config.top_p,
                            max_new_tokens=cond.max_new_tokens, clock=self.config.clock, **settings)
        return BlockRecorder(env)


def run_episodes(episodes_path: Path, todo: list[Episode], total: int, rows: list[dict], bindings: Bindings) -> None:
    """Each episode of `todo`, its row appended to ``episodes.jsonl`` (flushed, fsync'ed) and to `rows`."""
    from policies.rollout import run_episode  # looked up as the episodes start (a test patches it to kill a run)

    config, prompts = bindings.config, bindings.prompts
    with open(episodes_path, "a", encoding="utf-8") as handle, \
            tqdm(total=total, initial=total - len(todo), desc="ebsd eval", unit="episode") as bar:
        for cond, variant, index, seed in todo:
            settings, env, policy = bindings(cond, variant)
            if config.clock == "model":  # each policy's own decision cost, measured once per run
                charge_decisions(env.unwrapped, policy.spec, index, seed, bindings.cost_model_path(cond))
            bar.set_postfix_str(f"{variant.label[:40]} | {prompts[index]['id'][:30]}")
            t0 = time.perf_counter()
            result = run_episode(env, policy, seed=seed, options={"prompt_index": index})
            wall_s = time.perf_counter() - t0
            row = episode_row((cond, variant, index, seed), bindings, settings, env, policy, result, wall_s)
            append_row(handle, row)
            rows.append(json_safe(row))  # as a resumed run reads it back: NaN as None
            bar.update(1)


def episode_row(episode: Episode, bindings: Bindings, settings: dict, env, policy, result: dict,
                wall_s: float) -> dict:
    """The row of one episode: its statistics, its blocks as the env reported them, the verifier's NLL of a
    sampled output."""
    cond, variant, index, seed = episode
    config, pair, prompts = bindings.config, bindings.pair, bindings.prompts
    stats = {k: v for k, v in result.items() if k not in ("trace", "policy")}
    decoder = env.unwrapped.decoder
    return {
        "key": episode_key(episode, prompts),
        "variant": variant.label, "policy": policy.spec, "family": _family(variant.label),
        "chooses_drafter": chooses_drafter(policy, settings),
        "env": settings, "prompt_id": prompts[index]["id"], "category": prompts[index]["category"],
        "prompt_index": index, "seed": seed, "temperature": cond.temperature,
        "max_new_tokens": cond.max_new_tokens, "clock": config.clock, "prompt_tokens": decoder.prompt_len,
        "episode_wall_s": wall_s, "stats": stats, "blocks": env.blocks,
        "verifier_nll": (verifier_nll(pair, decoder.tokens, decoder.prompt_len)
                         if cond.temperature > 0 else None),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _family(label: str) -> str:
    from ..metrics import family

    return family(label)

