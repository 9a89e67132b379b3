#!/usr/bin/env python
r"""Sample continuations of prompts from a trained LM checkpoint (greedy, temperature, top-p).

    python scripts/generate.py --checkpoint DIR --prompt "Once upon a time" \\
        [--tokenizer PATH] [--max-new-tokens 256] [--temperature 0.8] [--top-p 0.9] [--seed 0]

Prints each prompt followed by its completion (a blank line between prompts), or with
``--json`` one JSON object per prompt: ``prompt``, ``completion``, ``prompt_ids``, ``ids`` (the
new ids, the EOS id last when generation stopped there) and ``finish_reason`` (``eos`` or
``length``). The completion text leaves out the final EOS token.

The checkpoint's kind of LM (:func:`~toklab.training.lm_kinds.checkpoint_kind`) decodes. A
T-Free checkpoint (``tfree.json`` beside it) generates words instead: up to
``--max-new-tokens`` words, each the best (or a sampled) word of its ``dictionary.tsv`` (or
``--dictionary``) and the prompt's words, with ``--scoring code|paper`` and ``--edge-weight``;
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
from typing import TYPE_CHECKING

import click

from toklab.cli import one_line_errors, setup_logging
from toklab.errors import ConfigError, DataError

if TYPE_CHECKING:
    from toklab.generation import Completion

log = logging.getLogger("generate")
path_option = click.Path(path_type=Path)


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


def given_options() -> set[str]:
    """The options named on the command line (those left at their defaults are not)."""
    from click.core import ParameterSource

    context = click.get_current_context()
    return {
        flag
        for param in context.command.params
        if param.name is not None
        and context.get_parameter_source(param.name) not in (None, ParameterSource.DEFAULT)
        for flag in param.opts
    }


def show(number: int, text: str, completion: Completion, unit: str, *, as_json: bool) -> None:
    """Print prompt ``number`` (from 0) and its completion; log how many new ``unit`` it has.

    With ``as_json`` one JSON object: ``prompt``, ``completion``, the completion's record (ids
    or words) and ``finish_reason``; otherwise the prompt and completion as one text, after a
    blank line from the second prompt on.
    """
    finish_reason = "eos" if completion.stopped else "length"
    if as_json:
        record = {
            "prompt": text,
            "completion": completion.text,
            **completion.record,
            "finish_reason": finish_reason,
        }
        click.echo(json.dumps(record, ensure_ascii=False))
    else:
        if number:
            click.echo()
        click.echo(text + completion.text)
    log.info("prompt %d: %d new %s (%s)", number + 1, completion.new, unit, finish_reason)


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
    from toklab.generation import GenerationOptions
    from toklab.training.lm_kinds import checkpoint_kind, refuse_other_kinds_options

    kind = checkpoint_kind(checkpoint)
    refuse_other_kinds_options(kind, given_options(), checkpoint)
    options = GenerationOptions(
        max_new=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed, device=device,
        eos_stop=not no_eos_stop, tokenizer=tokenizer_path, context_length=context_length,
        start_with_eos=start_with_eos, dictionary=dictionary, scoring=scoring,
        edge_weight=edge_weight,
    )  # fmt: skip
    generation = kind.generation(checkpoint, options)
    texts = read_prompts(prompts, prompt_file)
    completions = zip(texts, generation.complete(texts), strict=True)
    for number, (text, completion) in enumerate(completions):
        show(number, text, completion, generation.unit, as_json=as_json)


if __name__ == "__main__":
    main()
