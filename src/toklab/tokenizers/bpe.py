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

Speed: pre-tokens are counted once, in parallel (:mod:`toklab.tokenizers.pretoken_counts`), and
the merge loop works on the distinct pre-tokens with incremental pair counts. Only the words that
contain the merged pair are touched; the best pair comes from a heap with lazy invalidation whose
key orders ties by bytes, descending.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from toklab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

Vocab = dict[int, bytes]
Merges = list[tuple[bytes, bytes]]

#: Maps each byte b to 255 - b, so that byte strings sort in reverse (see ``descending_key``).
_INVERT = bytes(range(255, -1, -1))


def descending_key(token: bytes) -> str:
    """A string whose ascending order is the descending order of ``token`` among byte strings.

    Each byte is inverted and a terminator above every inverted byte is appended, so a string
    also sorts before its own prefixes, as it must in descending order.
    """
    return token.translate(_INVERT).decode("latin-1") + "\u0100"


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
    counts: Mapping[str, int],
    vocab_size: int,
    special_tokens: Sequence[str] = (),
    *,
    min_frequency: int = 0,
) -> tuple[Vocab, Merges]:
    """Run BPE merges over pre-token counts; return the vocabulary and merges (see module doc)."""
    special_tokens = unique_special_tokens(special_tokens)
    check_vocab_size(vocab_size, special_tokens)
    vocab: Vocab = {i: bytes([i]) for i in range(256)}
    for token in special_tokens:
        vocab[len(vocab)] = token.encode("utf-8")
    num_merges = vocab_size - len(vocab)

    words: list[list[int]] = []
    word_counts: list[int] = []
    for token, count in counts.items():
        data = token.encode("utf-8")
        if len(data) > 1:
            words.append(list(data))
            word_counts.append(count)
    keys = [descending_key(token) for token in vocab.values()]

    def new_token(a: int, b: int) -> int:
        vocab[len(vocab)] = vocab[a] + vocab[b]
        keys.append(descending_key(vocab[len(vocab) - 1]))
        return len(vocab) - 1

    pairs, left = run_merges(words, word_counts, keys, vocab_size, new_token, max(min_frequency, 1))
    if len(vocab) < vocab_size:
        reason = (
            f"no pair occurs {min_frequency} times or more (min_frequency)"
            if left
            else "every pre-token is a single token"
        )
        warnings.warn(
            f"BPE stopped after {len(pairs)} of {num_merges} merges: {reason}; the vocabulary "
            f"has {len(vocab)} entries instead of {vocab_size}",
            stacklevel=2,
        )
    return vocab, [(vocab[a], vocab[b]) for a, b in pairs]


def run_merges(
    words: list[list[int]],
    word_counts: list[int],
    keys: list[str],
    target_size: int,
    new_token: Callable[[int, int], int],
    threshold: int = 1,
) -> tuple[list[tuple[int, int]], int]:
    """Merge the most frequent adjacent pair of ids until ``len(keys)`` reaches ``target_size``.

    ``words`` (id sequences, each standing for ``word_counts`` occurrences) are rewritten in
    place. Ties between equally frequent pairs go to the smaller ``(keys[a], keys[b])``;
    ``new_token(a, b)`` returns the id of the merged token, appending its key to ``keys`` when it
    is new (an existing id may be returned, and then the vocabulary does not grow). Pairs counted
    fewer than ``threshold`` times are never merged. Returns the merged pairs in order and the
    count of the best pair left when merging stopped early (0 if no pair was left).
    """
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, (word, count) in enumerate(zip(words, word_counts, strict=True)):
        for pair in itertools.pairwise(word):
            pair_counts[pair] += count
            where[pair].append(index)
    heap = [(-count, keys[a], keys[b], (a, b)) for (a, b), count in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[int, int]] = []
    progress = tqdm(total=target_size - len(keys), desc="merges", unit=" tokens", leave=False)
    while len(keys) < target_size:
        best = None
        while heap:
            negative_count, _, _, pair = heapq.heappop(heap)
            if pair_counts.get(pair) == -negative_count:
                best = pair
                break
        if best is None or pair_counts[best] < threshold:
            progress.close()
            return merges, pair_counts[best] if best is not None else 0
        a, b = best
        size = len(keys)
        new_id = new_token(a, b)
        merges.append(best)
        progress.update(len(keys) - size)

        delta: dict[tuple[int, int], int] = defaultdict(int)
        for index in set(where.pop(best)):
            word = words[index]
            merged = _apply_merge(word, a, b, new_id)
            if merged is None:
                continue  # a stale entry: an earlier merge removed the pair from this word
            count = word_counts[index]
            for pair in itertools.pairwise(word):
                delta[pair] -= count
            for pair in itertools.pairwise(merged):
                delta[pair] += count
                if new_id in pair:
                    where[pair].append(index)
            words[index] = merged
        for pair, change in delta.items():
            if change:
                count = pair_counts[pair] + change
                if count > 0:
                    pair_counts[pair] = count
                    heapq.heappush(heap, (-count, keys[pair[0]], keys[pair[1]], pair))
                else:
                    del pair_counts[pair]
        pair_counts.pop(best, None)
    progress.close()
    return merges, 0


def _apply_merge(word: list[int], a: int, b: int, new_id: int) -> list[int] | None:
    """``word`` with every non-overlapping (a, b), left to right, replaced; None if none is."""
    merged: list[int] = []
    i, n = 0, len(word)
    found = False
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            merged.append(new_id)
            i += 2
            found = True
        else:
            merged.append(word[i])
            i += 1
    return merged if found else None


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
    if not counts:
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
