"""A multi-drafter PPO model as a `ppo:` policy (EBSD-Multi-v1 live and replayed) and `ebsd eval` on a multi pair."""

from __future__ import annotations

import json
import shutil

import gymnasium as gym
import pytest

import ebsd_env  # noqa: F401  (registers the env ids)
from ebsd_env.decoding.decoder import SpeculativeDecoder
from ebsd_env.decoding.models import derive_drafter
from ebsd_env.decoding.multi import multi_pair
from ebsd_env.fingerprint import FingerprintMismatch, check_artifact_fingerprint, env_fingerprint, read_zip
from ebsd_env.replay.multi import MultiReplayEnv, MultiTraceSet
from ebsd_env.replay.record import decoder_prompt, record_multi
from ebsd_env.timing.cost_model import CostModel
from ebsd_env.timing.multi_clock import MultiClock, load_multi_costs
from policies import make_policy
from policies.rollout import run_episode

ROWS = [{"id": f"p{i}", "category": c, "prompt": p} for i, (c, p) in enumerate(
    [("chat", "hello world, hello world, hello"), ("code", "abc abc abc abc"), ("chat", "the cat sat on the mat"),
     ("code", "def f(x): return x; def f(x): return x; def")])]
VERIFY = ((1, 1.0), (2, 1.125), (5, 1.5), (9, 2.0), (17, 3.0))
COSTS = [CostModel(draft_s=s, verify_points=VERIFY, source="toy") for s in (0.25, 0.375, 0.0625)]
NAMES = ["noisy", "int4", "ngram"]
BUDGET, MAX_K = 24, 5


def tiny_multi_pair(noisy_pair, order=(0, 1, 2)):
    drafters = [noisy_pair.drafter, derive_drafter(noisy_pair.verifier, "int4"),
                derive_drafter(noisy_pair.verifier, "ngram")]
    return multi_pair(noisy_pair, [drafters[i] for i in order], [NAMES[i] for i in order])


@pytest.fixture(scope="module")
def multi(noisy_pair):
    return tiny_multi_pair(noisy_pair)


@pytest.fixture(scope="module")
def trained(multi, tmp_path_factory):
    """A PPO model trained by `ebsd train ppo` on aligned multi traces of the tiny pair: (traces, model.zip)."""
    from train.ppo import main

    root = tmp_path_factory.mktemp("multi-ppo")
    traces = root / "traces"
    record_multi(multi, ROWS, traces, max_draft_len=MAX_K, max_new_tokens=BUDGET, shard_size=2,
                 calibrate_clock=False, progress=False)
    for folder, costs in zip(sorted(traces.glob("drafter-*")), COSTS, strict=True):
        costs.save(folder / "cost_model.json")
    runs = root / "runs"
    assert main(["--traces", str(traces), "--clock", "model", "--runs-dir", str(runs), "--no-progress-bar",
                 "--max-draft-len", str(MAX_K), "--max-new-tokens", str(BUDGET), "--total-timesteps", "2048",
                 "--num-envs", "8", "--n-steps", "64", "--batch-size", "128", "--n-epochs", "2",
                 "--eval-freq", "100000", "--seed", "3"]) == 0
    (run,) = runs.iterdir()
    return traces, run / "model.zip"


def live_env(pair, **kwargs):
    return gym.make("EBSD-Multi-v1", pair=pair, prompts=[r["prompt"] for r in ROWS], clock="model",
                    cost_model=kwargs.pop("cost_model", COSTS), max_new_tokens=BUDGET, max_draft_len=MAX_K, **kwargs)


def verifier_greedy(noisy_pair, prompt):
    return SpeculativeDecoder(noisy_pair).generate([{"role": "user", "content": prompt}], k=0,
                                                   max_new_tokens=BUDGET).token_ids


def test_multi_ppo_binds_and_runs_on_the_replay_and_the_live_multi_env(trained, multi, noisy_pair):
    traces, model = trained
    fingerprint = read_zip(model)
    assert fingerprint["multi"]["drafters"] == NAMES
    replay = MultiReplayEnv(MultiTraceSet.load(traces), cost_model=COSTS, max_draft_len=MAX_K)
    live = live_env(multi)
    # Trained on traces, bound live: the same drafters' hashes, observation entries and actions on both.
    assert env_fingerprint(replay)["pair"] == env_fingerprint(live)["pair"] == fingerprint["pair"]
    outputs = MultiTraceSet.load(traces).sets[0]
    for env, is_live in ((replay, False), (live, True)):
        policy = make_policy(f"ppo:{model}", env=env)
        for i, row in enumerate(ROWS):
            stats = run_episode(env, policy, options={"prompt_index": i})
            expected = verifier_greedy(noisy_pair, row["prompt"]) if is_live else outputs[i].output
            assert stats["output_ids"] == expected
        # The policy is the model: its action on an observation is the model's own.
        obs, _ = env.reset(options={"prompt_index": 0})
        assert policy.predict(obs)[0] == int(policy.model.predict(obs, deterministic=True)[0])


def one_line_refusal(error) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_mismatched_multi_model_is_refused_in_one_line(trained, multi, noisy_pair):
    _, model = trained
    spec = f"ppo:{model}"
    # Another order of the same drafters: actions 2 + i would pick other drafters.
    with pytest.raises(FingerprintMismatch) as error:
        make_policy(spec, env=live_env(tiny_multi_pair(noisy_pair, (1, 0, 2)),
                                       cost_model=[COSTS[1], COSTS[0], COSTS[2]]))
    assert "pair.drafter: 'int4+noisy+ngram' here vs 'noisy+int4+ngram'" in one_line_refusal(error)
    # Same pair, another acceptance decay: the per-drafter acceptance entries mean something else.
    with pytest.raises(FingerprintMismatch) as error:
        make_policy(spec, env=live_env(multi, acceptance_decay=0.9))
    assert "multi: acceptance_decay 0.9 here vs 0.5 (trained)" in one_line_refusal(error)
    # One drafter: an EBSD-v1 env of the first drafter alone.
    single = gym.make("EBSD-v1", pair=noisy_pair, prompts=["hi"], clock="model", cost_model=COSTS[0],
                      max_draft_len=MAX_K, max_new_tokens=BUDGET)
    with pytest.raises(FingerprintMismatch) as error:
        make_policy(spec, env=single)
    assert "the artifact chooses among drafters noisy+int4+ngram" in one_line_refusal(error)
    # allow_mismatch relaxes the pair, never the observations the model reads.
    with pytest.warns(UserWarning), pytest.raises(ValueError) as error:
        make_policy(spec + ",allow_mismatch=1", env=single)
    assert "bind it to an EBSD-Multi-v1 env" in one_line_refusal(error)
    with pytest.raises(ValueError) as error:
        make_policy(spec, layout=single.unwrapped.observation_layout)
    assert "chooses among drafters noisy+int4+ngram" in one_line_refusal(error)


def test_a_single_drafter_artifact_is_refused_on_a_multi_env(multi):
    """The reverse: an artifact of an EBSD-v1 env (no multi section) on EBSD-Multi-v1."""
    here = env_fingerprint(live_env(multi))
    single = {key: value for key, value in here.items() if key != "multi"}
    with pytest.raises(FingerprintMismatch) as error:
        check_artifact_fingerprint(single, here, "ppo:x.zip")
    assert "this env chooses among drafters noisy+int4+ngram, the artifact was trained with one drafter" in \
        one_line_refusal(error)
    check_artifact_fingerprint(here, here, "ppo:x.zip")  # and its own fingerprint binds


# ------------------------------------------------------------------------------------- ebsd eval on a multi pair
@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory, make_prompt_file):
    return make_prompt_file(tmp_path_factory.mktemp("prompts"), ROWS)


def eval_config(out, cost_model, policies, prompts, **kwargs):
    from eval.run import EvalConfig

    return EvalConfig(prompts=str(prompts), policies=policies, out=str(out), clock="model",
                      cost_model=cost_model and str(cost_model), limit_per_category=None, max_new_tokens=BUDGET,
                      max_draft_len=MAX_K, tensorboard=False, lossy_reference=False, **kwargs)


def test_eval_runs_multi_and_single_drafter_policies_side_by_side(trained, multi, noisy_pair, prompt_file,
                                                                  tmp_path):
    from eval.run import evaluate

    _, model = trained
    costs = tmp_path / "multi_costs.json"
    MultiClock("model", tuple(NAMES), tuple(COSTS)).save(costs)
    policies = ("multi-static:drafter=int4,k=4", "multi-cascade", f"ppo:{model}", "no-spec", "fixed-k:k=4")
    out = evaluate(eval_config(tmp_path / "run", costs, policies, prompt_file), pair=multi)
    summary = json.loads((out / "summary.json").read_text())
    (cond,) = summary["conditions"].values()
    assert set(cond["variants"]) == {"multi-static:drafter=int4,k=4", "multi-cascade", f"ppo:{model}", "no-spec",
                                     "fixed-k:k=4"}
    for variant in cond["variants"]:
        assert cond["results"][variant]["all"]["identical_to_verifier"] == 1.0, variant
    rows = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(rows) == len(ROWS) * len(policies)
    for row in rows:
        blocks = row["stats"]["drafter_blocks"]  # every policy ran on EBSD-Multi-v1
        assert row["stats"]["drafter_names"] == NAMES
        if row["variant"] == "fixed-k:k=4":  # a single-drafter rule drafts with drafter 0
            assert blocks[0] > 0 and blocks[1] == blocks[2] == 0
        if row["variant"].startswith("multi-static"):
            assert blocks[1] > 0 and blocks[0] == blocks[2] == 0
        if row["variant"] == "no-spec":  # the reference every output is compared with: the verifier alone's
            assert sum(blocks) == 0
            prompt = decoder_prompt(noisy_pair, next(p for p in ROWS if p["id"] == row["prompt_id"]))
            assert row["stats"]["output_ids"] == SpeculativeDecoder(noisy_pair).generate(
                prompt, k=0, max_new_tokens=BUDGET).token_ids
    # The run keeps one calibration per drafter in OUT; a rerun with the same --out and no --cost-model resumes
    # on it (a calibration would give other costs): nothing to decode again, the same summary.
    assert load_multi_costs(out / "cost_model_T0.multi.json", NAMES) == tuple(COSTS)
    # The run's metadata records every drafter's cost model by name, not only drafter 0's (the verifier clock's).
    (condition,) = summary["meta"]["cost_models"]  # keyed by the run's one condition, as cost_models is
    assert summary["meta"]["drafter_cost_models"] == {condition: {n: c.to_dict()
                                                                  for n, c in zip(NAMES, COSTS, strict=True)}}
    assert summary["meta"]["cost_models"][condition]["draft_s"] == COSTS[0].draft_s  # the verifier clock's
    again = evaluate(eval_config(tmp_path / "run", None, policies, prompt_file), pair=multi)
    assert json.loads((again / "summary.json").read_text())["conditions"] == summary["conditions"]


def test_eval_refuses_multi_policies_and_settings_in_one_line(trained, noisy_pair, prompt_file, tmp_path):
    from eval.run import EvalConfig, evaluate, validate

    _, model = trained
    single_costs = tmp_path / "single.json"
    COSTS[0].save(single_costs)
    with pytest.raises(ValueError) as error:
        evaluate(eval_config(tmp_path / "run", single_costs, (f"ppo:{model}", "fixed-k:k=4"), prompt_file),
                 pair=noisy_pair)
    assert "made for EBSD-Multi-v1" in one_line_refusal(error)
    assert not (tmp_path / "run").exists()  # refused before any episode: nothing left behind
    with pytest.raises(ValueError) as error:
        validate(EvalConfig(drafter="int4+ngram", min_draft_len=1))
    assert "EBSD-Multi-v1 (--drafter int4+ngram) has no draft floor" in one_line_refusal(error)
    with pytest.raises(ValueError) as error:
        validate(EvalConfig(drafter="int4+ngram", cost_model=str(single_costs)))
    assert "needs the file MultiClock.save writes" in one_line_refusal(error)
    shutil.rmtree(tmp_path / "run", ignore_errors=True)


def test_eval_of_a_multi_pair_uses_the_prompts_its_trained_drafters_held_out(noisy_pair):
    """`ebsd eval` evaluates a distilled drafter on its held-out prompts; in a multi pair, on those every trained
    drafter among its drafters held out (here two stand-ins carrying held-out ids, and a third carrying none)."""
    from ebsd_env.prompts import drafter_heldout_ids

    first, second, plain = (derive_drafter(noisy_pair.verifier, "ngram") for _ in range(3))
    first.metadata = {"heldout_prompt_ids": ["a", "b", "c"]}
    second.metadata = {"heldout_prompt_ids": ["b", "c", "d"]}
    pair = multi_pair(noisy_pair, [plain, first, second], ["plain", "first", "second"])
    assert drafter_heldout_ids(pair) == {"b", "c"}
    assert drafter_heldout_ids(multi_pair(noisy_pair, [plain, first], ["plain", "first"])) == {"a", "b", "c"}
    assert drafter_heldout_ids(tiny_multi_pair(noisy_pair)) == set()


def test_ppo_on_multi_traces_evaluates_live_on_the_multi_env(trained, multi, noisy_pair, tmp_path, monkeypatch,
                                                             capsys):
    """`ebsd train ppo --traces MULTI --live-eval-freq N` evaluates the policy every N steps on EBSD-Multi-v1 over
    the loaded '+'-joined pair, on the wall clock, with the held-in traces' prompts (``live_eval.json``,
    TensorBoard ``ebsd/live/``); a one-drafter pair is refused in one line; without the flag it says so."""
    import train.ppo as ppo
    from train import callbacks

    traces, _ = trained
    argv = ["--traces", str(traces), "--clock", "model", "--no-progress-bar", "--max-draft-len", str(MAX_K),
            "--max-new-tokens", str(BUDGET), "--num-envs", "4", "--n-steps", "32", "--batch-size", "64",
            "--n-epochs", "1", "--eval-freq", "0", "--seed", "3", "--total-timesteps", "256"]
    monkeypatch.setattr(ppo, "load_pair_from_args", lambda config: noisy_pair)
    with pytest.raises(ValueError) as error:
        ppo.main(argv + ["--runs-dir", str(tmp_path / "refused"), "--live-eval-freq", "128"])
    assert (f"the loaded pair has the one drafter {noisy_pair.drafter_name!r}: give the recording's --drafter "
            "noisy+int4+ngram") in one_line_refusal(error)
    assert not (tmp_path / "refused").exists()

    monkeypatch.setattr(ppo, "load_pair_from_args", lambda config: multi)
    envs = []
    run_policy = callbacks.run_policy

    def recording_run_policy(env, policy, *args, **kwargs):
        envs.append((env.unwrapped.__class__.__name__, env.unwrapped.clock_kind, env.unwrapped.prompts))
        return run_policy(env, policy, *args, **kwargs)

    monkeypatch.setattr(callbacks, "run_policy", recording_run_policy)
    assert ppo.main(argv + ["--runs-dir", str(tmp_path / "runs"), "--live-eval-freq", "128",
                            "--live-fixed-ks", "1", "2"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    live = json.loads((run / "live_eval.json").read_text())
    assert [e["step"] for e in live["evaluations"]] == [128, 256]
    assert set(live["baselines"]) == {"no-spec", "fixed-k:k=1", "fixed-k:k=2"}
    assert all(e["tokens_per_s"] > 0 and e["speedup_vs_verifier"] > 0 for e in live["evaluations"])
    assert len(envs) == 5 and {(name, clock) for name, clock, _ in envs} == {("MultiEnv", "wall")}
    recorded = MultiTraceSet.load(traces).rows(with_ids=True)  # the traces' own prompt tokens, decoded live
    assert [p.get("prompt_ids") for p in envs[0][2]] == [r["prompt_ids"] for r in recorded]
    (progress,) = (run / "tb").glob("progress*.csv")
    assert "ebsd/live/tokens_per_s" in progress.read_text().splitlines()[0]

    capsys.readouterr()
    assert ppo.main(argv + ["--runs-dir", str(tmp_path / "default")]) == 0
    assert "no live evaluation unless --live-eval-freq N is given" in capsys.readouterr().out
    (run,) = (tmp_path / "default").iterdir()
    assert not (run / "live_eval.json").exists()


def test_default_like_eval_ranks_both_kinds_and_keeps_the_single_drafter_numbers(trained, multi, noisy_pair,
                                                                                  prompt_file, tmp_path):
    """The default `ebsd eval` on a tiny stand-in of int4+feature+ngram: the single-drafter default policies draft
    with drafter 0 exactly as on drafter 0's own pair (same blocks, same outputs, same model-clock numbers), the
    multi-drafter ones choose per block, every greedy output is the verifier's, and the report ranks both kinds
    and names each policy's drafter(s)."""
    from eval.run import DEFAULT_POLICIES, evaluate

    _, model = trained
    multi_costs, single_costs = tmp_path / "multi.json", tmp_path / "single.json"
    MultiClock("model", tuple(NAMES), tuple(COSTS)).save(multi_costs)
    COSTS[0].save(single_costs)
    choosers = ("multi-cascade", f"ppo:{model}")
    both = evaluate(eval_config(tmp_path / "both", multi_costs, DEFAULT_POLICIES + choosers, prompt_file), pair=multi)
    alone = evaluate(eval_config(tmp_path / "alone", single_costs, DEFAULT_POLICIES, prompt_file), pair=noisy_pair)
    rows = {}
    for name, out in (("both", both), ("alone", alone)):
        for line in (out / "episodes.jsonl").read_text().splitlines():
            row = json.loads(line)
            rows[name, row["variant"], row["prompt_id"]] = row
    assert {v for n, v, _ in rows if n == "both"} == set(DEFAULT_POLICIES + choosers)
    for (name, variant, prompt_id), row in rows.items():
        if name == "alone":
            continue
        assert row["chooses_drafter"] == (variant in choosers), variant
        if variant in DEFAULT_POLICIES:
            blocks = row["stats"]["drafter_blocks"]
            assert blocks[1] == blocks[2] == 0, variant  # drafter 0 only, as on its own pair
            same = rows["alone", variant, prompt_id]
            assert [(b["drafted"], b["accepted"], b["emitted"]) for b in row["blocks"]] == [
                (b["drafted"], b["accepted"], b["emitted"]) for b in same["blocks"]], variant
            assert row["stats"]["output_ids"] == same["stats"]["output_ids"]
            # The model clock charges drafter 0's drafting and the verifier exactly as on its own pair (a rule's
            # decisions are measured, so they differ by timing noise: left out).
            assert [b[key] for b in row["blocks"] for key in ("draft_s", "verify_s")] == pytest.approx(
                [b[key] for b in same["blocks"] for key in ("draft_s", "verify_s")]), variant
    (cond,) = json.loads((both / "summary.json").read_text())["conditions"].values()
    for variant in cond["variants"]:
        assert cond["results"][variant]["all"]["identical_to_verifier"] == 1.0, variant
    assert cond["chooses_drafter"] == {v: v in choosers for v in cond["variants"]}
    assert cond["chosen_ebsd"] in DEFAULT_POLICIES  # the hypotheses stay about stopping with one drafter
    from eval.analysis import summarize

    marked = [{**row, "chooses_drafter": row["chooses_drafter"] or row["variant"] == cond["chosen_ebsd"]}
              for (name, _, _), row in rows.items() if name == "both"]
    (again,) = summarize(marked, {})["conditions"].values()  # had the chosen one picked drafters, another is chosen
    assert again["chosen_ebsd"] not in (cond["chosen_ebsd"], *choosers)
    assert cond["drafter_blocks"]["fixed-k:k=4"]["noisy"] > 0 and sum(cond["drafter_blocks"]["no-spec"].values()) == 0
    report = (both / "report.md").read_text()
    assert "| policy | family | drafters |" in report
    assert "| no-spec | verifier | none (verifier alone) |" in report
    assert "| fixed-k:k=4 | fixed-k | noisy |" in report
    assert "| multi-cascade | ebsd | chooses per block: " in report
    line = next(text for text in report.splitlines() if "fastest non-privileged policy" in text)
    assert "Best of each kind: single-drafter `" in line and "; multi-drafter `" in line
    assert "(chooses per block: " in line.split("; multi-drafter", 1)[1]
    # A one-drafter run's report stays as it was: no drafters column, no kinds.
    report = (alone / "report.md").read_text()
    assert "| policy | family | tokens/s" in report and "Best of each kind" not in report
