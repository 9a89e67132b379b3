"""The kinds of LM toklab trains, samples and scores: what differs between a token LM and T-Free.

A kind bundles everything the trainer, generation and evaluation must not branch on: the size
of the model's output (the tokenizer's vocabulary, or T-Free's ``v`` hash ids), the end-of-text
id of its data, the model config it adds (T-Free's trigram embedding and untied multi-label
head), the kinds of data it trains on, its training and validation objectives, the limit its
data's ids must stay below, the file that defines its tokenization (hashed into the run's
fingerprint), its decoding (:meth:`~TokenLM.generation`: a checkpoint's completions, and the
options of ``scripts/generate.py`` only it reads) and how messages call it.

* :class:`TokenLM`: token ids of a tokenizer (or bytes), next-token cross-entropy, decoded by
  :class:`~toklab.generation.TokenGeneration`.
* :class:`TfreeLM`: the words of T-Free word arrays, hashed by a
  :class:`~toklab.tokenizers.tfree.TrigramHasher`, T-Free's multi-label loss, decoded from a
  word dictionary by :class:`~toklab.generation.WordGeneration`.

The one place that tells them apart: :func:`lm_kind` chooses from the tokenizer file a run
names (its content), :func:`checkpoint_kind` from a checkpoint (the one predicate,
:func:`~toklab.models.causal_lm.is_tfree_checkpoint`). Code above the trainer that differs per
kind (evaluation) cannot be a method of a kind; it hands one callable per kind to
:meth:`~TokenLM.select`, and the kind calls its own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from toklab.errors import ConfigError, DataError
from toklab.training.objectives import MultiLabelLoss, NextTokenLoss, Objective

if TYPE_CHECKING:
    from toklab.generation import GenerationOptions, TokenGeneration, WordGeneration
    from toklab.tokenizers.tfree import TrigramHasher
    from toklab.training.config import TrainConfig

R = TypeVar("R")


class LMKind(Protocol):
    """What the trainer, generation and evaluation ask of a kind of LM."""

    #: how messages call one checkpoint of the kind, and its checkpoints
    checkpoint_name: ClassVar[str]
    checkpoints_name: ClassVar[str]
    #: the options of ``scripts/generate.py`` that only this kind reads
    generation_options: ClassVar[tuple[str, ...]]

    #: the model's output size (``vocab_size`` of its config)
    vocab_size: int
    #: the id between documents in its data
    eos_id: int
    #: the file that defines the tokenization (None: bytes), hashed into the run's fingerprint
    tokenizer_file: Path | None
    #: the ``data`` settings it trains on
    data_kinds: tuple[str, ...]
    #: whether its arrays hold words of a word table (``examples`` are then word examples)
    words: bool
    #: what its data are, for messages
    data_description: str

    def model_overrides(self) -> dict[str, Any]:
        """Model config values the kind sets (on top of the preset and the run's overrides)."""
        ...

    def objectives(
        self, config: TrainConfig, train_prefix: str | Path, valid_prefix: str | Path | None
    ) -> tuple[Objective, Objective]:
        """The training objective and the validation objective."""
        ...

    def id_limit(self, train_prefix: str | Path) -> tuple[int, str]:
        """The bound the training data's ids must stay below, and what it is (for errors)."""
        ...

    @classmethod
    def generation(
        cls, checkpoint: Path, options: GenerationOptions
    ) -> TokenGeneration | WordGeneration:
        """The completions of a checkpoint of this kind (its decoding files are found at once)."""
        ...

    def select(self, *, token_lm: Callable[[TokenLM], R], tfree_lm: Callable[[TfreeLM], R]) -> R:
        """The callable of this kind, called with it: ``token_lm(self)`` for a token LM."""
        ...


@dataclass
class TokenLM:
    """An LM of token ids: a dense embedding and a softmax head over the vocabulary."""

    checkpoint_name: ClassVar[str] = "a token model"
    checkpoints_name: ClassVar[str] = "token models"
    generation_options: ClassVar[tuple[str, ...]] = (
        "--tokenizer",
        "--context-length",
        "--start-with-eos",
    )

    vocab_size: int = 257  # byte corpora: the 256 bytes and EOS
    eos_id: int = 256
    tokenizer_file: Path | None = None
    data_kinds: tuple[str, ...] = ("windows", "chunks", "examples")
    words: bool = False
    data_description: str = (
        "token LMs train on windows of token arrays, Delphi chunks or instruction examples"
    )

    def __post_init__(self) -> None:
        if not 0 <= self.eos_id < self.vocab_size:
            raise DataError(
                f"EOS id {self.eos_id} is outside the vocabulary of {self.vocab_size} tokens"
            )

    def model_overrides(self) -> dict[str, Any]:
        """None: the preset's model with the tokenizer's vocabulary."""
        return {}

    def objectives(
        self, config: TrainConfig, train_prefix: str | Path, valid_prefix: str | Path | None
    ) -> tuple[Objective, Objective]:
        """Next-token cross-entropy, for training and validation."""
        return NextTokenLoss(), NextTokenLoss()

    def id_limit(self, train_prefix: str | Path) -> tuple[int, str]:
        """The vocabulary size."""
        return self.vocab_size, "the vocab size"

    @classmethod
    def generation(cls, checkpoint: Path, options: GenerationOptions) -> TokenGeneration:
        """Prompts encoded by the tokenizer (``options.tokenizer`` or the checkpoint's), ids."""
        from toklab.generation import TokenGeneration

        return TokenGeneration(checkpoint, options)

    def select(self, *, token_lm: Callable[[TokenLM], R], tfree_lm: Callable[[TfreeLM], R]) -> R:
        """``token_lm(self)``."""
        return token_lm(self)


@dataclass
class TfreeLM:
    """T-Free: words as sums of trigram hash embeddings, a multi-label head over ``v`` ids."""

    checkpoint_name: ClassVar[str] = "a T-Free checkpoint"
    checkpoints_name: ClassVar[str] = "T-Free checkpoints"
    generation_options: ClassVar[tuple[str, ...]] = ("--dictionary", "--scoring", "--edge-weight")

    hasher: TrigramHasher
    tokenizer_file: Path | None = None
    #: the word dictionary its guesses are decoded from (next-word evaluation)
    dictionary: Path | None = None
    data_kinds: tuple[str, ...] = ("windows", "aligned", "examples")
    words: bool = True
    data_description: str = "T-Free LMs train on windows of words, aligned samples or word examples"

    @property
    def vocab_size(self) -> int:
        """The hasher's ``v``: the model's embedding rows and head outputs."""
        return self.hasher.v

    @property
    def eos_id(self) -> int:
        """The end-of-text word of every word table."""
        from toklab.datasets.tfree_words import EOT_ID

        return EOT_ID

    def model_overrides(self) -> dict[str, Any]:
        """The trigram embedding's settings; the head is its own (even under a tied preset)."""
        hasher = self.hasher
        tfree = {"m": hasher.m, "k": hasher.k, "entire_words": hasher.entire_words}
        return {"tfree": tfree, "tie_word_embeddings": False}

    def objectives(
        self, config: TrainConfig, train_prefix: str | Path, valid_prefix: str | Path | None
    ) -> tuple[Objective, Objective]:
        """The multi-label loss over each array's own word table."""
        from toklab.datasets.tfree_words import WordPatterns

        loss = config.multi_label
        patterns = WordPatterns.for_array(train_prefix, self.hasher)
        train_objective = MultiLabelLoss(patterns, loss.pos_weight, loss.loss_scale)
        if valid_prefix is None:
            return train_objective, train_objective
        valid_patterns = WordPatterns.for_array(valid_prefix, self.hasher)
        return train_objective, MultiLabelLoss(valid_patterns, loss.pos_weight, loss.loss_scale)

    def id_limit(self, train_prefix: str | Path) -> tuple[int, str]:
        """The size of the array's word table (its ids index it): its meta's ``vocab_size``."""
        from toklab.datasets.token_array import TokenArray

        return TokenArray.open(train_prefix).vocab_size, "the size of its word table"

    @classmethod
    def generation(cls, checkpoint: Path, options: GenerationOptions) -> WordGeneration:
        """Words of the dictionary (``options.dictionary`` or the checkpoint's), text rebuilt."""
        from toklab.generation import WordGeneration

        return WordGeneration(checkpoint, options)

    def select(self, *, token_lm: Callable[[TokenLM], R], tfree_lm: Callable[[TfreeLM], R]) -> R:
        """``tfree_lm(self)``."""
        return tfree_lm(self)


#: Every kind of LM, in the order messages name them.
KINDS: tuple[type[TokenLM] | type[TfreeLM], ...] = (TokenLM, TfreeLM)


def is_tfree_settings(path: str | Path) -> bool:
    """Whether ``path`` is a T-Free hasher's settings file (its ``format``), not a tokenizer."""
    from toklab.io import read_json
    from toklab.tokenizers.tfree import SETTINGS_FORMAT

    try:
        content = read_json(path)
    except (OSError, ValueError):
        return False  # missing or not JSON: the tokenizer's loader says what is wrong
    return isinstance(content, dict) and content.get("format") == SETTINGS_FORMAT


def lm_kind(tokenizer_file: str | Path | None, dictionary: str | Path | None = None) -> LMKind:
    """The kind of LM of a run's data, from the file that defines its tokenization.

    A T-Free hasher's settings (``tfree.json``, told by its ``format``) make a :class:`TfreeLM`
    (decoding from ``dictionary`` when given); a ``tokenizer.json`` makes a :class:`TokenLM` of
    its vocabulary and EOS token; None (byte corpora) the byte LM's.
    """
    if tokenizer_file is None:
        return TokenLM()
    path = Path(tokenizer_file)
    if is_tfree_settings(path):
        from toklab.tokenizers.tfree import load_settings

        words = None if dictionary is None else Path(dictionary)
        return TfreeLM(load_settings(path), tokenizer_file=path, dictionary=words)
    from toklab.tokenizers.tokenizer_files import load_tokenizer, require_special_token

    vocab_size = load_tokenizer(path).get_vocab_size(with_added_tokens=True)
    return TokenLM(vocab_size, require_special_token(path, "eos"), tokenizer_file=path)


def check_data_kind(kind: LMKind, data: str) -> None:
    """A one-line error unless the kind of LM trains on ``data``."""
    if data not in kind.data_kinds:
        raise ConfigError(f"data: {data!r}: {kind.data_description}")


def checkpoint_kind(directory: str | Path) -> type[TokenLM] | type[TfreeLM]:
    """The kind of LM of the checkpoint in ``directory``: T-Free's or a token model's.

    :class:`TfreeLM` when :func:`~toklab.models.causal_lm.is_tfree_checkpoint` says so, else
    :class:`TokenLM`: the class, no files read besides ``config.json``; what the kind reads is
    found and checked by its :meth:`~TokenLM.generation`, after the options were checked
    against it (:func:`refuse_other_kinds_options`).
    """
    from toklab.models.causal_lm import is_tfree_checkpoint

    return TfreeLM if is_tfree_checkpoint(directory) else TokenLM


def refuse_other_kinds_options(
    kind: type[TokenLM] | type[TfreeLM], given: Collection[str], checkpoint: str | Path
) -> None:
    """A :class:`ConfigError` when ``given`` names options that only other kinds read.

    ``given`` are the options named on ``scripts/generate.py``'s command line; those in another
    kind's ``generation_options`` would be ignored, so they are listed (in that kind's order)
    in one line instead.
    """
    others = [other for other in KINDS if other is not kind]
    named = [flag for other in others for flag in other.generation_options if flag in given]
    if named:
        owners = [o.checkpoints_name for o in others if set(o.generation_options) & set(named)]
        raise ConfigError(
            f"{checkpoint}: {', '.join(named)} {'applies' if len(named) == 1 else 'apply'} "
            f"only to {' or '.join(owners)}, and this is {kind.checkpoint_name}"
        )
