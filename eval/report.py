"""`report.md` with PNG plots (`eval.plots`), from `summary.json` and the episode rows (TensorBoard: `scalars`)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ebsd_env.envs.objective import OBJECTIVE
from ebsd_env.io import write_atomic
from policies.baselines import fastest

from .metrics import privileged
from .multi.report import best_of_each_kind, drafters_text
from .plots import plot_calibration, plot_draft_hist, plot_tokens_per_s, plot_trajectories
from .scalars import write_tensorboard  # noqa: F401  (it lived here before)

SECTIONS = ("Run", "Overall results", "Per-category results", "Paired comparisons", "Entropy and acceptance",
            "Plots", "Hypotheses", "Success criteria", "Failure modes", "Method notes")


def _f(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:.{digits}f}"


def _ci(summary: dict | None, digits: int = 2) -> str:
    if not summary:
        return "n/a"
    lo, hi = summary.get("ci", [None, None])
    text = _f(summary.get("mean"), digits)
    if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
        text += f" [{_f(lo, digits)}, {_f(hi, digits)}]"
    return text


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    def esc(cell):
        return str(cell).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


# ------------------------------------------------------------------------------------------------ report


def _objective(cond: dict, variant: str) -> float:
    """The variant's overall tokens/s (the objective), -inf when it has none: the order of the main table."""
    mean = (cond["results"][variant].get("all") or {}).get("tokens_per_s", {}).get("mean")
    return float(mean) if mean is not None and math.isfinite(mean) else -math.inf


def by_speed(cond: dict) -> list[str]:
    """The condition's variants, fastest first by the objective (total tokens over total decoding time)."""
    return sorted(cond["variants"], key=lambda v: -_objective(cond, v))


def is_privileged(cond: dict, variant: str) -> bool:
    """Whether a variant sees the verifier (an oracle): from the summary, or its label in summaries without it."""
    return cond.get("privileged", {}).get(variant, privileged(variant))


def _versus(m: dict) -> list[str]:
    parts = []
    if m.get("speedup_vs_verifier"):
        parts.append(f"{_f(m['speedup_vs_verifier'].get('mean'))}x the verifier alone")
    if m.get("speedup_vs_best_fixed_k"):
        parts.append(f"{_f(m['speedup_vs_best_fixed_k'].get('mean'))}x the best fixed-k")
    return parts


def summary_line(label: str, cond: dict) -> str:
    """One line a reader can stop after: the fastest policy one can deploy (the privileged oracles see the
    verifier's decisions, so they are not candidates), its speed and what it is measured against; then, apart,
    what an oracle reached, as the upper bound it is."""
    finished = [v for v in by_speed(cond) if math.isfinite(_objective(cond, v))]
    if not finished:
        return f"**{label}:** no policy finished an episode."
    ranked = [v for v in finished if not is_privileged(cond, v)]
    bounds = [v for v in finished if is_privileged(cond, v)]
    if ranked:
        best = fastest({v: _objective(cond, v) for v in finished}, lambda v: is_privileged(cond, v))
        m = cond["results"][best]["all"]
        used = drafters_text(cond, best)
        parts = [f"**{label}:** fastest non-privileged policy `{best}`" + (f" ({used})" if used else "")
                 + f" at {_f(m['tokens_per_s']['mean'], 1)} tokens/s", *_versus(m)]
        if cond.get("chosen_ebsd"):
            parts.append(f"chosen EBSD policy `{cond['chosen_ebsd']}`")
        line = ", ".join(parts) + f" ({len(ranked)} policies ranked, table below sorted by tokens/s)."
        line += best_of_each_kind(cond, ranked, _f)
    else:
        line = f"**{label}:** no non-privileged policy finished an episode."
    if bounds:
        m = cond["results"][bounds[0]]["all"]
        reached = ", ".join([f"{_f(m['tokens_per_s']['mean'], 1)} tokens/s", *_versus(m)])
        line += (f" Upper bound, not a deployable policy: the privileged `{bounds[0]}` (it sees the verifier's "
                 f"decisions) reached {reached}.")
    return line


def _overall_table(cond: dict) -> list[str]:
    multi = "drafter_blocks" in cond  # a multi-drafter pair: which drafter(s) each policy drafted with
    header = ["policy", "family", *(["drafters"] if multi else []), "tokens/s [95% CI]", "end-to-end tokens/s",
              "decide share", "vs verifier",
              "vs best fixed-k", "oracle share", "accept", "tau", "mean k", "GFLOPs/token", "token ms p50/p90/p99",
              "request s p50/p90/p99", "quality"]
    out = []
    for v in by_speed(cond):
        m = cond["results"][v].get("all")
        if not m:
            continue
        t, r = m["token_latency_ms"], m["request_latency_s"]
        if "ppl_diff_vs_verifier" in m:
            quality = f"ppl {_ci(m.get('verifier_ppl'))}, diff {_ci(m['ppl_diff_vs_verifier'])}"
        elif "identical_to_verifier" in m:
            quality = f"identical {_f(m['identical_to_verifier'])}"
        else:
            quality = "n/a"
        fam = cond["families"][v] + (" (privileged: upper bound)" if is_privileged(cond, v) else "")
        out.append([v, fam, *([drafters_text(cond, v)] if multi else []), _ci(m["tokens_per_s"]),
                    _ci(m.get("end_to_end_tokens_per_s")),
                    _f(m.get("decide_share"), 4), _ci(m.get("speedup_vs_verifier")),
                    _ci(m.get("speedup_vs_best_fixed_k")), _ci(m.get("oracle_share")), _f(m["acceptance_rate"]),
                    _f(m["tau"]), _f(m["mean_draft_len"]), _f(m.get("gflops_per_token"), 3),
                    f"{_f(t['p50'], 1)}/{_f(t['p90'], 1)}/{_f(t['p99'], 1)}",
                    f"{_f(r['p50'])}/{_f(r['p90'])}/{_f(r['p99'])}", quality])
    return _table(header, out)


def _category_lines(cond: dict) -> list[str]:
    lines = [f"## Per-category results ({cond['label']})", "", "Bold: the best entropy-based policy in the category.",
             ""]
    for c in cond["categories"]:
        lines.append(f"#### {c} (best fixed-k: `{cond['best_fixed_k'].get(c)}`)\n")
        header = ["policy", "tokens/s [95% CI]", "end-to-end tokens/s", "vs verifier", "vs best fixed-k", "accept",
                  "tau", "mean k", "AUROC"]
        body = []
        for v in cond["variants"]:
            m = cond["results"][v].get(c)
            if m:
                name = f"**{v}**" if v == cond["best_ebsd_per_category"].get(c) else v
                body.append([name, _ci(m["tokens_per_s"]), _ci(m.get("end_to_end_tokens_per_s")),
                             _ci(m.get("speedup_vs_verifier")),
                             _ci(m.get("speedup_vs_best_fixed_k")), _f(m["acceptance_rate"]), _f(m["tau"]),
                             _f(m["mean_draft_len"]), _f(m["entropy_auroc"])])
        lines += _table(header, body)
    return lines


def _comparison_lines(cond: dict) -> list[str]:
    lines = [f"## Paired comparisons ({cond['label']})", "",
             f"The chosen EBSD policy is the entropy-based policy with the best overall ratio to the per-category best "
             f"fixed-k (`{cond['chosen_ebsd']}`); the per-category best is optimistic (chosen on the same data). "
             "wins = share of prompts where it is faster.", ""]
    header = ["category", "best fixed-k", f"chosen EBSD ({cond['chosen_ebsd']}) ratio [95% CI]", "wins",
              "best EBSD here", "ratio [95% CI]"]
    body = []
    for c in cond["categories"]:
        comp = cond["comparisons"][c]
        chosen, best = comp.get("chosen_ebsd", {}), comp.get("best_ebsd", {})
        body.append([c, comp.get("best_fixed_k") or "n/a", _ci(chosen, 3) if chosen else "n/a",
                     _f(chosen.get("wins")) if chosen else "n/a", best.get("variant", "n/a"),
                     _ci(best, 3) if best else "n/a"])
    return lines + _table(header, body)


def _stop_mode_line(meta: dict) -> str:
    default = meta.get("stop_mode", "include")
    others = [f"`{v}` {m}" for v, m in sorted(meta.get("stop_modes", {}).items()) if m != default]
    return (f"- Stop mode: `{default}` for the policies that follow the env"
            + (f"; in another mode (their source's, or set by the variant): {', '.join(others)}" if others else ""))


def _count(n, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def machine_line(meta: dict) -> str:
    """The machine in one line, stated once: CPU model, the cores this run could use (of the machine's, when its
    affinity allowed fewer), torch threads, and the load around the episodes of this invocation (a resumed run's
    earlier episodes may have run on another machine)."""
    machine, after = meta.get("machine") or {}, meta.get("machine_after") or {}
    cores, total = machine.get("cores", meta.get("cpu_count")), meta.get("cpu_count")
    line = f"- Machine: {machine.get('cpu', 'CPU model not recorded')}, {_count(cores, 'core')} available to this run"
    if total and cores and total != cores:
        line += f" (of the machine's {total})"
    line += f", {_count(machine.get('threads', meta.get('torch_threads')), 'torch thread')}"
    if "load_1min" in machine:
        line += (f"; 1-minute load {_f(machine['load_1min'])} before the episodes, {_f(after.get('load_1min'))} after"
                 + (f" ({meta['busy_warning']})" if meta.get("busy_warning") else ""))
    return line


def lossy_lines(lossy: dict | None) -> list[str]:
    """The lossy reference (`summary.json`'s ``lossy_reference``, eval.bench.lossy) in a table of its own: its
    output is not the verifier's, so it is never ranked with the policies, which all give the verifier's output."""
    if not lossy:
        return []
    header = ["reference (NOT lossless)", "tokens/s", "end-to-end tokens/s", "verifier alone tokens/s",
              "speed-up vs verifier", "token agreement", "identical outputs", "prompts", "max new tokens"]
    row = [lossy.get("label"), _f(lossy.get("tokens_per_s"), 1), _f(lossy.get("end_to_end_tokens_per_s"), 1),
           _f(lossy.get("verifier_tokens_per_s"), 1), _f(lossy.get("speedup")), _f(lossy.get("agreement"), 3),
           _f(lossy.get("identical_share"), 3), _f(lossy.get("prompts")), _f(lossy.get("max_new_tokens"))]
    return ["## Lossy reference (not lossless)", "",
            "Not lossless, not ranked: this reference decodes by itself and its output differs from the verifier's, "
            "so it is no candidate beside the policies above (all of which give the verifier's output). token "
            "agreement = share of the verifier's greedy positions where it picks the same token (teacher-forced); "
            "identical outputs = share of prompts whose whole output equals the verifier's.", "",
            *_table(header, [row])]


def write_report(summary: dict, rows: list[dict], out: Path) -> Path:
    """``report.md`` in `out` (and its plots in ``out/plots``) from `summary` (``summary.json``) and the episode
    `rows`: the headline, the run, every condition's sections, the lossy reference and the method notes."""
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    lines = ["# EBSD evaluation report", ""]
    lines += [summary_line(label, {**cond, "label": label}) for label, cond in summary["conditions"].items()]
    lines += _run_lines(summary)
    for label, cond in summary["conditions"].items():
        cond = {**cond, "label": label}
        lines += [*_overall_lines(cond), *_category_lines(cond), *_comparison_lines(cond), *_entropy_lines(cond),
                  *_plot_lines(cond, rows, plots), *_verdict_lines(cond)]
    lines += lossy_lines(summary.get("lossy_reference"))
    lines += METHOD_NOTES
    path = out / "report.md"
    write_atomic(path, "\n".join(lines))
    return path


def _run_lines(summary: dict) -> list[str]:
    """The "Run" section: pair, machine, clock, prompts, objective, stop mode, what was analysed, notes."""
    meta = summary["meta"]
    cfg = meta.get("config", {})
    lines = ["", "## Run", ""]
    lines += [f"- Pair: drafter `{meta['drafter']}`, verifier `{meta['verifier']}` on {meta['device']}",
              machine_line(meta),
              f"- Clock: `{cfg.get('clock')}` (wall = measured times, noisy on a shared machine; model = the env's "
              "calibrated cost model, deterministic)",
              f"- Prompts: `{cfg.get('prompts')}`, {meta['prompts']} prompts in {len(meta['categories'])} "
              f"categories ({', '.join(meta['categories'])}), seeds {cfg.get('seeds')}",
              f"- Objective: {meta.get('objective', OBJECTIVE)} (`ebsd_env.envs.objective`)",
              _stop_mode_line(meta),
              f"- Episodes analysed: {summary['episodes']}; conditions: {', '.join(summary['conditions'])}",
              f"- Finished {meta['finished']}"]
    lines += [f"- {note}" for note in meta.get("notes", [])]
    curve = summary.get("verification_curve") or {}
    if len(curve) > 1:
        clock = "wall" if cfg.get("clock") == "wall" else f"{cfg.get('clock')} clock"
        lines.append(f"- Verification cost in this run ({clock}; median seconds of the blocks that drafted k tokens, "
                     "every policy pooled, over those that drafted none; blocks in brackets): "
                     + ", ".join(f"k={k} {point['ratio']:.2f} ({point['blocks']})"
                                 for k, point in curve.items() if k != "0"))
    return lines + [""]


def _overall_lines(cond: dict) -> list[str]:
    """A condition's "Overall results": how to read it, the table, and a caution when few units back it."""
    lines = [f"## Overall results ({cond['label']})", ""]
    lines += ["tokens/s is the objective: total new tokens over total decoding time of the (prompt, seed) "
              "units. Speed-ups are ratios of objectives on the same units (the verifier alone is `no-spec`, run "
              "through the env with the fastest kernels load_pair measured), with 95% paired bootstrap CIs over "
              "units; the best fixed-k is the best static policy (fixed-k ∪ k = 0), chosen per category on "
              "these same prompts (in hindsight, which favours the baseline). "
              "tau = tokens emitted per verification.", ""]
    lines += _overall_table(cond)
    units = min((m["tokens_per_s"]["n"] for per_cat in cond["results"].values() for c, m in per_cat.items()
                 if c != "all"), default=0)
    if units < 5:
        lines += [f"**Caution:** as few as {units} (prompt, seed) unit(s) per category: per-category CIs from so "
                  "few units are not reliable (a bootstrap over 2 units spans just their two values); raise "
                  "--prompts-per-category / --seeds before drawing conclusions.", ""]
    return lines


def _entropy_lines(cond: dict) -> list[str]:
    """A condition's "Entropy and acceptance": the entropy's AUROC, per category, and acceptance by entropy bin."""
    relation = cond["entropy_acceptance"]
    lines = [f"## Entropy and acceptance ({cond['label']})", ""]
    lines += [f"AUROC of the drafter entropy for predicting a rejection, over {relation['tokens']} judged draft "
              f"tokens from {relation['source']}: **{_f(relation['auroc'], 3)}** (0.5 = no signal).", ""]
    lines += _table(["category", "AUROC", "judged tokens", "mean entropy", "entropy sd"],
                    [[c, _f(d["auroc"], 3), d["tokens"], _f(d["mean_entropy"]), _f(d["entropy_std"])]
                     for c, d in relation["by_category"].items()])
    cal = relation["calibration"]
    return lines + _table(["entropy bin mean (nats)", "acceptance", "tokens"],
                          [[_f(h), _f(a), n] for h, a, n in zip(cal["entropy"], cal["acceptance"], cal["count"],
                                                                strict=True)])


def _plot_lines(cond: dict, rows: list[dict], plots: Path) -> list[str]:
    """Draw a condition's four plots into `plots` and return its "Plots" section, with the plots that were drawn."""
    slug = _slug(cond["label"])
    names = {"tps": f"{slug}_tokens_per_s.png", "hist": f"{slug}_draft_lengths.png",
             "cal": f"{slug}_calibration.png", "traj": f"{slug}_entropy_trajectories.png"}
    plot_tokens_per_s(cond, plots / names["tps"])
    plot_draft_hist(cond, plots / names["hist"])
    plot_calibration(cond, plots / names["cal"])
    plot_trajectories(cond, [r for r in rows if (r["temperature"], r["max_new_tokens"]) ==
                             (cond["temperature"], cond["max_new_tokens"])], plots / names["traj"])
    lines = [f"## Plots ({cond['label']})", ""]
    for title, key in (("Tokens/s with 95% CIs", "tps"), ("Draft-length histograms", "hist"),
                       ("Entropy calibration", "cal"), ("Entropy trajectories with accept/reject marks", "traj")):
        if (plots / names[key]).exists():
            lines += [f"**{title}**", "", f"![{title}](plots/{names[key]})", ""]
    return lines


def _verdict_lines(cond: dict) -> list[str]:
    """A condition's judgements: its hypotheses, success criteria and failure modes."""
    label = cond["label"]
    lines = [f"## Hypotheses ({label})", ""]
    lines += _table(["", "hypothesis", "verdict", "evidence"],
                    [[k, h["statement"], f"**{h['verdict']}**", h["evidence"]] for k, h in cond["hypotheses"].items()])
    lines += [f"## Success criteria ({label})", ""]
    lines += _table(["criterion", "rule", "met", "figures"],
                    [[s["criterion"], s.get("rule", "n/a"),
                      "not tested" if s["met"] is None else ("met" if s["met"] else "not met"),
                      s["figures"]] for s in cond["success_criteria"]])
    lines += [f"## Failure modes ({label})", ""]
    return lines + _failure_lines(cond)


METHOD_NOTES = [
    "## Method notes", "",
    "- tokens/s = generated tokens / decoding time (drafting + verification + the policy's decisions, "
    "prefill excluded) on the run's clock; the verifier-alone reference (no-spec) is put on the same basis. "
    "end-to-end tokens/s adds the prompt's prefill (measured on every clock; 0 on a replay). decide "
    "share = the policy's decisions / decoding time (wall clock: measured; model clock: declared per "
    "decision, 0 unless declared).",
    "- Acceptance rate = accepted / drafted tokens; tau = generated tokens / verifications.",
    "- Entropy-acceptance: a draft token counts as judged if every earlier token of its block was accepted "
    "(later ones never reach the verifier's decision); the pooled figure uses fixed-k drafts, whose "
    "lengths do not depend on the entropy.",
    "- FLOPs per token: 2 x (attention + MLP weights + LM head) per processed token from each model config "
    "(attention over the context left out); the verifier processes k + 1 tokens per block, the drafter "
    "its k tokens plus one catch-up token.",
    "- Per-token latency: each emitted token gets its block's draft + verify time / tokens emitted; request "
    "latency = tokens / tokens-per-s (decoding only).",
    "- Quality: greedy outputs are compared token by token with the verifier alone; under sampling the "
    "verifier's perplexity (temperature 1) of each output is compared with the verifier-alone output's on "
    "the same prompt and seed (95% bootstrap CI of the difference).",
    "- Verdicts are computed by `eval.analysis` from the data; with few prompts most CIs are wide and "
    "'inconclusive' is the honest outcome.", ""]


def _failure_lines(cond: dict) -> list[str]:
    fm = cond["failure_modes"]
    lines = []
    if fm["losing_categories"]:
        lines += ["Categories where the chosen EBSD policy is slower than the best fixed-k:", ""]
        lines += _table(["category", "ratio [95% CI]", "best fixed-k", "mean drafter entropy", "AUROC", "acceptance"],
                        [[d["category"], _ci({"mean": d["ratio"], "ci": d["ci"]}, 3), d["best_fixed_k"],
                          _f(d["mean_entropy"]), _f(d["auroc"], 3), _f(d["acceptance_rate"])]
                         for d in fm["losing_categories"]])
    else:
        lines += ["The chosen EBSD policy is not slower than the best fixed-k in any category (point estimates).", ""]
    if fm["slower_than_verifier"]:
        lines += ["Policies slower than the verifier alone (speculation does not pay: the drafter's share of decoding "
                  "time is shown):", ""]
        lines += _table(["policy", "speed-up vs verifier", "draft share of decode time"],
                        [[d["variant"], _f(d["speedup"], 3), _f(d["draft_share"])] for d in fm["slower_than_verifier"]])
    if fm["drafting"]:
        lines += ["Drafting errors of the entropy-based policies: wasted = drafted tokens not accepted (drafting too "
                  "long); fully accepted blocks = blocks whose whole draft was accepted (possibly stopped too early):",
                  ""]
        lines += _table(["policy", "wasted draft share", "fully accepted blocks"],
                        [[d["variant"], _f(d["wasted_draft_share"]), _f(d["fully_accepted_block_share"])]
                         for d in fm["drafting"]])
    if fm["worst_prompts"]:
        lines += ["Prompts with the lowest ratio of the chosen EBSD policy to the best fixed-k (below 1 = a loss):", ""]
        lines += _table(["prompt", "category", "seed", "ratio"],
                        [[d["prompt_id"], d["category"], d["seed"], _f(d["ratio"], 3)] for d in fm["worst_prompts"]])
    return lines
