"""Stable-Baselines3 callbacks of `ebsd train ppo`: `ebsd/` TensorBoard scalars, periodic evaluation against the
fixed-k baselines (keeps the best model), and resumable checkpoints."""

from __future__ import annotations

import json
import pickle
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HParam

from ebsd_env.fingerprint import save_model
from ebsd_env.io import save_atomic, write_atomic, write_json_atomic
from policies.learned import PPOPolicy

from .common import SUMMARY_KEYS, run_policy, summarize

# Histograms and hparams only make sense in TensorBoard.
TB_ONLY = ("stdout", "log", "json", "csv")


class EpisodeMetricsCallback(BaseCallback):
    """Logs what the training episodes did, once per rollout, under ``ebsd/train/``.

    Over the rollout's finished episodes: tokens/s (the objective: total tokens over total decoding time),
    acceptance rate, tau (mean tokens emitted per block), mean draft length.
    Per verification: the draft length and the drafter entropy of the token the draft stopped at (histograms
    and means).
    """

    def __init__(self):
        super().__init__()
        self._episodes: list[dict] = []
        self._draft_lengths: list[int] = []
        self._stop_entropies: list[float] = []

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if info.get("verified"):
                self._draft_lengths.append(int(info["drafted"]))
                if info.get("block_entropies"):
                    self._stop_entropies.append(float(info["block_entropies"][-1]))
            if "episode_stats" in info:
                self._episodes.append(info["episode_stats"])
        return True

    def _on_rollout_end(self) -> None:
        log = self.logger.record
        if self._episodes:
            summary = summarize(self._episodes)
            for key in ("tokens_per_s", *SUMMARY_KEYS, "episodes"):
                log(f"ebsd/train/{'tau' if key == 'mean_accepted_tokens' else key}", summary[key])
        if self._draft_lengths:
            log("ebsd/train/draft_len_mean", float(np.mean(self._draft_lengths)))
            log("ebsd/train/draft_len_hist", np.asarray(self._draft_lengths, dtype=np.float32), exclude=TB_ONLY)
        if self._stop_entropies:
            log("ebsd/train/entropy_at_stop", float(np.mean(self._stop_entropies)))
            log("ebsd/train/entropy_at_stop_hist", np.asarray(self._stop_entropies, dtype=np.float32),
                exclude=TB_ONLY)
        self._episodes, self._draft_lengths, self._stop_entropies = [], [], []


class HParamCallback(BaseCallback):
    """Writes the run's hyperparameters to TensorBoard's HPARAMS tab, tied to the evaluation metrics."""

    METRICS = ("ebsd/eval/tokens_per_s", "ebsd/eval/speedup_vs_best_fixed_k", "ebsd/eval/speedup_vs_verifier")

    def __init__(self, hparams: dict):
        super().__init__()
        self.hparams = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}

    def _on_training_start(self) -> None:
        self.logger.record("hparams", HParam(self.hparams, {m: 0.0 for m in self.METRICS}), exclude=TB_ONLY)

    def _on_step(self) -> bool:
        return True


class SpeedupEvalCallback(BaseCallback):
    """Every `eval_freq` steps, runs the current policy on the held-in prompts and logs ``ebsd/{name}/``.

    The baselines (the verifier alone and every fixed-k) are run once and remembered (also across a resume),
    so each evaluation logs tokens/s, the speedup over the verifier alone and over the best fixed-k, acceptance
    rate, tau and mean draft length. The model with the best evaluation tokens/s is saved to `best_path` (with
    `fingerprint` inside, `ebsd_env.fingerprint`); without a `best_path` the callback only logs (a second,
    live evaluation beside replay training).
    """

    def __init__(self, eval_env, prompt_indices: Sequence[int], eval_freq: int, best_path: str | Path | None,
                 fixed_ks: Sequence[int] = (0, 1, 2, 3, 4, 6, 8), seed: int = 0, log_path: str | Path | None = None,
                 name: str = "eval", fingerprint: dict | None = None):
        super().__init__()
        if eval_freq < 1:
            raise ValueError(f"eval_freq must be >= 1, got {eval_freq}")
        if not prompt_indices:
            raise ValueError("the evaluation needs at least one prompt")
        self.eval_env = eval_env
        self.prompt_indices = list(prompt_indices)
        self.eval_freq = int(eval_freq)
        self.best_path = Path(best_path) if best_path else None  # None: log only, never select a model
        self.name = name  # TensorBoard section: ebsd/{name}/...
        self.fingerprint = fingerprint
        self.fixed_ks = tuple(fixed_ks)
        self.seed = seed
        self.log_path = Path(log_path) if log_path else None
        self.baselines: dict[str, dict] = {}
        self.best_tokens_per_s = -float("inf")
        self.next_eval = self.eval_freq
        self.history: list[dict] = []

    # state carried by checkpoints
    def state_dict(self) -> dict:
        return {"baselines": self.baselines, "best_tokens_per_s": self.best_tokens_per_s,
                "next_eval": self.next_eval, "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.baselines = state["baselines"]
        self.best_tokens_per_s = state["best_tokens_per_s"]
        self.next_eval = state["next_eval"]
        self.history = state["history"]

    def run_baselines(self) -> None:
        from policies import make_policy

        for spec in ["no-spec"] + [f"fixed-k:k={k}" for k in self.fixed_ks]:
            if spec not in self.baselines:
                self.baselines[spec] = summarize(run_policy(self.eval_env, make_policy(spec),
                                                            self.prompt_indices, self.seed, progress=spec))

    @property
    def best_fixed_k(self) -> tuple[str, float]:
        """The best static baseline on the evaluation prompts (`policies.baselines.best_static`: fixed-k ∪ k = 0)."""
        from policies.baselines import best_static

        spec = best_static({s: {"all": b["tokens_per_s"]} for s, b in self.baselines.items()})["all"]
        return spec, self.baselines[spec]["tokens_per_s"]

    def _on_training_start(self) -> None:
        self.run_baselines()

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_eval:
            self.evaluate()
            while self.next_eval <= self.num_timesteps:
                self.next_eval += self.eval_freq
        return True

    def evaluate(self) -> dict:
        result = summarize(run_policy(self.eval_env, PPOPolicy.from_model(self.model), self.prompt_indices, self.seed,
                                      progress="evaluation"))
        verifier = self.baselines["no-spec"]["tokens_per_s"]
        best_spec, best_fixed = self.best_fixed_k
        result |= {"step": self.num_timesteps, "speedup_vs_verifier": result["tokens_per_s"] / verifier,
                   "speedup_vs_best_fixed_k": result["tokens_per_s"] / best_fixed, "best_fixed_k": best_spec}
        log = self.logger.record
        for key in ("tokens_per_s", "speedup_vs_verifier", "speedup_vs_best_fixed_k", "acceptance_rate",
                    "mean_draft_len"):
            log(f"ebsd/{self.name}/{key}", result[key])
        log(f"ebsd/{self.name}/tau", result["mean_accepted_tokens"])
        log(f"ebsd/{self.name}/verifier_tokens_per_s", verifier)
        log(f"ebsd/{self.name}/best_fixed_k_tokens_per_s", best_fixed)
        self.history.append(result)
        if self.best_path is not None and result["tokens_per_s"] > self.best_tokens_per_s:
            self.best_tokens_per_s = result["tokens_per_s"]
            if self.fingerprint is not None:
                save_model(self.model, self.best_path, self.fingerprint)
            else:
                save_atomic(self.best_path, self.model.save)
            write_json_atomic(self.best_path.with_suffix(".json"), result, sort_keys=True)
        if self.log_path:
            write_json_atomic(self.log_path, {"baselines": self.baselines, "evaluations": self.history}, sort_keys=True)
        # Dump now so the point lands at this step even when the logger's own dump interval is longer.
        self.logger.dump(self.num_timesteps)
        return result


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def replay_env(venv):
    """The replay vector env's SB3 adapter under `venv` (inside VecNormalize or not), or None: live envs decode on
    the wall clock, so their episodes in flight cannot be carried over and a resume starts fresh ones."""
    from stable_baselines3.common.vec_env import VecEnvWrapper

    while isinstance(venv, VecEnvWrapper):
        venv = venv.venv
    return venv if hasattr(venv, "load_state_dict") else None


def in_flight_state(model) -> dict | None:
    """What an exact resume needs beyond weights, optimiser and RNG, or None on live envs: the replay env's
    episodes in flight, SB3's state between rollouts (the last observation, which envs begin an episode, the
    episode windows its logs average, the update and episode counts) and VecNormalize's running returns (its
    pickle leaves them out). Taken where checkpoints are, at a rollout's start: the rollout buffer is empty."""
    env = replay_env(model.get_env())
    if env is None:
        return None
    vec_normalize = model.get_vec_normalize_env()
    original = model._last_original_obs
    return {"env": env.state_dict(), "last_obs": np.copy(model._last_obs),
            "last_episode_starts": np.copy(model._last_episode_starts),
            "last_original_obs": None if original is None else np.copy(original),
            "returns": None if vec_normalize is None else np.copy(vec_normalize.returns),
            "ep_info_buffer": list(model.ep_info_buffer), "ep_success_buffer": list(model.ep_success_buffer),
            "n_updates": model._n_updates, "episode_num": model._episode_num,
            # What the last update logged, written with the next rollout's row of the progress CSV and TensorBoard.
            "pending_log": {"values": dict(model.logger.name_to_value), "counts": dict(model.logger.name_to_count),
                            "excluded": dict(model.logger.name_to_excluded)}}


def restore_in_flight(model, state: dict) -> None:
    """`in_flight_state` back into a model loaded from the checkpoint (on the same replay env, with the session's
    logger set): its next rollout continues the episodes the checkpoint's run had in flight (SB3 does not reset the
    env) and logs what the uninterrupted run logs."""
    from collections import deque

    replay_env(model.get_env()).load_state_dict(state["env"])
    model._last_obs = np.copy(state["last_obs"])
    model._last_episode_starts = np.copy(state["last_episode_starts"])
    model._last_original_obs = state["last_original_obs"]
    vec_normalize = model.get_vec_normalize_env()
    if vec_normalize is not None:
        vec_normalize.returns = np.copy(state["returns"])
    model.ep_info_buffer = deque(state["ep_info_buffer"], maxlen=model._stats_window_size)
    model.ep_success_buffer = deque(state["ep_success_buffer"], maxlen=model._stats_window_size)
    model._n_updates, model._episode_num = state["n_updates"], state["episode_num"]
    pending = state["pending_log"]
    model.logger.name_to_value.update(pending["values"])
    model.logger.name_to_count.update(pending["counts"])
    model.logger.name_to_excluded.update(pending["excluded"])


class CheckpointCallback(BaseCallback):
    """Saves a resumable checkpoint every `save_freq` steps, right after a PPO update.

    A checkpoint is a folder ``step_<n>/`` holding the model zip (weights and optimiser state), the
    VecNormalize statistics (if used), the process RNG states, the evaluation callbacks' states (the periodic
    evaluation's and the live one's: baselines, history, next evaluation step) and, on replay envs, the episodes in
    flight with SB3's state between rollouts (`in_flight_state`: a resume then learns as the uninterrupted run). The
    pointer file ``latest.json`` is replaced atomically only once the folder is complete, so an interruption
    at any moment leaves the previous checkpoint usable. The last `keep` checkpoints are kept.
    """

    def __init__(self, folder: str | Path, save_freq: int, eval_callback: SpeedupEvalCallback | None = None,
                 prior_wall_s: float = 0.0, keep: int = 2, live_callback: SpeedupEvalCallback | None = None):
        super().__init__()
        if save_freq < 1:
            raise ValueError(f"checkpoint frequency must be >= 1 step, got {save_freq}")
        self.folder = Path(folder)
        self.save_freq = int(save_freq)
        self.eval_callback = eval_callback
        self.live_callback = live_callback
        self.keep = keep
        self.last_saved = None
        self.prior_wall_s = prior_wall_s  # training time of the run before this process (resumes)
        self._started = time.perf_counter()

    @property
    def wall_s(self) -> float:
        """Wall time the run has trained so far, across resumes (up to this process's last step)."""
        return self.prior_wall_s + time.perf_counter() - self._started

    def _on_training_start(self) -> None:
        self.last_saved = self.num_timesteps
        self._started = time.perf_counter()

    def _on_rollout_start(self) -> None:
        # Rollout start follows the previous update: weights, optimiser and step count agree here.
        if self.num_timesteps - self.last_saved >= self.save_freq:
            self.save()

    def _on_training_end(self) -> None:
        if self.num_timesteps != self.last_saved:
            self.save()

    def _on_step(self) -> bool:
        return True

    def save(self) -> Path:
        step = self.num_timesteps
        target = self.folder / f"step_{step}"
        tmp = self.folder / f".step_{step}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save(tmp / "model.zip")
        vec_normalize = self.model.get_vec_normalize_env()
        if vec_normalize is not None:
            vec_normalize.save(str(tmp / "vecnormalize.pkl"))
        state = {"num_timesteps": step, "rng": rng_state(), "wall_s": self.wall_s,
                 "episodes": in_flight_state(self.model),
                 "eval": self.eval_callback.state_dict() if self.eval_callback else None,
                 "live": self.live_callback.state_dict() if self.live_callback else None}
        with open(tmp / "state.pkl", "wb") as f:
            pickle.dump(state, f)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        write_atomic(self.folder / "latest.json", json.dumps({"step": step, "folder": target.name}) + "\n")
        self.last_saved = step
        for old in sorted(self.folder.glob("step_*"), key=lambda p: int(p.name.split("_")[1]))[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return target


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The folder of the last complete checkpoint under `folder`, or None."""
    pointer = Path(folder) / "latest.json"
    if not pointer.is_file():
        return None
    return Path(folder) / json.loads(pointer.read_text())["folder"]


def load_checkpoint_state(checkpoint: Path) -> dict:
    with open(checkpoint / "state.pkl", "rb") as f:
        return pickle.load(f)


