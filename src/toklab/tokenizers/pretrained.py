"""Pretrained Hugging Face tokenizers, by hub id or local directory, saved as toklab's files.

StochasTok uses GPT-2's 50,257-token BPE; Delphi accepts "any HuggingFace tokenizer". The
tokenizer is fetched once (only its tokenizer files, with ``huggingface_hub``; ``HF_TOKEN`` for
gated repositories), loaded through ``transformers`` as a fast tokenizer, and saved with
``save_pretrained``, so its directory holds ``tokenizer.json`` and the configs that name its
BOS/EOS/PAD tokens, like every other tokenizer directory of toklab.
"""

from __future__ import annotations

import logging
from pathlib import Path

from toklab.errors import DataError

log = logging.getLogger(__name__)

#: The files a tokenizer can consist of; nothing else (weights) is downloaded.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "tokenizer.model",
    "spiece.model",
    "config.json",
)
GPT2_SPECIAL = "<|endoftext|>"


def download_tokenizer(repo_id: str, revision: str | None = None) -> Path:
    """Download a hub repository's tokenizer files (cached by ``huggingface_hub``)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(repo_id, revision=revision, allow_patterns=list(TOKENIZER_FILES))
        )
    except Exception as err:  # network, authentication, unknown repository or revision
        raise DataError(f"{repo_id}: cannot download the tokenizer ({err})") from None


def _gpt2_from_files(directory: Path):
    """GPT-2's tokenizer from its ``vocab.json`` and ``merges.txt`` alone.

    As transformers' GPT-2 config has it: byte-level pre-tokenization without a prefix space,
    and ``<|endoftext|>`` (when the vocabulary has it) a special token that is BOS, EOS and UNK.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(
        models.BPE.from_file(str(directory / "vocab.json"), str(directory / "merges.txt"))
    )
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    roles = {}
    if backend.token_to_id(GPT2_SPECIAL) is not None:
        backend.add_special_tokens([AddedToken(GPT2_SPECIAL, special=True, normalized=False)])
        roles = {role: GPT2_SPECIAL for role in ("bos_token", "eos_token", "unk_token")}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, clean_up_tokenization_spaces=False, **roles
    )


def load_pretrained(directory: str | Path):
    """A fast ``transformers`` tokenizer from a directory of tokenizer files.

    A directory holding only GPT-2's ``vocab.json`` and ``merges.txt`` (no config naming a
    tokenizer class) is read as GPT-2's tokenizer (:func:`_gpt2_from_files`).
    """
    from transformers import AutoTokenizer

    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: tokenizer directory not found")
    has_config = any((directory / f).is_file() for f in ("tokenizer_config.json", "config.json"))
    try:
        if has_config or (directory / "tokenizer.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(str(directory), use_fast=True)
        elif (directory / "vocab.json").is_file() and (directory / "merges.txt").is_file():
            tokenizer = _gpt2_from_files(directory)
        else:
            raise DataError(f"{directory}: no tokenizer.json, tokenizer config or vocab/merges")
    except DataError:
        raise
    except Exception as err:
        raise DataError(f"{directory}: not a readable tokenizer ({err})") from None
    if not tokenizer.is_fast:
        raise DataError(f"{directory}: no fast (tokenizers) version of this tokenizer")
    return tokenizer


def fetch_pretrained(source: str, out_dir: str | Path, revision: str | None = None) -> None:
    """Save the tokenizer of ``source`` (a local directory, else a hub id) into ``out_dir``."""
    directory = Path(source)
    if not directory.is_dir():
        if directory.is_absolute() or source.startswith("."):
            raise DataError(f"{source}: tokenizer directory not found")
        directory = download_tokenizer(source, revision)
    tokenizer = load_pretrained(directory)
    tokenizer.save_pretrained(str(out_dir))
    log.info("%s: %d tokens saved to %s", source, len(tokenizer), out_dir)
