"""Duplicate tokens (T-Free Tab. 1): surfaces of every kind of vocabulary, keys and counts."""

from __future__ import annotations

from collections import Counter

import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers

from toklab.evaluation.duplicates import (
    count_duplicates,
    duplicate_key,
    duplicate_tokens,
    token_surfaces,
)
from toklab.evaluation.tokenizer_stats import evaluate_tokenizer
from toklab.tokenizers.bytespan import build_wordpiece_tokenizer


def byte_level_bpe(tokens: list[str], special: tuple[str, ...] = ()) -> Tokenizer:
    """A GPT-2-style BPE whose vocabulary is ``tokens`` (byte-level strings), no merges."""
    tokenizer = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, []))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in special])
    return tokenizer


def in_context(tokenizer: Tokenizer, anchor: int) -> dict[int, str]:
    """Each non-special id decoded after ``anchor``, the anchor's own text removed.

    Decoders that drop a first token's leading space (Metaspace, Strip) or keep a first
    token's ``##`` (WordPiece) decode a token as it reads inside text this way.
    """
    base = tokenizer.decode([anchor])
    surfaces = {}
    for token_id in range(tokenizer.get_vocab_size(with_added_tokens=True)):
        text = tokenizer.decode([anchor, token_id])  # special tokens are skipped
        if text != base:
            assert text.startswith(base)
            surfaces[token_id] = text[len(base) :]
    return surfaces


def test_paper_example_four_of_five():
    tokenizer = byte_level_bpe(["the", "Ġthe", "The", "ĠThe", "cat"], special=("<|endoftext|>",))
    assert token_surfaces(tokenizer) == {0: "the", 1: " the", 2: "The", 3: " The", 4: "cat"}
    result = duplicate_tokens(tokenizer)
    assert (result.tokens, result.duplicates, result.groups) == (5, 4, 1)
    assert result.share == pytest.approx(0.8)
    assert result.redundant == pytest.approx(0.6)
    assert result.columns() == {
        "duplicate_tokens": pytest.approx(0.8),
        "duplicate_tokens_count": 4,
        "duplicate_tokens_redundant": pytest.approx(0.6),
    }


def test_keys_strip_one_space_and_lowercase_strings_only():
    assert duplicate_key(" The") == "the"
    assert duplicate_key("  x") == " x"
    assert duplicate_key("THE ") == "the "
    assert duplicate_key(b" \xc3") == b"\xc3"
    assert duplicate_key(b"A\xc3") == b"A\xc3"  # bytes are never lowercased
    assert count_duplicates(["  x", " x", "x"]).duplicates == 2  # "  x" keeps one space
    assert count_duplicates([b"A\xc3", b"a\xc3"]).duplicates == 0
    assert count_duplicates([b"a", "a"]).duplicates == 0  # bytes never equal a string
    assert count_duplicates(["a", "b"]).duplicates == 0
    assert count_duplicates([]).tokens == 0


def test_byte_level_partial_characters_are_bytes():
    # Ã = byte 0xC3 (a lead byte alone), Ã© = "é", Ãī = "É", Ċ = newline
    tokenizer = byte_level_bpe(["Ã", "ĠÃ", "Ã©", "Ãī", "Ċ", "ĠĊ", "A"])
    surfaces = token_surfaces(tokenizer)
    assert surfaces == {0: b"\xc3", 1: b" \xc3", 2: "é", 3: "É", 4: "\n", 5: " \n", 6: "A"}
    assert duplicate_tokens(tokenizer).duplicates == 6


def test_wordpiece_continuations_and_implied_spaces():
    vocab = ["[UNK]", "the", "##the", "The", "cat", "##s", "s", "##S", "dog"]
    tokenizer = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(cleanup=False)
    surfaces = token_surfaces(tokenizer)
    assert 0 not in surfaces  # the unknown token is special even when not an added token
    assert surfaces[1] == " the" and surfaces[2] == "the" and surfaces[7] == "S"
    expected = in_context(tokenizer, anchor=vocab.index("dog"))
    del expected[0]
    assert surfaces == expected
    result = duplicate_tokens(tokenizer)
    # the / ##the / The, ##s / s / ##S; cat and dog are unique
    assert (result.tokens, result.duplicates, result.groups) == (8, 6, 2)


def test_bytespan_wordpiece_spaces_are_bytes():
    vocab = [(True, b" the"), (False, b"the"), (True, b"The"), (True, b" cat"), (False, b"s")]
    vocab += [(True, bytes([b])) for b in b" tTheacs"]
    tokenizer = build_wordpiece_tokenizer(vocab, ["<|endoftext|>"])
    surfaces = token_surfaces(tokenizer)
    assert surfaces[0] == " the" and surfaces[1] == "the" and surfaces[2] == "The"
    assert surfaces == {
        i: tokenizer.decode([i]) for i in range(len(vocab))
    }  # no special token, no unk
    result = duplicate_tokens(tokenizer)
    # the, Ġthe, The; s (continuation) and s; t, T
    assert (result.tokens, result.duplicates) == (len(vocab), 3 + 2 + 2)


def unigram(pieces: list[str], byte_fallback: bool = False) -> Tokenizer:
    scored = [("<unk>", 0.0)] + [(p, -1.0 - i) for i, p in enumerate(pieces)]
    return Tokenizer(models.Unigram(scored, unk_id=0, byte_fallback=byte_fallback))


PIECES = ["▁the", "the", "▁The", "▁cat", "cat", "s", "▁", "▁▁a", "▁a"]


def test_sentencepiece_metaspace():
    tokenizer = unigram(PIECES)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.add_special_tokens([AddedToken("</s>", special=True)])
    surfaces = token_surfaces(tokenizer)
    assert surfaces[1] == " the" and surfaces[8] == "  a"
    expected = in_context(tokenizer, anchor=1 + PIECES.index("cat"))
    del expected[0]  # <unk>
    assert surfaces == expected
    result = duplicate_tokens(tokenizer)
    # ▁the/the/▁The, ▁cat/cat; "▁" (key ""), s, ▁▁a (key " a") and ▁a (key "a") are unique
    assert (result.tokens, result.duplicates, result.groups) == (len(PIECES), 5, 2)


def test_sentencepiece_llama_style_with_byte_fallback():
    pieces = [*PIECES, "A", "a", "<0x41>", "<0xC3>", "<0x20>"]
    tokenizer = unigram(pieces, byte_fallback=True)
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
    )
    tokenizer.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    tokenizer.add_special_tokens([AddedToken("<s>", special=True)])
    surfaces = token_surfaces(tokenizer)
    byte_ids = {p: 1 + pieces.index(p) for p in ("<0x41>", "<0xC3>", "<0x20>")}
    assert surfaces[byte_ids["<0x41>"]] == "A" and surfaces[byte_ids["<0x20>"]] == " "
    assert surfaces[byte_ids["<0xC3>"]] == b"\xc3"
    expected = in_context(tokenizer, anchor=1 + pieces.index("cat"))
    del expected[0]
    assert expected[byte_ids["<0xC3>"]] == "\ufffd"
    expected[byte_ids["<0xC3>"]] = b"\xc3"
    assert surfaces == expected
    # as before, plus ▁a / A / a / <0x41>, and <0x20> = " " shares the key "" with "▁"
    result = duplicate_tokens(tokenizer)
    assert (result.tokens, result.duplicates, result.groups) == (len(pieces), 5 + 4 + 2, 4)


def test_gpt2_against_decoding_each_id(shared_data):
    fixtures = shared_data / "cs336"
    tokenizer = Tokenizer(
        models.BPE.from_file(str(fixtures / "gpt2_vocab.json"), str(fixtures / "gpt2_merges.txt"))
    )
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    surfaces = token_surfaces(tokenizer)
    assert len(surfaces) == 50_256 and 50_256 not in surfaces  # <|endoftext|> left out
    keys = {}
    for token_id in range(tokenizer.get_vocab_size(with_added_tokens=True)):
        text = tokenizer.decode([token_id])
        if not text:  # the special token
            continue
        if isinstance(surfaces[token_id], bytes):  # part of a character
            assert "\ufffd" in text
            assert surfaces[token_id].decode("utf-8", errors="replace") == text
            # compared as bytes: in their byte-level spelling, without one leading space
            keys[token_id] = ("bytes", tokenizer.id_to_token(token_id).removeprefix("Ġ"))
        else:
            assert surfaces[token_id] == text
            keys[token_id] = text.removeprefix(" ").lower()
    counts = Counter(keys.values())
    brute_force = sum(c for c in counts.values() if c > 1)
    result = duplicate_tokens(tokenizer)
    assert result.tokens == len(keys) == 50_256
    assert result.duplicates == brute_force
    assert result.groups == sum(1 for c in counts.values() if c > 1)
    assert 0.45 < result.share < 0.60  # 53.06%: " the", "The", ... all count
    assert 0.25 < result.redundant < 0.40  # 34.19%, near the paper's 35% for BPE 64k


def test_tokenizer_json_path(tmp_path):
    tokenizer = byte_level_bpe(["the", "Ġthe", "cat"], special=("<|endoftext|>",))
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    assert duplicate_tokens(path) == duplicate_tokens(tokenizer)
    assert duplicate_tokens(str(path)).duplicates == 2


def test_every_stats_row_carries_the_vocabulary_value():
    tokens = ["Ġ", "t", "h", "e", "c", "a", "T", "the", "Ġthe", "The", "ĠThe", "Ġcat"]
    tokenizer = byte_level_bpe(tokens, special=("<|endoftext|>",))
    documents = [("en", "the cat"), ("de", "The the"), ("en", "The cat")]
    rows = evaluate_tokenizer(tokenizer, documents)
    assert [r["language"] for r in rows] == ["de", "en", "all"]
    expected = duplicate_tokens(tokenizer)
    # t / T, the / Ġthe / The / ĠThe
    assert expected.duplicates == 6 and expected.tokens == len(tokens)
    for row in rows:
        assert row["duplicate_tokens"] == pytest.approx(6 / len(tokens))
        assert row["duplicate_tokens_count"] == 6
        assert row["duplicate_tokens_redundant"] == pytest.approx(4 / len(tokens))
