"""StochasTok (Sims et al., 2025): tokens split at random into two tokens of the same vocabulary.

**Split tables.** For every token, every way to cut its bytes in two such that both halves are
tokens of the vocabulary: all valid binary splits, not only the pair BPE merged it from. Special
tokens and single bytes have none. WordPiece vocabularies (ByteSpan's) split a token into a
left part of the same kind (word-initial or ``##`` continuation) and a continuation right part,
so the decoded text is unchanged there too. A table is stored as CSR arrays (``offsets`` into
``left``/``right``) in an ``.npz`` with the SHA-256 of its tokenizer file, and loading checks
that hash: a stale table is an error, never a silent no-op (the original cached its table as
JSON, whose string keys never match an int id again, so every run after the first expanded
nothing).

**Expansion.** Per document of ``n`` tokens, ``int(n * p)`` attempts; each picks a position
uniformly in the current, growing sequence and, if the token there has splits, replaces it by
one of them chosen uniformly (pieces can be split again). A position is drawn as an original
token weighted by how many pieces it has become (a Fenwick tree of piece counts), then a piece
within it, so a document costs ``O((n + attempts) log n)`` instead of the original's list
splicing at ``O(n)`` per attempt; the distribution is the same. Every document draws from its
own seeded stream (:mod:`toklab.seeding`), so arrays do not depend on how documents are batched.

Documents in toklab's token arrays carry no EOS (the trainer and the exports add it), so the
attempts are ``int(n * p)`` of the document's own tokens; the original counted the EOS it had
appended, which has no splits (one more attempt per document in about ``p`` of them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from toklab.errors import ConfigError, DataError
from toklab.io import atomic_path, sha256_file
from toklab.seeding import document_state, next_below
from toklab.tokenizers.tokenizer_files import vocabulary_pieces

log = logging.getLogger(__name__)

FORMAT = "toklab-stochastok-splits-v1"
ID_DTYPE = np.dtype("<i4")


def check_probability(p: float, what: str = "p") -> float:
    """``p`` as a float in [0, 1]; a one-line error otherwise."""
    if not isinstance(p, int | float) or isinstance(p, bool) or not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"{what} must be a number in [0, 1], got {p!r}")
    return float(p)


@dataclass(frozen=True)
class SplitTable:
    """Every binary split of every token: the splits of id ``t`` are ``[offsets[t], offsets[t+1])``."""

    offsets: np.ndarray  # int64, vocab_size + 1
    left: np.ndarray  # int32
    right: np.ndarray  # int32
    tokenizer_sha256: str

    @property
    def vocab_size(self) -> int:
        """Ids the table covers (the tokenizer's vocabulary, added tokens included)."""
        return len(self.offsets) - 1

    @property
    def splittable(self) -> int:
        """How many tokens have at least one split."""
        return int(np.count_nonzero(np.diff(self.offsets)))

    def splits(self, token_id: int) -> list[tuple[int, int]]:
        """The ``(left, right)`` splits of one token."""
        start, stop = self.offsets[token_id], self.offsets[token_id + 1]
        return list(
            zip(self.left[start:stop].tolist(), self.right[start:stop].tolist(), strict=True)
        )

    def save(self, path: str | Path) -> None:
        """Write the table as an ``.npz`` (atomically)."""
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                format=np.array(FORMAT),
                tokenizer_sha256=np.array(self.tokenizer_sha256),
                offsets=self.offsets,
                left=self.left,
                right=self.right,
            )

    @classmethod
    def load(cls, path: str | Path, tokenizer_path: str | Path | None = None) -> SplitTable:
        """Read a table; with ``tokenizer_path``, an error unless it was built from that file."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: split table not found")
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["format"]) != FORMAT:
                    raise DataError(f"{path}: not a StochasTok split table ({data['format']})")
                table = cls(
                    offsets=data["offsets"].astype(np.int64),
                    left=data["left"].astype(ID_DTYPE),
                    right=data["right"].astype(ID_DTYPE),
                    tokenizer_sha256=str(data["tokenizer_sha256"]),
                )
        except DataError:
            raise
        except Exception as err:
            raise DataError(f"{path}: corrupt split table ({type(err).__name__}: {err})") from None
        offsets, pairs = table.offsets, np.concatenate([table.left, table.right])
        if (
            len(offsets) < 1
            or offsets[0] != 0
            or np.any(np.diff(offsets) < 0)
            or not int(offsets[-1]) == len(table.left) == len(table.right)
            or (pairs.size and (pairs.min() < 0 or pairs.max() >= table.vocab_size))
        ):
            raise DataError(f"{path}: corrupt split table (offsets or ids out of range)")
        if tokenizer_path is not None:
            digest = sha256_file(tokenizer_path)
            if digest != table.tokenizer_sha256:
                raise DataError(
                    f"{path}: built for another tokenizer than {tokenizer_path} "
                    f"(sha256 {table.tokenizer_sha256[:12]}… != {digest[:12]}…)"
                )
        return table


def build_split_table(tokenizer_path: str | Path) -> SplitTable:
    """Every valid binary split of every token of a ``tokenizer.json``.

    Warns with the count when few tokens can be split (a vocabulary that is not BPE-like).
    """
    pieces = vocabulary_pieces(tokenizer_path)
    ids = {piece: i for i, piece in reversed(list(enumerate(pieces))) if piece is not None}
    # WordPiece: the right part of a split continues the word; BPE has no such mark
    wordpiece = any(piece[1] for piece in ids)
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    left: list[int] = []
    right: list[int] = []
    for token_id, piece in enumerate(pieces):
        if piece is not None:
            data, continuation = piece
            for cut in range(1, len(data)):
                first = ids.get((data[:cut], continuation))
                second = ids.get((data[cut:], wordpiece))
                if first is not None and second is not None:
                    left.append(first)
                    right.append(second)
        offsets[token_id + 1] = len(left)
    table = SplitTable(
        offsets,
        np.asarray(left, dtype=ID_DTYPE),
        np.asarray(right, dtype=ID_DTYPE),
        sha256_file(tokenizer_path),
    )
    multi_byte = sum(1 for p in pieces if p is not None and len(p[0]) > 1)
    if table.splittable == 0 or table.splittable < multi_byte / 2:
        log.warning(
            "%s: only %d of %d multi-byte tokens can be split into two tokens of the vocabulary "
            "(StochasTok expects a BPE-like vocabulary); expansion will change little",
            tokenizer_path, table.splittable, multi_byte,
        )  # fmt: skip
    return table


# ---------------------------------------------------------------------------------------------
# Expansion (compiled)


@numba.njit(cache=True)
def _expand_document(
    tokens: np.ndarray,
    attempts: int,
    state: np.uint64,
    split_offsets: np.ndarray,
    split_left: np.ndarray,
    split_right: np.ndarray,
    out: np.ndarray,
    piece: np.ndarray,
    following: np.ndarray,
    tree: np.ndarray,
) -> int:
    """Expand one document into ``out``; return its new length.

    Original token ``i`` has become the pieces of a linked list from node ``i`` (``piece`` holds
    a node's token, ``following`` the next node or -1); ``tree`` is a Fenwick tree of the
    lists' lengths, so the ``r``-th token of the current sequence is found in ``O(log n)``.
    """
    n = len(tokens)
    for i in range(n):
        piece[i] = tokens[i]
        following[i] = -1
        tree[i + 1] = 1
    for i in range(1, n + 1):  # the Fenwick tree of all-ones counts, in linear time
        parent = i + (i & -i)
        if parent <= n:
            tree[parent] += tree[i]
    top = 1
    while top * 2 <= n:
        top *= 2
    total = n
    nodes = n
    for _ in range(attempts):
        state, r = next_below(state, total)
        # the original token whose pieces hold position r, and r's offset among them
        position = 0
        step = top
        while step:  # without branches on the counts (each step's is a coin flip)
            ahead = min(position + step, n)
            count = tree[ahead]
            take = (position + step <= n) & (count <= r)
            position = ahead if take else position
            r = r - count if take else r
            step >>= 1
        node = position
        for _ in range(r):
            node = following[node]
        token = piece[node]
        start, stop = split_offsets[token], split_offsets[token + 1]
        if stop == start:
            continue  # a token without splits: the attempt is spent, as in the original
        state, choice = next_below(state, stop - start)
        piece[node] = split_left[start + choice]
        piece[nodes] = split_right[start + choice]
        following[nodes] = following[node]
        following[node] = nodes
        nodes += 1
        total += 1
        i = position + 1
        while i <= n:
            tree[i] += 1
            i += i & -i
    length = 0
    for i in range(n):
        node = i
        while node != -1:
            out[length] = piece[node]
            length += 1
            node = following[node]
    return length


@numba.njit(cache=True)
def _expand_documents(
    tokens: np.ndarray,
    offsets: np.ndarray,
    first_document: int,
    p: float,
    seed: np.uint64,
    key: np.uint64,
    split_offsets: np.ndarray,
    split_left: np.ndarray,
    split_right: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    n_docs = len(offsets) - 1
    lengths = offsets[1:] - offsets[:-1]
    attempts = np.empty(n_docs, dtype=np.int64)
    capacity = 0
    longest = 0
    for d in range(n_docs):
        attempts[d] = np.int64(lengths[d] * p)
        capacity += lengths[d] + attempts[d]
        longest = max(longest, lengths[d] + attempts[d])
    out = np.empty(capacity, dtype=tokens.dtype)
    new_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    piece = np.empty(longest, dtype=np.int32)
    following = np.empty(longest, dtype=np.int32)
    tree = np.zeros(longest + 1, dtype=np.int32)
    written = 0
    for d in range(n_docs):
        document = tokens[offsets[d] : offsets[d + 1]]
        if attempts[d] == 0:
            out[written : written + len(document)] = document
            written += len(document)
        else:
            state = document_state(seed, key, np.uint64(first_document + d))
            written += _expand_document(
                document, attempts[d], state, split_offsets, split_left, split_right,
                out[written:], piece, following, tree,
            )  # fmt: skip
        new_offsets[d + 1] = written
    return out[:written], new_offsets


def expand_documents(
    tokens: np.ndarray,
    offsets: np.ndarray,
    table: SplitTable,
    p: float,
    *,
    seed: int,
    key: int,
    first_document: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """StochasTok-expand documents ``tokens[offsets[d]:offsets[d+1]]``; new tokens and offsets.

    Document ``d`` draws from the stream of ``(seed, key, first_document + d)``, so a chunk of
    documents starting at ``first_document`` expands exactly as it would in a single pass.
    """
    p = check_probability(p)
    tokens = np.asarray(tokens)
    if tokens.size and int(tokens.max()) >= table.vocab_size:
        raise DataError(
            f"token id {int(tokens.max())} is outside the split table's {table.vocab_size} ids "
            "(another tokenizer?)"
        )
    offsets = np.asarray(offsets, dtype=np.int64)
    if p == 0.0:
        return np.array(tokens), offsets - offsets[0]
    return _expand_documents(
        tokens,
        offsets - offsets[0],
        first_document,
        p,
        np.uint64(seed % (1 << 64)),
        np.uint64(key % (1 << 64)),
        table.offsets,
        table.left,
        table.right,
    )
