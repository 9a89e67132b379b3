"""Training a ByteSpan tokenizer from a byte corpus and its predictions zarr, and saving it.

The monotonic and combined constraints stream the cue from the zarr in chunks that end at
pre-token starts (:func:`~toklab.tokenizers.bytespan_stream.stream_spans`); the combined
threshold is the exact percentile from two more passes. The global constraint needs the whole
cue and the global order of its values (:mod:`~toklab.tokenizers.bytespan_global`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toklab.errors import ConfigError, DataError
from toklab.tokenizers import bytespan as bs
from toklab.tokenizers.bytespan_stream import chunk_bounds, stream_spans, streamed_percentile

INFERENCES = ("wordpiece", "bpe")


@dataclass
class ByteSpanTokenizer:
    """A trained ByteSpan vocabulary: WordPiece tokens, or BPE vocab and merges."""

    special_tokens: list[str]
    trajectory: list[dict[str, float]]
    wordpiece: list[bs.Token] | None = None
    bpe: tuple[dict[int, bytes], list[tuple[bytes, bytes]]] | None = None

    def save(self, directory: str | Path) -> None:
        """Write tokenizer.json and stats.csv (BPE: also vocab.json, merges.txt, configs)."""
        from toklab.io import atomic_write
        from toklab.tokenizers.tokenizer_files import save_tokenizer_files

        directory = Path(directory)
        if self.bpe is not None:
            save_tokenizer_files(directory, *self.bpe, self.special_tokens)
        else:
            assert self.wordpiece is not None
            tokenizer = bs.build_wordpiece_tokenizer(self.wordpiece, self.special_tokens)
            with atomic_write(directory / "tokenizer.json", "w") as handle:
                handle.write(tokenizer.to_str(pretty=True))
        with atomic_write(directory / "stats.csv", "w") as handle:
            handle.write(bs.trajectory_csv(self.trajectory))


def parse_variant(variant: str, constraint: str) -> float | None:
    """The seeding proportion of ``variant`` (None for frequency and balanced), checked."""
    from toklab.names import bytespan_seeding

    return bytespan_seeding(variant, constraint)


def train_bytespan(
    corpus_prefix: str | Path,
    predictions: str | Path,
    cue: str,
    constraint: str,
    vocab_size: int,
    *,
    variant: str = "frequency",
    percentile: float = 30.0,
    min_frequency: int = 20,
    languages: Sequence[str] | None = None,
    special_tokens: Sequence[str] = (),
    inference: str = "wordpiece",
    chunk_bytes: int = 64 << 20,
) -> ByteSpanTokenizer:
    """Train one ByteSpan tokenizer (see :mod:`toklab.tokenizers.bytespan` for the methods)."""
    from toklab.cues import Predictions
    from toklab.data.byte_corpus import ByteCorpus

    if constraint not in bs.CONSTRAINTS:
        raise ConfigError(f"unknown constraint '{constraint}' (one of {', '.join(bs.CONSTRAINTS)})")
    if inference not in INFERENCES:
        raise ConfigError(f"unknown inference '{inference}' (one of {', '.join(INFERENCES)})")
    proportion = parse_variant(variant, constraint)
    if variant == "balanced" and languages is None:
        raise ConfigError("the balanced variant needs the documents' languages")
    special_tokens = list(dict.fromkeys(special_tokens))
    bs.check_room(vocab_size, bs.with_unk(special_tokens))
    corpus = ByteCorpus(corpus_prefix)
    cues = Predictions(predictions, corpus_prefix)
    if len(cues) != corpus.num_bytes:
        raise DataError(f"{predictions}: {len(cues)} cue values for {corpus.num_bytes} bytes")
    data, pretok = corpus.bytes, corpus.pretoken_start

    # candidates(extra): the WordPiece vocabulary (extra=0), or it and up to `extra` more types
    trajectory: list[dict[str, float]] = []
    if constraint == "global":
        from toklab.tokenizers.bytespan_global import global_vocabularies

        values = cues.cue(cue)

        def candidates(extra: int) -> list[bs.Token]:
            result = global_vocabularies(
                values, pretok, data, [vocab_size], special_tokens, min_frequency, extra=extra
            )
            trajectory[:] = result.trajectory
            return result.candidates

    else:
        read = cues.reader(cue)
        bounds = chunk_bounds(pretok, chunk_bytes)
        threshold = (
            streamed_percentile(read, bounds, percentile) if constraint == "combined" else None
        )
        spans, starts = stream_spans(
            read, bounds, data, pretok, threshold, keep_starts=variant != "frequency"
        )
        trajectory.append(
            {
                "threshold": math.nan if threshold is None else threshold,
                "vocab_size": vocab_size,
                "unique_segments": len(spans.tokens),
            }
        )
        if variant == "frequency":
            wordpiece = bs.frequency_vocabulary(spans, vocab_size, special_tokens)
            known = set(wordpiece)
            ranked = wordpiece + [t for t in spans.tokens if t not in known]

            def candidates(extra: int) -> list[bs.Token]:
                return ranked[: len(wordpiece) + extra]

        elif variant == "balanced":
            assert languages is not None

            def candidates(extra: int) -> list[bs.Token]:
                return bs.balanced_vocabulary(
                    starts,
                    data,
                    pretok,
                    corpus.offsets,
                    languages,
                    vocab_size,
                    special_tokens,
                    extra=extra,
                )

        else:
            assert proportion is not None

            def candidates(extra: int) -> list[bs.Token]:
                return bs.seeded_vocabulary(
                    starts,
                    data,
                    pretok,
                    spans,
                    vocab_size,
                    special_tokens,
                    proportion,
                    extra=extra,
                )

    if inference == "wordpiece":
        wordpiece = candidates(0)
        return ByteSpanTokenizer(bs.with_unk(special_tokens), trajectory, wordpiece=wordpiece)
    from toklab.tokenizers.bytespan_merges import bpe_inference_from

    bpe = bpe_inference_from(candidates, vocab_size, special_tokens)
    return ByteSpanTokenizer(special_tokens, trajectory, bpe=bpe)
