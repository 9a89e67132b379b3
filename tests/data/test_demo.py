import collections
import csv
import io
import itertools
import math
import re

import numpy as np
import pytest

from toklab.data.demo import DEMO_LANGUAGES, generate_documents, gold_segmentations, morphscore_csv


@pytest.fixture(scope="module")
def corpus():
    docs = list(itertools.islice(generate_documents(DEMO_LANGUAGES, 0), 600))
    return {lang: [d.text for d in docs if d.language == lang] for lang in DEMO_LANGUAGES}


def words(texts):
    return [w.lower() for t in texts for w in re.findall(r"[^\W\d_]+", t)]


@pytest.mark.parametrize("language", DEMO_LANGUAGES)
def test_gold_segmentations_are_consistent(language, corpus):
    gold = gold_segmentations(language, 0, 500)
    assert len(gold) == 500
    assert len({w.surface for w in gold}) == 500
    for word in gold:
        assert word.stem and word.ending and word.stem + word.ending == word.surface
    # gold words are words of the corpus: many occur in just 300 documents (suffix chains
    # make the agglutinative forms far more numerous), and their stems nearly all do
    vocabulary = set(words(corpus[language]))
    assert sum(w.surface in vocabulary for w in gold) / len(gold) > 0.4
    stems = {w[:n] for w in vocabulary for n in range(1, len(w) + 1)}
    assert sum(w.stem in stems for w in gold) / len(gold) > 0.9


def test_gold_is_deterministic():
    assert gold_segmentations("fusional", 5, 100) == gold_segmentations("fusional", 5, 100)
    assert gold_segmentations("fusional", 5, 100) != gold_segmentations("fusional", 6, 100)


@pytest.mark.parametrize("language", DEMO_LANGUAGES)
def test_word_frequencies_are_zipfian(language, corpus):
    counts = np.array(sorted(collections.Counter(words(corpus[language])).values(), reverse=True))
    ranks = np.arange(1, len(counts) + 1)
    top = slice(10, 1000)
    slope = np.polyfit(np.log(ranks[top]), np.log(counts[top]), 1)[0]
    assert -1.6 < slope < -0.6, slope
    assert len(counts) > 3000  # a rich vocabulary, not a handful of words


def test_documents_look_like_text(corpus):
    for texts in corpus.values():
        joined = "\n".join(texts)
        assert re.search(r"\d", joined) and "," in joined and "." in joined and "?" in joined
        assert "\n\n" in joined
        assert all(t[0].isupper() or t[0].isdigit() or t[0] in '"«' for t in texts)
        sizes = [len(t.encode()) for t in texts]
        assert 200 < np.median(sizes) < 5000


def test_languages_differ_in_morphology():
    """Agglutinative words stack suffixes; fusional words end in one short portmanteau ending."""
    endings = {
        lang: [w.ending for w in gold_segmentations(lang, 0, 1000)] for lang in DEMO_LANGUAGES
    }
    mean_length = {lang: np.mean([len(e) for e in ends]) for lang, ends in endings.items()}
    assert mean_length["agglutinative"] > mean_length["fusional"] + 1
    # Fusional endings come from a small closed table; agglutinative chains are many.
    assert len(set(endings["fusional"])) < 50 < len(set(endings["agglutinative"]))
    # Non-ASCII letters appear, so UTF-8 handling is exercised.
    assert any(not w.surface.isascii() for w in gold_segmentations("agglutinative", 0, 100))


def test_morphscore_csv_layout(shared_data):
    text = morphscore_csv(gold_segmentations("fusional", 0, 20))
    ours = list(csv.reader(io.StringIO(text)))
    real = list(
        csv.reader((shared_data / "morphscore" / "english_morph_data.csv").open(encoding="utf-8"))
    )
    assert ours[0] == real[0] == ["", "full_word", "pt1", "rest"]
    assert [row[0] for row in ours[1:]] == [str(i) for i in range(20)]
    assert all(row[2] + row[3] == row[1] for row in ours[1:])


def test_generation_speed_is_seconds():
    import time

    start = time.perf_counter()
    size = sum(len(d.text) for d in itertools.islice(generate_documents(DEMO_LANGUAGES, 9), 1000))
    elapsed = time.perf_counter() - start
    assert size > 500_000
    assert elapsed < 10 * math.ceil(size / 1_000_000)
