"""Byte-level Unigram LM (SentencePiece's algorithm) trained by ``tokenizers``' UnigramTrainer.

The usual multilingual baseline, and T-Free's Table 1 comparison. Same input side as toklab's
BPE tokenizers: GPT-2's regex split with the ByteLevel mapping, no prefix space, and all 256
byte characters in the vocabulary, so every UTF-8 text is encodable and round-trips exactly.
Pieces never cross pre-token boundaries and are at most 16 bytes long (the trainer's
``max_piece_length`` counts characters, and ByteLevel makes every byte a character).

Vocabulary: the special tokens take ids ``0 .. n-1`` in the order given (as with
``hf_bpe``; they are also added tokens, never split), then the pieces by decreasing score (a
log probability), ties by piece. There is no unknown token: every byte is a piece.

Size: the vocabulary has exactly ``vocab_size`` entries when the corpus is large enough. It has
fewer when the trainer's EM leaves fewer pieces than asked for: its M-step drops every piece
whose expected count is below 0.5, so a small corpus (or a large ``vocab_size`` for its corpus)
supports only so many pieces; :func:`train_unigram` logs a warning then. It never has more
(the trainer alone keeps every piece when the 256 bytes and the special tokens fill
``vocab_size`` exactly: its cut misses; the extra pieces are dropped here). ``vocab_size``
below the 256 bytes + the special tokens is a ConfigError, as for BPE.

Determinism: UnigramTrainer is not reproducible by itself, whatever the thread count
(``RAYON_NUM_THREADS=1`` does not help). It keeps the pre-token counts in an ``ahash`` map whose
seed is random per map, so (1) the EM sums run in a different order each time, and the scores
differ in their last bits (about 1e-15, up to 4e-11 for rare pieces, measured); (2) the
characters the EM dropped (bytes never seen, rare ones) are handed scores ``min + k * 1e-4``
in that random order, so their scores and ids change from run to run. :func:`canonical_pieces`
undoes both: those characters get the same scores in byte order, scores are rounded to
:data:`SCORE_DECIMALS` decimals, and ties are ordered by piece. The same corpus then gives a
byte-identical ``tokenizer.json`` unless a score falls within its noise of a rounding boundary
(a chance under 1e-6 per score with the noise above) or the trainer's pruning breaks an exact
tie in its loss at the size cut differently (never seen in repeated runs on 1-8 MB corpora).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from toklab.errors import ConfigError, DataError
from toklab.io import atomic_write
from toklab.tokenizers.bpe import check_vocab_size, unique_special_tokens
from toklab.tokenizers.byte_unicode import bytes_to_unicode
from toklab.tokenizers.tokenizer_files import write_transformers_configs

log = logging.getLogger(__name__)

#: Decimals kept of every score: coarse enough that the trainer's float noise almost never
#: crosses a rounding boundary; a near-tie of two segmentations within it may fall either way.
SCORE_DECIMALS = 4
#: The trainer's step between the scores of the characters it adds without a trained score.
PENALTY_STEP = 1e-4
#: How far from that grid such a score may be (float error, and the noise of the minimum).
PENALTY_TOLERANCE = 1e-9


def byte_alphabet() -> list[str]:
    """The 256 ByteLevel characters, in byte order."""
    table = bytes_to_unicode()
    return [table[b] for b in range(256)]


def canonical_pieces(
    pieces: Sequence[tuple[str, float]], alphabet: Sequence[str]
) -> list[tuple[str, float]]:
    """UnigramTrainer's pieces (special tokens excluded) in a form free of its hash order.

    The characters of ``alphabet`` whose scores sit on the trainer's penalty grid
    (``min + k * PENALTY_STEP``) get those scores again, highest first, in alphabet order; then
    every score is rounded to ``SCORE_DECIMALS`` decimals, and the pieces are sorted by
    decreasing score, ties by piece.
    """
    scores = dict(pieces)
    lowest = min(scores.values(), default=0.0)
    rank = {char: i for i, char in enumerate(alphabet)}
    added = sorted(
        (p for p, s in scores.items() if p in rank and _on_penalty_grid(s, lowest, len(rank))),
        key=rank.__getitem__,
    )
    for piece, score in zip(added, sorted((scores[p] for p in added), reverse=True), strict=True):
        scores[piece] = score
    rounded = {piece: round(score, SCORE_DECIMALS) + 0.0 for piece, score in scores.items()}
    return sorted(rounded.items(), key=lambda item: (-item[1], item[0]))


def _on_penalty_grid(score: float, lowest: float, size: int) -> bool:
    """Whether ``score`` is ``lowest + k * PENALTY_STEP`` for some ``0 <= k < size``."""
    steps = (score - lowest) / PENALTY_STEP
    return round(steps) < size and abs(steps - round(steps)) * PENALTY_STEP < PENALTY_TOLERANCE


def fit_to_size(
    pieces: Sequence[tuple[str, float]], budget: int, alphabet: Sequence[str]
) -> list[tuple[str, float]]:
    """At most ``budget`` of ``pieces`` (by decreasing score): the lowest non-characters go.

    UnigramTrainer's own cut misses when the 256 characters alone fill its budget (vocab_size
    is 256 + the special tokens): it then keeps every piece.
    """
    chars = set(alphabet)
    extra = len(pieces) - budget
    drop = (
        set([piece for piece, _ in pieces if piece not in chars][-extra:]) if extra > 0 else set()
    )
    return [(piece, score) for piece, score in pieces if piece not in drop]


def _nonempty(texts: Iterable[str], source: str) -> Iterator[str]:
    """``texts`` again, after checking that at least one is not empty."""
    texts = iter(texts)
    for text in texts:
        if text:
            return itertools.chain([text], texts)
    raise DataError(f"{source}: no text to train on (no documents, or only empty ones)")


def train_unigram(
    texts: Iterable[str],
    vocab_size: int,
    special_tokens: Sequence[str] = (),
    *,
    source: str | Path = "the training texts",
) -> UnigramTokenizer:
    """Train a byte-level Unigram LM on ``texts`` (documents) with ``tokenizers``' trainer.

    ``vocab_size`` counts the special tokens, the 256 bytes and the learned pieces; the result
    has at most that many (see the module doc). ``source`` names the texts in errors. The
    trainer's threads are rayon's, ``RAYON_NUM_THREADS`` when its pool starts (all cores by
    default); the result does not depend on them.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    specials = unique_special_tokens(special_tokens)
    check_vocab_size(vocab_size, specials)
    texts = _nonempty(texts, str(source))
    alphabet = byte_alphabet()
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=alphabet,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    spec = json.loads(tokenizer.to_str())
    trained = [(piece, score) for piece, score in spec["model"]["vocab"]]
    pieces = canonical_pieces(trained[len(specials) :], alphabet)
    pieces = fit_to_size(pieces, vocab_size - len(specials), alphabet)
    clashes = sorted(set(specials) & {piece for piece, _ in pieces})
    if clashes:
        raise ConfigError(f"special token {clashes[0]!r} is also an ordinary token of the vocab")
    spec["model"]["vocab"] = trained[: len(specials)] + pieces
    if len(spec["model"]["vocab"]) < vocab_size:
        log.warning(
            "%s: the trainer kept %d tokens of the %d asked for (too little text for more)",
            source,
            len(spec["model"]["vocab"]),
            vocab_size,
        )
    return UnigramTokenizer(Tokenizer.from_str(json.dumps(spec)), specials)


class UnigramTokenizer:
    """A trained byte-level Unigram tokenizer: its ``tokenizers.Tokenizer`` and special tokens."""

    def __init__(self, hf_tokenizer, special_tokens: Sequence[str]) -> None:
        self.hf_tokenizer = hf_tokenizer
        self.special_tokens = list(special_tokens)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (special tokens in it are matched, never split)."""
        return self.hf_tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``, special tokens included; invalid UTF-8 becomes U+FFFD."""
        return self.hf_tokenizer.decode(list(ids), skip_special_tokens=False)

    def save(self, directory: str | Path) -> None:
        """Write ``tokenizer.json`` and the transformers configs to ``directory``."""
        directory = Path(directory)
        with atomic_write(directory / "tokenizer.json", "w") as handle:
            handle.write(self.hf_tokenizer.to_str(pretty=True))
        write_transformers_configs(directory, self.special_tokens)
