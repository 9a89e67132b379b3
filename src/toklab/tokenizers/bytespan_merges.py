"""BPE-merge inference for ByteSpan vocabularies: merges that make every token reachable.

A ByteSpan vocabulary is a ranked list of (starts-a-pre-token, bytes) types; WordPiece
inference needs nothing more. Merge-rank BPE (Hugging Face ``models.BPE`` with the ByteLevel
pre-tokenizer) needs, for each multi-byte token, a merge ``(left, right)`` of two tokens, and
those merges must actually produce the token when BPE runs on its bytes. ByteSpan spans often
have prefixes and suffixes that are not tokens, so the merges are constructed:

* Tokens are byte strings (both forms of a type collapse into one), taken in rank order,
  after the 256 bytes. Each is made *reachable*: BPE with the merges so far encodes its bytes
  as parts ``s1 .. sk``. With two parts, the merge ``(s1, s2)`` is appended. With more, one
  adjacent pair is first turned into a token of its own (recursively reachable) and given a
  merge, and the token is encoded again. The pair is chosen by cost: one whose concatenation
  is already a token (the earliest), else one that is a later candidate of the ranked list
  (it is pulled forward), else the pair whose parts are ranked earliest (a new intermediate
  token that is not in the ByteSpan vocabulary); ties go to the leftmost.
* A merge appended at the end of the list (the lowest priority) never changes how an earlier
  token is encoded: BPE on those bytes runs exactly as before, ends in a single token, and
  then no pair is left. So every token stays reachable, and with the intermediates counted
  the vocabulary has exactly V entries: a candidate that would overflow it is skipped (its
  intermediates are dropped with it) and the next ones are tried; the lowest-ranked span
  types are the ones left out.
* Several merges may produce the same token (a pair met inside a longer token whose
  concatenation is already a token); Hugging Face's BPE accepts that.

For the seeding variants the ranked list is the span types followed by the types BPE learned
on the span-segmented corpus, in merge order; a learned type whose two BPE parts are what its
bytes encode to keeps exactly its real merge.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Sequence

from toklab.errors import DataError
from toklab.tokenizers.bpe import check_vocab_size, unique_special_tokens
from toklab.tokenizers.bytespan import Token

#: The rank of a pair with no merge: above every real rank.
_NO_MERGE = sys.maxsize


class MergeBuilder:
    """Byte-level BPE vocabulary and merges, grown so that every token stays reachable."""

    def __init__(self, pending: dict[bytes, int] | None = None) -> None:
        self.tokens: list[bytes] = [bytes([b]) for b in range(256)]
        self.ids: dict[bytes, int] = {t: i for i, t in enumerate(self.tokens)}
        self.merges: list[tuple[int, int]] = []
        self.ranks: dict[tuple[int, int], int] = {}
        #: candidates not yet added, by rank: preferred intermediates
        self.pending = pending or {}
        self._pulled: list[tuple[bytes, int]] = []  # taken from pending, for rollbacks

    def encode(self, data: bytes) -> list[int]:
        """Merge-rank BPE of ``data`` as Hugging Face runs it: lowest rank first, then leftmost.

        Each pair's rank is looked up once; a merge looks up only the two pairs it makes.
        """
        parts = list(data)
        rank_of = self.ranks.get
        ranks = [rank_of(pair, _NO_MERGE) for pair in itertools.pairwise(parts)]
        while ranks:
            best = min(ranks)
            if best == _NO_MERGE:
                break
            j = ranks.index(best)  # the leftmost pair of that rank
            a, b = self.merges[best]
            new = self.ids[self.tokens[a] + self.tokens[b]]
            parts[j : j + 2] = [new]
            del ranks[j]
            if j > 0:
                ranks[j - 1] = rank_of((parts[j - 1], new), _NO_MERGE)
            if j < len(ranks):
                ranks[j] = rank_of((new, parts[j + 1]), _NO_MERGE)
        return parts

    def add(self, token: bytes) -> None:
        """Make ``token`` a reachable token (with intermediates when it needs them)."""
        while True:
            parts = self.encode(token)
            if len(parts) == 1:
                return
            if len(parts) == 2:
                self._merge(parts[0], parts[1])
                return
            j = self._choose(parts)
            pair = self.tokens[parts[j]] + self.tokens[parts[j + 1]]
            self.add(pair)
            if self.encode(token) == parts:  # the pair is still there: give it its merge
                self._merge(parts[j], parts[j + 1])

    def _merge(self, a: int, b: int) -> None:
        assert (a, b) not in self.ranks, "a pair with a merge would have been merged"
        token = self.tokens[a] + self.tokens[b]
        if token not in self.ids:
            self.ids[token] = len(self.tokens)
            self.tokens.append(token)
            if token in self.pending:
                self._pulled.append((token, self.pending.pop(token)))
        self.ranks[(a, b)] = len(self.merges)
        self.merges.append((a, b))

    def _choose(self, parts: list[int]) -> int:
        """The adjacent pair to turn into a token first (see the module doc)."""
        best: tuple[int, int, int] | None = None
        for j in range(len(parts) - 1):
            pair = self.tokens[parts[j]] + self.tokens[parts[j + 1]]
            if pair in self.ids:
                cost = (0, self.ids[pair], j)
            elif pair in self.pending:
                cost = (1, self.pending[pair], j)
            else:
                cost = (2, max(parts[j], parts[j + 1]), j)
            if best is None or cost < best:
                best = cost
        assert best is not None
        return best[2]

    def snapshot(self) -> tuple[int, int, int]:
        """The sizes to roll back to."""
        return len(self.tokens), len(self.merges), len(self._pulled)

    def rollback(self, snapshot: tuple[int, int, int]) -> None:
        """Forget the tokens and merges added since ``snapshot``."""
        tokens, merges, pulled = snapshot
        self.pending.update(self._pulled[pulled:])
        del self._pulled[pulled:]
        for token in self.tokens[tokens:]:
            del self.ids[token]
        for pair in self.merges[merges:]:
            del self.ranks[pair]
        del self.tokens[tokens:]
        del self.merges[merges:]


def bpe_inference_vocabulary(
    candidates: Iterable[Token], vocab_size: int, special_tokens: Sequence[str]
) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Byte-level BPE ``(vocab, merges)`` with exactly ``vocab_size`` entries (module doc).

    ``candidates`` is the ranked ByteSpan list (initial tokens first), possibly longer than V.
    Ids: the 256 bytes, the learned tokens in order, then the special tokens.
    """
    specials = unique_special_tokens(special_tokens)
    check_vocab_size(vocab_size, specials)
    target = vocab_size - len(specials)
    ranked = list(dict.fromkeys(body for _, body in candidates))
    builder = MergeBuilder({token: rank for rank, token in enumerate(ranked)})
    for token in ranked:
        if len(builder.tokens) == target:
            break
        if token in builder.ids:
            continue
        snapshot = builder.snapshot()
        builder.add(token)
        if len(builder.tokens) > target:
            builder.rollback(snapshot)
        builder.pending.pop(token, None)
    if len(builder.tokens) < target:
        raise DataError(
            f"the ByteSpan types give only {len(builder.tokens) + len(specials)} BPE tokens "
            f"(each type once, whatever its position in a word); vocab_size {vocab_size} needs more"
        )
    vocab = dict(enumerate(builder.tokens))
    for token in specials:
        vocab[len(vocab)] = token.encode("utf-8")
    merges = [(builder.tokens[a], builder.tokens[b]) for a, b in builder.merges]
    return vocab, merges


def bpe_inference_from(
    candidates: Callable[[int], list[Token]], vocab_size: int, special_tokens: Sequence[str]
) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """:func:`bpe_inference_vocabulary` over ``candidates(extra)``: V + extra ranked types.

    Both forms of a type collapse and intermediates take room, so BPE inference may need types
    past V; ``extra`` starts at a quarter of V and doubles while the list keeps growing.
    """
    extra = max(1024, vocab_size // 4)
    size = -1
    while True:
        ranked = candidates(extra)
        try:
            return bpe_inference_vocabulary(ranked, vocab_size, special_tokens)
        except DataError:
            if len(ranked) <= size:
                raise
        size = len(ranked)
        extra *= 2
