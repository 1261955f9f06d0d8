"""The docs cannot go stale: every marked figure equals what its committed result file says (`eval.docs`), and
no document sends a reader to a file that is not in the repository."""

from __future__ import annotations

import re
import subprocess

import pytest

from eval import docs


def test_every_figure_in_the_docs_matches_its_result_file():
    assert docs.stale() == [], "run `python -m eval.docs` after committing the new result files"


def test_a_figure_that_drifted_is_caught_and_rewritten():
    marked = "agreement <!-- figure: drafter.agreement -->0.99<!-- /figure --> on new prompts"
    wanted = docs.render("drafter.agreement")
    assert wanted != "0.99"
    expected = f"agreement <!-- figure: drafter.agreement -->{wanted}<!-- /figure --> on new prompts"
    assert docs.rewrite(marked) == expected
    with pytest.raises(KeyError, match="unknown figure 'drafter.nothing'"):
        docs.rewrite("<!-- figure: drafter.nothing -->1<!-- /figure -->")


def test_every_named_figure_renders_and_is_used():
    used = {match["name"] for path in docs.documents() for match in docs.MARKER.finditer(path.read_text())}
    for name in docs.FIGURES:
        assert docs.render(name).strip(), name
    assert used == set(docs.FIGURES), f"figures defined but never placed: {sorted(set(docs.FIGURES) - used)}"


def test_no_reference_to_documents_outside_the_repository():
    """A clone holds only what is committed: cite the public source (paper, repository path), not private notes."""
    # Spelled in pieces so that this test itself is not a hit of `git grep` for them.
    pattern = "|".join(("shared" + "/research", "anchors" + " §", "plan" + " §", "research" + " notes"))
    found = subprocess.run(["git", "grep", "-n", "-E", pattern],
                           cwd=docs.ROOT, capture_output=True, text=True)
    assert found.returncode in (0, 1) and not found.stdout, found.stdout


def test_markers_are_balanced():
    for path in docs.documents():
        text = path.read_text()
        opened, closed = len(re.findall(r"<!-- figure: ", text)), text.count("<!-- /figure -->")
        assert opened == closed == len(docs.MARKER.findall(text)), path
