"""Figures of the env's benchmarks and Ray's: `ebsd bench env` (overhead, replay's speed) and
`python -m eval.bench.ray_cluster` (recording and tuning)."""

from __future__ import annotations

SPEC_BENCH_PROMPTS = 480  # the Spec-Bench set docs/ray.md projects the recording of


def bench_env_table(report: dict) -> str:
    """`ebsd bench env --backend live replay`: steps/s of the live env and of replay, side by side."""
    live = report["clocks"][0]["steps_per_s"]
    lines = ["| backend | steps/s | × live |", "|---|---|---|"]
    lines += [f"| live ({c['clock']} clock) | {c['steps_per_s']:,.1f} | {c['steps_per_s'] / live:.2f} |"
              for c in report["clocks"]]
    lines += [f"| {r['backend']} | {r['steps_per_s']:,.0f} | {r['steps_per_s'] / live:,.0f} |"
              for r in report["replay"]]
    shares = ", ".join(f"{k} {v:.2f}" for k, v in report["oracle_dp_shares"].items() if not k.endswith("tokens_per_s"))
    return "\n" + "\n".join(lines) + f"\n\nShares of oracle-dp on the same traces (model clock): {shares}.\n"


# --- docs/env.md, docs/replay.md and the README: the env's overhead outside model forwards and replay's speed. ---
def overhead_table(report: dict) -> str:
    """`ebsd bench env`'s live rows: steps/s and the time outside model forwards, per clock."""
    lines = ["| clock | steps | steps/s | outside forwards | env layer alone |", "|---|---|---|---|---|"]
    lines += [f"| {c['clock']} | {c['steps']} | {c['steps_per_s']:.1f} | {100 * c['outside_forward_share']:.1f} % | "
              f"{100 * c['env_layer_share']:.2f} % |" for c in report["clocks"]]
    return "\n" + "\n".join(lines) + "\n"


def overhead_goal(report: dict) -> str:
    worst = max(c["outside_forward_share"] for c in report["clocks"])
    return f"{'met' if worst <= 0.05 else 'not met'} ({100 * worst:.1f} % at most)"


def replay_rates(report: dict) -> str:
    """Replay's steps/s: one env without Gymnasium's wrappers, and the vector env."""
    rows = {r["backend"]: r for r in report["replay"]}
    (vector,) = [r for name, r in rows.items() if name.startswith("replay vector x")]
    envs = vector["backend"].removeprefix("replay vector x")
    return (f"{rows['replay (unwrapped)']['steps_per_s'] / 1e3:.0f}k steps/s per env, "
            f"{vector['steps_per_s'] / 1e6:.1f}M as a vector of {envs}")


def ray_record_summary(result: dict) -> str:
    return (f"{result['prompts']} prompts ({result['tokens']} tokens, budget {result['max_new_tokens']}, chains of "
            f"{result['max_draft_len']}) in {result['seconds']:.1f} s with {result['threads']} thread, "
            f"{result['seconds_per_prompt']:.2f} s per prompt or {result['seconds_per_token'] * 1e3:.0f} ms per "
            f"token (1-minute load {result['machine_before']['load_1min']:.2f} on {result['machine_before']['cores']}"
            " cores when it started)")


def ray_record_projection(result: dict) -> str:
    lines = ["| workers | hours at the measured cost per prompt |", "|---|---|"]
    for workers in (1, 2, 4, 8, 16, 32):
        hours = SPEC_BENCH_PROMPTS * result["seconds_per_prompt"] / workers / 3600
        lines.append(f"| {workers} | {hours:.2f} |")
    return "\n" + "\n".join(lines) + "\n"


def ray_tune_table(result: dict) -> str:
    lines = [f"| workers | sweep wall time, median of {result['repeats']} (s) | each run (s) | 1-minute load at "
             "each start |", "|---|---|---|---|"]
    for workers, median in result["median_s"].items():
        runs = ", ".join(f"{t:.1f}" for t in result["seconds"][workers])
        loads = ", ".join(f"{x:.2f}" for x in result["load_1min"][workers])
        lines.append(f"| {workers} | {median:.1f} | {runs} | {loads} |")
    return (f"\n{result['trials']} trials over {result['trace_prompts']} traces ({result['trace_tokens']} tokens), "
            f"{result['machine_before']['cores']} cores:\n\n" + "\n".join(lines) + "\n")


def runner_attention_table(result: dict) -> str:
    """The int4 runner's two attentions through whole greedy decodes (docs/results/int4-attention-epyc/): per
    category, speed-up over the verifier alone and drafting ms per drafted token, at k = 4 and 8, and overall."""
    rows, arms = result["rows"], ("sdpa k=4", "few-query k=4", "sdpa k=8", "few-query k=8")

    def cells(selected: list[dict]) -> str:
        verifier = [r for r in selected if r["arm"] == "verifier"]
        base = sum(r["tokens"] for r in verifier) / sum(r["decode_s"] for r in verifier)
        out = []
        for arm in arms:
            chosen = [r for r in selected if r["arm"] == arm]
            rate = sum(r["tokens"] for r in chosen) / sum(r["decode_s"] for r in chosen)
            draft_ms = 1e3 * sum(r["draft_s"] for r in chosen) / sum(r["drafted"] for r in chosen)
            out.append(f"{rate / base:.2f}× ({draft_ms:.1f} ms)")
        contexts = sorted(r["context"] for r in verifier)
        return f"{contexts[len(contexts) // 2]} | " + " | ".join(out)

    headers = ("before (SDPA), k = 4", "now (few-query), k = 4", "before (SDPA), k = 8", "now (few-query), k = 8")
    lines = ["| category | prompt tokens (median) | " + " | ".join(headers) + " |", "|---" * 6 + "|"]
    for category in sorted({r["category"] for r in rows}):
        lines.append(f"| {category} | " + cells([r for r in rows if r["category"] == category]) + " |")
    lines.append("| **all** | " + cells(rows) + " |")
    return "\n" + "\n".join(lines) + "\n"
