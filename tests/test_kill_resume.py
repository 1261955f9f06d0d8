"""Kill anywhere, rerun, get the reference: `ebsd record` and `ebsd eval` interrupted in the middle (a
KeyboardInterrupt injected at the N-th prompt / episode, which is where Ctrl-C or a kill lands) and rerun with the
same output folder end with exactly what an uninterrupted run writes: nothing lost, nothing duplicated.

`ebsd train ppo` on traces, `ebsd tune` and `ebsd distill` killed and rerun end as the uninterrupted run too (PPO:
the same weights to the bit; live PPO resumes, not exactly: tests/test_train_ppo.py).
(tune's trials and distill's stages have more interrupted-run tests: tests/test_tune.py, tests/test_distill.py.)"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_eval import POLICIES, PROMPTS, small_config

# Row fields measured by the wall clock (they differ between any two runs): the episode's wall time, the row's
# timestamp and the `wall_*` statistics. Everything else is deterministic under the model clock and must be equal.
WALL_FIELDS = ("episode_wall_s", "time")


class Interrupt:
    """Wraps `function`: its `at`-th call raises KeyboardInterrupt instead of running (a kill at that point)."""

    def __init__(self, function, at: int):
        self.function, self.at, self.calls = function, at, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.function(*args, **kwargs)


RECORD_ARGS = dict(max_draft_len=4, max_new_tokens=12, shard_size=1, progress=False, calibrate_clock=False)


@pytest.mark.parametrize("at", [1, 3, 4])
def test_record_killed_at_a_prompt_resumes_to_byte_equal_shards(noisy_pair, tmp_path, monkeypatch, at):
    import ebsd_env.replay.record as module

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    module.record(noisy_pair, PROMPTS, reference, **RECORD_ARGS)
    monkeypatch.setattr(module, "record_trace", Interrupt(module.record_trace, at))
    with pytest.raises(KeyboardInterrupt):
        module.record(noisy_pair, PROMPTS, resumed, **RECORD_ARGS)
    monkeypatch.undo()
    module.record(noisy_pair, PROMPTS, resumed, **RECORD_ARGS)
    names = sorted(path.name for path in reference.iterdir())
    assert sorted(path.name for path in resumed.iterdir()) == names  # no temporary file left, no shard missing
    for name in names:
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name


def deterministic(row: dict) -> dict:
    stats = {key: value for key, value in row["stats"].items() if not key.startswith("wall_")}
    return {**{key: value for key, value in row.items() if key not in WALL_FIELDS}, "stats": stats}


@pytest.fixture
def prompt_file(tmp_path, make_prompt_file):
    return make_prompt_file(tmp_path, PROMPTS)


def toy_costs(pair, path, specs=("no-spec", *POLICIES)) -> str:
    """A model clock for the tiny pair with the decision cost of `specs` given (a calibration or a decision-cost
    measurement on a shared CPU differs between two runs; given, two runs charge the same seconds)."""
    from ebsd_env.timing.cost_model import CostModel, fingerprint
    from policies.registry import make_policy

    CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14), (17, 0.18)), source="toy",
              fingerprint=fingerprint(pair), decide_s={make_policy(spec).spec: 1e-4 for spec in specs}).save(path)
    return str(path)


def eval_twice(pair, prompt_file, tmp_path, monkeypatch, at, costs):
    """An uninterrupted reference run, and a run killed at its `at`-th episode then rerun: their episode rows."""
    import policies.rollout as rollout
    from eval.run import evaluate

    def run(out):
        config = small_config(prompt_file, out, tensorboard=False, lossy_reference=False, cost_model=costs)
        evaluate(config, pair=pair)
        return [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]

    rows = run(tmp_path / "reference")
    # `evaluate` imports run_episode when it starts: patched in its module, the `at`-th episode is killed
    monkeypatch.setattr(rollout, "run_episode", Interrupt(rollout.run_episode, at))
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed")
    monkeypatch.setattr(rollout, "run_episode", rollout.run_episode.function)
    return rows, run(tmp_path / "resumed")


@pytest.mark.parametrize("at", [1, 5, 12])
def test_eval_killed_at_an_episode_resumes_to_the_reference_rows(noisy_pair, tmp_path, prompt_file, monkeypatch, at):
    costs = toy_costs(noisy_pair, tmp_path / "cost_model.json")
    rows, again = eval_twice(noisy_pair, prompt_file, tmp_path, monkeypatch, at, costs)
    assert len(rows) == 12
    assert [row["key"] for row in again] == [row["key"] for row in rows]  # none lost, none twice, same order
    assert [deterministic(row) for row in again] == [deterministic(row) for row in rows]


@pytest.mark.parametrize("at", [2, 9])
def test_a_resumed_eval_charges_the_decision_cost_it_measured_before_the_kill(noisy_pair, tmp_path, prompt_file,
                                                                              monkeypatch, at):
    """--cost-model without a policy's decision cost: the run measures it once and keeps it in OUT; a rerun after
    a kill charges that same measurement, not a new one (a second measurement differs on any real CPU)."""
    import policies.rollout as rollout

    measured = []

    def decision_cost(env, policy, **_):  # a measurement that differs every time, as a real one does
        measured.append(policy.spec)
        return 1e-4 * (len(measured) + 1)

    monkeypatch.setattr(rollout, "decision_cost", decision_cost)
    costs = toy_costs(noisy_pair, tmp_path / "cost_model.json", specs=("no-spec",))
    _, again = eval_twice(noisy_pair, prompt_file, tmp_path, monkeypatch, at, costs)
    assert len(again) == 12
    assert len(measured) == 4  # two policies measured in the reference run, each once in the killed and rerun one
    saved = json.loads((tmp_path / "resumed" / "cost_model_T0.json").read_text())["decide_s"]
    assert sorted(saved) == sorted({"no-spec", *measured})


def test_record_killed_while_writing_a_shard_leaves_nothing_behind_after_the_rerun(noisy_pair, tmp_path,
                                                                                   monkeypatch):
    """SIGKILL between a shard's temporary file and its rename: no cleanup runs (simulated by an unlink that
    does nothing); the rerun records that shard and removes the orphaned temporary file."""
    import ebsd_env.io as io
    import ebsd_env.replay.record as module

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    module.record(noisy_pair, PROMPTS, reference, **RECORD_ARGS)
    renames = Interrupt(io.os.replace, 3)
    monkeypatch.setattr(io.os, "replace", renames)
    monkeypatch.setattr(io.os, "unlink", lambda path: None)  # a killed process cleans nothing up
    with pytest.raises(KeyboardInterrupt):
        module.record(noisy_pair, PROMPTS, resumed, **RECORD_ARGS)
    monkeypatch.undo()
    assert [path.name for path in resumed.glob(".shard-*.tmp")], "the simulated kill left no temporary file"
    module.record(noisy_pair, PROMPTS, resumed, **RECORD_ARGS)
    names = sorted(path.name for path in reference.iterdir())
    assert sorted(path.name for path in resumed.iterdir()) == names
    for name in names:
        assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name


# Progress-CSV columns that differ between any two runs (wall time) or restart with each session (SB3 counts
# iterations within one `learn` call).
SESSION_COLUMNS = ("time/fps", "time/time_elapsed", "time/iterations")
ROLLOUT = 128  # steps of a rollout in `ppo_runs` (64 steps x 2 envs); a checkpoint at the start of each


@dataclass
class PPORun:
    """What a finished `ebsd train ppo` run leaves that no kill may change: the final and the best model's
    weights, eval.json, best_model.json and record.json (but its wall time and run name), and the rows of each session's
    progress CSV by the session's first step (`tb/progress_<step>.csv`)."""

    weights: dict
    best_weights: dict
    files: dict
    progress: dict[int, list[dict]]


def progress_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{key: value for key, value in row.items() if value != "" and key not in SESSION_COLUMNS}
                for row in csv.DictReader(f)]


@pytest.fixture
def ppo_runs(noisy_pair, tmp_path, monkeypatch):
    """`ebsd train ppo --traces` (model clock: deterministic; 512 steps, a checkpoint every rollout of 128, an
    evaluation every 128 steps): runs it under `runs`, killed inside a rollout once it reaches each step of `kills`
    in turn (a KeyboardInterrupt in a step callback, where Ctrl-C or a kill lands) and resumed after each kill."""
    from stable_baselines3 import PPO

    from ebsd_env.replay.record import record
    from ebsd_env.timing.cost_model import CostModel
    from train import callbacks
    from train.ppo import main

    traces = tmp_path / "traces"
    record(noisy_pair, PROMPTS, traces, max_draft_len=8, max_new_tokens=24, progress=False, calibrate_clock=False)
    CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14)), source="toy").save(
        traces / "cost_model.json")
    original = callbacks.EpisodeMetricsCallback._on_step

    def run(runs: str, kills: Sequence[int] = (), *flags: str) -> PPORun:
        argv = ["--traces", str(traces), "--clock", "model", "--num-envs", "2", "--n-steps", "64", "--batch-size",
                "64", "--n-epochs", "1", "--max-new-tokens", "24", "--max-draft-len", "8", "--runs-dir",
                str(tmp_path / runs), "--no-progress-bar", "--eval-freq", "128", "--fixed-ks", "1", "2",
                "--live-eval-freq", "0", "--checkpoint-freq", "128", "--total-timesteps", "512", "--seed", "3", *flags]
        folder = None
        for kill_at in kills:
            def killed(self, kill_at=kill_at):
                if self.num_timesteps >= kill_at:
                    raise KeyboardInterrupt
                return original(self)

            monkeypatch.setattr(callbacks.EpisodeMetricsCallback, "_on_step", killed)
            assert main(argv if folder is None else ["--resume", str(folder), "--no-progress-bar"]) == 130
            monkeypatch.setattr(callbacks.EpisodeMetricsCallback, "_on_step", original)
            (folder,) = (tmp_path / runs).iterdir()
            checkpoint = json.loads((folder / "checkpoints" / "latest.json").read_text())["step"]
            assert checkpoint == (kill_at - 1) // ROLLOUT * ROLLOUT  # the start of the rollout killed
        assert main(argv if folder is None else ["--resume", str(folder), "--no-progress-bar"]) == 0
        (folder,) = (tmp_path / runs).iterdir()
        assert json.loads((folder / "checkpoints" / "latest.json").read_text())["step"] == 512
        record_json = json.loads((folder / "record.json").read_text())
        assert record_json.pop("steps") == 512 and record_json.pop("wall_s") > 0
        assert record_json.pop("run") == folder.name  # named after the time it began
        files = {name: json.loads((folder / name).read_text()) for name in ("eval.json", "best_model.json")}
        progress = {int(path.stem.split("_")[1]): progress_rows(path) for path in (folder / "tb").glob("progress_*")}
        return PPORun(PPO.load(folder / "checkpoints" / "step_512" / "model.zip").policy.state_dict(),
                      PPO.load(folder / "best_model.zip").policy.state_dict(), files | {"record.json": record_json},
                      progress)

    return run


def same_weights(first: dict, second: dict) -> bool:
    import torch

    return first.keys() == second.keys() and all(torch.equal(first[name], second[name]) for name in first)


@pytest.mark.parametrize("kills, flags", [((384,), ()), ((200,), ("--normalize-reward",)), ((130, 420), ())],
                         ids=["at-a-rollout-end", "mid-rollout-normalized", "twice"])
def test_ppo_killed_mid_run_resumes_to_the_reference_run(ppo_runs, kills, flags):
    """PPO on traces killed (once, or again after its resume) and resumed from its checkpoints ends as the
    uninterrupted run: the same final and best weights to the bit, the same evaluations and record; and its
    sessions' progress CSVs, one after the other, hold the reference's rows (none lost, none twice), each named
    after the step its session began at."""
    reference, resumed = ppo_runs("reference", (), *flags), ppo_runs("resumed", kills, *flags)
    assert same_weights(resumed.weights, reference.weights)
    assert same_weights(resumed.best_weights, reference.best_weights)
    assert resumed.files == reference.files
    assert len(reference.files["eval.json"]["evaluations"]) == 4
    assert sorted(resumed.progress) == [0, *((kill - 1) // ROLLOUT * ROLLOUT for kill in kills)]
    assert [row for step in sorted(resumed.progress) for row in resumed.progress[step]] == reference.progress[0]


def test_ppo_resume_of_a_checkpoint_without_the_episodes_in_flight_starts_fresh_ones(ppo_runs, monkeypatch, capsys):
    """A checkpoint written before checkpoints kept the episodes in flight still resumes (fresh episodes seeded by
    the step count, as such runs always did), all 512 steps, with a note that the resume is not exact."""
    from train import callbacks

    load = callbacks.load_checkpoint_state

    def older(checkpoint):  # the state.pkl of an older checkpoint: no "episodes"
        return {key: value for key, value in load(checkpoint).items() if key != "episodes"}

    monkeypatch.setattr(callbacks, "load_checkpoint_state", older)
    ppo_runs("older", (200,))
    assert "predates checkpoints that keep the episodes in flight" in capsys.readouterr().out


def test_tune_killed_mid_trial_resumes_to_the_reference_trials(tmp_path, prompt_file, monkeypatch):
    """A grid study (model clock, fixed costs) killed inside its second trial (a BaseException optuna does not
    catch, as SIGKILL) and rerun: its complete trials are the reference's, spec for spec and value for value,
    and the best configuration is the same."""
    import optuna

    from ebsd_env.timing.cost_model import CostModel
    from tests.test_tune import Killed, completed, tiny_tune
    from train import tune as tune_module

    costs = tmp_path / "costs.json"
    CostModel(draft_s=0.025, verify_points=((1, 0.1), (2, 0.105), (9, 0.14)), source="toy").save(costs)

    def study(name):
        folder = tmp_path / name
        folder.mkdir()
        return tiny_tune(folder, prompt_file, method="grid", budget=0, scope="overall", cost_model=str(costs))

    def trials(config) -> dict:
        (summary,) = optuna.get_all_study_summaries(f"sqlite:///{config.storage}")
        return {t.user_attrs["spec"]: t.values for t in completed(config.storage, summary.study_name)}

    reference = study("reference")
    best = tune_module.tune(reference)
    evaluate, calls = tune_module.Evaluator.__call__, []

    def killed_in_the_second_trial(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Killed
        return evaluate(self, *args, **kwargs)

    resumed = study("resumed")
    monkeypatch.setattr(tune_module.Evaluator, "__call__", killed_in_the_second_trial)
    with pytest.raises(Killed):
        tune_module.tune(resumed)
    monkeypatch.undo()
    again = tune_module.tune(resumed)
    assert trials(resumed) == trials(reference)
    assert len(trials(reference)) == 3
    assert again["overall"]["trials"] == best["overall"]["trials"] == 3
    assert again["overall"]["spec"] == best["overall"]["spec"]


def test_distill_killed_mid_training_resumes_to_the_reference_drafter(tmp_path, monkeypatch):
    """`ebsd distill --tiny` killed at its 5th optimiser step (after the checkpoint at step 3) and rerun: the
    drafter it exports has the reference's weights, and the evaluations are the reference's steps, none twice."""
    import torch

    from train.drafter import distill

    args = ["--tiny", "--num-layers", "1", "--heldout-per-category", "1", "--max-new-tokens", "12",
            "--gen-batch-size", "4", "--batch-size", "4", "--eval-every", "2", "--checkpoint-every", "3",
            "--learning-rate", "3e-3", "--steps", "8"]
    assert distill.main([*args, "--out", str(tmp_path / "reference")]) == 0
    step, calls = torch.optim.AdamW.step, []

    def killed_at_the_fifth_step(self, *more, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return step(self, *more, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", killed_at_the_fifth_step)
    with pytest.raises(KeyboardInterrupt):
        distill.main([*args, "--out", str(tmp_path / "resumed")])
    monkeypatch.undo()
    assert torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)["step"] == 3
    assert distill.main([*args, "--out", str(tmp_path / "resumed")]) == 0
    states = [torch.load(tmp_path / name / "checkpoint.pt", weights_only=False) for name in ("reference", "resumed")]
    assert states[0]["step"] == states[1]["step"] == 8
    assert [h["step"] for h in states[1]["history"]] == [h["step"] for h in states[0]["history"]]
    assert states[0]["model"].keys() == states[1]["model"].keys()
    different = [name for name in states[0]["model"]
                 if not torch.equal(states[0]["model"][name], states[1]["model"][name])]
    assert not different, f"the resumed drafter's weights differ from the reference's: {different}"
