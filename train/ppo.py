"""`ebsd train ppo`: train a drafting-stop policy with PPO on `EBSD-v1`, watched in TensorBoard.

A run lives in ``{runs_dir}/{env}__{exp}__{seed}__{time}/``: ``config.json``, ``tb/`` (TensorBoard event files
and ``progress_<step>.csv``), ``checkpoints/`` (resumable), ``best_model.zip`` (best evaluation tokens/s),
``model.zip`` (final), ``eval.json`` (baselines and every evaluation) and ``record.json`` (summary).

    ebsd train ppo --clock model --total-timesteps 20000
    ebsd train ppo --resume runs/EBSD-v1__ppo__1__1764400000     # continue an interrupted run
    ebsd train ppo --traces traces/ --clock model --num-envs 64 --total-timesteps 1000000   # on replays
    ebsd train ppo --traces traces/ --clock model --sweep sweep.yaml --backend ray   # seeds / grids (train/sweep.py)
    tensorboard --logdir runs
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from ebsd_env.cli.args import PairArgs, PromptArgs, load_pair_from_args
from ebsd_env.envs.block_rules import DEFAULT_STOP_MODE
from ebsd_env.fingerprint import env_fingerprint
from ebsd_env.io import write_json_atomic

from .common import (
    held_in_indices,
    is_multi_traces,
    load_prompt_rows,
    resolve_cost_model,
)

# What a run refuses before its folder exists (sweep imports `validate` from here, where it lived before).
from .ppo_checks import MULTI_REPLAY, validate

# The steps of a session, and names that lived here before the split (compare and sweep import some of them).
from .ppo_session import (  # noqa: F401
    RECORD_KEYS,
    Interrupted,
    TrainingEnvs,
    env_kwargs,
    finish,
    learn,
    live_envs,
    make_callbacks,
    make_model,
    make_vec_env,
    replay_envs,
    traced_envs,
)

# Options a resume takes from its command line; every other one comes from the run's saved config.
RESUME_OVERRIDES = ("total_timesteps", "save_model", "progress_bar", "verbose")


@dataclass
class PPOConfig(PairArgs, PromptArgs):
    exp_name: str = "ppo"
    """Experiment name, the second part of the run name `{env}__{exp}__{seed}__{time}`."""
    seed: int = 1
    """Seeds Python, NumPy, PyTorch and the environments, once, at the start of the run."""
    env_id: str = "EBSD-v1"
    """Gymnasium id of the environment."""
    clock: Literal["wall", "model"] = "wall"
    """Time that rewards and tokens/s use: measured wall time, or the calibrated model clock (fast, repeatable)."""
    prompts_per_category: int | None = 16
    """Training prompts per category (None: all)."""
    eval_prompts_per_category: int = 2
    """Held-in prompts per category (taken from the training prompts) for the periodic evaluation."""
    history: int = 8
    """Entropies in the observation."""
    entropy: str = "shannon"
    """Entropy measure: shannon, renyi, tsallis or topk."""
    entropy_param: float | None = None
    """Rényi alpha / Tsallis q / top-k k (None: the measure's default)."""
    min_draft_len: int = 0
    """Fewest draft tokens a stop verifies (0: the policy may verify an empty draft, k = 0)."""
    stop_mode: Literal["include", "exclude"] = DEFAULT_STOP_MODE
    """What a stop verifies: the draft with (include) or without (exclude) the token just drafted."""
    max_draft_len: int = 16
    """The environment verifies after this many drafted tokens whatever the policy says."""
    max_new_tokens: int = 128
    """Token budget of each episode (one generation)."""
    temperature: float = 0.0
    """Decoding temperature: 0 = greedy, > 0 = lossless speculative sampling."""
    observation: Literal["entropy", "ltd", "ltd+entropy"] = "entropy"
    ("What the observation is built from: the entropy history (default), Learning to Draft's top-4 log-probs and "
     "context length (`ltd`), or both (`ltd+entropy`); `ebsd_env.envs.observation` gives the layout.")
    extra_signals: bool = False
    ("Add the extra signals to the observation: drafter top-1 probability, margin, the emitted token's probability, "
     "the previous block's emitted tokens and acceptance, and progress.")
    cost_signals: bool = False
    ("Add the cost-aware signals: draft cost ratio and marginal verification cost from the clock, a running acceptance "
     "estimate on the prompt, the context length and the position in the output (with --cost-profiles, a policy sees "
     "many machines' costs and reads the one it is bound to).")
    total_timesteps: int = 20_000
    ("Environment steps (drafted tokens) to train for, in total across resumes. SB3 collects whole rollouts of n_steps "
     "* num_envs steps, so the run ends at the first multiple of that at or above this number (20,000 with the "
     "defaults runs 20,480 = 20 rollouts of 256 * 4).")
    num_envs: int = 4
    """Environments in the DummyVecEnv; they share the one loaded pair."""
    learning_rate: float = 3e-4
    """Adam learning rate."""
    n_steps: int = 256
    """Steps per environment per rollout (a rollout has n_steps * num_envs steps)."""
    batch_size: int = 256
    """Minibatch size of the PPO update."""
    n_epochs: int = 10
    """Passes over each rollout."""
    gamma: float = 1.0
    ("Discount factor. 1 (the default) keeps the return ordered as the objective, total tokens over total decoding "
     "time (`ebsd_env.envs.objective`); below 1 later tokens count less and the order can change.")
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_range: float = 0.2
    """PPO clipping range."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient (keeps the policy exploring both actions)."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    net_arch: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the policy and value networks."""
    normalize_reward: bool = False
    """Wrap the envs in VecNormalize (rewards only; observations are already in [0, 1])."""
    eval_freq: int = 2048
    """Steps between evaluations on the held-in prompts (0: no evaluation, no best model)."""
    fixed_ks: tuple[int, ...] = (0, 1, 2, 3, 4, 6, 8)
    """Fixed-k baselines the evaluation compares against (run once per run)."""
    checkpoint_freq: int = 2048
    """Steps between resumable checkpoints (saved right after a PPO update)."""
    runs_dir: str = "runs"
    """Folder that holds the runs."""
    resume: str | None = None
    ("Run folder to continue from its last checkpoint; its saved config is used, except --total-timesteps (to extend a "
     "run), --save-model, --progress-bar and --verbose given on this command line. With --traces the resumed run "
     "learns exactly what the uninterrupted one would (live envs start fresh episodes).")
    save_model: str | None = None
    """Also copy the best model (or the final one without evaluation) to this .zip path."""
    traces: str | None = None
    ("Train on recorded greedy traces (`ebsd record --out DIR`) instead of live decoding: the numpy vector replay env "
     "(`ebsd_env.replay`), thousands of times faster; needs --clock model (the traces' calibration, or --cost-model), "
     "temperature 0 and min_draft_len 0. Training loads no models; the live evaluation does (it runs unless "
     "--live-eval-freq 0).")
    live_eval_freq: int | None = None
    ("With --traces: steps between evaluations of the policy on the live env, on the wall clock, with the held-in "
     "traces' own prompt tokens (TensorBoard `ebsd/live/`, `live_eval.json`), so the curves show what the wall clock "
     "sees and not only replay. Loads the pair. None: a quarter of --total-timesteps; 0: none. On multi-drafter "
     "traces it runs only when given (on EBSD-Multi-v1, the pair from the recording's '+'-joined --drafter).")
    live_eval_prompts_per_category: int = 1
    """Held-in prompts per category of the live evaluation (each costs a live generation per policy)."""
    live_fixed_ks: tuple[int, ...] = (1, 2, 4)
    """Fixed-k baselines of the live evaluation (run once per run, on the wall clock)."""
    progress_bar: bool = True
    """Show a progress bar with ETA."""
    verbose: int = 0
    """1: print SB3's log table after every rollout."""
    cost_profiles: tuple[str, ...] = ()
    ("With --traces: cost profiles to price the episodes, one drawn per episode (seeded by --seed): profile JSON "
     "files, folders of them, or the shipped sets `h200` and `synthetic` (`ebsd_env.timing.cost_profiles`); replaces "
     "the traces' model clock. On multi-drafter traces: `jitter` (the family around the traces' own calibration) "
     "or multi-drafter profile files (`ebsd_env.timing.multi_profiles`). The run keeps them as "
     "`cost_profiles.json`.")
    cost_model: str | None = None
    ("Model-clock calibration (CostModel JSON) to use; None: calibrate the pair at the start of the run. Either way "
     "the run keeps it as `cost_model.json`, which `ebsd tune --cost-model` can share for a fair comparison.")


def run_name(config: PPOConfig) -> str:
    return f"{config.env_id}__{config.exp_name}__{config.seed}__{int(time.time())}"


def _explicit(argv: list[str], name: str) -> bool:
    flags = (f"--{name}", f"--{name.replace('_', '-')}", f"--no-{name.replace('_', '-')}", f"--no_{name}")
    return any(arg in flags or arg.startswith(tuple(f + "=" for f in flags)) for arg in argv)


def train(config: PPOConfig, argv: list[str] = ()) -> Path:
    """Train (or resume) a run; returns its folder. A new run refused before its first PPO step (a pair that
    will not load, prompts that will not read, a calibration that fails) leaves no run folder behind."""
    fresh: dict = {}
    try:
        return _train(config, argv, fresh)
    except Exception:
        if fresh.get("run_dir") is not None and not fresh.get("learning"):
            shutil.rmtree(fresh["run_dir"], ignore_errors=True)
        raise


def _train(config: PPOConfig, argv: list[str], fresh: dict) -> Path:
    from ebsd_env.decoding.kernels import configure_threads

    config, run_dir, checkpoint = _open_run(config, argv, fresh)
    configure_threads(config.threads)
    envs = _training_envs(config, run_dir)
    # What the policy is made for (pair, observation layout, stop mode, objective, clock, machine): saved in every
    # model .zip the run writes, checked when a policy is bound to an env (`ebsd_env.fingerprint`).
    fingerprint = env_fingerprint(envs.training_env)
    write_json_atomic(run_dir / "fingerprint.json", fingerprint, sort_keys=True)
    model, venv, state = make_model(config, envs.venv, checkpoint, run_dir)
    callbacks = make_callbacks(config, envs, state, fingerprint, run_dir, lambda live_freq: live_eval_callback(
        config, envs.traces, fingerprint, live_freq, run_dir))
    learn(config, model, callbacks, run_dir, state, fresh)
    finish(config, model, callbacks, run_dir, fingerprint)
    venv.close()
    return run_dir


def _open_run(config: PPOConfig, argv: list[str], fresh: dict) -> tuple[PPOConfig, Path, Path | None]:
    """(the run's config, its folder, the checkpoint to resume from or None): a resumed run's saved config with
    this command line's RESUME_OVERRIDES, or a new run's folder with its config.json."""
    from .callbacks import latest_checkpoint

    if config.resume:
        run_dir = Path(config.resume)
        saved = run_dir / "config.json"
        if not saved.is_file():
            raise FileNotFoundError(f"--resume {run_dir}: no config.json there; give a run folder written by "
                                    "`ebsd train ppo`")
        overrides = {name: getattr(config, name) for name in RESUME_OVERRIDES if _explicit(list(argv), name)}
        config = dataclasses.replace(_config_from_json(saved.read_text()), **overrides)
        checkpoint = latest_checkpoint(run_dir / "checkpoints")
        validate(config)
        return config, run_dir, checkpoint
    if config.traces and config.env_id == "EBSD-v1":  # name the run after the env it trains on
        config = dataclasses.replace(config, env_id=MULTI_REPLAY if is_multi_traces(config.traces)
                                     else "EBSD-Replay-v1")
    validate(config)
    run_dir = Path(config.runs_dir) / run_name(config)
    # The outermost folder this run makes (--runs-dir too when new): what a refusal removes again.
    fresh["run_dir"] = next(p for p in (*reversed(run_dir.parents), run_dir) if not p.exists())
    run_dir.mkdir(parents=True, exist_ok=False)
    write_json_atomic(run_dir / "config.json", dataclasses.asdict(config), sort_keys=True)
    return config, run_dir, None


def _training_envs(config: PPOConfig, run_dir: Path) -> TrainingEnvs:
    """Replay envs over --traces, else live envs over the loaded pair and its model clock."""
    if config.traces:
        return traced_envs(config, run_dir)
    prompts = load_prompt_rows(config.prompt_source, config.categories, config.prompts_per_category,
                               config.prompt_seed)  # read (or refused) before the pair loads
    pair = load_pair_from_args(config)
    cost_model = resolve_cost_model(config.cost_model, pair, config.temperature, run_dir / "cost_model.json")
    return live_envs(config, env_kwargs(config, pair, prompts, cost_model))


def _config_from_json(text: str) -> PPOConfig:
    data = json.loads(text)
    data.setdefault("threads", data.pop("torch_threads", None))  # runs saved before the rename
    for key in ("categories", "net_arch", "fixed_ks", "live_fixed_ks"):
        if data.get(key) is not None:
            data[key] = tuple(data[key])
    return PPOConfig(**data)


def live_eval_callback(config: PPOConfig, traces, fingerprint: dict, eval_freq: int, run_dir: Path):
    """The periodic live evaluation beside replay training: the traces' held-in prompts (their recorded tokens)
    decoded live on the wall clock by the pair the traces came from (refused if the loaded pair differs); on
    EBSD-Multi-v1 for multi-drafter traces (`live_multi_env`)."""
    import gymnasium as gym

    from ebsd_env.fingerprint import differences

    from .callbacks import SpeedupEvalCallback

    pair = load_pair_from_args(config)
    rows = traces.rows(with_ids=True)
    if config.env_id == MULTI_REPLAY:
        env = live_multi_env(config, traces, pair, rows)
    else:
        env = gym.make("EBSD-v1", pair=pair, prompts=rows, history=config.history, entropy=config.entropy,
                       entropy_param=config.entropy_param, max_draft_len=config.max_draft_len,
                       max_new_tokens=config.max_new_tokens, clock="wall", extra_signals=config.extra_signals,
                       stop_mode=config.stop_mode, observation=config.observation, cost_signals=config.cost_signals)
    mismatch = differences(fingerprint, env_fingerprint(env))[0][:1]
    if mismatch:
        raise ValueError(f"--live-eval-freq decodes the traces' prompts live, but the loaded pair is not the one "
                         f"they were recorded with ({mismatch[0]}): give the recording's --pair / --drafter / "
                         "--verifier, or --live-eval-freq 0")
    return SpeedupEvalCallback(env, held_in_indices(rows, config.live_eval_prompts_per_category), eval_freq, None,
                               config.live_fixed_ks, seed=config.seed, log_path=run_dir / "live_eval.json",
                               name="live")


def live_multi_env(config: PPOConfig, traces, pair, rows: list[dict]):
    """The live `EBSD-Multi-v1` env of the live evaluation on multi-drafter traces: `pair` (it must have the
    traces' drafters) decoding their prompts on the wall clock, with the traces' entropy settings and per-drafter
    calibrations, which set the reward scale and the drafters' cost ratios the policy observed in training (the
    wall clock measures every block's time itself)."""
    import gymnasium as gym

    from ebsd_env.decoding.multi import is_multi

    if not is_multi(pair):
        raise ValueError(f"--live-eval-freq decodes the multi-drafter traces' prompts live with their drafters "
                         f"({'+'.join(traces.names)}), but the loaded pair has the one drafter {pair.drafter_name!r}: "
                         f"give the recording's --drafter {'+'.join(traces.names)} (and --verifier), or drop "
                         "--live-eval-freq")
    entropy = traces.settings["entropy"]
    return gym.make("EBSD-Multi-v1", pair=pair, prompts=rows, history=config.history, entropy=entropy["measure"],
                    entropy_param=entropy["param"], entropy_temperature=entropy["temperature"],
                    max_draft_len=config.max_draft_len, max_new_tokens=config.max_new_tokens, clock="wall",
                    cost_model=traces.clock("model").costs, extra_signals=config.extra_signals,
                    stop_mode=config.stop_mode, observation=config.observation)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "ppo":
        argv = argv[1:]
    config = tyro.cli(PPOConfig, args=argv, description=__doc__, prog="ebsd train ppo")
    try:
        run_dir = train(config, argv)
    except Interrupted as interrupted:
        print(interrupted.resume_hint(), file=sys.stderr, flush=True)
        return 130
    print(f"[ebsd] run folder: {run_dir}\n[ebsd] tensorboard --logdir {run_dir.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
