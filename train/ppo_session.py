"""One session of an `ebsd train ppo` run: its environments, its model (new or from a checkpoint), its
callbacks, the learning itself and the record it leaves. `train.ppo` opens the run and drives these steps.

Every function takes the run's `PPOConfig` (`train.ppo`), which this module does not import: the command module
imports this one.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ebsd_env.fingerprint import save_model
from ebsd_env.io import write_json_atomic

from .common import is_multi_traces

RECORD_KEYS = ("tokens_per_s", "acceptance_rate", "mean_accepted_tokens", "mean_draft_len")


@dataclass
class TrainingEnvs:
    """What a run trains and evaluates on: the SB3 VecEnv, the prompts (or traces' rows), the traces (replay
    only) and how to make the evaluation env (made only when an evaluation runs)."""

    venv: object
    prompts: list[dict]
    make_eval_env: Callable[[], object]
    training_env: object  # what the fingerprint describes
    traces: object = None


def env_kwargs(config, pair, prompts: list[dict], cost_model) -> dict:
    return dict(pair=pair, prompts=prompts, history=config.history, entropy=config.entropy,
                entropy_param=config.entropy_param, min_draft_len=config.min_draft_len,
                max_draft_len=config.max_draft_len, max_new_tokens=config.max_new_tokens,
                temperature=config.temperature, clock=config.clock, extra_signals=config.extra_signals,
                cost_model=cost_model, stop_mode=config.stop_mode, observation=config.observation,
                cost_signals=config.cost_signals)


def make_vec_env(config, kwargs: dict):
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    import ebsd_env  # noqa: F401  (registers the environments)

    venv = DummyVecEnv([lambda: Monitor(gym.make(config.env_id, **kwargs)) for _ in range(config.num_envs)])
    if config.normalize_reward:
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=config.gamma)
    return venv


def live_envs(config, kwargs: dict) -> TrainingEnvs:
    """The live envs over a loaded pair (`kwargs`: `env_kwargs`); the evaluation env is another of the same."""
    import gymnasium as gym

    venv = make_vec_env(config, kwargs)
    return TrainingEnvs(venv, kwargs["prompts"], lambda: gym.make(config.env_id, **kwargs),
                        getattr(venv, "venv", venv).envs[0])


def replay_envs(config, run_dir: Path):
    """(SB3 VecEnv over the numpy replay vector env, a `ReplayEnv` for evaluation, the `TraceSet`)."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import VecNormalize

    from ebsd_env.replay import TraceSet
    from ebsd_env.replay.vector import ReplayVectorEnv, sb3_vec_env
    from ebsd_env.timing.cost_profiles import CostProfiles

    if config.clock != "model":
        raise ValueError("--traces replays recorded traces, which only the model clock can time: add --clock model")
    if is_multi_traces(config.traces):
        return multi_replay_envs(config, run_dir)
    traces = TraceSet.load(config.traces)
    profiles = CostProfiles.load(config.cost_profiles) if config.cost_profiles else None
    kwargs = dict(history=config.history, max_draft_len=config.max_draft_len, max_new_tokens=config.max_new_tokens,
                  extra_signals=config.extra_signals, stop_mode=config.stop_mode, cost_model=config.cost_model,
                  temperature=config.temperature, min_draft_len=config.min_draft_len, observation=config.observation,
                  cost_profiles=profiles, cost_signals=config.cost_signals)
    eval_env = gym.make("EBSD-Replay-v1", traces=traces, entropy=config.entropy, entropy_param=config.entropy_param,
                        **kwargs)  # through gym.make: the evaluation makes copies in each policy's stop mode
    if profiles is None:
        eval_env.unwrapped.decode_clock.costs.save(run_dir / "cost_model.json")
    else:  # the evaluation episodes draw profiles too, each from its own seed
        write_json_atomic(run_dir / "cost_profiles.json", profiles.describe(), sort_keys=True)
    venv = sb3_vec_env(ReplayVectorEnv(traces, num_envs=config.num_envs, seed=config.seed, **kwargs))
    if config.normalize_reward:
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=config.gamma)
    return venv, eval_env, traces


def multi_replay_envs(config, run_dir: Path):
    """`replay_envs` for aligned multi-drafter traces: the numpy `MultiReplayVectorEnv`, an `EBSD-Multi-Replay-v1`
    env for evaluation (its fixed-k baselines draft with the first drafter) and the `MultiTraceSet`."""
    import gymnasium as gym

    from ebsd_env.replay.multi import MultiTraceSet
    from ebsd_env.replay.multi_vector import MultiReplayVectorEnv
    from ebsd_env.replay.vector import sb3_vec_env

    traces = MultiTraceSet.load(config.traces)
    kwargs = dict(history=config.history, max_draft_len=config.max_draft_len, max_new_tokens=config.max_new_tokens,
                  extra_signals=config.extra_signals, stop_mode=config.stop_mode, observation=config.observation,
                  cost_signals=config.cost_signals)
    eval_env = gym.make("EBSD-Multi-Replay-v1", traces=traces, **kwargs)  # on the traces' own clock
    eval_env.unwrapped.multi_clock.save(run_dir / "cost_model.json")
    vector = MultiReplayVectorEnv(traces, num_envs=config.num_envs, seed=config.seed,
                                  cost_profiles=config.cost_profiles or None, **kwargs)
    if vector.multi_profiles is not None:
        write_json_atomic(run_dir / "cost_profiles.json", vector.multi_profiles.describe(), sort_keys=True)
    venv = sb3_vec_env(vector)
    return venv, eval_env, traces


def traced_envs(config, run_dir: Path) -> TrainingEnvs:
    """The replay envs over recorded traces (`replay_envs`); the evaluation env is the one replay env."""
    venv, eval_env, traces = replay_envs(config, run_dir)
    return TrainingEnvs(venv, traces.rows(), lambda: eval_env, eval_env, traces)


def make_model(config, venv, checkpoint: Path | None, run_dir: Path):
    """(PPO model, its venv, the checkpoint's saved state or None): a new model, or the checkpoint's, with the
    reward normalisation it had (`restore_session` brings back the rest, once the callbacks are built)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from .callbacks import load_checkpoint_state

    if checkpoint is None:
        policy_kwargs = dict(net_arch=dict(pi=list(config.net_arch), vf=list(config.net_arch)))
        model = PPO("MlpPolicy", venv, learning_rate=config.learning_rate, n_steps=config.n_steps,
                    batch_size=config.batch_size, n_epochs=config.n_epochs, gamma=config.gamma,
                    gae_lambda=config.gae_lambda, clip_range=config.clip_range, ent_coef=config.ent_coef,
                    vf_coef=config.vf_coef, policy_kwargs=policy_kwargs, seed=config.seed, device=config.device,
                    verbose=config.verbose)
        return model, venv, None
    state = load_checkpoint_state(checkpoint)
    if isinstance(venv, VecNormalize):
        venv = VecNormalize.load(str(checkpoint / "vecnormalize.pkl"), venv.venv)
    model = PPO.load(checkpoint / "model.zip", env=venv, device=config.device)
    print(f"[ebsd] resuming {run_dir.name} from step {model.num_timesteps}", flush=True)
    return model, venv, state


def restore_session(config, model, state: dict | None) -> None:
    """A resumed run's RNG states and episodes in flight, as its checkpoint has them; called right before learning
    (with the session's logger set), since building the callbacks draws random numbers (a live evaluation builds
    its pair).

    On replay envs the resume is exact: the run learns what the uninterrupted run learns, to the bit. Live envs
    decode on the wall clock, which never repeats, so their resume starts fresh episodes seeded by the step count
    (repeatable, not exact); so does a replay checkpoint written before checkpoints kept the episodes (a note says
    so)."""
    from .callbacks import replay_env, restore_in_flight, set_rng_state

    if state is None:
        return
    set_rng_state(state["rng"])
    if state.get("episodes") is not None:
        restore_in_flight(model, state["episodes"])
        return
    if replay_env(model.get_env()) is not None:
        print("[ebsd] note: this checkpoint predates checkpoints that keep the episodes in flight; the resume starts "
              "fresh episodes (seeded by the step count), so it does not repeat an uninterrupted run exactly",
              flush=True)
    model.get_env().seed(config.seed + model.num_timesteps)


@dataclass
class Callbacks:
    """The run's callbacks in the order SB3 calls them, and the two the run reads afterwards."""

    all: list
    evaluation: object  # SpeedupEvalCallback or None
    checkpoints: object  # CheckpointCallback


def make_callbacks(config, envs: TrainingEnvs, state: dict | None, fingerprint: dict, run_dir: Path,
                   make_live_callback: Callable[[int], object]) -> Callbacks:
    """Episode metrics, hyperparameters, the periodic evaluation, the live one (replay training), checkpoints and
    the progress bar; evaluation state comes back from a checkpoint's `state`. `make_live_callback(freq)` builds
    the live evaluation (it loads the pair)."""
    from stable_baselines3.common.callbacks import ProgressBarCallback

    from .callbacks import CheckpointCallback, EpisodeMetricsCallback, HParamCallback, SpeedupEvalCallback
    from .common import held_in_indices

    callbacks = [EpisodeMetricsCallback(), HParamCallback(dataclasses.asdict(config))]
    eval_callback = None
    if config.eval_freq:
        eval_callback = SpeedupEvalCallback(
            envs.make_eval_env(), held_in_indices(envs.prompts, config.eval_prompts_per_category), config.eval_freq,
            run_dir / "best_model.zip", config.fixed_ks, seed=config.seed, log_path=run_dir / "eval.json",
            fingerprint=fingerprint)
        if state is not None and state["eval"] is not None:
            eval_callback.load_state_dict(state["eval"])
        callbacks.append(eval_callback)
    live_freq = config.live_eval_freq if config.live_eval_freq is not None else max(config.total_timesteps // 4, 1)
    if config.env_id == "EBSD-Multi-Replay-v1" and config.live_eval_freq is None and envs.traces is not None:
        # Only on request: its pair is the recording's '+'-joined --drafter, which the default pair never is.
        live_freq = 0
        print("[ebsd] multi-drafter traces: no live evaluation unless --live-eval-freq N is given (with the "
              "recording's '+'-joined --drafter)", flush=True)
    live_callback = None
    if envs.traces is not None and live_freq > 0:
        live_callback = make_live_callback(live_freq)
        if state is not None and state.get("live") is not None:  # older checkpoints did not keep it
            # Its history and baselines (measured once per run, on the wall clock) come back with the model.
            live_callback.load_state_dict(state["live"])
        callbacks.append(live_callback)
    prior_wall_s = state["wall_s"] if state is not None else 0.0
    checkpoints = CheckpointCallback(run_dir / "checkpoints", config.checkpoint_freq, eval_callback, prior_wall_s,
                                     live_callback=live_callback)
    callbacks.append(checkpoints)
    if config.progress_bar:
        callbacks.append(ProgressBarCallback())
    return Callbacks(callbacks, eval_callback, checkpoints)


def learn(config, model, callbacks: Callbacks, run_dir: Path, state: dict | None, fresh: dict) -> None:
    """Learn up to --total-timesteps with one CSV and TensorBoard writer for this session (a resume: from the
    checkpoint's `state`, `restore_session`); Ctrl-C becomes `Interrupted`, naming the last checkpoint. Sets
    ``fresh["learning"]``: from here a failure keeps the run."""
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.logger import Logger, make_output_format

    # One CSV per session (SB3 truncates an existing progress.csv); TensorBoard merges its event files itself.
    # Made last, so that a refusal before (a live evaluation on another pair) leaves no open file behind.
    formats = ["csv", "tensorboard"] + (["stdout"] if config.verbose else [])
    start_step = 0 if state is None else state["num_timesteps"]  # progress_<step>.csv: the session's first step
    logger = Logger(str(run_dir / "tb"),
                    [make_output_format(f, str(run_dir / "tb"), f"_{start_step}") for f in formats])
    model.set_logger(logger)
    remaining = config.total_timesteps - model.num_timesteps
    fresh["learning"] = True
    try:
        restore_session(config, model, state)
        if remaining > 0:
            model.learn(remaining, callback=CallbackList(callbacks.all), reset_num_timesteps=False,
                        tb_log_name=run_dir.name)
    except KeyboardInterrupt:
        # No checkpoint is written here: checkpoints are taken right after a PPO update, where weights,
        # optimiser, step count and RNG agree; one taken mid-rollout would not resume to the same run.
        raise Interrupted(run_dir, callbacks.checkpoints.last_saved or None) from None
    finally:
        logger.close()  # the session's progress CSV and TensorBoard writer: flushed and closed, also on errors


def finish(config, model, callbacks: Callbacks, run_dir: Path, fingerprint: dict) -> None:
    """The final model, `record.json`, and the copy --save-model asks for (the best model where there is one)."""
    save_model(model, run_dir / "model.zip", fingerprint)
    _write_record(run_dir, config, model.num_timesteps, callbacks.checkpoints.wall_s, callbacks.evaluation,
                  fingerprint)
    if config.save_model:
        best = run_dir / "best_model.zip"
        source = best if best.is_file() else run_dir / "model.zip"
        Path(config.save_model).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, config.save_model)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training, caught once: the run folder and the step its last checkpoint holds."""

    def __init__(self, run_dir: Path, step: int | None):
        super().__init__(f"interrupted; checkpoint at step {step}" if step is not None else "interrupted")
        self.run_dir, self.step = run_dir, step

    def resume_hint(self) -> str:
        saved = (f"the last checkpoint holds step {self.step}" if self.step is not None else
                 "no checkpoint yet (the run restarts from step 0)")
        return f"[ebsd] interrupted: {saved}; resume with: ebsd train ppo --resume {self.run_dir}"


def _write_record(run_dir: Path, config, steps: int, wall_s: float, eval_callback,
                  fingerprint: dict | None = None) -> None:
    record = {"run": run_dir.name, "steps": steps, "clock": config.clock, "pair": config.pair, "wall_s": wall_s,
              "fingerprint": fingerprint}
    if eval_callback is not None and eval_callback.history:
        best = max(eval_callback.history, key=lambda r: r["tokens_per_s"])
        record |= {"baselines": {s: {k: b[k] for k in RECORD_KEYS} for s, b in eval_callback.baselines.items()},
                   "best_eval": best, "last_eval": eval_callback.history[-1]}
    write_json_atomic(run_dir / "record.json", record, sort_keys=True)
