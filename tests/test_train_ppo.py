"""`ebsd train ppo` on a tiny config-built pair with the model clock: TensorBoard scalars, model round trip
through the policy registry, resume after an interruption, argument errors."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from train import callbacks as train_callbacks
from train.compare import CompareConfig, compare
from train.ppo import PPOConfig, main, train

PROMPTS = [
    {"id": "a1", "category": "alpha", "prompt": "the cat sat on the mat"},
    {"id": "a2", "category": "alpha", "prompt": "one two three four"},
    {"id": "b1", "category": "beta", "prompt": "what is two plus two?"},
    {"id": "b2", "category": "beta", "prompt": "hello world, how are you"},
]


@pytest.fixture
def prompt_file(tmp_path, make_prompt_file) -> str:
    return make_prompt_file(tmp_path, PROMPTS)


def tiny_config(tmp_path, prompt_file, **overrides) -> PPOConfig:
    values = dict(pair="tiny-noisy", clock="model", total_timesteps=256, num_envs=2, n_steps=64, batch_size=64,
                  n_epochs=2, eval_freq=128, eval_prompts_per_category=1, fixed_ks=(1, 2),
                  checkpoint_freq=128, runs_dir=str(tmp_path / "runs"), max_new_tokens=24,
                  prompt_source=prompt_file, progress_bar=False)
    return PPOConfig(**(values | overrides))


def tb_tags(run_dir: Path) -> tuple[dict[str, list], set[str], set[str]]:
    """Scalars (tag -> [(step, value)]), histogram tags and plugin names over all event files of a run."""
    scalars, histograms, plugins = {}, set(), set()
    for path in sorted((run_dir / "tb").glob("events.out.tfevents.*")):
        events = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0})
        events.Reload()
        tags = events.Tags()
        for tag in tags["scalars"]:
            scalars.setdefault(tag, []).extend((e.step, e.value) for e in events.Scalars(tag))
        histograms |= set(tags["histograms"])
        if "_hparams_/experiment" in events.PluginTagToContent("hparams"):
            plugins.add("hparams")
    return scalars, histograms, plugins


def open_files_under(folder: Path) -> list[str]:
    """Files under `folder` this process still holds open (Linux's /proc; elsewhere none can be seen)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("needs /proc/self/fd")
    held = []
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if target.startswith(str(folder.resolve())):
            held.append(target)
    return held


def test_smoke_run_logs_ebsd_scalars_and_model_loads_through_registry(tmp_path, prompt_file):
    config = tiny_config(tmp_path, prompt_file, save_model=str(tmp_path / "trained.zip"))
    run_dir = train(config)
    assert open_files_under(run_dir) == []  # the progress CSV and TensorBoard writer are closed

    scalars, histograms, plugins = tb_tags(run_dir)
    for tag in ("ebsd/train/tokens_per_s", "ebsd/train/acceptance_rate", "ebsd/train/tau",
                "ebsd/train/mean_draft_len", "ebsd/train/entropy_at_stop", "ebsd/eval/tokens_per_s",
                "ebsd/eval/speedup_vs_verifier", "ebsd/eval/speedup_vs_best_fixed_k", "ebsd/eval/tau",
                "rollout/ep_rew_mean", "train/value_loss"):
        assert tag in scalars, f"missing TensorBoard scalar {tag}"
        assert all(math.isfinite(v) for _, v in scalars[tag]), tag
    assert all(v > 0 for _, v in scalars["ebsd/train/tokens_per_s"])
    assert {"ebsd/train/draft_len_hist", "ebsd/train/entropy_at_stop_hist"} <= histograms
    assert "hparams" in plugins
    assert [step for step, _ in scalars["ebsd/eval/tokens_per_s"]] == [128, 256]
    header = (run_dir / "tb" / "progress_0.csv").read_text().splitlines()[0].split(",")
    assert "ebsd/train/tokens_per_s" in header and not any("per_category" in h for h in header)

    record = json.loads((run_dir / "record.json").read_text())
    assert record["steps"] == 256
    for name in ("record.json", "eval.json", "config.json"):  # strict JSON: NaN is written as null
        assert "NaN" not in (run_dir / name).read_text(), name
    evaluation = json.loads((run_dir / "eval.json").read_text())
    # The best static baseline: fixed-k ∪ k = 0 (no-spec).
    best_fixed = max(b["tokens_per_s"] for s, b in evaluation["baselines"].items()
                     if s.startswith("fixed-k") or s == "no-spec")
    last = evaluation["evaluations"][-1]
    assert last["speedup_vs_best_fixed_k"] == pytest.approx(last["tokens_per_s"] / best_fixed)
    assert set(last["per_category"]) == {"alpha", "beta"}

    # The kept best model, loaded through the registry in the run's env, reproduces its evaluation exactly
    # (model clock, greedy decoding), and the comparison record sets it beside the best fixed-k per category.
    best = json.loads((run_dir / "best_model.json").read_text())
    assert (tmp_path / "trained.zip").read_bytes() == (run_dir / "best_model.zip").read_bytes()
    result = compare(CompareConfig(run=str(run_dir), model=str(tmp_path / "trained.zip"), out=str(tmp_path / "cmp")))
    overall = result["rows"]["overall"]
    assert overall["ppo"] == pytest.approx(best["tokens_per_s"], rel=1e-9)
    assert overall["speedup_vs_best_fixed_k"] == pytest.approx(best["tokens_per_s"] / best_fixed)
    assert set(result["rows"]) == {"alpha", "beta", "overall"}
    assert "| overall |" in (tmp_path / "cmp.md").read_text()


def test_interrupted_run_resumes_from_checkpoint_with_same_step_count(tmp_path, prompt_file, monkeypatch):
    from stable_baselines3 import PPO

    original = train_callbacks.EpisodeMetricsCallback._on_rollout_end

    def crash_in_second_rollout(self):
        original(self)
        if self.num_timesteps >= 256:
            raise KeyboardInterrupt  # killed mid-run, after the checkpoint at step 128

    monkeypatch.setattr(train_callbacks.EpisodeMetricsCallback, "_on_rollout_end", crash_in_second_rollout)
    config = tiny_config(tmp_path, prompt_file, total_timesteps=384, normalize_reward=True)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    monkeypatch.setattr(train_callbacks.EpisodeMetricsCallback, "_on_rollout_end", original)
    (run_dir,) = (tmp_path / "runs").iterdir()
    checkpoints = run_dir / "checkpoints"
    assert json.loads((checkpoints / "latest.json").read_text())["step"] == 128
    saved = PPO.load(checkpoints / "step_128" / "model.zip")
    assert saved.num_timesteps == 128
    assert saved.policy.optimizer.state_dict()["state"], "the optimiser state must be in the checkpoint"
    assert (checkpoints / "step_128" / "vecnormalize.pkl").is_file()
    # Live envs decode on the wall clock: no episodes in flight are kept, a resume starts fresh ones.
    assert train_callbacks.load_checkpoint_state(checkpoints / "step_128")["episodes"] is None

    assert main(["ppo", "--resume", str(run_dir), "--no-progress-bar"]) == 0
    record = json.loads((run_dir / "record.json").read_text())
    assert record["steps"] == 384
    assert json.loads((checkpoints / "latest.json").read_text())["step"] == 384
    scalars, _, _ = tb_tags(run_dir)
    steps = [step for step, _ in scalars["ebsd/train/tokens_per_s"]]
    assert max(steps) == 384 and 128 in steps
    # Eval points of the resumed session continue from the checkpoint's schedule; baselines are not re-run.
    evaluation = json.loads((run_dir / "eval.json").read_text())
    assert [e["step"] for e in evaluation["evaluations"]] == [128, 256, 384]

    # Extending a finished run: only --total-timesteps overrides the saved config.
    assert main(["ppo", "--resume", str(run_dir), "--total-timesteps", "512", "--no-progress-bar"]) == 0
    assert json.loads((run_dir / "record.json").read_text())["steps"] == 512
    # One progress CSV per session, named after the step it began at: none overwrites an earlier one.
    sessions = {int(path.stem.split("_")[1]): [int(row["time/total_timesteps"]) for row in
                                               csv.DictReader(path.open()) if row.get("time/total_timesteps")]
                for path in (run_dir / "tb").glob("progress_*.csv")}
    assert sessions == {0: [128], 128: [256, 384], 384: [512]}  # killed before its rollout at 256 was logged


def test_run_killed_before_its_first_checkpoint_restarts_in_the_same_folder(tmp_path, prompt_file, monkeypatch):
    def crash(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_callbacks.EpisodeMetricsCallback, "_on_rollout_end", crash)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(tmp_path, prompt_file, total_timesteps=128, eval_freq=0))
    monkeypatch.undo()
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert not (run_dir / "checkpoints" / "latest.json").exists()
    assert main(["ppo", "--resume", str(run_dir), "--no-progress-bar"]) == 0
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run_dir.name]
    assert json.loads((run_dir / "record.json").read_text())["steps"] == 128


@pytest.mark.parametrize("overrides, message", [
    ({"total_timesteps": 0}, "--total-timesteps must be >= 1"),
    ({"batch_size": 1000}, "--batch-size must lie in"),
    ({"num_envs": 0}, "--num-envs must be >= 1"),
    ({"pair": "tiny-huge"}, "unknown pair 'tiny-huge'"),
])
def test_bad_arguments_give_clear_errors(tmp_path, prompt_file, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(tiny_config(tmp_path, prompt_file, **overrides))


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json there"):
        main(["ppo", "--resume", str(tmp_path)])


def test_help_lists_documented_fields(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ppo", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--clock" in out and "calibrated model clock" in out


def test_ctrl_c_prints_the_resume_command_once_and_exits_130(tmp_path, prompt_file, monkeypatch, capsys):
    def interrupt(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_callbacks.EpisodeMetricsCallback, "_on_rollout_end", interrupt)
    args = ["ppo", "--pair", "tiny-noisy", "--clock", "model", "--total-timesteps", "128", "--num-envs", "1",
            "--n-steps", "64", "--batch-size", "64", "--eval-freq", "0", "--runs-dir", str(tmp_path / "runs"),
            "--prompt-source", prompt_file, "--no-progress-bar"]
    assert main(args) == 130
    (run_dir,) = (tmp_path / "runs").iterdir()
    err = capsys.readouterr().err
    assert f"resume with: ebsd train ppo --resume {run_dir}" in err and "Traceback" not in err


TRAINED = Path(__file__).resolve().parents[1] / "policies" / "trained"


def test_committed_policy_says_what_it_was_made_for_and_acts_on_that_layout():
    """The shipped PPO policy carries its fingerprint: the embedded pair with the shipped drafter, the layout,
    stop mode and clock it was trained on; bound to that layout it acts, bound to another it is refused."""
    from ebsd_env import ObservationLayout
    from ebsd_env.fingerprint import read_zip
    from policies import make_policy

    fingerprint = read_zip(TRAINED / "ppo_embedded.zip")
    record = json.loads((TRAINED / "ppo_embedded.json").read_text())
    assert fingerprint == record["fingerprint"]
    assert fingerprint["pair"]["verifier"] == "embedded:smollm2-135m-instruct"
    assert fingerprint["pair"]["drafter"] == "distilled" and fingerprint["clock"]["kind"] == "model"
    layout = ObservationLayout(**{"max_new_tokens": 64, **fingerprint["observation"]})
    policy = make_policy(f"ppo:{TRAINED / 'ppo_embedded.zip'}", layout=layout)
    actions = [policy.predict(layout.encode([0.1] * n, position=n))[0] for n in range(0, 8)]
    assert set(actions) <= {0, 1}
    other = ObservationLayout(**{**fingerprint["observation"], "max_new_tokens": 64, "history": 3})
    with pytest.raises(ValueError, match="trained for another env: observation: history 3 here"):
        make_policy(f"ppo:{TRAINED / 'ppo_embedded.zip'}", layout=other)


@pytest.mark.slow
def test_committed_policy_binds_to_the_default_env_and_keeps_the_output_exact():
    """On the embedded pair with the feature drafter it was trained for (recorded under its old name `distilled`,
    loaded here by its id `feature-v1`), the shipped policy's fingerprint matches the env made from it (pair,
    layout, stop mode, draft bounds), and greedy output stays the verifier's own; with the default int4 drafter it
    is refused in one line."""
    import gymnasium as gym

    import ebsd_env  # noqa: F401
    from ebsd_env.fingerprint import read_zip
    from policies import make_policy, run_episode

    probe = make_policy(f"ppo:{TRAINED / 'ppo_embedded.zip'}")
    assert read_zip(TRAINED / "ppo_embedded.zip")["pair"]["drafter"] == "distilled"
    env = gym.make("EBSD-v1", drafter="feature-v1", prompts=["Why is the sky blue?"], max_new_tokens=24,
                   clock="model", **probe.env_requirements())
    policy = make_policy(f"ppo:{TRAINED / 'ppo_embedded.zip'}", env=env)
    verifier = run_episode(env, make_policy("no-spec", env=env), seed=0, options={"prompt_index": 0})
    learned = run_episode(env, policy, seed=0, options={"prompt_index": 0})
    assert learned["output_ids"] == verifier["output_ids"] and learned["new_tokens"] == 24
    default = gym.make("EBSD-v1", prompts=["Why is the sky blue?"], max_new_tokens=8, clock="model",
                       **probe.env_requirements())
    with pytest.raises(ValueError, match="trained for another env: pair") as info:
        make_policy(f"ppo:{TRAINED / 'ppo_embedded.zip'}", env=default)
    assert "\n" not in str(info.value) and "int4" in str(info.value)


def test_resume_restores_the_live_evaluation_history_and_baselines(tmp_path, monkeypatch):
    """Replay training with a live evaluation, killed after its checkpoint at step 256 and resumed: the live
    evaluations are those of an uninterrupted run (every 128 steps, none lost, none twice) and the live baselines
    are the ones measured before the kill, not measured again."""
    from ebsd_env.decoding.tiny import tiny_pair
    from ebsd_env.replay.record import record
    from ebsd_env.timing import cost_model

    traces = tmp_path / "traces"
    record(tiny_pair("noisy"), PROMPTS, traces, max_draft_len=8, max_new_tokens=24,
           progress=False, calibrate_clock=False)
    toy = cost_model.CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14)), source="toy")
    toy.save(traces / "cost_model.json")
    # The live env's reward baseline: fixed, since a calibration on a busy machine may be refused (not tested here).
    from ebsd_env.timing import calibration

    monkeypatch.setattr(calibration, "calibrate", lambda *args, **kwargs: toy)
    monkeypatch.setattr(calibration, "_CACHE", {})  # and no other test is served this one from the memo
    argv = ["--traces", str(traces), "--clock", "model", "--num-envs", "4", "--n-steps", "32", "--batch-size", "64",
            "--n-epochs", "1", "--max-new-tokens", "24", "--max-draft-len", "8", "--runs-dir", str(tmp_path / "runs"),
            "--no-progress-bar", "--eval-freq", "0", "--checkpoint-freq", "128", "--pair", "tiny-noisy",
            "--live-eval-freq", "128", "--live-fixed-ks", "1", "2", "--total-timesteps", "512"]
    original = train_callbacks.EpisodeMetricsCallback._on_rollout_end

    def crash_after_step_384(self):
        original(self)
        if self.num_timesteps >= 384:
            raise KeyboardInterrupt  # killed after the live evaluation at 384, before the checkpoint there

    monkeypatch.setattr(train_callbacks.EpisodeMetricsCallback, "_on_rollout_end", crash_after_step_384)
    assert main(argv) == 130
    monkeypatch.setattr(train_callbacks.EpisodeMetricsCallback, "_on_rollout_end", original)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert open_files_under(run_dir) == []  # interrupted: its progress CSV is closed all the same
    assert json.loads((run_dir / "checkpoints" / "latest.json").read_text())["step"] == 256
    killed = json.loads((run_dir / "live_eval.json").read_text())
    assert [e["step"] for e in killed["evaluations"]] == [128, 256, 384]

    baseline_runs = []
    run_policy = train_callbacks.run_policy

    def counting_run_policy(env, policy, *args, **kwargs):
        if kwargs.get("progress") != "evaluation":
            baseline_runs.append(policy.spec)
        return run_policy(env, policy, *args, **kwargs)

    monkeypatch.setattr(train_callbacks, "run_policy", counting_run_policy)
    assert main(["ppo", "--resume", str(run_dir), "--no-progress-bar"]) == 0
    resumed = json.loads((run_dir / "live_eval.json").read_text())
    assert [e["step"] for e in resumed["evaluations"]] == [128, 256, 384, 512]
    assert resumed["evaluations"][:2] == killed["evaluations"][:2]  # restored from the checkpoint, not re-run
    assert baseline_runs == [] and resumed["baselines"] == killed["baselines"]

    # The live evaluation is timed on the wall clock, but training on the traces is exact all the same: the RNG
    # comes back after the live evaluation has built its pair (which draws random numbers), as in the reference.
    from stable_baselines3 import PPO
    from torch import equal

    monkeypatch.setattr(train_callbacks, "run_policy", run_policy)
    argv[argv.index("--runs-dir") + 1] = str(tmp_path / "reference")
    assert main(argv) == 0
    (reference_dir,) = (tmp_path / "reference").iterdir()
    weights = [PPO.load(folder / "model.zip").policy.state_dict() for folder in (run_dir, reference_dir)]
    assert all(equal(weights[0][name], weights[1][name]) for name in weights[1])


def test_learning_curve_draws_the_best_static_baseline_the_evaluations_logged(tmp_path, monkeypatch):
    """`train.plot`'s best fixed-k line is `policies.baselines.best_static` of the run's baselines (k = 0 as no-spec
    among them), the one the evaluations' speedup_vs_best_fixed_k divides by, and the verifier-alone line no-spec."""
    import matplotlib.axes
    from torch.utils.tensorboard import SummaryWriter

    from train.plot import plot

    writer = SummaryWriter(str(tmp_path / "tb"))
    writer.add_scalar("ebsd/eval/tokens_per_s", 10.0, 100)
    writer.close()
    drawn, axhline = [], matplotlib.axes.Axes.axhline
    monkeypatch.setattr(matplotlib.axes.Axes, "axhline",
                        lambda self, y=0, *args, **kwargs: drawn.append((y, kwargs.get("label")))
                        or axhline(self, y, *args, **kwargs))
    for verifier, best in ((9.5, (11.0, "best fixed-k (2)")), (13.0, (13.0, "best fixed-k (0)"))):
        baselines = {"no-spec": verifier, "fixed-k:k=0": 9.0, "fixed-k:k=2": 11.0, "fixed-k:k=4": 10.5}
        (tmp_path / "eval.json").write_text(json.dumps(
            {"baselines": {spec: {"tokens_per_s": rate} for spec, rate in baselines.items()}, "evaluations": []}))
        drawn.clear()
        plot(tmp_path, tmp_path / "curve.png")
        assert drawn == [best, (verifier, "verifier alone")]
