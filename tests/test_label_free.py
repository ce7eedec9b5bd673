from helpers.corpus import chunk_documents, html_to_text
from helpers.data import DATA_DIR
from helpers.evaluation import EmbeddingCache
from helpers.label_free import crop_pairs, heading_queries, headings, teacher_margins

import pytest


def test_crops_are_proper_spans_of_their_document_and_seeded():
    corpus = {f"d{i}": " ".join(f"w{i}_{j}" for j in range(2 + i % 9)) for i in range(200)}
    pairs = crop_pairs(corpus, seed=3)
    assert len(pairs) == 200 and [d for _, d in pairs] == list(corpus.values())
    for span, doc in pairs:
        words, span_words = doc.split(), span.split()
        assert 1 <= len(span_words) < len(words) and f" {span} " in f" {doc} "
    assert crop_pairs(corpus, seed=3) == pairs != crop_pairs(corpus, seed=4)
    sample = crop_pairs(corpus, n=50, seed=3)
    assert len(sample) == 50 and len({d for _, d in sample}) == 50


def test_crop_fractions_are_checked():
    with pytest.raises(ValueError, match="min_fraction"):
        crop_pairs({"d": "a b"}, min_fraction=0.8, max_fraction=0.5)


MARKDOWN = "# Release notes\n\nWhat changed.\n\n## Upgrading\n\nStop the server first.\n"
RST = "Release notes\n=============\n\nUpgrading\n---------\nStop the server first.\n"
ASCIIDOC = "[[upgrade]]\nHow do I upgrade?::\n\tStop the server first.\n"
HTML = "<h1>Release notes</h1><p>What changed.</p><h2>Upgrading</h2><p>Stop the server first.</p>"


@pytest.mark.parametrize("text, expected", [
    (MARKDOWN, ["Release notes", "Upgrading"]),
    (RST, ["Release notes", "Upgrading"]),
    (ASCIIDOC, ["How do I upgrade?"]),
    (html_to_text(HTML), ["Release notes", "Upgrading"]),
    # prose is not a heading: a wrapped paragraph's short last line, a sentence, a lone number
    ("A long paragraph that wraps\nat the end.\n\nOne sentence only.\n\n42\n", []),
])
def test_headings_in_each_format_and_never_in_prose(text, expected):
    found = headings(text)
    assert [h for _, h in found] == expected
    assert all(text[offset:].lstrip("#= ").startswith(h) for offset, h in found)


def test_a_heading_is_the_query_of_the_chunk_below_it_under_its_documents_title():
    text = "Guide\n=====\n\n" + " ".join(f"w{i}" for i in range(40)) + "\n\nInstalling\n----------\n\n" + \
        " ".join(f"v{i}" for i in range(40))
    chunks = chunk_documents({"guide.rst": text, "plain.txt": "no headings here at all."}, max_words=45)
    pairs = heading_queries({"guide.rst": text, "plain.txt": "no headings here at all."}, chunks)
    below = next(c for c in chunks if "v0" in c.text)
    assert pairs == [(below.id, "Guide: Installing")]  # the title alone heads nothing; plain.txt gives none


def test_the_git_pages_give_option_names_and_faq_questions_as_queries():
    docs = {name: (html_to_text if name.endswith(".html") else str)((DATA_DIR / "raw" / "git-docs" / "docs" / name).read_text())
            for name in ("git-clean.html", "gitfaq.txt")}
    queries = {q for _, q in heading_queries(docs, chunk_documents(docs))}
    assert "git-clean(1) Manual Page: --dry-run" in queries
    assert "gitfaq(7): How do I ignore changes to a tracked file?" in queries


def test_the_teacher_margin_is_positive_where_the_teacher_prefers_the_positive(minilm):
    triplets = [("treatment of asthma attacks", "asthma exacerbation therapy", "fracture of the left femur"),
                ("fracture of the left femur", "asthma exacerbation therapy", "broken thigh bone, left side")]
    cache = EmbeddingCache()
    labelled = teacher_margins(triplets, minilm, cache)
    assert [t[:3] for t in labelled] == triplets
    assert labelled[0][3] > 0.2 and labelled[1][3] < -0.2
    q, p, n, margin = labelled[0]
    e = cache.encode(minilm, [q], kind="query")[0], cache.encode(minilm, [p, n])
    assert margin == pytest.approx(float(e[0] @ e[1][0] - e[0] @ e[1][1]), abs=1e-6)


def test_the_plot_has_a_panel_per_dataset_with_the_gold_reference():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from helpers.label_free import plot_sources

    rows = pd.DataFrame({"name": ["no fine-tuning", "gold", "crops"], "pairs": [0, 100, 100], "lift": [0.0, 6.0, 1.0],
                         "ci_low": [0.0, 4.0, -1.0], "ci_high": [0.0, 8.0, 3.0], "train_s": [0.0, 10.0, 9.0],
                         "source_s": [0.0, 0.0, 1.0]}).set_index("name")
    axes = plot_sources({"a": rows, "b": rows.drop(index="gold")})
    assert len(axes) == 2
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["gold pairs: +6.0", "half of it: +3.0"]
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["crops (10 s)"]
    assert axes[1].get_legend() is None  # no reference row, no reference line
