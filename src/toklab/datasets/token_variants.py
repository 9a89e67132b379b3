"""Token arrays of other tokenizations of a subset: StochasTok, seeded BPE-dropout, characters.

Each is a token array like the tokenizer's own (:mod:`toklab.datasets.token_array`), with ids of
the same tokenizer and the same documents, so every LM, export and table can use it; its meta
adds a ``tokenization`` record (method, p, seed, the stream's name). StochasTok expands the
tokenizer's own array; BPE-dropout and characters re-encode the byte corpus. Stochastic arrays
draw per document from the stream of ``(seed, subset, document)``: chunking does not change them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from toklab.datasets.token_array import (
    BATCH_DOCUMENTS,
    TokenArray,
    TokenArrayWriter,
    document_batches,
    open_corpus,
)
from toklab.io import sha256_file
from toklab.seeding import stream_key
from toklab.tokenizers.tokenizer_files import load_tokenizer

log = logging.getLogger(__name__)

#: Tokens per StochasTok chunk: documents are expanded this many tokens at a time.
CHUNK_TOKENS = 1 << 22


def _document_chunks(array: TokenArray, chunk_tokens: int) -> list[tuple[int, int]]:
    """``[first, last)`` document ranges of about ``chunk_tokens`` tokens each."""
    bounds = np.searchsorted(array.offsets, np.arange(0, array.num_tokens, chunk_tokens), "right")
    starts = sorted({0, *(int(b) - 1 for b in bounds)})
    return [(a, b) for a, b in zip(starts, [*starts[1:], len(array)], strict=True) if b > a]


def expand_token_array(
    tokens_prefix: str | Path,
    tokenizer_path: str | Path,
    splits_path: str | Path,
    out_prefix: str | Path,
    *,
    p: float,
    seed: int,
    stream: str,
    chunk_tokens: int = CHUNK_TOKENS,
) -> dict[str, Any]:
    """StochasTok-expand a token array with proportion ``p``; return the meta written."""
    from toklab.tokenizers.stochastok import SplitTable, check_probability, expand_documents

    p = check_probability(p)
    array = TokenArray.open(tokens_prefix)
    array.check_tokenizer(tokenizer_path)
    table = SplitTable.load(splits_path, tokenizer_path)
    key = stream_key(stream)
    writer = TokenArrayWriter(out_prefix, array.vocab_size)
    with (
        writer,
        tqdm(total=array.num_tokens, desc=f"stochastok {stream}", unit="tok", unit_scale=True)
        as progress,
    ):  # fmt: skip
        for first, last in _document_chunks(array, chunk_tokens):
            tokens, offsets = array.documents(first, last)
            expanded, new_offsets = expand_documents(
                tokens, offsets, table, p, seed=seed, key=key, first_document=first
            )
            writer.write(expanded, new_offsets)
            progress.update(int(offsets[-1]))
    meta = writer.finish(
        {
            "num_bytes": array.num_bytes,
            "tokenizer_sha256": array.meta["tokenizer_sha256"],
            "source_sha256": array.meta.get("source_sha256"),
            "tokenization": {
                "method": "stochastok",
                "p": p,
                "seed": seed,
                "stream": stream,
                "base_sha256": array.meta.get("sha256"),
            },
        }
    )
    log.info(
        "%s: %d -> %d tokens (+%.2f%%, at most +%.2f%%)",
        out_prefix, array.num_tokens, meta["num_tokens"],
        100 * (meta["num_tokens"] / max(array.num_tokens, 1) - 1), 100 * p,
    )  # fmt: skip
    return meta


def _reencode_corpus(
    method: str,
    encode,
    tokenizer_path: str | Path,
    corpus_prefix: str | Path,
    out_prefix: str | Path,
    settings: dict[str, Any],
    batch_documents: int,
) -> dict[str, Any]:
    """Encode a byte corpus batch by batch with ``encode(tokenizer, texts, first_document)``."""
    tokenizer = load_tokenizer(tokenizer_path)
    corpus = open_corpus(corpus_prefix)
    writer = TokenArrayWriter(out_prefix, tokenizer.get_vocab_size(with_added_tokens=True))
    first = 0
    with (
        writer,
        tqdm(total=corpus.num_bytes, desc=f"{method} {Path(out_prefix).name}", unit="B",
             unit_scale=True) as progress,
    ):  # fmt: skip
        for texts, num_bytes in document_batches(corpus, batch_documents):
            writer.write(*encode(tokenizer, texts, first))
            first += len(texts)
            progress.update(num_bytes)
    return writer.finish(
        {
            "num_bytes": corpus.num_bytes,
            "tokenizer_sha256": sha256_file(tokenizer_path),
            "source_sha256": corpus.bin_sha256,
            "tokenization": {"method": method, **settings},
        }
    )


def dropout_corpus(
    tokenizer_path: str | Path,
    corpus_prefix: str | Path,
    out_prefix: str | Path,
    *,
    p: float,
    seed: int,
    stream: str,
    batch_documents: int = BATCH_DOCUMENTS,
) -> dict[str, Any]:
    """Encode a byte corpus with seeded BPE-dropout ``p``; return the meta written."""
    from toklab.tokenizers.bpe_dropout import MergeTable, encode_with_dropout
    from toklab.tokenizers.stochastok import check_probability

    p = check_probability(p)
    table = MergeTable.from_tokenizer(tokenizer_path)
    key = stream_key(stream)

    def encode(tokenizer, texts: list[str], first: int):
        return encode_with_dropout(
            tokenizer, table, texts, p, seed=seed, key=key, first_document=first
        )

    settings = {"p": p, "seed": seed, "stream": stream}
    return _reencode_corpus(
        "bpedropout", encode, tokenizer_path, corpus_prefix, out_prefix, settings, batch_documents
    )


def character_corpus(
    tokenizer_path: str | Path,
    corpus_prefix: str | Path,
    out_prefix: str | Path,
    *,
    batch_documents: int = BATCH_DOCUMENTS,
) -> dict[str, Any]:
    """Encode every character of a byte corpus on its own; return the meta written."""
    from toklab.tokenizers.bpe_dropout import encode_characters

    def encode(tokenizer, texts: list[str], first: int):
        return encode_characters(tokenizer, texts)

    return _reencode_corpus(
        "chars", encode, tokenizer_path, corpus_prefix, out_prefix, {}, batch_documents
    )
