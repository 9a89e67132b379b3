"""load_tokenizer: a tokenizer.json, or a one-line error naming the file."""

from __future__ import annotations

import pytest

from toklab.errors import DataError
from toklab.tokenizers.tokenizer_files import build_hf_tokenizer, load_tokenizer

BYTES_AND_EOT = {i: bytes([i]) for i in range(256)} | {256: b"<|endoftext|>"}


def test_load_tokenizer(tmp_path):
    build_hf_tokenizer(BYTES_AND_EOT, [], ["<|endoftext|>"]).save(str(tmp_path / "t.json"))
    assert load_tokenizer(tmp_path / "t.json").get_vocab_size(with_added_tokens=True) == 257
    assert load_tokenizer(str(tmp_path / "t.json")).token_to_id("<|endoftext|>") == 256


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(DataError, match="tokenizer file not found"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"model": 1}')
    with pytest.raises(DataError, match=r"bad\.json: not a Hugging Face tokenizer\.json"):
        load_tokenizer(tmp_path / "bad.json")


def test_trained_tokenizers_meet_the_contract(tmp_path):
    from toklab.tokenizers.base import TrainedTokenizer, save_directory
    from toklab.tokenizers.bpe import BPETokenizer
    from toklab.tokenizers.bytespan_tokenizer import ByteSpanTokenizer

    bpe = BPETokenizer({i: bytes([i]) for i in range(256)}, [], ["<|endoftext|>"])
    bytespan = ByteSpanTokenizer(["<|endoftext|>"], [], bpe=(bpe.vocab, []))
    for tokenizer in (bpe, bytespan):
        assert isinstance(tokenizer, TrainedTokenizer)
    save_directory(bpe, tmp_path / "bpe")
    assert load_tokenizer(tmp_path / "bpe" / "tokenizer.json").get_vocab_size() == 257
    assert [p.name for p in tmp_path.iterdir()] == ["bpe"]  # no temporary directory left
