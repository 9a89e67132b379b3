r"""Downstream evaluation: standard multiple-choice benchmarks scored by log-likelihood.

StochasTok's MCQ suite: HellaSwag, ARC-Easy, ARC-Challenge, WinoGrande, MMLU and BLiMP, read
from their Hugging Face datasets (:data:`BENCHMARKS`), become :class:`Choice` items: a context
and the option continuations, each option's text as it follows the context. :func:`score_items` tokenizes the
context and every continuation separately and ranks the options by the summed log-likelihood of
the continuation (:func:`toklab.evaluation.multiple_choice.continuation_scores`).

Formats. The contexts scored never end in whitespace; an option carries the space that
separates it from the context, so the two encode separately as they would together with a
word-level tokenizer.

- HellaSwag: the context (``ctx_a`` and ``ctx_b`` with its first letter upper-cased, or ``ctx``)
  and the four endings after a space, cleaned as in the usual WikiHow preprocessing
  (:func:`clean_hellaswag`).
- ARC: ``"Question: {question}\nAnswer:"`` and each choice's text after a space.
- WinoGrande, partial scoring: option *i*'s context is the sentence up to the blank with option
  *i* in it, and every option's continuation is the rest of the sentence after the blank; only
  the continuation is scored, so the options are compared on the same tokens.
- MMLU: the subject's header, the question, the lettered choices (``"A. ..."``) and
  ``"Answer:"``; the options are the letters ``" A"`` to ``" D"``.
- BLiMP: the good and the bad sentence in full, after the tokenizer's end-of-text id (the
  engine needs one context token); the good sentence is the answer.

StochasTok (anyasims/stochastok, ``evals/mcqs``) scored ``f"{prefix} {option}"`` with the bare
question as prefix for ARC, MMLU's options rendered as ``"Options: a;b;c;d\n Answer: {choice}"``,
HellaSwag's raw ``ctx`` without cleaning, WinoGrande (``winogrande_xs``) and BLiMP as whole
sentences after an empty prefix, every token of prefix and option counted, and an unseeded
shuffle. The formats here are those of EleutherAI's lm-evaluation-harness, except that
HellaSwag's context has no activity label and only ``ctx_b``'s first letter is changed; items
are a seeded sample (:func:`load_items`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toklab.errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch

# torch is imported where a model scores (continuation_scores): the planning layer reads
# BENCHMARKS from here and must not load torch into every Snakemake process

log = logging.getLogger(__name__)

#: The end-of-text token looked up when an item has an empty context and no ``eos_id`` is given.
EOS_TOKEN = "<|endoftext|>"


@dataclass(frozen=True)
class Choice:
    """One multiple-choice item.

    ``prefix`` is the context the options share and ``options`` the continuations, each as it
    follows the context (with its leading space where the format has one); ``answer`` indexes
    the right option. ``prefixes``, when given, is one context per option and replaces
    ``prefix`` in scoring (WinoGrande: the sentence up to the blank, filled with each option;
    ``prefix`` is then the text before the blank). An empty context means "the start of a
    document": it is scored after the end-of-text id.
    """

    prefix: str
    options: tuple[str, ...]
    answer: int
    prefixes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        if self.prefixes is not None:
            object.__setattr__(self, "prefixes", tuple(self.prefixes))
        if len(self.options) < 2:
            raise DataError(f"a multiple-choice item needs two or more options, got {self.options}")
        if any(not isinstance(o, str) or not o for o in self.options):
            raise DataError(f"options must be non-empty strings, got {self.options}")
        if isinstance(self.answer, bool) or not isinstance(self.answer, int | np.integer):
            raise DataError(f"answer must be an option index, got {self.answer!r}")
        if not 0 <= self.answer < len(self.options):
            raise DataError(f"answer {self.answer} is not one of {len(self.options)} options")
        object.__setattr__(self, "answer", int(self.answer))
        if self.prefixes is not None and len(self.prefixes) != len(self.options):
            raise DataError(
                f"{len(self.prefixes)} prefixes for {len(self.options)} options; give one each"
            )

    def contexts(self) -> tuple[str, ...]:
        """The context each option is scored after: ``prefixes``, or ``prefix`` for every one."""
        return self.prefixes if self.prefixes is not None else (self.prefix,) * len(self.options)


def _column(row: Mapping[str, Any], name: str) -> Any:
    value = row.get(name)
    if value is None:
        raise DataError(f"the row lacks column '{name}' (has {sorted(row)})")
    return value


def _index(value: Any, column: str, options: int) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 0 <= int(text) < options:
        raise DataError(
            f"column '{column}' is {value!r}, not an option index 0-{options - 1} "
            "(an unlabeled test split cannot be scored)"
        )
    return int(text)


_TAG = re.compile(r"\[.*?\]")
_SPACES = re.compile(r" {2,}")


def clean_hellaswag(text: str) -> str:
    """HellaSwag's usual cleaning of its WikiHow markup.

    Strip the ends, turn ``" [title]"`` into ``". "`` (a title runs into its first step), drop
    every other bracketed tag (``[header]``, ``[step]``, ``[substeps]`` ...), collapse runs of
    spaces to one and strip again (a context that began with ``[header]``).
    """
    text = text.strip().replace(" [title]", ". ")
    text = _TAG.sub("", text)
    return _SPACES.sub(" ", text).strip()


def hellaswag_choice(row: Mapping[str, Any]) -> Choice:
    """A ``Rowan/hellaswag`` row: its context, four endings and ``label`` (a digit string).

    The context is ``ctx_a + " " + ctx_b`` with ``ctx_b``'s first letter upper-cased (the rest
    kept as is) where the row has ``ctx_a``, else ``ctx``; context and endings are cleaned with
    :func:`clean_hellaswag`, and each ending follows the context after a space.
    """
    if row.get("ctx_a") is not None:
        ctx_b = row.get("ctx_b") or ""
        context = f"{row['ctx_a']} {ctx_b[:1].upper()}{ctx_b[1:]}"
    else:
        context = _column(row, "ctx")
    endings = list(_column(row, "endings"))
    options = tuple(f" {clean_hellaswag(e)}" for e in endings)
    answer = _index(_column(row, "label"), "label", len(endings))
    return Choice(clean_hellaswag(context), options, answer)


def arc_choice(row: Mapping[str, Any]) -> Choice:
    r"""An ``allenai/ai2_arc`` row: ``"Question: {q}\nAnswer:"`` and each choice after a space.

    The answer is the position of ``answerKey`` among ``choices["label"]`` (letters or digits,
    as the row has them; questions have three to five choices).
    """
    question = _column(row, "question")
    choices = _column(row, "choices")
    texts, labels = _column(choices, "text"), [str(x) for x in _column(choices, "label")]
    key = str(_column(row, "answerKey")).strip()
    if key not in labels:
        raise DataError(f"answerKey {key!r} is not one of the choice labels {labels}")
    return Choice(
        f"Question: {question}\nAnswer:", tuple(f" {t}" for t in texts), labels.index(key)
    )


def winogrande_choice(row: Mapping[str, Any]) -> Choice:
    """An ``allenai/winogrande`` row, for partial scoring.

    Option *i*'s context is ``sentence`` up to its ``_`` with ``option{i}`` in its place; both
    options continue with the rest of the sentence after the blank (stripped, after one space),
    which is all that is scored. ``answer`` is ``"1"`` or ``"2"``.
    """
    sentence = _column(row, "sentence")
    blank = sentence.find("_")
    if blank < 0:
        raise DataError(f"the sentence has no blank '_': {sentence!r}")
    names = (_column(row, "option1"), _column(row, "option2"))
    answer = _column(row, "answer")
    if str(answer).strip() not in ("1", "2"):
        raise DataError(
            f"column 'answer' is {answer!r}, not '1' or '2' "
            "(an unlabeled test split cannot be scored)"
        )
    before, rest = sentence[:blank], f" {sentence[blank + 1 :].strip()}"
    return Choice(
        before, (rest, rest), int(str(answer).strip()) - 1, tuple(f"{before}{n}" for n in names)
    )


def mmlu_choice(row: Mapping[str, Any]) -> Choice:
    r"""A ``cais/mmlu`` row: subject header, question, lettered choices, ``"Answer:"``.

    ``"The following are multiple choice questions (with answers) about {subject}.\n\n"``
    (underscores in the subject read as spaces), the stripped question, a line ``"A. {choice}"``
    per choice and ``"Answer:"``; the options are ``" A"``, ``" B"``, ... and ``answer`` the
    right choice's index.
    """
    question = str(_column(row, "question")).strip()
    subject = str(_column(row, "subject")).replace("_", " ").strip()
    choices = list(_column(row, "choices"))
    letters = [chr(ord("A") + i) for i in range(len(choices))]
    about = f" about {subject}" if subject else ""
    lines = [f"{letter}. {choice}" for letter, choice in zip(letters, choices, strict=True)]
    prefix = "\n".join(
        [
            f"The following are multiple choice questions (with answers){about}.\n",
            question,
            *lines,
            "Answer:",
        ]
    )
    answer = _index(_column(row, "answer"), "answer", len(choices))
    return Choice(prefix, tuple(f" {letter}" for letter in letters), answer)


def blimp_choice(row: Mapping[str, Any]) -> Choice:
    """A ``nyu-mll/blimp`` row: ``sentence_good`` (the answer) and ``sentence_bad``, whole.

    The context is empty, so both sentences are scored after the end-of-text id.
    """
    return Choice("", (_column(row, "sentence_good"), _column(row, "sentence_bad")), 0)


#: BLiMP's 67 phenomena, one ``nyu-mll/blimp`` config each (1,000 pairs apiece).
BLIMP_PHENOMENA = (
    "adjunct_island",
    "anaphor_gender_agreement",
    "anaphor_number_agreement",
    "animate_subject_passive",
    "animate_subject_trans",
    "causative",
    "complex_NP_island",
    "coordinate_structure_constraint_complex_left_branch",
    "coordinate_structure_constraint_object_extraction",
    "determiner_noun_agreement_1",
    "determiner_noun_agreement_2",
    "determiner_noun_agreement_irregular_1",
    "determiner_noun_agreement_irregular_2",
    "determiner_noun_agreement_with_adj_2",
    "determiner_noun_agreement_with_adj_irregular_1",
    "determiner_noun_agreement_with_adj_irregular_2",
    "determiner_noun_agreement_with_adjective_1",
    "distractor_agreement_relational_noun",
    "distractor_agreement_relative_clause",
    "drop_argument",
    "ellipsis_n_bar_1",
    "ellipsis_n_bar_2",
    "existential_there_object_raising",
    "existential_there_quantifiers_1",
    "existential_there_quantifiers_2",
    "existential_there_subject_raising",
    "expletive_it_object_raising",
    "inchoative",
    "intransitive",
    "irregular_past_participle_adjectives",
    "irregular_past_participle_verbs",
    "irregular_plural_subject_verb_agreement_1",
    "irregular_plural_subject_verb_agreement_2",
    "left_branch_island_echo_question",
    "left_branch_island_simple_question",
    "matrix_question_npi_licensor_present",
    "npi_present_1",
    "npi_present_2",
    "only_npi_licensor_present",
    "only_npi_scope",
    "passive_1",
    "passive_2",
    "principle_A_c_command",
    "principle_A_case_1",
    "principle_A_case_2",
    "principle_A_domain_1",
    "principle_A_domain_2",
    "principle_A_domain_3",
    "principle_A_reconstruction",
    "regular_plural_subject_verb_agreement_1",
    "regular_plural_subject_verb_agreement_2",
    "sentential_negation_npi_licensor_present",
    "sentential_negation_npi_scope",
    "sentential_subject_island",
    "superlative_quantifiers_1",
    "superlative_quantifiers_2",
    "tough_vs_raising_1",
    "tough_vs_raising_2",
    "transitive",
    "wh_island",
    "wh_questions_object_gap",
    "wh_questions_subject_gap",
    "wh_questions_subject_gap_long_distance",
    "wh_vs_that_no_gap",
    "wh_vs_that_no_gap_long_distance",
    "wh_vs_that_with_gap",
    "wh_vs_that_with_gap_long_distance",
)


@dataclass(frozen=True)
class Spec:
    """Where a benchmark lives on the Hub and how one of its rows becomes a :class:`Choice`.

    ``configs`` are the dataset configs read by default (``None``: the dataset's only one);
    the rows of several are concatenated in order before sampling.
    """

    path: str
    configs: tuple[str | None, ...]
    split: str
    convert: Callable[[Mapping[str, Any]], Choice]
    revision: str | None = None


#: The benchmarks by name. BLiMP reads all 67 phenomena by default (StochasTok sampled from
#: all of BLiMP at once); pass ``configs`` to :func:`load_items` for fewer.
BENCHMARKS: dict[str, Spec] = {
    "hellaswag": Spec("Rowan/hellaswag", (None,), "validation", hellaswag_choice),
    "arc_easy": Spec("allenai/ai2_arc", ("ARC-Easy",), "test", arc_choice),
    "arc_challenge": Spec("allenai/ai2_arc", ("ARC-Challenge",), "test", arc_choice),
    "winogrande": Spec("allenai/winogrande", ("winogrande_xl",), "validation", winogrande_choice),
    "mmlu": Spec("cais/mmlu", ("all",), "test", mmlu_choice),
    "blimp": Spec("nyu-mll/blimp", BLIMP_PHENOMENA, "train", blimp_choice),
}

_FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def _benchmark(name: str) -> Spec:
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark '{name}' (known: {', '.join(BENCHMARKS)})")
    return BENCHMARKS[name]


def _open_local(name: str, data_files: Any, cache_dir: str | Path | None) -> Any:
    import datasets

    files = [data_files] if isinstance(data_files, str | Path) else list(data_files)
    if not files:
        raise DataError(f"benchmark '{name}': data_files is empty")
    kinds = set()
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise DataError(f"benchmark '{name}': data file {path} not found")
        if path.suffix.lower() not in _FORMATS:
            raise DataError(
                f"benchmark '{name}': {path} is not .json, .jsonl or .parquet; cannot read it"
            )
        kinds.add(_FORMATS[path.suffix.lower()])
    if len(kinds) > 1:
        raise DataError(f"benchmark '{name}': data_files mix json and parquet files")
    try:
        return datasets.load_dataset(
            kinds.pop(),
            data_files=[str(f) for f in files],
            split="train",
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
    except Exception as err:
        raise DataError(f"benchmark '{name}': cannot read {files}: {_first_line(err)}") from err


def _open_hub(
    name: str, spec: Spec, configs: Sequence[str | None], cache_dir: str | Path | None
) -> Any:
    import datasets

    parts = []
    for config in configs:
        kwargs: dict[str, Any] = {"split": spec.split}
        if cache_dir is not None:
            kwargs["cache_dir"] = str(cache_dir)
        if spec.revision is not None:
            kwargs["revision"] = spec.revision
        try:
            parts.append(datasets.load_dataset(spec.path, config, **kwargs))
        except Exception as err:
            where = spec.path if config is None else f"{spec.path} ({config})"
            raise DataError(
                f"benchmark '{name}': cannot load {where}, split {spec.split}: {_first_line(err)}"
            ) from err
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def load_rows(
    name: str,
    *,
    limit: int | None = 1000,
    seed: int = 0,
    data_files: str | Path | Sequence[str | Path] | None = None,
    cache_dir: str | Path | None = None,
    configs: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The rows of :func:`load_items`' sample, in the dataset's own layout (each one checked).

    The same rows in the same order as the items, for a scorer that formats them itself (the
    lm-evaluation-harness backend, :mod:`toklab.evaluation.lm_harness`).
    """
    spec = _benchmark(name)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"benchmark '{name}': limit must be a positive integer, got {limit!r}")
    if data_files is not None:
        dataset = _open_local(name, data_files, cache_dir)
        source = "data_files"
    else:
        chosen = spec.configs if configs is None else tuple(configs)
        if not chosen:
            raise ConfigError(f"benchmark '{name}': configs is empty")
        dataset = _open_hub(name, spec, chosen, cache_dir)
        source = spec.path
    rows = len(dataset)
    if rows == 0:
        raise DataError(f"benchmark '{name}': {source} has no rows")
    order = np.random.default_rng(seed).permutation(rows)
    picked = np.sort(order if limit is None else order[:limit])
    sample = []
    for index in picked.tolist():
        row = dict(dataset[index])
        try:
            spec.convert(row)
        except DataError as err:
            raise DataError(f"benchmark '{name}': {source} row {index}: {err}") from None
        sample.append(row)
    return sample


def load_items(
    name: str,
    *,
    limit: int | None = 1000,
    seed: int = 0,
    data_files: str | Path | Sequence[str | Path] | None = None,
    cache_dir: str | Path | None = None,
    configs: Sequence[str] | None = None,
) -> list[Choice]:
    """A seeded sample of ``limit`` items of benchmark ``name`` (all of them for ``None``).

    Rows come from ``datasets.load_dataset(path, config, split=...)`` for each of the
    benchmark's configs (``configs`` overrides them: BLiMP phenomena, MMLU subjects), or, when
    ``data_files`` is given, from those local ``.json``/``.jsonl``/``.parquet`` files in the
    dataset's own column layout (``load_dataset("json" | "parquet", ..., split="train")``).
    The sample is the first ``limit`` positions of ``numpy.random.default_rng(seed)``'s
    permutation of the rows, returned in the dataset's order: the same for a seed, and a
    smaller ``limit`` picks a subset of a larger one. StochasTok evaluated 1,000 per benchmark.
    ``configs`` is ignored with ``data_files``; ``cache_dir`` goes to ``load_dataset``.
    """
    rows = load_rows(
        name, limit=limit, seed=seed, data_files=data_files, cache_dir=cache_dir, configs=configs
    )
    convert = _benchmark(name).convert
    return [convert(row) for row in rows]


def _encode(tokenizer: Any, text: str) -> list[int]:
    encoded = tokenizer.encode(text, add_special_tokens=False)
    return list(getattr(encoded, "ids", encoded))


def _end_of_text(tokenizer: Any) -> int:
    eos = getattr(tokenizer, "eos_token_id", None)  # a transformers tokenizer
    if eos is None and hasattr(tokenizer, "token_to_id"):  # a tokenizers.Tokenizer
        eos = tokenizer.token_to_id(EOS_TOKEN)
    if eos is None:
        raise DataError(
            f"an item has an empty context and the tokenizer has no {EOS_TOKEN}; pass eos_id"
        )
    return int(eos)


def _model_context(model: torch.nn.Module) -> int | None:
    size = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return int(size) if isinstance(size, int) else None


def _option_scores(
    model: torch.nn.Module,
    tokenizer: Any,
    item: Choice,
    eos_id: int | None,
    context_length: int | None,
) -> tuple[list[float], bool]:
    contexts = item.contexts()
    continuations = [_encode(tokenizer, option) for option in item.options]
    groups: dict[str, list[int]] = {}
    for i, context in enumerate(contexts):
        groups.setdefault(context, []).append(i)
    scores = [0.0] * len(item.options)
    truncated = False
    for context, members in groups.items():  # one forward pass per distinct context
        if context:
            prompt = _encode(tokenizer, context)
        else:
            prompt = [eos_id if eos_id is not None else _end_of_text(tokenizer)]
        conts = [continuations[i] for i in members]
        if context_length is not None:
            room = max(1, context_length - max(map(len, conts)))
            if len(prompt) > room:
                prompt, truncated = prompt[-room:], True
        from toklab.evaluation.multiple_choice import continuation_scores

        found = continuation_scores(model, prompt, conts, context_length=context_length)
        for i, score in zip(members, found, strict=True):
            scores[i] = score
    return scores, truncated


def option_scores(
    model: torch.nn.Module,
    tokenizer: Any,
    item: Choice,
    eos_id: int | None = None,
    *,
    context_length: int | None = None,
) -> list[float]:
    """Summed log-likelihood (nats) of each option's continuation after its context.

    Context and continuation are encoded separately (``add_special_tokens=False``); an empty
    context becomes ``[eos_id]`` (default: the tokenizer's EOS, or its ``<|endoftext|>``).
    ``context_length`` (default: the model's ``config.max_position_embeddings``, if any) bounds
    context plus continuation: the context loses its oldest tokens until the longest
    continuation fits (keeping one); a continuation is never cut.
    """
    if context_length is None:
        context_length = _model_context(model)
    return _option_scores(model, tokenizer, item, eos_id, context_length)[0]


def score_items(
    model: torch.nn.Module,
    tokenizer: Any,
    items: Sequence[Choice],
    eos_id: int | None = None,
    *,
    context_length: int | None = None,
) -> dict[str, float]:
    """Accuracy of picking each item's highest-scoring option (:func:`option_scores`).

    ``tokenizer`` is a ``tokenizers.Tokenizer`` or a ``transformers`` tokenizer;
    ``context_length`` defaults to the model's ``config.max_position_embeddings`` when it has
    one (longer contexts are cut from the left, with a logged warning). Ties go to the first
    option. ``normalized_accuracy`` is the mean over items of ``(k * right - 1) / (k - 1)``
    for an item of ``k`` options, so chance is 0 and all right 1; with the same ``k``
    everywhere it equals ``(k * accuracy - 1) / (k - 1)``, as in
    :func:`toklab.evaluation.multiple_choice.evaluate_choices`. Returns ``questions``,
    ``accuracy`` and ``normalized_accuracy``.
    """
    if not items:
        raise DataError("no benchmark items to score")
    if context_length is None:
        context_length = _model_context(model)
    right, normalized, cut = [], [], 0
    for item in items:
        scores, truncated = _option_scores(model, tokenizer, item, eos_id, context_length)
        correct = int(np.argmax(scores)) == item.answer
        k = len(item.options)
        right.append(float(correct))
        normalized.append((k * correct - 1) / (k - 1))
        cut += truncated
    if cut:
        log.warning(
            "%d of %d items had their context cut to fit %d tokens", cut, len(items), context_length
        )
    return {
        "questions": len(items),
        "accuracy": float(np.mean(right)),
        "normalized_accuracy": float(np.mean(normalized)),
    }
