"""`ebsd split`: held-out prompts per category and, for domain shift, whole held-out categories."""

from __future__ import annotations

import json

import pytest

from eval.split import main as split_main

CATEGORIES = ("translation", "qa", "summarization")


def read_rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_leave_one_category_out_keeps_the_category_out_of_training(tmp_path):
    base, held = tmp_path / "base", tmp_path / "held"
    common = ["--pair", "tiny-noisy", "--categories", *CATEGORIES, "--verdict-per-category", "3",
              "--train-per-category", "4"]
    assert split_main([*common, "--out", str(base)]) == 0
    assert split_main([*common, "--out", str(held), "--holdout-categories", "qa"]) == 0
    train, verdict = read_rows(held / "train.jsonl"), read_rows(held / "verdict.jsonl")
    assert {row["category"] for row in train} == {"translation", "summarization"}
    assert sum(row["category"] == "qa" for row in verdict) == 3
    # Holding a category out changes nothing else: the same verdict, the same training rows of the others.
    assert verdict == read_rows(base / "verdict.jsonl")
    assert train == [row for row in read_rows(base / "train.jsonl") if row["category"] != "qa"]
    assert not {row["id"] for row in verdict} & {row["id"] for row in train}
    summary = json.loads((held / "split.json").read_text())
    assert summary["holdout_categories"] == ["qa"]
    assert summary["verdict_holdout"] == {"translation": "prompts", "qa": "category", "summarization": "prompts"}
    assert summary["counts"]["train"] == {"translation": 4, "summarization": 4}
    assert json.loads((base / "split.json").read_text())["holdout_categories"] == []


@pytest.mark.parametrize("holdout, message", [
    (["poetry"], "--holdout-categories: poetry not among the split's categories; valid: translation, qa"),
    (["code"], "code not among the split's categories"),  # a built-in category outside --categories
    (["translation", "qa", "summarization"], "holds out every category .* nothing to train on"),
])
def test_bad_holdout_categories_fail_before_any_file(tmp_path, holdout, message):
    out = tmp_path / "split"
    with pytest.raises(ValueError, match=message):
        split_main(["--pair", "tiny-noisy", "--categories", *CATEGORIES, "--out", str(out),
                    "--holdout-categories", *holdout])
    assert not out.exists()
