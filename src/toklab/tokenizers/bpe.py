"""Exact byte-level BPE: the CS336 trainer semantics, fast, with Hugging Face encoding.

Training semantics (CS336 assignment 1, reproduced exactly):

* ids 0..255 are the single bytes, then the special tokens in the order given, then one id per
  merge in creation order; ids are contiguous;
* the text is split at special tokens (which are never counted or merged), then pre-tokenized
  with the GPT-2 pattern; merges never cross pre-token boundaries;
* pair counts include overlapping occurrences (``aaa`` holds two ``(a, a)`` pairs); a merge is
  applied left to right without overlaps;
* among the pairs with the highest count, the lexicographically greater pair of byte strings
  wins (``max(pairs, key=lambda p: (count[p], p))`` on bytes). Hugging Face's trainer breaks ties
  the other way, so its merge lists differ; ``backend="hf"`` trains with it anyway (Delphi).

Speed: pre-tokens are scanned and counted once, in parallel and compiled
(:mod:`toklab.tokenizers.pretoken_counts`), and the compiled merge loop
(:mod:`toklab.tokenizers.merge_loop`) works on the distinct pre-tokens with incremental pair
counts, touching only the words that hold the merged pair.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.pretoken_scan import PretokenCounts

log = logging.getLogger(__name__)

Vocab = dict[int, bytes]
Merges = list[tuple[bytes, bytes]]


def check_vocab_size(vocab_size: int, special_tokens: Sequence[str]) -> None:
    """Reject a vocabulary too small for the 256 bytes and the special tokens."""
    minimum = 256 + len(special_tokens)
    if vocab_size < minimum:
        raise ConfigError(
            f"vocab_size {vocab_size} is too small: the 256 bytes and {len(special_tokens)} "
            f"special token(s) need at least {minimum}"
        )


def unique_special_tokens(special_tokens: Iterable[str] | None) -> list[str]:
    """Special tokens without duplicates, in their given order; empty strings rejected."""
    result: list[str] = []
    for token in special_tokens or ():
        if not token:
            raise ConfigError("special tokens must not be empty strings")
        if token not in result:
            result.append(token)
    return result


def train_bpe_from_counts(
    counts: Mapping[str, int] | PretokenCounts,
    vocab_size: int,
    special_tokens: Sequence[str] = (),
    *,
    min_frequency: int = 0,
) -> tuple[Vocab, Merges]:
    """Run BPE merges over pre-token counts; return the vocabulary and merges (see module doc)."""
    from toklab.tokenizers.merge_loop import merge

    special_tokens = unique_special_tokens(special_tokens)
    check_vocab_size(vocab_size, special_tokens)
    vocab: Vocab = {i: bytes([i]) for i in range(256)}
    for token in special_tokens:
        vocab[len(vocab)] = token.encode("utf-8")
    num_merges = vocab_size - len(vocab)
    if not isinstance(counts, PretokenCounts):
        counts = PretokenCounts.from_strings(counts)
    ids, offsets, word_counts = counts.longer_than(1)
    merges, left = merge(
        list(vocab.values()),
        (ids, offsets),
        word_counts,
        vocab_size,
        threshold=max(min_frequency, 1),
    )
    for a, b, _ in merges:
        vocab[len(vocab)] = vocab[a] + vocab[b]
    if len(vocab) < vocab_size:
        reason = (
            f"no pair occurs {min_frequency} times or more (min_frequency)"
            if left
            else "every pre-token is a single token"
        )
        warnings.warn(
            f"BPE stopped after {len(merges)} of {num_merges} merges: {reason}; the vocabulary "
            f"has {len(vocab)} entries instead of {vocab_size}",
            stacklevel=2,
        )
    return vocab, [(vocab[a], vocab[b]) for a, b, _ in merges]


def train_bpe(
    input_path: str | Path,
    vocab_size: int,
    special_tokens: Sequence[str] | None = None,
    *,
    min_frequency: int = 0,
    num_workers: int | None = None,
) -> tuple[Vocab, Merges]:
    """Train byte-level BPE on a UTF-8 text file with CS336 semantics (see the module doc).

    Returns ``(vocab, merges)``: ``vocab`` maps ids to bytes, ``merges`` lists the merged pairs
    of byte strings in creation order.
    """
    from toklab.tokenizers.pretoken_counts import count_file_pretokens

    return _train(
        count_file_pretokens, input_path, vocab_size, special_tokens, min_frequency, num_workers
    )


def train_bpe_on_corpus(
    prefix: str | Path,
    vocab_size: int,
    special_tokens: Sequence[str] | None = None,
    *,
    min_frequency: int = 0,
    num_workers: int | None = None,
) -> tuple[Vocab, Merges]:
    """Train byte-level BPE on a byte corpus (``PREFIX.bin``/``.idx``), document by document."""
    from toklab.tokenizers.pretoken_counts import count_corpus_pretokens

    return _train(
        count_corpus_pretokens, prefix, vocab_size, special_tokens, min_frequency, num_workers
    )


def _train(count, source, vocab_size, special_tokens, min_frequency, num_workers):
    """Check the arguments, count pre-tokens with ``count``, then run the merges."""
    special_tokens = unique_special_tokens(special_tokens)
    check_vocab_size(vocab_size, special_tokens)
    counts = count(source, special_tokens, num_workers=num_workers)
    if not len(counts):
        raise DataError(f"{source}: no text to train on (empty, or only special tokens)")
    return train_bpe_from_counts(counts, vocab_size, special_tokens, min_frequency=min_frequency)


class BPETokenizer:
    """A byte-level BPE tokenizer over ``(vocab, merges)``; encoding runs on HF ``tokenizers``.

    Special tokens are never split, and overlapping ones resolve longest first. ``decode`` turns
    invalid UTF-8 into U+FFFD.
    """

    def __init__(
        self,
        vocab: Mapping[int, bytes],
        merges: Sequence[tuple[bytes, bytes]],
        special_tokens: Sequence[str] | None = None,
    ) -> None:
        from toklab.tokenizers.tokenizer_files import build_hf_tokenizer

        self.vocab = dict(vocab)
        self.merges = list(merges)
        self.special_tokens = unique_special_tokens(special_tokens)
        by_bytes = {token: i for i, token in sorted(self.vocab.items(), reverse=True)}
        for token in self.special_tokens:
            if token.encode("utf-8") not in by_bytes:
                new_id = max(self.vocab, default=-1) + 1
                self.vocab[new_id] = token.encode("utf-8")
                by_bytes[token.encode("utf-8")] = new_id
        self._hf = build_hf_tokenizer(self.vocab, self.merges, self.special_tokens)

    @classmethod
    def from_files(
        cls,
        vocab_path: str | Path,
        merges_path: str | Path,
        special_tokens: Sequence[str] | None = None,
    ) -> BPETokenizer:
        """Load GPT-2-style ``vocab.json`` and ``merges.txt`` (byte-level unicode form)."""
        from toklab.tokenizers.tokenizer_files import read_merges_txt, read_vocab_json

        return cls(read_vocab_json(vocab_path), read_merges_txt(merges_path), special_tokens)

    @property
    def hf_tokenizer(self):
        """The underlying ``tokenizers.Tokenizer``."""
        return self._hf

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        return self._hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (parallel in the Rust backend)."""
        return [e.ids for e in self._hf.encode_batch(list(texts), add_special_tokens=False)]

    def encode_iterable(self, texts: Iterable[str], buffer_chars: int = 1 << 16) -> Iterator[int]:
        """Ids of the concatenation of ``texts``, holding only about ``buffer_chars`` at a time.

        The buffer is encoded up to its last safe cut (a newline after an ASCII non-space
        character, outside any special token), where the ids of a prefix never depend on what
        follows; so the ids equal those of encoding the whole concatenation.
        """
        from toklab.pretokenization import last_safe_cut

        pending = ""
        for text in texts:
            pending += text
            if len(pending) >= buffer_chars:
                cut = last_safe_cut(pending, self.special_tokens)
                if cut > 0:
                    yield from self.encode(pending[:cut])
                    pending = pending[cut:]
        if pending:
            yield from self.encode(pending)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; invalid UTF-8 becomes U+FFFD."""
        try:
            data = b"".join(self.vocab[i] for i in ids)
        except KeyError as err:
            raise ValueError(f"token id {err} is not in the vocabulary") from None
        return data.decode("utf-8", errors="replace")

    def save(self, directory: str | Path) -> None:
        """Write ``tokenizer.json``, ``vocab.json`` and ``merges.txt`` to ``directory``."""
        from toklab.tokenizers.tokenizer_files import save_tokenizer_files

        save_tokenizer_files(directory, self.vocab, self.merges, self.special_tokens)
