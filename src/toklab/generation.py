"""Sampling from a trained causal LM: greedy, temperature and nucleus (top-p) decoding.

The sampling step is the one ``transformers``' ``generate(do_sample=True, top_k=0, ...)`` takes,
operation for operation, so that with the same ``torch.manual_seed`` both draw the same tokens:

1. the logits of the last position, as float32;
2. divided by the temperature;
3. nucleus filtering as ``TopPLogitsWarper`` does it (:func:`top_p_filter`), skipped when
   ``top_p == 1``;
4. a softmax, then ``torch.multinomial(probs, num_samples=1)`` with torch's global RNG (or the
   ``generator`` given).

Temperature 0 means greedy decoding: the argmax of the float32 logits (the first on ties).

The model is any ``torch.nn.Module`` whose ``forward(input_ids)`` returns the logits (B, T, V),
or an output with a ``.logits`` attribute (a ``transformers`` causal LM). The model sees at most
the context length (the model's ``max_position_embeddings`` by default): once the sequence is
longer, the window slides to its last tokens, with positions starting at 0 again.

toklab's own (token-id) :class:`~toklab.models.llama.LlamaModel` decodes with a
:class:`~toklab.models.llama.KVCache`: the prompt (its last window) is prefilled once, then each
step feeds only the new token. RoPE positions in a cache cannot slide, so once the sequence
outgrows the context the cache is emptied and the last window re-run from position 0 at every
step, exactly what the uncached loop does. Any other model (a ``transformers`` wrapper, a T-Free
model, a module around a Llama) runs on the whole window at every step. Both give the same
logits up to float rounding, hence the same greedy tokens and, with the same seed, the same
samples.

Checkpoints of any model class the trainer builds (toklab's Llama, or a ``transformers``
causal LM such as Mamba) are loaded by :func:`load_model` through
:func:`toklab.models.causal_lm.load_model`.

A T-Free model continues a text word by word (:func:`generate_words`). A checkpoint's
completions, from prompts to texts, come from its kind's decoding (:class:`TokenGeneration`,
:class:`WordGeneration`), which the kind of LM picks (:mod:`toklab.training.lm_kinds`).
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from toklab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

__all__ = [
    "Completion",
    "GenerationOptions",
    "TokenGeneration",
    "WordGeneration",
    "check_number",
    "check_sampling_parameters",
    "context_length_of",
    "generate",
    "generate_words",
    "load_model",
    "next_token_logits",
    "resolve_tokenizer",
    "sample_next_token",
    "top_p_filter",
]


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Load the checkpoint in ``directory`` onto ``device``, in eval mode.

    A missing directory, or one without ``config.json`` / ``model.safetensors``, is a
    :class:`~toklab.errors.DataError` naming the path.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: checkpoint directory not found")
    from toklab.models.causal_lm import load_model as load_saved_model

    model = load_saved_model(directory, map_location="cpu")
    try:
        model = model.to(device)
    except (RuntimeError, AssertionError) as err:  # e.g. CUDA asked for but not available
        raise ConfigError(f"device {str(device)!r}: cannot move the model there ({err})") from None
    return model.eval()


def context_length_of(model: nn.Module) -> int | None:
    """The model's ``config.max_position_embeddings``, or ``None`` when it has none."""
    value = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return int(value) if value is not None else None


def _vocab_size_of(model: nn.Module) -> int | None:
    value = getattr(getattr(model, "config", None), "vocab_size", None)
    return int(value) if value is not None else None


def _forward_kwargs(model: nn.Module) -> dict[str, Any]:
    """Keyword arguments that spare a ``transformers`` model work it would throw away."""
    try:
        parameters = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return {}
    kwargs: dict[str, Any] = {}
    if "use_cache" in parameters:
        kwargs["use_cache"] = False  # every step sees the whole window anyway
    if "logits_to_keep" in parameters:
        kwargs["logits_to_keep"] = 1  # only the last position is sampled from
    return kwargs


def next_token_logits(
    model: nn.Module, input_ids: torch.Tensor, forward_kwargs: dict[str, Any] | None = None
) -> torch.Tensor:
    """The float32 logits (B, V) of the last position of ``input_ids`` (B, T).

    The model's output is used as is when it is a tensor, or its ``.logits`` otherwise.
    """
    output = model(input_ids, **(forward_kwargs or {}))
    logits = output.logits if hasattr(output, "logits") else output
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
        raise TypeError(
            "the model must return logits (batch, length, vocab) or an output with .logits, "
            f"got {type(logits).__name__}"
        )
    return logits[:, -1, :].to(dtype=torch.float32, copy=True)


def top_p_filter(
    logits: torch.Tensor,
    top_p: float,
    min_tokens_to_keep: int = 1,
    filter_value: float = float("-inf"),
) -> torch.Tensor:
    """Nucleus filtering of ``logits`` (..., V), as ``transformers``' ``TopPLogitsWarper``.

    The logits are sorted ascending and their softmax accumulated; a token is removed (set to
    ``filter_value``) when the cumulative probability up to and including it is at most
    ``1 - top_p``, so the most probable tokens whose probabilities reach ``top_p`` remain. The
    ``min_tokens_to_keep`` most probable tokens are always kept. Returns a new tensor.
    """
    check_number("top_p", top_p)
    if not 0.0 <= top_p <= 1.0:
        raise ConfigError(f"top_p: {top_p!r} is not in [0, 1]")
    if min_tokens_to_keep < 1:
        raise ConfigError(f"min_tokens_to_keep: {min_tokens_to_keep!r} is less than 1")
    sorted_logits, sorted_indices = torch.sort(logits, descending=False)
    cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    sorted_to_remove = cumulative_probs <= (1 - top_p)
    sorted_to_remove[..., -min_tokens_to_keep:] = False
    to_remove = sorted_to_remove.scatter(-1, sorted_indices, sorted_to_remove)
    return logits.masked_fill(to_remove, filter_value)


def check_number(name: str, value: float) -> None:
    """A :class:`~toklab.errors.ConfigError` when ``value`` is NaN: "NAME: nan is not a number"."""
    if isinstance(value, float) and math.isnan(value):
        raise ConfigError(f"{name}: {value!r} is not a number")


def check_sampling_parameters(temperature: float, top_p: float) -> None:
    """A :class:`~toklab.errors.ConfigError` unless ``temperature >= 0`` and ``0 < top_p <= 1``."""
    check_number("temperature", temperature)
    check_number("top_p", top_p)
    if not temperature >= 0:
        raise ConfigError(f"temperature: {temperature!r} is negative (0 means greedy decoding)")
    if not 0 < top_p <= 1:
        raise ConfigError(f"top_p: {top_p!r} is not in (0, 1]")


def sample_next_token(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The next token (B,) from float32 ``logits`` (B, V): greedy at temperature 0, else sampled.

    Sampling divides by ``temperature``, applies :func:`top_p_filter` when ``top_p < 1``, takes
    the softmax and draws with ``torch.multinomial`` (the global RNG unless ``generator``).
    """
    check_sampling_parameters(temperature, top_p)
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    scores = logits / temperature
    if top_p < 1.0:
        scores = top_p_filter(scores, top_p)
    probs = torch.softmax(scores, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)


def _uses_kv_cache(model: nn.Module) -> bool:
    """Whether :func:`generate` decodes ``model`` with a KV cache: a token-id toklab Llama."""
    from toklab.models.llama import LlamaModel

    return isinstance(model, LlamaModel) and not model.config.reads_words


def _model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.inference_mode()
def generate(
    model: nn.Module,
    prompt_ids: Sequence[int],
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    eos_id: int | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    context_length: int | None = None,
) -> list[int]:
    """Continue ``prompt_ids`` by up to ``max_new_tokens`` tokens; the new ids only.

    Args:
        model: a causal LM (see the module docstring), already on its device and in eval mode.
        prompt_ids: the prompt, at least one id.
        max_new_tokens: the most ids to generate (0 gives ``[]``).
        temperature: the softmax temperature; 0 means greedy decoding (argmax).
        top_p: the nucleus mass, in (0, 1]; 1 turns the filter off.
        eos_id: generation stops once this id is produced; the EOS id is then the last id of
            the result (as in ``transformers``). ``None`` generates ``max_new_tokens`` ids.
        seed: when given, ``torch.manual_seed(seed)`` is called first, which seeds the global
            RNG as ``transformers`` uses it: the same seed gives the same tokens as
            ``transformers``' ``generate``.
        generator: a ``torch.Generator`` (on the model's device) to draw from instead of the
            global RNG; not together with ``seed``.
        context_length: the most tokens the model sees at once; the window slides to the last
            ``context_length`` tokens. Defaults to the model's ``max_position_embeddings``
            (no limit for a model without one). A longer prompt loses its first tokens, with a
            warning saying how many.

    Raises:
        ConfigError: a parameter out of range.
        DataError: an empty prompt, or an id outside the model's vocabulary.

    """
    check_sampling_parameters(temperature, top_p)
    if max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens: {max_new_tokens!r} is negative")
    if seed is not None and generator is not None:
        raise ConfigError("give a seed or a generator, not both")
    limit = context_length_of(model)
    if context_length is None:
        context_length = limit
    elif context_length < 1:
        raise ConfigError(f"context_length: {context_length!r} is less than 1")
    elif limit is not None and context_length > limit:
        raise ConfigError(
            f"context_length: {context_length} exceeds the model's max_position_embeddings {limit}"
        )
    prompt = [int(i) for i in prompt_ids]
    if not prompt:
        raise DataError("the prompt has no tokens (generation needs at least one)")
    vocab_size = _vocab_size_of(model)
    if vocab_size is not None and not all(0 <= i < vocab_size for i in prompt):
        bad = next(i for i in prompt if not 0 <= i < vocab_size)
        raise DataError(f"prompt token id {bad} is outside the model's vocabulary of {vocab_size}")
    if context_length is not None and len(prompt) > context_length and max_new_tokens:
        log.warning(
            "the prompt has %d tokens, more than the context of %d: its first %d are dropped",
            len(prompt), context_length, len(prompt) - context_length,
        )  # fmt: skip
    if seed is not None:
        torch.manual_seed(seed)

    device = _model_device(model)
    forward_kwargs = _forward_kwargs(model)
    ids = torch.tensor([prompt], dtype=torch.long, device=device)
    cache = None
    if _uses_kv_cache(model):
        from toklab.models.llama import KVCache

        cache = KVCache()
        forward_kwargs = {**forward_kwargs, "cache": cache}
    new: list[int] = []
    for _ in range(max_new_tokens):
        window = ids if context_length is None else ids[:, -context_length:]
        if cache is not None:
            # The cache holds the window's first cache.length tokens until the window slides;
            # then it is full (cache.length == context_length) and its positions cannot slide,
            # so it is emptied and the whole window re-run from position 0.
            if cache.length >= window.shape[1]:
                cache.reset()
            window = window[:, cache.length :]  # the tokens not in the cache yet
        logits = next_token_logits(model, window, forward_kwargs)
        token = sample_next_token(logits, temperature=temperature, top_p=top_p, generator=generator)
        ids = torch.cat([ids, token[:, None].to(ids.device)], dim=1)
        new.append(int(token[0]))
        if eos_id is not None and new[-1] == eos_id:
            break
    return new


@torch.inference_mode()
def generate_words(
    model: nn.Module,
    dictionary,
    prompt: str,
    *,
    max_new_words: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    method: str = "code",
    edge_weight: float = 1.0,
    more_words: Sequence[str] | None = None,
    stop_word: str | None = "<|endoftext|>",
    generator: torch.Generator | None = None,
) -> list[str]:
    """Continue ``prompt`` with up to ``max_new_words`` words of a T-Free model; the new words.

    The prompt is split into words (:func:`~toklab.tokenizers.tfree.split_words`) and fed once;
    each predicted word is then fed back alone through a KV cache. A word is the dictionary's
    best (``temperature`` 0) or sampled one for the last position's logits
    (:meth:`~toklab.tokenizers.tfree_dictionary.WordDictionary.decode`); ``more_words`` (default:
    the prompt's words, the original's ``more_words``) join the dictionary for this prompt.
    Generation stops after ``stop_word``; past the model's positions the context restarts from
    its last ``max_position_embeddings`` words (a longer prompt loses its first words, with a
    warning). ``join_words(split_words(prompt) + result)``
    rebuilds the text.
    """
    from toklab.datasets.tfree_words import word_bags
    from toklab.models.causal_lm import word_settings
    from toklab.models.llama import KVCache
    from toklab.tokenizers.tfree import hasher_settings, split_words

    if max_new_words < 0:
        raise ConfigError(f"max_new_words: {max_new_words!r} is negative")
    check_sampling_parameters(temperature, top_p)
    check_number("edge_weight", edge_weight)
    own = word_settings(model)
    if own is None:
        raise ConfigError("generate_words needs a T-Free model (its config has no tfree settings)")
    given = hasher_settings(dictionary.hasher)
    if own != given:
        raise DataError(
            f"the model was trained with T-Free settings {own}, the dictionary's hasher has {given}"
        )
    words = split_words(prompt)
    if not words:
        raise DataError("the prompt has no words (generation needs at least one)")
    dictionary = dictionary.add_words(words if more_words is None else more_words)
    device = _model_device(model)
    limit = context_length_of(model)
    if limit is not None and len(words) > limit and max_new_words:
        log.warning(
            "the prompt has %d words, more than the model's %d positions: its first %d are "
            "dropped", len(words), limit, len(words) - limit,
        )  # fmt: skip
    cache = KVCache()
    sequence, new = list(words), []
    step_input = sequence[-limit:] if limit else sequence
    for _ in range(max_new_words):
        logits = model(word_bags([step_input], dictionary.hasher, device), cache=cache)[:, -1]
        (word,) = dictionary.decode(
            logits, method=method, edge_weight=edge_weight, temperature=temperature,
            top_p=top_p, generator=generator,
        )  # fmt: skip
        new.append(word)
        sequence.append(word)
        if word == stop_word:
            break
        if limit is not None and cache.length >= limit:
            cache.reset()  # RoPE positions cannot slide: start again on the last window
            step_input = sequence[-limit:]
        else:
            step_input = [word]
    return new


@dataclass(frozen=True)
class GenerationOptions:
    """What a generation run asks: sampling for every kind of LM, then each kind's own settings.

    A token model reads ``tokenizer``, ``context_length`` and ``start_with_eos``; a T-Free
    model ``dictionary``, ``scoring`` and ``edge_weight`` (each kind's ``generation_options``
    in :mod:`toklab.training.lm_kinds` names them as ``scripts/generate.py``'s options).
    """

    #: the most new tokens (T-Free: words) per prompt
    max_new: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    #: seeds the sampling once, before the first prompt
    seed: int | None = None
    #: a torch device (default: cuda when available, else cpu)
    device: str | None = None
    #: stop a completion at the end of text (EOS, or T-Free's end-of-text word)
    eos_stop: bool = True
    #: a token model's tokenizer.json or its directory (default: the checkpoint's own)
    tokenizer: Path | None = None
    #: the most tokens a token model sees (default: its max_position_embeddings)
    context_length: int | None = None
    #: put EOS before each prompt of a token model
    start_with_eos: bool = False
    #: T-Free's word counts to decode from (default: the checkpoint's dictionary.tsv)
    dictionary: Path | None = None
    #: T-Free's word score: the original code's ("code") or the paper's Alg. 5 ("paper")
    scoring: str = "code"
    #: T-Free: the weight of edge ids in the word score
    edge_weight: float = 1.0


@dataclass(frozen=True)
class Completion:
    """One prompt's continuation, as :class:`TokenGeneration` or :class:`WordGeneration` made it."""

    #: the continuation's text (without a final end of text)
    text: str
    #: what records it: ``prompt_ids`` and ``ids``, or ``words`` (the final end of text kept)
    record: dict[str, Any]
    #: how many tokens (words) are new
    new: int
    #: whether it stopped at the end of text
    stopped: bool


def _default_device(device: str | None) -> str:
    """``device``, or when None cuda if available, else cpu."""
    if device is not None:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_tokenizer(tokenizer: Path | None, checkpoint: Path) -> Path:
    """The ``tokenizer.json`` to use: ``tokenizer`` (a file or its directory) or the checkpoint's."""
    if tokenizer is None:
        candidate = checkpoint / "tokenizer.json"
        if not candidate.is_file():
            raise ConfigError(
                f"{checkpoint}: no tokenizer.json in the checkpoint directory; give --tokenizer"
            )
        return candidate
    if tokenizer.is_dir():
        tokenizer = tokenizer / "tokenizer.json"
    if not tokenizer.is_file():
        raise DataError(f"{tokenizer}: tokenizer file not found")
    return tokenizer


class TokenGeneration:
    """A token-id checkpoint's completions: prompts encoded by its tokenizer, :func:`generate`.

    Made before the prompts are read, it finds the tokenizer file at once (a wrong path fails
    first); :meth:`complete` loads the tokenizer and the model.
    """

    #: what :attr:`Completion.new` counts
    unit = "tokens"

    def __init__(self, checkpoint: Path, options: GenerationOptions) -> None:
        self.checkpoint = checkpoint
        self.options = options
        self.tokenizer_file = resolve_tokenizer(options.tokenizer, checkpoint)

    def complete(self, texts: Sequence[str]) -> Iterator[Completion]:
        """Each text's completion, in order; the global RNG is seeded once, before the first."""
        from toklab.tokenizers.tokenizer_files import load_tokenizer, special_token_ids

        options, tokenizer_file = self.options, self.tokenizer_file
        check_sampling_parameters(options.temperature, options.top_p)
        tokenizer = load_tokenizer(tokenizer_file)
        eos_id = special_token_ids(tokenizer_file).get("eos")
        if eos_id is None and (options.start_with_eos or options.eos_stop):
            if options.start_with_eos:
                raise DataError(f"{tokenizer_file}: --start-with-eos, but the tokenizer has no EOS")
            log.warning(
                "%s has no EOS token: every completion runs to --max-new-tokens", tokenizer_file
            )
        model = load_model(self.checkpoint, _default_device(options.device))
        if options.seed is not None:
            torch.manual_seed(options.seed)
        for number, text in enumerate(texts):
            prompt_ids = tokenizer.encode(text, add_special_tokens=False).ids
            if options.start_with_eos:
                prompt_ids = [eos_id, *prompt_ids]
            if not prompt_ids:
                hint = (
                    "; give --start-with-eos to start it from EOS"
                    if eos_id is not None
                    else f" (and --start-with-eos needs an EOS, which {tokenizer_file} lacks)"
                )
                raise DataError(f"prompt {number + 1} ({text!r}) encodes to no tokens{hint}")
            stop_id = eos_id if options.eos_stop else None
            ids = generate(
                model, prompt_ids, max_new_tokens=options.max_new,
                temperature=options.temperature, top_p=options.top_p, eos_id=stop_id,
                context_length=options.context_length,
            )  # fmt: skip
            stopped = stop_id is not None and bool(ids) and ids[-1] == stop_id
            completion = tokenizer.decode(ids[:-1] if stopped else ids, skip_special_tokens=False)
            yield Completion(completion, {"prompt_ids": prompt_ids, "ids": ids}, len(ids), stopped)


class WordGeneration:
    """A T-Free checkpoint's completions: words of its dictionary, :func:`generate_words`.

    The checkpoint holds the hasher's settings (``tfree.json``) and, by default, the dictionary
    (``dictionary.tsv``); the text is rebuilt from the words with T-Free's inverse word split.
    """

    #: what :attr:`Completion.new` counts
    unit = "words"

    def __init__(self, checkpoint: Path, options: GenerationOptions) -> None:
        self.checkpoint = checkpoint
        self.options = options
        self.dictionary_file = options.dictionary or checkpoint / "dictionary.tsv"

    def complete(self, texts: Sequence[str]) -> Iterator[Completion]:
        """Each text's completion, in order, drawn from one generator seeded before the first."""
        from toklab.tokenizers.tfree import join_words, load_settings, split_words
        from toklab.tokenizers.tfree_dictionary import END_OF_TEXT, WordDictionary

        options = self.options
        check_sampling_parameters(options.temperature, options.top_p)
        check_number("edge_weight", options.edge_weight)
        hasher = load_settings(self.checkpoint / "tfree.json")
        words = WordDictionary.load(self.dictionary_file, hasher)
        device = _default_device(options.device)
        model = load_model(self.checkpoint, device)
        generator = torch.Generator(device=device)
        if options.seed is not None:
            generator.manual_seed(options.seed)
        for text in texts:
            new = generate_words(
                model, words, text, max_new_words=options.max_new,
                temperature=options.temperature, top_p=options.top_p, method=options.scoring,
                edge_weight=options.edge_weight,
                stop_word=END_OF_TEXT if options.eos_stop else None, generator=generator,
            )  # fmt: skip
            stopped = options.eos_stop and bool(new) and new[-1] == END_OF_TEXT
            full = join_words(split_words(text) + (new[:-1] if stopped else new))
            completion = full[len(text) :] if full.startswith(text) else full
            yield Completion(completion, {"words": new}, len(new), stopped)
