#!/usr/bin/env python
r"""Sample continuations of prompts from a trained LM checkpoint (greedy, temperature, top-p).

    python scripts/generate.py --checkpoint DIR --prompt "Once upon a time" \\
        [--tokenizer PATH] [--max-new-tokens 256] [--temperature 0.8] [--top-p 0.9] [--seed 0]

Prints each prompt followed by its completion (a blank line between prompts), or with
``--json`` one JSON object per prompt: ``prompt``, ``completion``, ``prompt_ids``, ``ids`` (the
new ids, the EOS id last when generation stopped there) and ``finish_reason`` (``eos`` or
``length``). The completion text leaves out the final EOS token.

A T-Free checkpoint (:func:`~toklab.models.causal_lm.is_tfree_checkpoint`; ``tfree.json``
beside it) generates words instead: up to ``--max-new-tokens`` words, each the best (or a
sampled) word of its ``dictionary.tsv`` (or ``--dictionary``) and the prompt's words, with
``--scoring code|paper`` and ``--edge-weight``;
the JSON then has ``words`` (the new words) instead of ids, and the text is rebuilt from the
words with T-Free's inverse word split.

Options of the other kind of checkpoint (``--dictionary``, ``--scoring``, ``--edge-weight`` for a
token model; ``--tokenizer``, ``--context-length``, ``--start-with-eos`` for a T-Free one) are
errors, not ignored. A prompt longer than the model's context loses its first tokens (words),
with a warning saying how many.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from toklab.cli import one_line_errors, setup_logging
from toklab.errors import ConfigError, DataError

log = logging.getLogger("generate")
path_option = click.Path(path_type=Path)


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


def read_prompts(prompts: tuple[str, ...], prompt_file: Path | None) -> list[str]:
    """The ``--prompt`` texts, then the non-blank lines of ``--prompt-file``."""
    texts = list(prompts)
    if prompt_file is not None:
        try:
            lines = prompt_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise DataError(f"{prompt_file}: cannot read the prompt file ({err})") from None
        texts.extend(line for line in lines if line.strip())
    if not texts:
        raise ConfigError("no prompt: give --prompt TEXT (repeatable) or --prompt-file FILE")
    return texts


#: Options that only one kind of checkpoint reads: T-Free's, and those of token-id models.
TFREE_OPTIONS = {
    "dictionary": "--dictionary",
    "scoring": "--scoring",
    "edge_weight": "--edge-weight",
}
TOKEN_OPTIONS = {
    "tokenizer_path": "--tokenizer",
    "context_length": "--context-length",
    "start_with_eos": "--start-with-eos",
}


def refuse_other_kinds_options(checkpoint: Path, tfree: bool) -> None:
    """An error when an option given on the command line does not apply to the checkpoint.

    ``tfree`` tells the checkpoint's kind (a T-Free checkpoint, else a token-id model); the
    options of the other kind (:data:`TFREE_OPTIONS`, :data:`TOKEN_OPTIONS`) would be ignored,
    so naming any of them is a :class:`ConfigError` listing them.
    """
    from click.core import ParameterSource

    context = click.get_current_context()
    others = TOKEN_OPTIONS if tfree else TFREE_OPTIONS
    given = [
        flag
        for name, flag in others.items()
        if context.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)
    ]
    if given:
        kind = "a T-Free checkpoint" if tfree else "a token model"
        only = "token models" if tfree else "T-Free checkpoints"
        raise ConfigError(
            f"{checkpoint}: {', '.join(given)} {'applies' if len(given) == 1 else 'apply'} "
            f"only to {only}, and this is {kind}"
        )


def show(
    number: int,
    text: str,
    completion: str,
    generated: dict[str, Any],
    *,
    new: int,
    unit: str,
    stopped: bool,
    as_json: bool,
) -> None:
    """Print prompt ``number`` (from 0) and its completion; log how many ``new`` ``unit`` it has.

    With ``as_json`` one JSON object: ``prompt``, ``completion``, the ``generated`` fields (ids
    or words) and ``finish_reason``; otherwise the prompt and completion as one text, after a
    blank line from the second prompt on.
    """
    finish_reason = "eos" if stopped else "length"
    if as_json:
        record = {
            "prompt": text,
            "completion": completion,
            **generated,
            "finish_reason": finish_reason,
        }
        click.echo(json.dumps(record, ensure_ascii=False))
    else:
        if number:
            click.echo()
        click.echo(text + completion)
    log.info("prompt %d: %d new %s (%s)", number + 1, new, unit, finish_reason)


@click.command()
@click.option(
    "--checkpoint",
    required=True,
    type=path_option,
    help="Model directory (config.json + model.safetensors).",
)
@click.option(
    "--tokenizer",
    "tokenizer_path",
    type=path_option,
    help="tokenizer.json or its directory [default: the checkpoint's own tokenizer.json].",
)
@click.option("--prompt", "prompts", multiple=True, help="A prompt; may be given several times.")
@click.option(
    "--prompt-file", type=path_option, help="A text file of prompts, one per non-blank line."
)
@click.option("--max-new-tokens", default=256, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--temperature", default=1.0, show_default=True, help="Softmax temperature; 0 is greedy."
)
@click.option("--top-p", default=1.0, show_default=True, help="Nucleus mass in (0, 1]; 1 is off.")
@click.option("--seed", type=int, help="Seeds torch's RNG once, before the first prompt.")
@click.option("--device", help="torch device [default: cuda when available, else cpu].")
@click.option(
    "--context-length",
    type=int,
    help="The most tokens the model sees [default: its max_position_embeddings].",
)
@click.option(
    "--no-eos-stop", is_flag=True, help="Do not stop at EOS; always generate --max-new-tokens."
)
@click.option(
    "--start-with-eos",
    is_flag=True,
    help="Put EOS before each prompt (a document start, as in EOS-separated training data).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per prompt.")
@click.option(
    "--dictionary",
    type=path_option,
    help="T-Free: word counts to decode from [default: the checkpoint's dictionary.tsv].",
)
@click.option(
    "--scoring",
    type=click.Choice(["code", "paper"]),
    default="code",
    show_default=True,
    help="T-Free: the original code's word score or the paper's Alg. 5.",
)
@click.option("--edge-weight", default=1.0, show_default=True, help="T-Free: weight of edge ids.")
@one_line_errors
def main(
    checkpoint: Path,
    tokenizer_path: Path | None,
    prompts: tuple[str, ...],
    prompt_file: Path | None,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    seed: int | None,
    device: str | None,
    context_length: int | None,
    no_eos_stop: bool,
    start_with_eos: bool,
    as_json: bool,
    dictionary: Path | None,
    scoring: str,
    edge_weight: float,
) -> None:
    """Continue each prompt with a sample from the LM in CHECKPOINT."""
    setup_logging()
    # The paths first, before torch is imported: a wrong one fails at once.
    if not checkpoint.is_dir():
        raise DataError(f"{checkpoint}: checkpoint directory not found")
    from toklab.models.causal_lm import is_tfree_checkpoint

    tfree = is_tfree_checkpoint(checkpoint)
    refuse_other_kinds_options(checkpoint, tfree)
    if tfree:
        generate_tfree(
            checkpoint, dictionary or checkpoint / "dictionary.tsv",
            read_prompts(prompts, prompt_file), max_new_words=max_new_tokens,
            temperature=temperature, top_p=top_p, seed=seed, device=device, scoring=scoring,
            edge_weight=edge_weight, eos_stop=not no_eos_stop, as_json=as_json,
        )  # fmt: skip
        return
    tokenizer_file = resolve_tokenizer(tokenizer_path, checkpoint)
    texts = read_prompts(prompts, prompt_file)

    import torch

    from toklab.generation import check_sampling_parameters, generate, load_model
    from toklab.tokenizers.tokenizer_files import load_tokenizer, special_token_ids

    check_sampling_parameters(temperature, top_p)

    tokenizer = load_tokenizer(tokenizer_file)
    eos_id = special_token_ids(tokenizer_file).get("eos")
    if eos_id is None and (start_with_eos or not no_eos_stop):
        if start_with_eos:
            raise DataError(f"{tokenizer_file}: --start-with-eos, but the tokenizer has no EOS")
        log.warning(
            "%s has no EOS token: every completion runs to --max-new-tokens", tokenizer_file
        )
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(checkpoint, device)
    if seed is not None:
        torch.manual_seed(seed)

    for number, text in enumerate(texts):
        prompt_ids = tokenizer.encode(text, add_special_tokens=False).ids
        if start_with_eos:
            prompt_ids = [eos_id, *prompt_ids]
        if not prompt_ids:
            hint = (
                "; give --start-with-eos to start it from EOS"
                if eos_id is not None
                else f" (and --start-with-eos needs an EOS, which {tokenizer_file} lacks)"
            )
            raise DataError(f"prompt {number + 1} ({text!r}) encodes to no tokens{hint}")
        ids = generate(
            model, prompt_ids, max_new_tokens=max_new_tokens, temperature=temperature,
            top_p=top_p, eos_id=None if no_eos_stop else eos_id, context_length=context_length,
        )  # fmt: skip
        stopped = not no_eos_stop and eos_id is not None and bool(ids) and ids[-1] == eos_id
        completion = tokenizer.decode(ids[:-1] if stopped else ids, skip_special_tokens=False)
        show(number, text, completion, {"prompt_ids": prompt_ids, "ids": ids},
             new=len(ids), unit="tokens", stopped=stopped, as_json=as_json)  # fmt: skip


def generate_tfree(
    checkpoint: Path,
    dictionary_path: Path,
    texts: list[str],
    *,
    max_new_words: int,
    temperature: float,
    top_p: float,
    seed: int | None,
    device: str | None,
    scoring: str,
    edge_weight: float,
    eos_stop: bool,
    as_json: bool,
) -> None:
    """Continue each prompt with words of the T-Free model in ``checkpoint``."""
    import torch

    from toklab.generation import (
        check_number,
        check_sampling_parameters,
        generate_words,
        load_model,
    )
    from toklab.tokenizers.tfree import join_words, load_settings, split_words
    from toklab.tokenizers.tfree_dictionary import END_OF_TEXT, WordDictionary

    check_sampling_parameters(temperature, top_p)
    check_number("edge_weight", edge_weight)
    hasher = load_settings(checkpoint / "tfree.json")
    words = WordDictionary.load(dictionary_path, hasher)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(checkpoint, device)
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
    for number, text in enumerate(texts):
        new = generate_words(
            model, words, text, max_new_words=max_new_words, temperature=temperature,
            top_p=top_p, method=scoring, edge_weight=edge_weight,
            stop_word=END_OF_TEXT if eos_stop else None, generator=generator,
        )  # fmt: skip
        stopped = eos_stop and bool(new) and new[-1] == END_OF_TEXT
        full = join_words(split_words(text) + (new[:-1] if stopped else new))
        completion = full[len(text) :] if full.startswith(text) else full
        show(number, text, completion, {"words": new}, new=len(new), unit="words",
             stopped=stopped, as_json=as_json)  # fmt: skip


if __name__ == "__main__":
    main()
