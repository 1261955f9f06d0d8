"""Loading pairs: local folders, tokenizer checks, clear errors; the embedded pair (slow)."""

from __future__ import annotations

import json

import pytest
import torch

from ebsd_env.decoding.decoder import SpeculativeDecoder
from ebsd_env.decoding.kernels import PackedLinear
from ebsd_env.decoding.models import ModelLoadError, load_pair
from ebsd_env.decoding.tiny import tiny_model, tiny_tokenizer


def _save(folder, alphabet, seed):
    tokenizer = tiny_tokenizer(alphabet)
    tiny_model(len(tokenizer), seed).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_no_call_passes_past_key_values_which_transformers_removes():
    """transformers 5.24 renamed the KV cache argument of every model's forward to `cache` and warns that
    `past_key_values` goes in 5.40 (pyproject allows < 6): the project and its tests pass `cache=` (the drafters'
    own forward still accepts `past_key_values` as a parameter; no call passes it)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    call = re.compile(r"past_key_values\s*=(?!=)")
    offenders = [f"{path.relative_to(root)}:{number}: {line.strip()}"
                 for folder in ("ebsd_env", "policies", "train", "eval", "scripts", "tests")
                 for path in sorted((root / folder).rglob("*.py")) if path.name != "test_models.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if call.search(line)]
    assert not offenders, "pass the KV cache as cache=...:\n" + "\n".join(offenders)


def test_pair_from_local_folders(tmp_path):
    verifier = _save(tmp_path / "verifier", "abcdefgh ", 0)
    drafter = _save(tmp_path / "drafter", "abcdefgh ", 1)
    pair = load_pair(drafter=drafter, verifier=verifier)
    assert pair.vocab_size == 12 and pair.drafter_name == drafter
    result = SpeculativeDecoder(pair, max_new_tokens=10).generate("abc", 2)
    assert len(result.token_ids) >= 1


def test_mismatched_tokenizers_are_refused_naming_both_models(tmp_path):
    verifier = _save(tmp_path / "verifier", "abcdefgh ", 0)
    drafter = _save(tmp_path / "drafter", "hgfedcba ", 1)  # same symbols, other ids
    with pytest.raises(ModelLoadError, match="tokenize differently") as info:
        load_pair(drafter=drafter, verifier=verifier)
    assert drafter in str(info.value) and verifier in str(info.value)


def test_unknown_models_get_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_pair(verifier=str(tmp_path / "missing" / "model"))
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_pair(verifier=str(tmp_path / "model.gguf"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="config.json"):
        load_pair(verifier=str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="Hugging Face id"):
        load_pair(verifier="no-such-org/no-such-model")
    verifier = _save(tmp_path / "verifier", "abc", 0)
    with pytest.raises(ModelLoadError, match=r"derived drafter \(int4, int8, int8-dynamic, bf16, self") as info:
        load_pair(drafter="int9", verifier=verifier)
    assert "\n" not in str(info.value)  # one line, however long the hub's own message is


def test_kernel_variants_keep_logits_and_greedy_outputs(tmp_path):
    verifier = _save(tmp_path / "verifier", "abcdefgh ", 0)
    drafter = _save(tmp_path / "drafter", "abcdefgh ", 1)
    plain = load_pair(drafter=drafter, verifier=verifier, kernels="plain")
    fast = load_pair(drafter=drafter, verifier=verifier, kernels="onednn")
    assert fast.metadata["kernels"] == {"verifier": "onednn", "drafter": "onednn"}
    assert plain.metadata["kernels"] == {"verifier": "plain", "drafter": "plain"}
    assert not any(type(m) is torch.nn.Linear for m in fast.verifier.modules())  # every linear was repacked
    assert not any(type(m) is torch.nn.Linear for m in fast.drafter.modules())
    assert not any(isinstance(m, PackedLinear) for m in plain.verifier.modules())
    ids = torch.tensor([[3, 4, 5, 6, 7, 3, 4]])
    with torch.inference_mode():
        torch.testing.assert_close(fast.verifier(input_ids=ids).logits, plain.verifier(input_ids=ids).logits,
                                   rtol=1e-4, atol=1e-4)
    reference = plain.verifier.generate(ids, max_new_tokens=20, do_sample=False)[0, ids.shape[1]:].tolist()
    decoder = SpeculativeDecoder(fast, max_new_tokens=20)
    assert decoder.generate(ids, 3).token_ids[: len(reference)] == reference
    with pytest.raises(ModelLoadError, match="kernels='onednn' cannot run on 'meta'"):
        load_pair(drafter=drafter, verifier=verifier, device="meta", kernels="onednn")
    with pytest.raises(ModelLoadError, match="unknown kernels 'fast'; valid: auto, plain, onednn"):
        load_pair(drafter=drafter, verifier=verifier, kernels="fast")
    # The deprecated flag still works: True is onednn, False plain.
    assert load_pair(drafter=drafter, verifier=verifier, fast_kernels=True).metadata["kernels"]["verifier"] == "onednn"
    assert load_pair(drafter=drafter, verifier=verifier, fast_kernels=False).metadata["kernels"]["drafter"] == "plain"


def test_auto_kernels_are_measured_once_and_recorded_per_model(tmp_path):
    verifier = _save(tmp_path / "verifier", "abcdefgh ", 0)
    pair = load_pair(drafter="self", verifier=verifier)  # kernels="auto" is the default
    selection = pair.metadata["kernel_selection"]
    # On the CPU the verifier attends by the few-query kernel where it builds, else through grouped KV heads
    # (ebsd_env.decoding.attention).
    from ebsd_env.decoding.attention import few_query_problem

    few_query = few_query_problem() is None
    assert pair.metadata["verifier_attention"] == ("few-query-avx2" if few_query else "grouped")
    assert pair.verifier.config._attn_implementation == ("ebsd_few_query" if few_query else "ebsd_grouped_sdpa")
    assert pair.metadata["width_invariant"] == (few_query and all(
        variant == "avx2-panels" for variant in selection["verifier"]["by_bucket"].values()))
    assert set(pair.metadata["kernels"]) == {"verifier", "drafter"}
    assert selection["verifier"]["source"] in ("measured", "cache", "only variant available")
    assert set(selection["verifier"]["by_bucket"]) == {"1", "2", "3-4", "5-8", "9-16", "17+"}
    if selection["verifier"]["source"] == "measured":  # per bucket of rows, per variant
        timings = selection["verifier"]["timings_ms"]
        assert set(timings) == set(selection["verifier"]["by_bucket"])
        assert all(set(ms) == {"plain", "onednn", "transposed", "weight-left"} for ms in timings.values())
    again = load_pair(drafter="int8", verifier=verifier)
    assert again.metadata["kernel_selection"]["verifier"]["source"] in ("cache", "only variant available")
    assert again.metadata["kernels"]["verifier"] == pair.metadata["kernels"]["verifier"]
    # A quantized drafter has no float32 linear layer: nothing to choose.
    assert again.metadata["kernel_selection"]["drafter"]["source"] == "no float32 linear layers"


def test_default_drafter_is_int4_where_its_kernels_run_and_the_feature_drafter_elsewhere():
    from ebsd_env.decoding.models import default_drafter

    assert default_drafter() == default_drafter("cpu", torch.float32) == "int4"
    assert default_drafter("cuda") == default_drafter("cpu", torch.bfloat16) == "feature"
    assert default_drafter("cpu", device_map="auto") == "feature"


@pytest.mark.slow
def test_default_embedded_pair_drafts_with_the_int4_runner(embedded_pair):
    from ebsd_env.decoding.drafting import QuantizedCopyDraft, strategy_for
    from ebsd_env.decoding.quantized.runner import QuantizedLlamaRunner

    assert embedded_pair.drafter_name == "int4"
    strategy = strategy_for(embedded_pair.drafter)
    assert isinstance(strategy, QuantizedCopyDraft) and isinstance(strategy.runner, QuantizedLlamaRunner)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["feature-v2", "feature-v1"])
def test_shipped_feature_drafters_are_small_and_exact(name):
    from ebsd_env.decoding.drafters import SHIPPED_DRAFTERS, FeatureDrafter
    from ebsd_env.decoding.models import cached_pair

    pair = cached_pair(name)
    assert isinstance(pair.drafter, FeatureDrafter)
    assert pair.drafter.metadata == json.loads((SHIPPED_DRAFTERS[name] / "config.json").read_text())["metadata"]
    weights = SHIPPED_DRAFTERS[name] / "model.safetensors"
    assert weights.stat().st_size <= 25 * 2**20 and (SHIPPED_DRAFTERS[name] / "README.md").is_file()
    # Shares the verifier's tokenizer: it reads the verifier's own embedding and drafts over its vocabulary.
    assert pair.drafter._embedding is pair.verifier.get_input_embeddings()
    assert pair.drafter.config.vocab_size == pair.verifier.config.vocab_size == len(pair.tokenizer)
    decoder = SpeculativeDecoder(pair, max_new_tokens=32)
    entropies, drafted, accepted = [], 0, 0
    for content in ("Explain in two sentences why the sky is blue.", "What is the capital of France?",
                    "Write a Python function that reverses a string."):
        chat = [{"role": "user", "content": content}]
        ids = decoder.encode_prompt(chat)
        reference = pair.verifier.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False)[0, len(ids):]
        for threshold in (-1.0, 2.0):  # stop after a token whose entropy exceeds it (-1: after every token)
            decoder.start(chat)
            while not decoder.finished:
                while decoder.draft_room and len(decoder.draft_steps) < 8:
                    entropies.append(decoder.draft().entropy)
                    if entropies[-1] > threshold:
                        break
                decoder.verify()
            assert decoder.new_tokens == reference.tolist()
            drafted, accepted = drafted + decoder.stats.drafted, accepted + decoder.stats.accepted
    # It agrees with the verifier often, pooled over the prompts (single prompts range from about 0.1 to 0.8).
    assert accepted > 0.25 * drafted
    assert max(entropies) - min(entropies) > 1.0  # and its confidence varies: a stop rule has signal


@pytest.mark.slow
@pytest.mark.parametrize("drafter", ["feature-v2", "feature-v1", "int4", "int8", "ngram", "int4, kernels by width",
                                     "int4, avx2-panels"])
def test_embedded_pair_greedy_exactness(run_policy, drafter):
    """Every drafter kind, fixed k and two policies in both stop modes: the output is the verifier's own greedy output;
    also with a verifier whose forwards run different kernels by width (plain for one token, oneDNN for the
    blocks and the prefill), and with our AVX2 kernel for every width, whatever this machine's measurement would
    choose."""
    from ebsd_env.decoding.kernels import VARIANTS, WidthDispatchLinear, apply_choice, everywhere
    from ebsd_env.decoding.kernels.panels import PanelLinear
    from ebsd_env.decoding.models import cached_pair

    if drafter.endswith("avx2-panels"):
        if not VARIANTS["avx2-panels"].available(torch.device("cpu")):
            pytest.skip("avx2-panels cannot run on this CPU")
        drafter = drafter.partition(",")[0]
        pair = load_pair(drafter, kernels="avx2-panels")
        assert isinstance(pair.verifier.get_output_embeddings(), PanelLinear)
    elif drafter.endswith("by width"):
        drafter = drafter.partition(",")[0]
        pair = load_pair(drafter, kernels="plain")
        apply_choice(pair.verifier, {**everywhere("onednn"), "1": "plain", "3-4": "plain"})
        assert isinstance(pair.verifier.get_output_embeddings(), WidthDispatchLinear)
    else:
        pair = cached_pair(drafter)
    assert pair.verifier_name.startswith("embedded:") and pair.vocab_size == 49152
    decoder = SpeculativeDecoder(pair, max_new_tokens=24)
    for content in ("Name three primary colors.", "Write a Python function that reverses a string."):
        chat = [{"role": "user", "content": content}]
        ids = decoder.encode_prompt(chat)
        reference = pair.verifier.generate(torch.tensor([ids]), max_new_tokens=24, do_sample=False)[0, len(ids):]
        reference = reference.tolist()
        assert decoder.generate(chat).token_ids == reference
        drafted = accepted = 0
        for k in (1, 4):
            result = decoder.generate(chat, k)
            assert result.token_ids == reference, (drafter, k)
            drafted += result.stats["drafted"]
            accepted += result.stats["accepted"]
        for stop_mode in ("include", "exclude"):  # by entropy; at 3 tokens (exclude: the 4th drafted, discarded)
            for spec in ("entropy-abs:theta=1.0", "entropy-abs:theta=100.0,max=3"):
                stats = run_policy(pair, ids, spec, max_draft_len=8, stop_mode=stop_mode, max_new_tokens=24)[0]
                assert stats["output_ids"] == reference, (drafter, stop_mode, spec)
                drafted += stats["drafted"]
                accepted += stats["accepted"]
        # A real drafter: some draft tokens accepted (prompt lookup may find no repeat in 24 tokens), and the
        # learned one also has rejections (the quantized copies may agree throughout).
        assert accepted > 0 or drafter == "ngram"
        assert accepted < drafted or drafter in ("int4", "int8")


@pytest.mark.slow
def test_embedded_pair_sampling_runs_and_is_seeded(embedded_pair):
    chat = [{"role": "user", "content": "Tell me a joke."}]
    runs = [SpeculativeDecoder(embedded_pair, temperature=0.8, seed=5).generate(chat, 3, max_new_tokens=16)
            for _ in range(2)]
    assert runs[0].token_ids == runs[1].token_ids and len(runs[0].token_ids) > 0


def test_cli_reports_bad_input_without_a_traceback(capsys, tmp_path):
    from ebsd_env.cli import main

    assert main(["generate", "--verifier", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "ebsd generate: error:" in err and "does not exist" in err and "Traceback" not in err
    assert main(["no-such-command"]) == 2
