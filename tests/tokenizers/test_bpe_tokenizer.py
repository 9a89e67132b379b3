"""BPETokenizer: GPT-2 ids against independent references, round trips, specials, HF export."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers

from toklab.pretokenization import last_safe_cut
from toklab.tokenizers.bpe import BPETokenizer, train_bpe
from toklab.tokenizers.byte_unicode import bytes_to_unicode, decode_bytes, encode_bytes
from toklab.tokenizers.hf_bpe import train_hf_bpe
from toklab.tokenizers.tokenizer_files import read_merges_txt, read_vocab_json

from .test_bpe_training import PAT

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def gpt2(shared_data):
    fixtures = shared_data / "cs336"
    return BPETokenizer.from_files(
        fixtures / "gpt2_vocab.json", fixtures / "gpt2_merges.txt", [EOT]
    )


@pytest.fixture(scope="module")
def hf_gpt2(shared_data):
    """HF's own GPT-2 BPE built from the same files, independently of toklab's export."""
    fixtures = shared_data / "cs336"
    tokenizer = Tokenizer(
        models.BPE.from_file(str(fixtures / "gpt2_vocab.json"), str(fixtures / "gpt2_merges.txt"))
    )
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.add_special_tokens([EOT])
    return tokenizer


def reference_encode(text: str, tokenizer: BPETokenizer) -> list[int]:
    """Rank-ordered merges in pure Python: the textbook GPT-2 encoder."""
    ranks = {pair: i for i, pair in enumerate(tokenizer.merges)}
    ids = {token: i for i, token in tokenizer.vocab.items()}
    out: list[int] = []
    for part in text.split(EOT):
        for token in PAT.findall(part):
            word = [bytes([b]) for b in token.encode()]
            while len(word) > 1:
                pairs = [
                    (ranks.get(p, float("inf")), i) for i, p in enumerate(itertools.pairwise(word))
                ]
                rank, i = min(pairs)
                if rank == float("inf"):
                    break
                word[i : i + 2] = [word[i] + word[i + 1]]
            out += [ids[w] for w in word]
        out.append(ids[EOT.encode()])
    return out[:-1]


def test_byte_unicode_table_is_a_bijection():
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256 and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"
    data = bytes(range(256))
    assert decode_bytes(encode_bytes(data)) == data


FIXTURE_TEXTS = [
    "address.txt",
    "german.txt",
    "tinystories_sample.txt",
    "special_token_trailing_newlines.txt",
    "special_token_double_newlines_non_whitespace.txt",
]


@pytest.mark.parametrize("name", FIXTURE_TEXTS)
def test_gpt2_ids_on_fixtures(gpt2, hf_gpt2, shared_data, name):
    text = (shared_data / "cs336" / name).read_text(encoding="utf-8")
    ids = gpt2.encode(text)
    assert ids == hf_gpt2.encode(text).ids
    assert ids == reference_encode(text, gpt2)
    assert gpt2.decode(ids) == text


def test_gpt2_known_pieces(gpt2):
    ids = gpt2.encode("Hello, how are you?")
    assert [gpt2.decode([i]) for i in ids] == ["Hello", ",", " how", " are", " you", "?"]
    assert gpt2.encode(EOT) == [50256]


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=80)
    | st.text(alphabet=st.sampled_from(list(" \n\t'sé🙃ab<|>" + EOT)), max_size=80)
)
def test_gpt2_ids_on_random_unicode(gpt2, hf_gpt2, text):
    ids = gpt2.encode(text)
    assert ids == hf_gpt2.encode(text).ids
    assert gpt2.decode(ids) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "s",
        "🙃",
        "héllò hôw are ü?",
        f"{EOT}\n\n",
        f"{EOT}\n\ntesting!",
        f"Héllò hôw {EOT}{EOT} are ü? 🙃{EOT}",
    ],
)
def test_round_trips_and_specials(gpt2, text):
    ids = gpt2.encode(text)
    assert gpt2.decode(ids) == text
    assert ids.count(50256) == text.count(EOT)


def test_overlapping_specials_longest_first(shared_data):
    fixtures = shared_data / "cs336"
    double = EOT + EOT
    tokenizer = BPETokenizer.from_files(
        fixtures / "gpt2_vocab.json", fixtures / "gpt2_merges.txt", [EOT, double]
    )
    ids = tokenizer.encode(f"Hello, {double} world{EOT}!")
    pieces = [tokenizer.decode([i]) for i in ids]
    assert pieces.count(double) == 1 and pieces.count(EOT) == 1
    assert tokenizer.decode(ids) == f"Hello, {double} world{EOT}!"


def test_decode_invalid_utf8_gives_replacement(gpt2):
    partial = gpt2.encode("🙃")[:1]
    assert gpt2.decode(partial) == "\ufffd"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        gpt2.decode([10**7])


def test_encode_iterable_matches_encode(gpt2, shared_data):
    path = shared_data / "cs336" / "tinystories_sample.txt"
    with open(path, encoding="utf-8") as handle:
        streamed = list(gpt2.encode_iterable(handle, buffer_chars=64))
    assert streamed == gpt2.encode(path.read_text(encoding="utf-8"))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([*" \n\t.ab'é🙃", EOT, "<|endo", "ftext|>"]), max_size=20).map(
            "".join
        ),
        max_size=25,
    )
)
def test_encode_iterable_property(gpt2, pieces):
    assert list(gpt2.encode_iterable(pieces, buffer_chars=8)) == gpt2.encode("".join(pieces))


def test_last_safe_cut_avoids_specials():
    assert last_safe_cut("ab\ncd") == 2
    assert last_safe_cut("ab \ncd") == 0
    assert last_safe_cut("x<|a\n|>y", ["<|a\n|>"]) == 0
    assert last_safe_cut("x.\n<|a\n|>y", ["<|a\n|>"]) == 2


@pytest.fixture(scope="module")
def trained(shared_data):
    return train_bpe(shared_data / "cs336" / "tinystories_sample.txt", 400, [EOT])


def test_save_and_reload_identical_ids(trained, shared_data, tmp_path):
    tokenizer = BPETokenizer(*trained, special_tokens=[EOT])
    tokenizer.save(tmp_path)
    text = (shared_data / "cs336" / "tinystories_sample.txt").read_text(
        encoding="utf-8"
    ) + " Ünïcödé 🙃"
    from_json = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert from_json.encode(text).ids == tokenizer.encode(text)
    assert from_json.decode(from_json.encode(text).ids, skip_special_tokens=False) == text
    reloaded = BPETokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt", [EOT])
    assert reloaded.encode(text) == tokenizer.encode(text)
    assert read_vocab_json(tmp_path / "vocab.json") == trained[0]
    assert read_merges_txt(tmp_path / "merges.txt") == trained[1]
    assert (tmp_path / "merges.txt").read_text().startswith("#version: 0.2\n")


@pytest.mark.parametrize("backend", ["toklab", "hf"])
def test_delphi_specials_load_in_transformers(shared_data, tmp_path, backend):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    specials = ["<bos>", "<eos>", "<pad>"]
    text = (shared_data / "cs336" / "tinystories_sample.txt").read_text(encoding="utf-8")
    docs = [d.strip() for d in text.split(EOT) if d.strip()]
    if backend == "toklab":
        path = tmp_path / "train.txt"
        path.write_text("\n\n".join(docs))
        vocab, merges = train_bpe(path, 500, specials)
    else:
        vocab, merges = train_hf_bpe(docs, 500, specials)
        assert [vocab[i] for i in range(3)] == [
            s.encode() for s in specials
        ]  # Delphi's ids 0, 1, 2
    BPETokenizer(vocab, merges, specials).save(tmp_path / "tok")
    fast = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert isinstance(fast, PreTrainedTokenizerFast)
    assert (fast.bos_token, fast.eos_token, fast.pad_token) == tuple(specials)
    for doc in [*docs, "  leading spaces,\ttabs and ünïcödé 🙃 "]:
        ids = fast.encode(doc, add_special_tokens=False)
        assert fast.decode(ids) == doc  # the round trip Delphi claims but never checks
    wrapped = [
        fast.bos_token_id,
        *fast.encode(docs[0], add_special_tokens=False),
        fast.eos_token_id,
    ]
    assert fast.decode(wrapped) == f"<bos>{docs[0]}<eos>"
    assert (
        json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())[
            "clean_up_tokenization_spaces"
        ]
        is False
    )
