"""Bits per byte: against transformers, brute force, and each known way to get it wrong."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import byte_corpus, run_script
from tests.helpers import TINY_MODEL
from toklab.datasets.token_array import TokenArray, tokenize_corpus
from toklab.errors import ConfigError, DataError
from toklab.evaluation.bits_per_byte import document_windows, score_array
from toklab.models.llama import LlamaModel, ModelConfig, save_checkpoint
from toklab.tokenizers.byte_level import byte_level_tokenizer

#: Documents that fit the tiny model's 64 positions, and one that needs sliding windows.
SHORT = ["naïve café 日本語 🙃", "short", "", "aaaa aa été"]
TEXTS = [*SHORT, "a" * 150 + " and a longer tail of text " * 3]


def model_for(vocab_size: int, seed: int = 0) -> LlamaModel:
    torch.manual_seed(seed)
    return LlamaModel(ModelConfig(vocab_size=vocab_size, **TINY_MODEL)).eval()


def arrays(tmp_path, tokenizer, texts=TEXTS) -> TokenArray:
    tokenizer.save(tmp_path / "tok")
    prefix = byte_corpus(tmp_path / "corpus", texts)
    tokenize_corpus(tmp_path / "tok" / "tokenizer.json", prefix, tmp_path / "arr")
    return TokenArray.open(tmp_path / "arr")


def bpe(tmp_path, texts=TEXTS) -> TokenArray:
    """A small byte-level BPE (with a merge inside a two-byte character) over ``texts``."""
    from toklab.tokenizers.bpe import BPETokenizer

    vocab = {i: bytes([i]) for i in range(256)} | {256: b"\xc3\xa9", 257: b"aa"}
    merges = [(b"\xc3", b"\xa9"), (b"a", b"a")]
    return arrays(tmp_path, BPETokenizer(vocab, merges, ["<|endoftext|>"]), texts)


@pytest.fixture
def bpe_array(tmp_path):
    return bpe(tmp_path)


@pytest.mark.parametrize("stride", [1, 7, 64])
def test_windows_score_every_token_once_with_enough_context(stride):
    tokens = np.arange(1, 151)
    scored, contexts = [], []
    for window in document_windows(tokens, 0, 64, stride):
        assert len(window.inputs) == len(window.targets) <= 64
        assert np.array_equal(window.targets[:-1], window.inputs[1:])
        start = len(window.inputs) - window.scored
        scored += window.targets[start:].tolist()
        contexts += list(range(start + 1, len(window.inputs) + 1))
    assert scored == tokens.tolist()  # every token once, in order, the first one included
    assert min(contexts[64:], default=64) >= 64 - stride + 1  # after the first window


def test_equals_transformers_on_whole_documents(tmp_path):
    """An independent recomputation: transformers' Llama on [EOS] + document, summed."""
    from transformers import LlamaForCausalLM

    bpe_array = bpe(tmp_path, SHORT)
    assert max(len(bpe_array.document(i)) for i in range(len(bpe_array))) < 64
    model = model_for(bpe_array.vocab_size)
    save_checkpoint(model, tmp_path / "ckpt")
    hf = LlamaForCausalLM.from_pretrained(tmp_path / "ckpt").eval()
    eos = 258
    ours = score_array(model, bpe_array, eos, context=64, stride=64, batch_size=3)
    nats = 0.0
    with torch.no_grad():
        for index in range(len(bpe_array)):
            doc = bpe_array.document(index).astype(np.int64)
            if len(doc) == 0:
                continue
            ids = torch.tensor([[eos, *doc.tolist()]])
            logits = hf(ids).logits[0, :-1]
            nats += float(torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum"))
    assert ours["tokens"] == bpe_array.num_tokens  # no document's first token is skipped
    assert ours["nats"] == pytest.approx(nats, rel=1e-5)
    utf8 = sum(len(t.encode()) for t in SHORT)
    assert ours["bytes"] == utf8
    assert ours["bits_per_byte"] == pytest.approx(nats / math.log(2) / utf8, rel=1e-5)  # bits


@settings(max_examples=10, deadline=None)
@given(st.integers(2, 40), st.integers(1, 40))
def test_sliding_windows_equal_brute_force(tmp_path_factory, context, stride):
    """Each token scored from exactly the context its window gives it, one token at a time."""
    stride = min(stride, context)
    tmp = tmp_path_factory.mktemp("bf")
    array = arrays(tmp, byte_level_tokenizer())
    model = model_for(array.vocab_size, seed=1)
    ours = score_array(model, array, 256, context=context, stride=stride, batch_size=5)
    nats = 0.0
    with torch.no_grad():
        for index in range(len(array)):
            for window in document_windows(array.document(index), 256, context, stride):
                for j in range(len(window.inputs) - window.scored, len(window.inputs)):
                    logits = model(torch.from_numpy(window.inputs[None, : j + 1]))[0, -1]
                    nats -= float(torch.log_softmax(logits.double(), -1)[window.targets[j]])
    assert ours["nats"] == pytest.approx(nats, rel=1e-6)


def test_byte_level_bits_per_byte_is_loss_over_ln2(tmp_path):
    """Tokenizer-independent check: with one token per byte, bpb = per-token loss / ln 2."""
    array = arrays(tmp_path, byte_level_tokenizer())
    result = score_array(model_for(array.vocab_size), array, 256, context=32, stride=16)
    assert result["tokens"] == result["bytes"] == sum(len(t.encode()) for t in TEXTS)
    assert result["bits_per_byte"] == pytest.approx(result["loss"] / math.log(2), rel=1e-12)
    assert result["tokens_per_byte"] == 1.0


def test_bytes_are_the_documents_not_decoded_tokens(tmp_path, bpe_array):
    """Decoding tokens one by one turns split characters into U+FFFD and inflates the bytes."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tmp_path / "tok" / "tokenizer.json"))
    decoded = sum(
        len(tokenizer.decode([int(t)]).encode())
        for i in range(len(bpe_array))
        for t in bpe_array.document(i)
    )
    result = score_array(model_for(bpe_array.vocab_size), bpe_array, 258, context=16, stride=8)
    assert result["bytes"] == sum(len(t.encode()) for t in TEXTS) < decoded
    assert result["bytes"] != result["context"] * len(bpe_array)  # ByteSpan's divisor


def test_bad_settings(bpe_array):
    model = model_for(bpe_array.vocab_size)
    with pytest.raises(ConfigError, match="stride 9 must be between 1 and the context 8"):
        score_array(model, bpe_array, 258, context=8, stride=9)
    with pytest.raises(ConfigError, match="EOS id 999 is outside the vocabulary"):
        score_array(model, bpe_array, 999, context=8, stride=8)


def with_id(array: TokenArray, position: int, token: int) -> TokenArray:
    """The array with the id at ``position`` of its ``.bin`` overwritten (sizes unchanged)."""
    path = array.prefix.with_name(array.prefix.name + ".bin")
    tokens = np.fromfile(path, dtype=array.tokens.dtype)
    tokens[position] = token
    tokens.tofile(path)
    return TokenArray.open(array.prefix)


def test_ids_beyond_the_vocabulary_are_refused_by_name(tmp_path):
    """An id the embedding cannot index is a one-line error naming the array, not an IndexError."""
    array = arrays(tmp_path, byte_level_tokenizer())
    assert array.vocab_size == 257
    model = model_for(257)
    score_array(model, with_id(array, 3, 256), 256, context=16, stride=8)  # the last id is fine
    bad = with_id(array, 3, 300)
    message = f"{bad.prefix}: the largest id 300 is not below the vocab size in its meta 257"
    with pytest.raises(DataError) as raised:
        score_array(model, bad, 256, context=16, stride=8)
    assert str(raised.value) == message
    # the script: one line on stderr, exit status 1, no result
    save_checkpoint(model, tmp_path / "ckpt")
    run = run_script(
        "evaluate_lm.py", "--model-dir", str(tmp_path / "ckpt"), "--valid", str(bad.prefix),
        "--tokenizer", str(tmp_path / "tok" / "tokenizer.json"), "--context", "16",
        "--stride", "8", "--output", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == f"Error: {message}"
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "r.json").exists()


def test_tfree_word_ids_beyond_the_word_table_name_the_array(tmp_path):
    """The same check on a T-Free word array: before, a DataError that named no file."""
    from toklab.datasets.tfree_words import tokenize_words
    from toklab.evaluation.language_models import evaluate_language_model
    from toklab.models.causal_lm import save_model
    from toklab.tokenizers.tfree import TrigramHasher, save_settings
    from toklab.tokenizers.tfree_dictionary import WordDictionary
    from toklab.training.lm_kinds import lm_kind

    corpus = byte_corpus(tmp_path, ["the cat sat on the mat"] * 3, "text")
    hasher = TrigramHasher(256, 4)
    settings, dictionary = tmp_path / "tfree.json", tmp_path / "dictionary.tsv"
    save_settings(hasher, settings)
    WordDictionary.from_counts({"the": 2, "cat": 1}, hasher).save(dictionary)
    tokenize_words(settings, corpus, tmp_path / "words")
    config = ModelConfig(vocab_size=256, tfree={"m": 4, "k": 0, "entire_words": False},
                         **TINY_MODEL)  # fmt: skip
    save_model(LlamaModel(config), tmp_path / "model")
    words = with_id(TokenArray.open(tmp_path / "words"), 2, 50)
    message = f"{words.prefix}: the largest id 50 is not below the size of its word table"
    with pytest.raises(DataError, match=f"^{re.escape(message)}"):
        evaluate_language_model(
            tmp_path / "model", words.prefix, lm_kind(settings, dictionary), context=16, stride=16
        )
