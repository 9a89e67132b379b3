"""Training a ByteSpan tokenizer from a byte corpus and its predictions zarr, and saving it.

The monotonic and combined constraints stream the cue from the zarr and the corpus from its
files in chunks that end at pre-token starts
(:func:`~toklab.tokenizers.bytespan_stream.stream_spans`; ``chunk_bytes`` is capped at
:data:`~toklab.tokenizers.bytespan_stream.MAX_CHUNK_BYTES`, so that memory stays small); the
combined threshold is the exact percentile from two more passes, and the seeding variants count
the pre-tokens by their span starts in the span pass, which gives the span words once the seed
is chosen (:func:`~toklab.tokenizers.bytespan_counts.count_span_words`). Memory holds counted
span types, pre-tokens and words, not per-byte arrays. The global constraint holds the corpus
bytes and reads the cue's order in waves (:mod:`~toklab.tokenizers.bytespan_global`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toklab.errors import ConfigError, DataError
from toklab.tokenizers import bytespan as bs
from toklab.tokenizers.bytespan_stream import (
    MAX_CHUNK_BYTES,
    block_reader,
    chunk_bounds,
    file_reader,
    stream_spans,
    streamed_percentile,
)

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
    chunk_bytes: int = MAX_CHUNK_BYTES,
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
    pretok = corpus.pretoken_start

    # candidates(extra): the WordPiece vocabulary (extra=0), or it and up to `extra` more types
    trajectory: list[dict[str, float]] = []
    if constraint == "global":
        from toklab.tokenizers.bytespan_global import global_vocabularies

        read = block_reader(cues.reader(cue), cues.arrays[cue].chunks[0])

        def candidates(extra: int) -> list[bs.Token]:
            result = global_vocabularies(
                read,
                file_reader(corpus.paths["pretok"]),
                file_reader(corpus.paths["bin"]),
                [vocab_size],
                special_tokens,
                min_frequency,
                extra=extra,
                n=corpus.num_bytes,
            )
            trajectory[:] = result.trajectory
            return result.candidates

    else:
        read = block_reader(cues.reader(cue), cues.arrays[cue].chunks[0])
        bounds = chunk_bounds(pretok, min(chunk_bytes, MAX_CHUNK_BYTES))
        threshold = (
            streamed_percentile(read, bounds, percentile) if constraint == "combined" else None
        )
        streamed = stream_spans(
            read,
            bounds,
            file_reader(corpus.paths["bin"]),
            file_reader(corpus.paths["pretok"]),
            threshold,
            count_pretokens=proportion is not None,
            languages=(corpus.offsets, languages) if variant == "balanced" else None,
        )
        trajectory.append(
            {
                "threshold": math.nan if threshold is None else threshold,
                "vocab_size": vocab_size,
                "unique_segments": streamed.unique,
            }
        )
        if variant == "frequency":
            spans = streamed.spans
            assert spans is not None
            wordpiece = bs.frequency_vocabulary(spans, vocab_size, special_tokens)

            def candidates(extra: int) -> list[bs.Token]:
                more = bs.ranked_types(spans, set(wordpiece))
                return wordpiece + list(itertools.islice(more, extra))

        elif variant == "balanced":
            by_language = streamed.by_language
            assert by_language is not None

            def candidates(extra: int) -> list[bs.Token]:
                return bs.balanced_from_counts(by_language, vocab_size, special_tokens, extra)

        else:
            from toklab.tokenizers.bytespan_counts import WordVocabulary, count_span_words

            assert proportion is not None and streamed.spans is not None
            assert streamed.pretokens is not None
            seed = bs.seed_tokens(streamed.spans, vocab_size, special_tokens, proportion)
            pretokens = streamed.pretokens
            del streamed
            words = count_span_words(pretokens, WordVocabulary(seed))
            words = words.longer_than_one()  # the others hold no pair
            del pretokens

            def candidates(extra: int) -> list[bs.Token]:
                return bs.bpe_on_spans(seed, words, vocab_size, special_tokens, extra)

    if inference == "wordpiece":
        wordpiece = candidates(0)
        return ByteSpanTokenizer(bs.with_unk(special_tokens), trajectory, wordpiece=wordpiece)
    from toklab.tokenizers.bytespan_merges import bpe_inference_from

    bpe = bpe_inference_from(candidates, vocab_size, special_tokens)
    return ByteSpanTokenizer(special_tokens, trajectory, bpe=bpe)
