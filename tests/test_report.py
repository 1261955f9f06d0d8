"""What a reader of `report.md` sees, on a tiny-pair run of the default policies (model clock): the headline
names the fastest policy one can deploy and the oracle apart as an upper bound; the machine stated once; every
success criterion with its rule; a colour of its own per policy; the lossy reference apart, never ranked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.colors
import pytest

from eval.analysis import summarize
from eval.metrics import privileged
from eval.plots import plot_tokens_per_s, policy_colours
from eval.report import machine_line, summary_line, write_report
from eval.run import DEFAULT_POLICIES, EvalConfig, evaluate, read_rows

PROMPTS = [
    {"id": "a1", "category": "alpha", "prompt": "the quick brown fox jumps"},
    {"id": "a2", "category": "alpha", "prompt": "hello world. how are you?"},
    {"id": "b1", "category": "beta", "prompt": "count 1 2 3 4 5 6 7 8"},
    {"id": "b2", "category": "beta", "prompt": "abc abc abc abc abc"},
]
LOSSY = {"label": "int4 alone (lossy: not the verifier's output)", "tokens_per_s": 123.4,
         "end_to_end_tokens_per_s": 110.0, "verifier_tokens_per_s": 80.0, "speedup": 1.5425, "agreement": 0.9731,
         "identical_share": 0.5, "prompts": 4, "max_new_tokens": 16}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, make_prompt_file, noisy_pair):
    """The default policy set (11 with no-spec, the oracle among them) on the noisy tiny pair."""
    prompts = make_prompt_file(tmp_path_factory.mktemp("prompts"), PROMPTS)
    out = tmp_path_factory.mktemp("report") / "run"
    # The model clock charges every policy's measured decision cost (the oracle's: nothing, see charge_decisions).
    evaluate(EvalConfig(prompts=prompts, policies=DEFAULT_POLICIES, max_new_tokens=16, clock="model",
                        out=str(out), limit_per_category=None, tensorboard=False), pair=noisy_pair)
    summary = json.loads((out / "summary.json").read_text())
    return out, summary, summary["conditions"]["T=0,new=16"]


def _tokens_per_s(cond: dict, variant: str) -> float:
    return cond["results"][variant]["all"]["tokens_per_s"]["mean"]


def test_privileged_reads_the_oracles_and_policies_built_on_them():
    assert privileged("oracle-first-reject") and privileged("oracle-dp") and privileged("oracle")
    assert privileged("combined:mode=any,rules=[entropy-abs:theta=1.0;oracle-first-reject:max=8] @ stop_mode=exclude")
    assert privileged("safe:inner=[oracle-dp]") and privileged("safe:[oracle-first-reject]")
    for spec in ("no-spec", "fixed-k:k=4", "svip", "combined", "ucb", "safe:inner=[svip]", "ppo:model.zip"):
        assert not privileged(spec), spec


def _with_oracle_fastest(cond: dict) -> dict:
    """The condition with the oracle's overall rate raised above every other policy's: on a tiny pair the oracle's
    rank depends on the calibrated costs of the machine, and the headline must be right when it is first."""
    results = json.loads(json.dumps(cond["results"]))
    top = max(_tokens_per_s(cond, v) for v in cond["variants"])
    results["oracle-first-reject"]["all"]["tokens_per_s"]["mean"] = 10 * top
    return {**cond, "results": results}


def test_headline_names_the_fastest_non_privileged_policy_and_the_oracle_as_an_upper_bound(default_run):
    out, summary, cond = default_run
    assert cond["privileged"] == {v: v == "oracle-first-reject" for v in cond["variants"]}
    fair = [v for v in cond["variants"] if v != "oracle-first-reject"]
    best = max(fair, key=lambda v: _tokens_per_s(cond, v))
    report = (out / "report.md").read_text().splitlines()
    for condition, headline in ((cond, report[2]), (_with_oracle_fastest(cond), None)):
        line = summary_line("T=0,new=16", condition)
        assert headline is None or headline == line
        assert line.startswith(f"**T=0,new=16:** fastest non-privileged policy `{best}` at "
                               f"{_tokens_per_s(condition, best):.1f} tokens/s"), line
        fastest, bound = line.split(" Upper bound")
        assert "oracle" not in fastest and "(10 policies ranked" in fastest
        assert bound.startswith(", not a deployable policy: the privileged `oracle-first-reject`")
        assert f"reached {_tokens_per_s(condition, 'oracle-first-reject'):.1f} tokens/s" in bound
    # A summary written before the flag was stored: the same line, the flag read from the labels.
    assert summary_line("T=0,new=16", {k: v for k, v in cond.items() if k != "privileged"}) == report[2]
    table_row = next(line for line in report if line.startswith("| oracle-first-reject |"))
    assert "| oracle (privileged: upper bound) |" in table_row


def test_a_run_of_oracles_only_has_no_fastest_policy_but_its_upper_bound(default_run):
    _, _, cond = default_run
    only = {**cond, "variants": ["oracle-first-reject"]}
    line = summary_line("x", only)
    assert line.startswith("**x:** no non-privileged policy finished an episode. Upper bound")


def test_the_machine_is_stated_once_and_consistently(default_run):
    out, summary, _ = default_run
    meta, report = summary["meta"], (out / "report.md").read_text()
    machine = meta["machine"]
    lines = [line for line in report.splitlines() if re.search(r"\b(CPUs?|cores?|torch threads?)\b", line)]
    assert lines == [machine_line(meta)], lines  # one line names CPUs, cores and threads
    assert lines[0].startswith(f"- Machine: {machine['cpu']}, {machine['cores']} core")
    assert f"{machine['threads']} torch thread" in lines[0]
    # Affinity narrower than the machine (the "2 CPUs" beside "1 cores"): both counts, in one sentence.
    narrow = {"cpu_count": 2, "torch_threads": 1, "machine": {"cpu": "AMD EPYC 7B13", "cores": 1, "threads": 1,
                                                              "load_1min": 0.5}, "machine_after": {"load_1min": 0.7}}
    assert machine_line(narrow) == ("- Machine: AMD EPYC 7B13, 1 core available to this run (of the machine's 2), "
                                    "1 torch thread; 1-minute load 0.50 before the episodes, 0.70 after")
    # A summary written before the machine was recorded: the counts it has, no load.
    assert machine_line({"cpu_count": 4, "torch_threads": 2}) == ("- Machine: CPU model not recorded, 4 cores "
                                                                  "available to this run, 2 torch threads")


def test_every_success_criterion_states_its_rule(default_run):
    out, _, cond = default_run
    report = (out / "report.md").read_text()
    assert "| criterion | rule | met | figures |" in report
    for criterion in cond["success_criteria"]:
        assert criterion["rule"].startswith("met if "), criterion
        assert f"| {criterion['criterion']} | {criterion['rule']} |" in report
    speed, acceptance = cond["success_criteria"][:2]
    assert "in at least 50% of the categories (here >= 1 of 2)" in speed["rule"]
    assert "in every category (here 2 of 2)" in acceptance["rule"]


def _rows(categories: int, winning: int) -> list[dict]:
    """Hand-made rows: an entropy rule 1.2x the fixed-k in `winning` of `categories` categories, 1.0x elsewhere."""
    rows = []
    for i in range(categories):
        for variant, speed in (("no-spec", 10.0), ("fixed-k:k=2", 10.0),
                               ("entropy-abs:theta=1.5", 12.0 if i < winning else 10.0)):
            for p in range(2):
                stats = {"new_tokens": 10, "decode_s": 10 / speed, "blocks": 4, "drafted": 8, "accepted": 4,
                         "draft_lengths": [2] * 4, "output_ids": [1, 2]}
                rows.append({"key": f"{variant}|{i}|{p}", "variant": variant, "family": "x", "category": f"c{i}",
                             "prompt_id": f"c{i}-{p}", "seed": 0, "temperature": 0.0, "max_new_tokens": 10,
                             "stats": stats, "blocks": [], "verifier_nll": None})
    for row in rows:
        row["family"] = {"no-spec": "verifier", "fixed-k:k=2": "fixed-k"}.get(row["variant"], "ebsd")
    return rows


@pytest.mark.parametrize(("winning", "met"), [(3, False), (4, True)])
def test_the_speed_rule_states_the_count_that_decides(winning, met):
    cond = summarize(_rows(7, winning), {})["conditions"]["T=0,new=10"]
    speed = cond["success_criteria"][0]
    assert speed["met"] is met and f">=1.10x in {winning}/7 categories" in speed["figures"]
    assert speed["rule"] == ("met if the chosen EBSD policy's paired ratio to the category's best fixed-k is >= 1.10x "
                             "in at least 50% of the categories (here >= 4 of 7)")


def test_every_policy_gets_a_colour_of_its_own(default_run, tmp_path):
    _, _, cond = default_run
    assert len(cond["variants"]) == 11 and {"combined", "svip"} <= set(cond["variants"])
    drawn = plot_tokens_per_s({**cond, "label": "x"}, tmp_path / "tps.png")
    assert set(drawn) == set(cond["variants"])
    assert len(set(drawn.values())) == len(drawn), drawn  # read back from the bars as drawn
    assert drawn["combined"] != drawn["svip"]
    # Stable: the same policy, the same colour, whatever the other policies' order or speeds.
    colours = policy_colours(cond["variants"])
    assert policy_colours(list(reversed(cond["variants"]))) == colours
    assert all(matplotlib.colors.same_color(drawn[v], colours[v][:3]) for v in drawn)
    for n in (1, 11, 20, 50, 51, 80):
        assert len(set(policy_colours([f"p{i}" for i in range(n)]).values())) == n, n


def test_the_run_states_the_verification_cost_curve_it_measured(default_run):
    from eval.metrics import verification_curve

    wide = [{"drafted": 2, "verify_s": s} for s in (2.0, 2.5, 9.0, 3.0)]
    rows = [{"blocks": [{"drafted": 0, "verify_s": s} for s in (1.0, 3.0, 2.0)]},
            {"blocks": [*wide, {"drafted": 5, "verify_s": 4.0}]}]
    assert verification_curve(rows) == {0: {"ratio": 1.0, "median_s": 2.0, "blocks": 3},
                                        2: {"ratio": 1.375, "median_s": 2.75, "blocks": 4},
                                        5: {"ratio": 2.0, "median_s": 4.0, "blocks": 1}}
    assert verification_curve(rows[1:]) == {}  # no verifier-alone step to compare with
    out, summary, _ = default_run
    curve = summary["verification_curve"]
    assert curve["0"]["ratio"] == 1.0 and len(curve) > 2  # no-spec's steps and the fixed-k policies' blocks
    assert curve == {str(k): point for k, point in verification_curve(read_rows(out / "episodes.jsonl")).items()}
    lines = (out / "report.md").read_text().splitlines()
    line = next(line for line in lines if "Verification cost in this run" in line)
    assert line.startswith("- Verification cost in this run (model clock;") and "k=1 " in line and "k=0" not in line


def test_the_lossy_reference_is_a_table_of_its_own_never_ranked(default_run, tmp_path):
    out, summary, cond = default_run
    assert "## Lossy reference (not lossless)" in (out / "report.md").read_text()  # ebsd eval measures it
    rows = read_rows(out / "episodes.jsonl")
    (tmp_path / "none").mkdir()
    without = {key: value for key, value in summary.items() if key != "lossy_reference"}
    assert "Lossy reference" not in write_report(without, rows, tmp_path / "none").read_text()  # no entry, no section
    report = write_report({**summary, "lossy_reference": {**LOSSY, "agreement": None}}, rows, tmp_path).read_text()
    section = report[report.index("## Lossy reference (not lossless)"):report.index("## Method notes")]
    assert "Not lossless, not ranked" in section
    assert ("| int4 alone (lossy: not the verifier's output) | 123.4 | 110.0 | 80.0 | 1.54 | n/a | 0.500 | 4 | 16 |"
            in section)
    before = report[:report.index("## Lossy reference")]
    assert "int4 alone" not in before and "123.4" not in before  # neither in the headline nor in the ranked tables
    assert report.splitlines()[2] == summary_line("T=0,new=16", cond)


GOLDEN = Path(__file__).parent / "golden"


def test_a_fixed_summary_renders_to_the_golden_report_byte_for_byte(tmp_path):
    """`write_report` on a fixed summary (docs/results/eval-default's, cut to six policies and three categories,
    with a lossy reference) gives the committed report.md exactly: a refactor must not change a byte. When the
    report's text changes on purpose, rewrite tests/golden/report.md with the new output and review its diff."""
    summary = json.loads((GOLDEN / "report-summary.json").read_text())
    report = write_report(summary, [], tmp_path).read_bytes()
    assert report == (GOLDEN / "report.md").read_bytes()
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == [
        "T_0_new_64_calibration.png", "T_0_new_64_draft_lengths.png", "T_0_new_64_tokens_per_s.png"]
