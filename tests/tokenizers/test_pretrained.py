"""Pretrained tokenizers: GPT-2's files through the real loading code, and the hub path."""

from __future__ import annotations

import shutil

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

from toklab.errors import DataError
from toklab.tokenizers import pretrained
from toklab.tokenizers.tokenizer_files import load_tokenizer, special_token_ids

TEXT = "Hello world! It's 2024 — naïve café, 日本語.\n\n  indented   spaces"


@pytest.fixture
def gpt2_dir(tmp_path, shared_data):
    directory = tmp_path / "gpt2-files"
    directory.mkdir()
    shutil.copy(shared_data / "cs336" / "gpt2_vocab.json", directory / "vocab.json")
    shutil.copy(shared_data / "cs336" / "gpt2_merges.txt", directory / "merges.txt")
    return directory


def reference_gpt2(directory) -> Tokenizer:
    """GPT-2 as `tokenizers` builds it from the same two files."""
    tokenizer = Tokenizer(
        models.BPE.from_file(str(directory / "vocab.json"), str(directory / "merges.txt"))
    )
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def test_local_gpt2_files_give_the_reference_ids(tmp_path, gpt2_dir):
    pretrained.fetch_pretrained(str(gpt2_dir), tmp_path / "out")
    ours = load_tokenizer(tmp_path / "out" / "tokenizer.json")
    expected = reference_gpt2(gpt2_dir).encode(TEXT).ids
    assert ours.encode(TEXT, add_special_tokens=False).ids == expected
    assert ours.get_vocab_size() == 50257
    assert ours.decode(expected) == TEXT
    # <|endoftext|> is GPT-2's BOS and EOS, and a special token that text cannot split
    assert special_token_ids(tmp_path / "out" / "tokenizer.json") == {
        "bos": 50256,
        "eos": 50256,
        "unk": 50256,
    }
    assert ours.encode("a<|endoftext|>b", add_special_tokens=False).ids[1] == 50256


def test_hub_ids_download_only_tokenizer_files(tmp_path, gpt2_dir, monkeypatch):
    calls = []

    def snapshot_download(repo_id, revision=None, allow_patterns=None):
        calls.append((repo_id, revision, allow_patterns))
        return str(gpt2_dir)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    pretrained.fetch_pretrained("openai-community/gpt2", tmp_path / "out", revision="main")
    assert calls == [("openai-community/gpt2", "main", list(pretrained.TOKENIZER_FILES))]
    assert "model.safetensors" not in pretrained.TOKENIZER_FILES
    assert (tmp_path / "out" / "tokenizer.json").is_file()


def test_a_saved_directory_loads_again(tmp_path, gpt2_dir):
    """A directory with tokenizer.json and its config (what toklab writes) is a source too."""
    pretrained.fetch_pretrained(str(gpt2_dir), tmp_path / "first")
    pretrained.fetch_pretrained(str(tmp_path / "first"), tmp_path / "second")
    first = (tmp_path / "first" / "tokenizer.json").read_text()
    assert (tmp_path / "second" / "tokenizer.json").read_text() == first


def test_bad_sources(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="tokenizer directory not found"):
        pretrained.fetch_pretrained(str(tmp_path / "absent"), tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no tokenizer.json, tokenizer config or vocab/merges"):
        pretrained.fetch_pretrained(str(tmp_path / "empty"), tmp_path / "out")

    def offline(*args, **kwargs):
        raise OSError("offline")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(DataError, match="no-such/repo: cannot download the tokenizer"):
        pretrained.fetch_pretrained("no-such/repo", tmp_path / "out")
