"""`ebsd bench decoder`: which prompts it measures on."""

from __future__ import annotations

from ebsd_env.prompts import load_prompts
from eval.bench.decoder import _bench_prompts


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


def test_acceptance_by_position_is_conditional_on_the_tokens_before():
    from eval.bench.decoder import _position_acceptance

    # Blocks of (drafted, accepted): position 2 is reached by the blocks that accepted token 1.
    assert _position_acceptance([3, 3, 3, 1], [0, 1, 3, 1], 3) == [0.75, 0.5, 1.0]
    assert _position_acceptance([1], [0], 2) == [0.0, None]


def test_drafters_are_compared_on_prompts_every_trained_one_held_out():
    from types import SimpleNamespace

    from ebsd_env.prompts import common_heldout_ids as held_out_for_all

    def pair(ids):
        return SimpleNamespace(drafter=SimpleNamespace(metadata={"heldout_prompt_ids": ids} if ids else {}))

    assert held_out_for_all([pair(["a", "b"]), pair(None), pair(["b", "c"])]) == {"b"}
    assert held_out_for_all([pair(None)]) == set()


def test_bench_decoder_reports_the_verification_cost_curve(tmp_path, capsys):
    from ebsd_env.decoding.tiny import tiny_model, tiny_tokenizer
    from eval.bench.decoder import BenchDecoderConfig, bench_decoder, print_report

    tokenizer = tiny_tokenizer()
    tiny_model(len(tokenizer), 0, context=2048).save_pretrained(tmp_path / "v")
    tokenizer.save_pretrained(tmp_path / "v")
    config = BenchDecoderConfig(verifier=str(tmp_path / "v"), drafters=("self",), ks=[1, 3], prompts=1, repeats=1,
                                max_new_tokens=12, transformers_modes=False, kernels="plain")
    report = bench_decoder(config)
    curve = report["drafters"]["self"]["verify_ratio_by_k"]
    # The drafter is the verifier: every block of k = 1 and k = 3 is verified in full (the last may be shorter).
    assert {1, 3} <= set(curve) <= {1, 2, 3} and all(ratio > 0 for ratio in curve.values())
    print_report(report)
    line = next(line for line in capsys.readouterr().out.splitlines() if "verify(k+1) / verify(1)" in line)
    assert f"k=3: {curve[3]:.2f}" in line and "speed-up at k: 1: " in line


def test_bench_decoder_shows_the_int4_copy_alone_as_a_lossy_reference(tmp_path, capsys):
    from ebsd_env.decoding.tiny import tiny_model, tiny_tokenizer
    from eval.bench.decoder import BenchDecoderConfig, bench_decoder, print_report

    tokenizer = tiny_tokenizer()
    tiny_model(len(tokenizer), 0, context=2048).save_pretrained(tmp_path / "v")
    tokenizer.save_pretrained(tmp_path / "v")
    config = BenchDecoderConfig(verifier=str(tmp_path / "v"), drafters=("self",), ks=[1], prompts=1, repeats=1,
                                max_new_tokens=8, transformers_modes=False, kernels="plain")
    report = bench_decoder(config)
    lossy = report["lossy_reference"]
    assert lossy["lossless"] is False and lossy["prompts"] == 1 and 0 <= lossy["agreement"] <= 1
    print_report(report)
    assert "NOT lossless" in capsys.readouterr().out
    report = bench_decoder(BenchDecoderConfig(**{**config.__dict__, "lossy_reference": False}))
    assert report["lossy_reference"] is None
