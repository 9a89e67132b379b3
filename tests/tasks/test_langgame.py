"""LangGame: questions checked per kind by an independent checker, rendering, files, encoding."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from tokenizers import Tokenizer

from toklab.errors import ConfigError, DataError
from toklab.tasks import langgame
from toklab.tasks.langgame import (
    KINDS,
    Question,
    encode_examples,
    generate_questions,
    read_jsonl,
    read_word_list,
    word_pool,
    write_jsonl,
)
from toklab.tokenizers.tokenizer_files import save_tokenizer_files

POOL_TEXT = """
a an the cat dog sun run big sky egg word tree book milk fish bird rain snow wind road
house green three world water light night chair table bread stone river cloud dream plant
apple banana letter coffee yellow spring summer winter little middle better street window
garden people number simple bottle pepper kitten rabbit button silent planet orange purple
between language question together mountain remember tomorrow elephant
"""
POOL = tuple(POOL_TEXT.split())

# The templates, written out again: every stem and list a question may have.
OPTIONS_NOUNS = ["options", "choices", "option words", "option strings"]
OPTION_NOUNS = ["word", "", "string", "option", "choice", "option word", "option string"]
ARTICLES = ["the", "the possible", "the available"]
ENDINGS = {
    "most_letter": "has the most letter '{}'s?",
    "contains": "contains '{}'?",
    "starts_with": "starts with '{}'?",
    "ends_with": "ends with '{}'?",
    "longest": "is the longest?",
    "shortest": "is the shortest?",
}


def valid_prompts(kind: str, aux: str | None, options: tuple[str, ...]) -> set[str]:
    ending = ENDINGS[kind].format(aux)
    listed = f"[ {', '.join(options)}]."
    prompts = set()
    for option, noun, the in itertools.product(OPTION_NOUNS, OPTIONS_NOUNS, ARTICLES):
        stems = [
            f"Which {option} {ending}",
            f"What {option} {ending}",
            f"Which of {the} {noun} {ending}",
        ]
        capital = the[0].upper() + the[1:]
        lists = [
            f"{capital} {noun}: {listed}",
            f"{capital} {noun} are: {listed}",
            f"These are {the} {noun}: {listed}",
        ]
        for stem, listing in itertools.product(stems, lists):
            prompts.add(f"{stem} {listing} Answer:")
            prompts.add(f"{listing} {stem} Answer:")
    return prompts


def aux_of(question: Question) -> str | None:
    if question.kind in ("longest", "shortest"):
        return None
    match = re.search(r"(?:letter|contains|with) '([^']+)'", question.prompt)
    assert match, question.prompt
    return match.group(1)


def correct_options(kind: str, aux: str | None, options: tuple[str, ...]) -> list[str]:
    """The options that answer the question, by the rules of each kind (checked strictly)."""
    if kind == "most_letter":
        assert len(aux) == 1 and aux.isalpha()
        counts = [option.count(aux) for option in options]
        assert sorted(counts)[-1] >= 2 and sorted(counts)[-2] <= 1
        return [o for o, c in zip(options, counts, strict=True) if c == max(counts)]
    if kind in ("contains", "starts_with", "ends_with"):
        assert 1 <= len(aux) <= 3
        test = {
            "contains": str.__contains__,
            "starts_with": str.startswith,
            "ends_with": str.endswith,
        }
        return [option for option in options if test[kind](option, aux)]
    lengths = sorted(len(option) for option in options)
    if kind == "longest":
        assert lengths[-1] >= 7 and lengths[-2] <= 4
        return [option for option in options if len(option) == lengths[-1]]
    assert lengths[0] <= 3 and lengths[1] >= 6
    return [option for option in options if len(option) == lengths[0]]


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    return generate_questions(POOL, 3000, seed=11)


def test_every_answer_is_the_only_correct_option(questions):
    for question in questions:
        assert question.kind in KINDS
        assert len(question.options) == 4 and len(set(question.options)) == 4
        assert set(question.options) <= set(POOL)
        assert question.answer in question.options
        aux = aux_of(question)
        assert correct_options(question.kind, aux, question.options) == [question.answer]
        if question.kind in ("contains", "starts_with", "ends_with"):
            assert aux in question.answer


def test_rendering_follows_the_templates(questions):
    double_spaces = 0
    for question in questions:
        assert question.prompt.endswith(" Answer:")
        assert question.completion == " " + question.answer
        assert question.prompt in valid_prompts(question.kind, aux_of(question), question.options)
        double_spaces += "  " in question.prompt
    assert 0 < double_spaces < len(questions)  # the empty synonym of "option", as in the original


def test_example_of_the_original_is_a_valid_prompt():
    example = (
        "The option strings: [ get, flat, paint, stretch]. What string starts with 'f'? Answer:"
    )
    assert example in valid_prompts("starts_with", "f", ("get", "flat", "paint", "stretch"))


def test_kinds_positions_and_order_are_uniform(questions):
    kinds = Counter(question.kind for question in questions)
    assert set(kinds) == set(KINDS)
    assert all(400 <= count <= 600 for count in kinds.values()), kinds
    positions = Counter(question.options.index(question.answer) for question in questions)
    assert all(600 <= count <= 900 for count in positions.values()), positions
    stem_first = sum(not question.prompt.startswith(("The", "These")) for question in questions)
    assert 1300 <= stem_first <= 1700


def test_determinism(questions):
    assert generate_questions(POOL, 3000, seed=11) == questions
    assert generate_questions(POOL, 50, seed=12) != questions[:50]
    assert generate_questions(POOL, 50, seed=11) == questions[:50]
    assert generate_questions(POOL, 0, seed=11) == []


def test_duplicates_in_the_pool_are_listed_once():
    for question in generate_questions(POOL + POOL[:30], 300, seed=2):
        assert len(set(question.options)) == 4


def test_piece_weights_match_the_original_retries():
    """Word uniform, length uniform in 1..min(3, len), start uniform; draws that leave fewer than
    three distractors retried: the pair probabilities, enumerated exactly."""
    words = ["ab", "ac", "ad", "ae", "xyz", "pqr"]  # 'a' is in 4 of 6 words: never asked
    for kind in ("contains", "starts_with", "ends_with"):
        has = {
            "contains": str.__contains__,
            "starts_with": str.startswith,
            "ends_with": str.endswith,
        }[kind]
        expected: Counter = Counter()
        for word in words:
            top = min(3, len(word))
            for length in range(1, top + 1):
                starts = {
                    "contains": range(len(word) - length + 1),
                    "starts_with": [0],
                    "ends_with": [len(word) - length],
                }[kind]
                for start in starts:
                    piece = word[start : start + length]
                    if sum(not has(w, piece) for w in words) >= 3:
                        expected[word, piece] += Fraction(1, len(words) * top * len(starts))
        total = sum(expected.values())
        pieces = langgame._Pieces(words, kind)
        weights = np.diff([0.0, *pieces.cumulative])
        got = Counter()
        for pair, weight in zip(pieces.pairs, weights, strict=True):
            got[pair] += weight / pieces.cumulative[-1]
        assert set(got) == set(expected)
        for pair, probability in expected.items():
            assert got[pair] == pytest.approx(float(probability / total)), (kind, pair)
        assert ("ab", "a") not in got


@pytest.mark.parametrize(
    ("words", "names"),
    [
        (["cat", "dog", "sun"], ["at least 4 distinct words"]),
        (["cat", "cat", "dog", "sun", "sky"], ["most_letter", "longest", "shortest"]),
        (POOL[:20], ["longest", "shortest"]),
        ([w for w in POOL if len(w) > 3], ["shortest"]),
        ([w for w in POOL if len(w) < 7], ["longest"]),
        # no letter twice in a word
        (["cat", "dog", "sun", "planet", "jumping", "orange", "bright"], ["most_letter"]),
    ],
)
def test_too_small_pools_are_one_line_errors(words, names):
    with pytest.raises(ConfigError) as err:
        generate_questions(words, 0, seed=0)  # checked before anything is drawn
    message = str(err.value)
    assert "\n" not in message
    for name in names:
        assert name in message
    for kind in set(KINDS) - set(names):
        if names != ["at least 4 distinct words"]:
            assert f"{kind} needs" not in message


def test_letter_pool_without_repeats_names_most_letter():
    words = ["abc", "def", "ghi", "jkl", "mnopqrs", "tuvwxyz", "bcd"]
    with pytest.raises(ConfigError, match="most_letter needs a letter") as err:
        generate_questions(words, 1, seed=0)
    assert "shortest" in str(err.value)  # no word of 6+ characters but two


def test_contains_pool_errors():
    # every 1-3 letter piece of every word is in at least 2 of the 4 words: 2 lack it, not 3
    words = ["aa", "aaa", "aaaa", "aaaaa"]
    with pytest.raises(ConfigError) as err:
        generate_questions(words, 1, seed=0)
    message = str(err.value)
    for kind in ("contains needs", "starts_with needs", "ends_with needs", "most_letter needs"):
        assert kind in message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"words": ["a b", "cat", "dog", "sun"]}, "without spaces"),
        ({"words": ["", "cat", "dog", "sun"]}, "without spaces"),
        ({"n": -1}, "non-negative"),
        ({"seed": "1"}, "seed"),
    ],
)
def test_argument_errors(kwargs, match):
    arguments = {"words": POOL, "n": 1, "seed": 0, **kwargs}
    with pytest.raises(ConfigError, match=match):
        generate_questions(arguments["words"], arguments["n"], arguments["seed"])


def test_word_pool_on_a_small_text():
    text = "The cat and the dog. THE CAT! a Dog, the 3rd café x_y don't"
    assert word_pool([text], size=4) == ["the", "cat", "dog", "a"]
    assert word_pool(text) == ["the", "cat", "dog", "a", "and", "don", "rd", "t", "x", "y"]
    assert word_pool(["b a", "a c", "c"], size=2) == ["a", "c"]  # ties alphabetically
    assert word_pool(iter(["Zz zz ZZ yy"]), size=5) == ["zz", "yy"]
    with pytest.raises(DataError, match="no words"):
        word_pool(["123 ... ü"])
    with pytest.raises(ConfigError, match="positive"):
        word_pool([text], size=0)


def test_read_word_list(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("the\n\n  of \nand\n\n", encoding="utf-8")
    assert read_word_list(path) == ["the", "of", "and"]
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match="empty") as err:
        read_word_list(path)
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="not found"):
        read_word_list(tmp_path / "missing.txt")
    path.write_text("one\ntwo words\n", encoding="utf-8")
    with pytest.raises(DataError, match=":2: more than one word"):
        read_word_list(path)


def test_jsonl_round_trip(tmp_path, questions):
    path = tmp_path / "sub" / "langgame.jsonl"
    write_jsonl(path, questions[:100])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 100
    record = json.loads(lines[0])
    assert sorted(record) == ["answer", "kind", "options", "prompt"]
    assert record["options"] == list(questions[0].options)
    assert read_jsonl(path) == questions[:100]
    write_jsonl(path, [])
    assert read_jsonl(path) == []


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("{not json", "not JSON"),
        ('{"prompt": "p", "options": ["a"], "answer": "a"}', "keys"),
        ('{"prompt": "p", "options": "a", "answer": "a", "kind": "longest"}', "list of strings"),
        ('{"prompt": "p", "options": ["a"], "answer": "b", "kind": "longest"}', "not among"),
        ('{"prompt": "p", "options": ["a"], "answer": "a", "kind": "oddest"}', "unknown"),
    ],
)
def test_read_jsonl_errors(tmp_path, line, match):
    path = tmp_path / "bad.jsonl"
    good = '{"prompt": "p", "options": ["a"], "answer": "a", "kind": "longest"}'
    path.write_text(f"{good}\n{line}\n", encoding="utf-8")
    with pytest.raises(DataError, match=match) as err:
        read_jsonl(path)
    assert f"{path}:2:" in str(err.value)
    with pytest.raises(DataError, match="not found"):
        read_jsonl(tmp_path / "missing.jsonl")


EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Tokenizer:
    vocab = {i: bytes([i]) for i in range(256)}
    merges = [(b" ", b"t"), (b"h", b"e"), (b" t", b"he"), (b"e", b"r"), (b" ", b"w"), (b"o", b"r")]
    for pair in merges:
        vocab[len(vocab)] = pair[0] + pair[1]
    vocab[len(vocab)] = EOT.encode()
    directory = tmp_path_factory.mktemp("tokenizer")
    save_tokenizer_files(directory, vocab, merges, [EOT])
    return Tokenizer.from_file(str(directory / "tokenizer.json"))


def test_encode_examples_against_encode(tokenizer, questions, monkeypatch):
    eos = tokenizer.token_to_id(EOT)
    sample = questions[:40]
    tokens, offsets, answer_start = encode_examples(tokenizer, sample, eos)
    assert tokens.dtype == offsets.dtype == answer_start.dtype == np.int64
    assert offsets.shape == (41,) and answer_start.shape == (40,) and offsets[0] == 0
    assert offsets[-1] == len(tokens)
    for i, question in enumerate(sample):
        prompt = tokenizer.encode(question.prompt, add_special_tokens=False).ids
        answer = tokenizer.encode(" " + question.answer, add_special_tokens=False).ids
        example = tokens[offsets[i] : offsets[i + 1]].tolist()
        assert example == prompt + answer + [eos]
        assert answer_start[i] == len(prompt)
        target = example[answer_start[i] : -1]
        assert tokenizer.decode(target) == " " + question.answer
    # the same arrays when the questions are encoded in several chunks
    monkeypatch.setattr(langgame, "_ENCODE_CHUNK", 7)
    chunked = encode_examples(tokenizer, sample, eos)
    for got, want in zip(chunked, (tokens, offsets, answer_start), strict=True):
        np.testing.assert_array_equal(got, want)


def test_encode_examples_edge_cases(tokenizer):
    tokens, offsets, answer_start = encode_examples(tokenizer, [], 0)
    assert tokens.shape == (0,) and offsets.tolist() == [0] and answer_start.shape == (0,)
    question = [Question("Q? Answer:", ("the", "cat"), "the", "shortest")]
    tokens, offsets, answer_start = encode_examples(tokenizer, question, np.int64(3))
    assert tokens[-1] == 3 and tokenizer.decode(tokens[answer_start[0] : -1].tolist()) == " the"
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    for bad in (size, -1, True, 1.0):
        with pytest.raises(ConfigError, match="eos_id"):
            encode_examples(tokenizer, question, bad)
