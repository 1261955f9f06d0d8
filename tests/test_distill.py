"""The distilled drafter (ebsd_env.decoding.drafters) and its trainer (`ebsd distill`, train/drafter/distill.py)."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import DynamicCache

from ebsd_env.decoding.decoder import SpeculativeDecoder
from ebsd_env.decoding.drafters import DistilledDrafter, FeatureDrafter, load_distilled_drafter, save_drafter
from ebsd_env.decoding.models import ModelPair
from ebsd_env.decoding.tiny import tiny_pair
from train.drafter import distill

TINY_ARGS = ["--tiny", "--num-layers", "1", "--heldout-per-category", "1", "--max-new-tokens", "12",
             "--gen-batch-size", "4", "--batch-size", "4", "--eval-every", "2", "--checkpoint-every", "3",
             "--learning-rate", "3e-3"]


def _pair_with(drafter, pair: ModelPair) -> ModelPair:
    return ModelPair(drafter, pair.verifier, pair.tokenizer, "distilled", pair.verifier_name)


def test_drafter_logits_are_minus_inf_outside_the_head_and_cache_consistent(copy_pair):
    head = torch.tensor([1, 5, 7, 9, 11, 20])
    drafter = DistilledDrafter(copy_pair.verifier, 1, head).eval()
    ids = torch.tensor([[4, 9, 12, 5, 30]])
    with torch.no_grad():
        full = drafter(input_ids=ids, use_cache=False).logits[0]
        cache = DynamicCache()
        first = drafter(input_ids=ids[:, :3], cache=cache, use_cache=True, logits_to_keep=1).logits
        rest = drafter(input_ids=ids[:, 3:], cache=cache, use_cache=True, logits_to_keep=2).logits
    outside = torch.ones(full.shape[-1], dtype=torch.bool)
    outside[head] = False
    assert full.shape == (5, copy_pair.vocab_size)
    assert torch.isinf(full[:, outside]).all() and (full[:, outside] < 0).all()
    assert torch.isfinite(full[:, head]).all()
    torch.testing.assert_close(first[0, -1], full[2])
    torch.testing.assert_close(rest[0], full[3:])
    cache.crop(-2)
    assert cache.get_seq_length() == 3


def test_training_time_test_passes_are_the_draft_tokens_inference_computes(copy_pair):
    """Pass s at position p of `unrolled_features` must equal draft token s of a draft that began at p - s + 1,
    computed as the decoder drafts: cache over the verifier's features, then one token at a time on its own."""
    from train.drafter.feature import unrolled_features

    torch.manual_seed(0)
    drafter = FeatureDrafter(copy_pair.verifier, 1, torch.arange(copy_pair.vocab_size), init_layers=()).eval()
    ids = torch.tensor([[4, 9, 12, 5, 30, 7, 2], [3, 8, 1, 6, 0, 0, 0]])
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    features = torch.randn(2, 7, drafter.config.hidden_size)  # stand-ins for the verifier's f_p
    previous = torch.cat([torch.zeros(2, 1, features.shape[-1]), features[:, :-1]], 1)
    with torch.no_grad():
        passes = unrolled_features(drafter, ids, previous, mask, steps=3)
        for b, length in enumerate(mask.sum(1).tolist()):
            for start in range(length):  # the draft's first token sits at `start`
                cache = DynamicCache()
                if start:
                    drafter.features(ids[b:b + 1, :start], previous[b:b + 1, :start], cache=cache, use_cache=True)
                feature = previous[b:b + 1, start:start + 1]
                for step in range(1, 4):
                    p = start + step - 1
                    if p >= length:
                        break
                    feature = drafter.features(ids[b:b + 1, p:p + 1], feature, cache=cache, use_cache=True)
                    torch.testing.assert_close(passes[step - 1][b, p], feature[0, 0], atol=1e-5, rtol=1e-4)
    # A plain causal second pass (what the mask replaces) gives other features: the test can tell them apart.
    own = torch.cat([torch.zeros(2, 1, features.shape[-1]), passes[0][:, :-1]], 1)
    with torch.no_grad():
        causal = drafter.features(ids, own, attention_mask=mask)
    assert (causal[0, 3:] - passes[1][0, 3:]).abs().max() > 1e-3


def test_drafter_rejects_bad_arguments(copy_pair):
    with pytest.raises(ValueError, match="head_index"):
        DistilledDrafter(copy_pair.verifier, 1, torch.tensor([0, copy_pair.vocab_size]))
    with pytest.raises(ValueError, match="duplicate"):
        DistilledDrafter(copy_pair.verifier, 1, torch.tensor([3, 3]))
    with pytest.raises(ValueError, match="init_layers"):
        DistilledDrafter(copy_pair.verifier, 1, torch.tensor([3, 4]), init_layers=(0, 1))


def test_speculative_decoding_with_a_reduced_head_stays_exact_and_samples(copy_pair):
    drafter = DistilledDrafter(copy_pair.verifier, 1, torch.arange(1, 25)).eval()
    pair = _pair_with(drafter, copy_pair)
    decoder = SpeculativeDecoder(pair, max_new_tokens=40)
    reference = decoder.generate("the cat sat")
    speculative = decoder.generate("the cat sat", 3)
    assert speculative.token_ids == reference.token_ids
    assert 0 < speculative.stats["accepted"] < speculative.stats["drafted"]
    sampler = SpeculativeDecoder(pair, temperature=1.0, max_new_tokens=30, seed=3)
    for _ in range(4):  # every draft token comes from the head: q = 0 elsewhere
        sampler.start("hello", 30)
        steps = [sampler.draft() for _ in range(3) if sampler.draft_room > 0]  # a drafted EOS ends the draft
        assert all(step.token in set(range(1, 25)) for step in steps)
        assert all(0.0 <= step.entropy <= float(torch.log(torch.tensor(24.0))) + 1e-4 for step in steps)


def test_load_errors_name_the_problem(tmp_path, copy_pair):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_distilled_drafter(copy_pair.verifier, tmp_path)
    save_drafter(DistilledDrafter(copy_pair.verifier, 1, torch.arange(3, 9)), tmp_path / "d")
    other = tiny_pair("copy", alphabet="abc")
    with pytest.raises(ValueError, match="vocabulary"):
        load_distilled_drafter(other.verifier, tmp_path / "d")


@pytest.mark.parametrize("architecture", ["feature", "layers"])
def test_tiny_distillation_end_to_end_with_resume(tmp_path, capsys, architecture):
    run = tmp_path / "run"
    args = [*TINY_ARGS, "--architecture", architecture]
    assert distill.main([*args, "--out", str(run), "--steps", "4"]) == 0
    first = torch.load(run / "checkpoint.pt", weights_only=False)
    assert first["step"] == 4
    shards = sorted(p.name for p in (run / "data/train").iterdir())
    assert shards and (run / "head_index.pt").is_file() and any((run / "tb").iterdir())

    export = tmp_path / "exported"
    assert distill.main([*args, "--out", str(run), "--steps", "8", "--export-to", str(export)]) == 0
    out = capsys.readouterr().out
    assert "resumed at step 4" in out
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] == 8 and state["train_seconds"] >= first["train_seconds"]
    assert [h["step"] for h in state["history"]] == [0, 2, 4, 6, 8]  # evaluations continue, none repeated
    written = json.loads((run / "history.json").read_text())  # the same history, as JSON
    assert [h["step"] for h in written["history"]] == [0, 2, 4, 6, 8] and written["train_records"] > 0
    if architecture == "feature":  # draft tokens 1..3 (--draft-steps default), token 2 as agreement_own
        assert len(written["history"][-1]["agreement_by_step"]) == 3
        assert written["history"][-1]["agreement_by_step"][1] == written["history"][-1]["agreement_own"]
    assert sorted(p.name for p in (run / "data/train").iterdir()) == shards  # data reused, not regenerated
    if architecture == "feature":  # teacher-forced features of every training shard, kept for the resume
        assert sorted(p.name for p in (run / "data/features/train").iterdir()) == shards
    for name, tensor in first["model"].items():  # training moved on from the resumed weights
        if name.endswith("weight") and "norm" not in name:
            assert not torch.equal(tensor, state["model"][name]), name
            break

    metadata = json.loads((export / "config.json").read_text())["metadata"]
    assert metadata["step"] == 8 and 0.0 <= metadata["heldout"]["agreement"] <= 1.0
    pair = tiny_pair("copy")
    drafter = load_distilled_drafter(pair.verifier, export)
    assert type(drafter) is {"feature": FeatureDrafter, "layers": DistilledDrafter}[architecture]
    decoder = SpeculativeDecoder(_pair_with(drafter, pair), max_new_tokens=30)
    assert decoder.generate("hello there", 4).token_ids == decoder.generate("hello there").token_ids


@pytest.mark.slow
def test_drafter_on_the_embedded_verifier_shares_its_tokenizer_and_keeps_greedy_exact():
    from ebsd_env.decoding.models import cached_pair

    embedded_pair = cached_pair("self", kernels="plain")  # plain weights: the drafter copies some
    verifier = embedded_pair.verifier
    eos = sorted(embedded_pair.eos_token_ids)
    head = torch.tensor(sorted(set(range(2048)) | set(eos)))
    drafter = DistilledDrafter(verifier, 1, head).eval()
    # Shares the verifier's tokenizer: its logits span the verifier's vocabulary, its inputs are its embedding.
    assert drafter.config.vocab_size == verifier.config.vocab_size
    assert drafter._embedding is verifier.get_input_embeddings()
    assert sum(t.numel() for t in drafter.state_dict().values() if t.is_floating_point()) < 5_000_000
    decoder = SpeculativeDecoder(_pair_with(drafter, embedded_pair), max_new_tokens=20)
    chat = [{"role": "user", "content": "Name three primary colors."}]
    assert decoder.generate(chat, 3).token_ids == decoder.generate(chat).token_ids


def test_feature_distillation_takes_text_prompts_and_warm_starts(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    args = [*TINY_ARGS, "--architecture", "feature"]
    assert distill.main([*args, "--out", str(first), "--steps", "3"]) == 0
    assert distill.main([*args, "--out", str(second), "--steps", "0", "--text-prompts-per-category", "2",
                         "--init-from", str(first / "export")]) == 0
    text_shards = list((second / "data/features/text").iterdir())
    assert text_shards
    text = [r for path in text_shards for r in torch.load(path, weights_only=True)]
    assert text and all(r["mode"] == "text" and r["start"] == len(r["ids"]) for r in text)
    heldout = {r["prompt_id"] for path in (second / "data/heldout").iterdir()
               for r in torch.load(path, weights_only=True)}
    assert not heldout & {r["prompt_id"] for r in text}  # never a held-out prompt
    meta = [json.loads((run / "export/config.json").read_text())["metadata"] for run in (first, second)]
    assert meta[1]["train_positions"] > meta[0]["train_positions"]
    pair = tiny_pair("copy")
    start, warm = (load_distilled_drafter(pair.verifier, run / "export") for run in (first, second))
    for name, tensor in start.state_dict().items():  # step 0 of the second run = the first run's weights
        if name != "head_index":
            torch.testing.assert_close(warm.state_dict()[name], tensor)
    with pytest.raises(ValueError, match="another architecture"):
        distill.main([*TINY_ARGS, "--architecture", "layers", "--out", str(tmp_path / "third"), "--steps", "1",
                      "--init-from", str(first / "export")])
    with pytest.raises(FileNotFoundError, match="--init-from"):
        distill.main([*args, "--out", str(tmp_path / "fourth"), "--init-from", str(tmp_path / "missing")])


def test_drafter_training_takes_the_shared_flags(tmp_path):
    from ebsd_env.cli.args import ModelArgs, PromptArgs, ThreadArgs
    from train.drafter import measure

    # distill loads only the verifier: the shared thread and prompt flags, not the model ones
    assert issubclass(distill.DistillConfig, ThreadArgs) and issubclass(distill.DistillConfig, PromptArgs)
    assert not issubclass(distill.DistillConfig, ModelArgs)
    assert distill._prompt_seed(distill.DistillConfig(seed=3)) == 3  # --prompt-seed follows --seed by default
    assert distill._prompt_seed(distill.DistillConfig(seed=3, prompt_seed=1)) == 1
    with pytest.raises(ValueError, match="--threads"):
        distill.main([*TINY_ARGS, "--out", str(tmp_path / "run"), "--threads", "0"])
    assert not (tmp_path / "run").exists()  # refused before anything was written
    assert issubclass(measure.MeasureConfig, ModelArgs) and issubclass(measure.MeasureConfig, PromptArgs)
    assert measure.distilled_spec(None) == "feature"
    assert measure.distilled_spec(str(tmp_path)) == f"feature:{tmp_path}"
    assert measure.distilled_spec("feature:some/folder") == "feature:some/folder"
    with pytest.raises(ValueError, match="distilled drafter"):
        measure.check_config(measure.MeasureConfig(drafter="int8"))
    with pytest.raises(ValueError, match="--device meta"):
        measure.check_config(measure.MeasureConfig(device="meta"))
