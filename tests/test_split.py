"""`ebsd split`: train, validation and test prompts per category and, for domain shift, whole held-out
categories."""

from __future__ import annotations

import json

import pytest

from eval.split import main as split_main

CATEGORIES = ("translation", "qa", "summarization")


def read_rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_train_validation_and_test_are_disjoint_and_sized_per_category(tmp_path):
    out = tmp_path / "split"
    assert split_main(["--pair", "tiny-noisy", "--categories", *CATEGORIES, "--verdict-per-category", "3",
                       "--validation-per-category", "2", "--train-per-category", "4", "--out", str(out)]) == 0
    sets = {name: read_rows(out / f"{name}.jsonl") for name in ("train", "validation", "test")}
    ids = {name: [row["id"] for row in rows] for name, rows in sets.items()}
    for name, listed in ids.items():
        assert len(listed) == len(set(listed)), name
    assert not set(ids["train"]) & set(ids["validation"])
    assert not set(ids["train"]) & set(ids["test"])
    assert not set(ids["validation"]) & set(ids["test"])
    summary = json.loads((out / "split.json").read_text())
    assert summary["counts"] == {"train": dict.fromkeys(CATEGORIES, 4), "validation": dict.fromkeys(CATEGORIES, 2),
                                 "test": dict.fromkeys(CATEGORIES, 3)}
    assert not (out / "verdict.jsonl").exists()


def test_leave_one_category_out_keeps_the_category_out_of_training_and_validation(tmp_path):
    base, held = tmp_path / "base", tmp_path / "held"
    common = ["--pair", "tiny-noisy", "--categories", *CATEGORIES, "--verdict-per-category", "3",
              "--validation-per-category", "2", "--train-per-category", "4"]
    assert split_main([*common, "--out", str(base)]) == 0
    assert split_main([*common, "--out", str(held), "--holdout-categories", "qa"]) == 0
    train, test = read_rows(held / "train.jsonl"), read_rows(held / "test.jsonl")
    validation = read_rows(held / "validation.jsonl")
    assert {row["category"] for row in train} == {"translation", "summarization"}
    assert {row["category"] for row in validation} == {"translation", "summarization"}
    assert sum(row["category"] == "qa" for row in test) == 3
    # Holding a category out changes nothing else: the same test prompts, the same other rows.
    assert test == read_rows(base / "test.jsonl")
    assert train == [row for row in read_rows(base / "train.jsonl") if row["category"] != "qa"]
    assert validation == [row for row in read_rows(base / "validation.jsonl") if row["category"] != "qa"]
    assert not {row["id"] for row in test} & {row["id"] for row in train}
    summary = json.loads((held / "split.json").read_text())
    assert summary["holdout_categories"] == ["qa"]
    assert summary["verdict_holdout"] == {"translation": "prompts", "qa": "category", "summarization": "prompts"}
    assert summary["counts"]["train"] == {"translation": 4, "summarization": 4}
    assert json.loads((base / "split.json").read_text())["holdout_categories"] == []


def test_test_prompts_are_served_before_validation_where_the_unseen_pool_is_short():
    from eval.split import split_unseen

    unseen = [{"id": f"{c}{i}", "category": c} for c in "ab" for i in range(4)]
    test, validation = split_unseen(unseen, 3, holdout={"b"})
    assert [row["id"] for row in test] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert [row["id"] for row in validation] == ["a3"]  # b is held out: no validation prompts


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


def test_extend_keeps_train_and_validation_and_draws_fresh_test_prompts(tmp_path):
    base, extended = tmp_path / "base", tmp_path / "extended"
    common = ["--pair", "tiny-noisy", "--categories", *CATEGORIES, "--validation-per-category", "2",
              "--train-per-category", "4"]
    assert split_main([*common, "--verdict-per-category", "2", "--out", str(base)]) == 0
    assert split_main([*common, "--verdict-per-category", "5", "--out", str(extended), "--extend", str(base)]) == 0
    for name in ("train", "validation"):  # byte for byte: their traces and training stay valid
        assert (extended / f"{name}.jsonl").read_text() == (base / f"{name}.jsonl").read_text()
    test = read_rows(extended / "test.jsonl")
    kept = {row["id"] for name in ("train", "validation") for row in read_rows(base / f"{name}.jsonl")}
    assert not {row["id"] for row in test} & kept
    assert len({row["id"] for row in test}) == len(test)
    summary = json.loads((extended / "split.json").read_text())
    assert summary["counts"]["test"] == dict.fromkeys(CATEGORIES, 5)
    assert summary["extends"]["split"] == str(base)


def test_extend_refuses_a_folder_that_is_not_a_split_before_any_file(tmp_path):
    out = tmp_path / "split"
    with pytest.raises(FileNotFoundError, match="--extend .*train.jsonl.* missing"):
        split_main(["--pair", "tiny-noisy", "--categories", *CATEGORIES, "--out", str(out),
                    "--extend", str(tmp_path / "nothing")])
    assert not out.exists()
