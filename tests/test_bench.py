"""`ebsd bench decoder`: which prompts it measures on."""

from __future__ import annotations

from ebsd_env.prompts import load_prompts
from eval.bench import _bench_prompts


def test_bench_measures_a_trained_drafter_on_its_held_out_prompts():
    held_out = load_prompts(limit_per_category=2)  # seed 0, as the bench loads the suite
    chats = _bench_prompts(7, {str(row["id"]) for row in held_out})
    texts = {(row.get("prompt") or row["turns"][0])[:1200] for row in held_out}
    assert len(chats) == 7 and all(chat[0]["content"] in texts for chat in chats)
    categories = [row["category"] for row in held_out]
    first_of_each = [next(row for row in held_out if row["category"] == c) for c in dict.fromkeys(categories)]
    assert [chat[0]["content"] for chat in chats] == [(r.get("prompt") or r["turns"][0])[:1200] for r in first_of_each]
    # without held-out ids: the seeded pick of one prompt per category, as for any other drafter
    assert len(_bench_prompts(4)) == 4
