"""The vocabulary-overlap plot's vocabularies: BPE and Unigram tokenizers alike, as bytes."""

from __future__ import annotations

from toklab.evaluation.plots import overlap_matrix, vocabulary_bytes
from toklab.tokenizers.tokenizer_files import save_tokenizer_files
from toklab.tokenizers.unigram import train_unigram


def test_bpe_and_unigram_vocabularies_are_their_byte_strings(tmp_path):
    vocab = {i: bytes([i]) for i in range(256)}
    vocab |= {256: b"<|endoftext|>", 257: b"th", 258: b"the", 259: "é".encode()}
    merges = [(b"t", b"h"), (b"th", b"e"), (b"\xc3", b"\xa9")]
    save_tokenizer_files(tmp_path / "bpe", vocab, merges, ["<|endoftext|>"])
    bpe = vocabulary_bytes(tmp_path / "bpe" / "tokenizer.json")
    assert bpe == {vocab[i] for i in vocab if i != 256}  # the special token left out

    texts = ["the theme of the thesis", "café crème", "the end"] * 20
    unigram = train_unigram(texts, 300, ["<|endoftext|>"])
    unigram.save(tmp_path / "unigram")
    pieces = vocabulary_bytes(tmp_path / "unigram" / "tokenizer.json")
    assert b"<|endoftext|>" not in pieces
    assert {bytes([b]) for b in range(256)} <= pieces  # every byte is a piece
    assert len(pieces) == len(unigram.hf_tokenizer.get_vocab()) - 1
    assert all(unigram.decode(unigram.encode(t)) == t for t in texts)
    matrix = overlap_matrix([bpe, pieces])
    assert matrix.shape == (2, 2) and 0.0 <= matrix[0, 1] <= 1.0
