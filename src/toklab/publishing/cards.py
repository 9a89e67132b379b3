"""Cards of published repos: YAML front matter (the Hub's metadata), then markdown.

Each renderer is a pure function of the repo id, the ``context`` the planning layer gives
(corpus, its source and hub datasets, tokenizer, model, subsets, licence; see
:mod:`toklab.workflow.publishing`) and what was read from the files (an evaluation, the
training settings, export counts).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

TAGS = ("toklab", "tokenizer-research")


def render_card(metadata: Mapping[str, Any], body: str) -> str:
    """A card: ``metadata`` as YAML front matter (in the given order), then the markdown body."""
    front = yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n{body.strip()}\n"


def _value(value: Any) -> str:
    """A cell of a table: numbers readable (1,234; 6 significant digits), the rest as JSON."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value, sort_keys=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table (``|`` in cells escaped)."""

    def cell(value: Any) -> str:
        return _value(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested settings as ``(dotted key, value)`` pairs, sorted."""
    pairs = []
    for key, value in sorted(values.items()):
        if isinstance(value, Mapping) and value:
            pairs += _flatten(value, f"{prefix}{key}.")
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs


def _metadata(context: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
    """Front matter: the licence when the config gives one, then ``fields`` without empties."""
    metadata: dict[str, Any] = {}
    if context.get("license"):
        metadata["license"] = context["license"]
    metadata.update({key: value for key, value in fields.items() if value not in (None, [], {})})
    return metadata


def _source(context: Mapping[str, Any]) -> str:
    """The corpus and where its text comes from, in words."""
    return f"corpus `{context['corpus']}` ({context.get('source') or 'see its toklab config'})"


def _tokenizer_of(context: Mapping[str, Any]) -> str:
    own = context["tokenizer_corpus"] == context["corpus"]
    where = "" if own else f" of corpus `{context['tokenizer_corpus']}`"
    return f"`{context['tokenization']}`{where}"


def tokenizer_card(repo_id: str, context: Mapping[str, Any], files: Sequence[str]) -> str:
    """The card of a tokenizer repo: what it is, where it was trained, its files, how to load it."""
    transformers = "tokenizer_config.json" in files
    tfree = "tfree.json" in files
    metadata = _metadata(
        context,
        library_name="transformers" if transformers else "tokenizers" if not tfree else None,
        tags=[*TAGS, "tokenizer", context["family"]],
        datasets=list(context.get("datasets") or []),
    )
    trained = f", trained on its `{context['subset']}` subset" if context.get("subset") else ""
    lines = [
        f"# {repo_id.split('/')[1]}",
        "",
        f"The {context['family']} tokenizer `{context['tokenizer']}` of {_source(context)}"
        f"{trained}, made by toklab for tokenizer research.",
        "",
        "## Files",
        "",
        _table(("file", "what"), [(f"`{name}`", _FILE_ROLES.get(name, "-")) for name in files]),
        "",
        "## Use",
        "",
    ]
    if tfree:
        lines += [
            "A T-Free hasher: `tfree.json` holds its settings (v, m, k) and `dictionary.tsv` the",
            "words it decodes to; toklab's `toklab.tokenizers` reads them.",
        ]
    else:
        loader = (
            f'from transformers import AutoTokenizer\n\ntokenizer = AutoTokenizer.from_pretrained("{repo_id}")'
            if transformers
            else "from huggingface_hub import hf_hub_download\nfrom tokenizers import Tokenizer\n\n"
            f'tokenizer = Tokenizer.from_file(hf_hub_download("{repo_id}", "tokenizer.json"))'
        )
        lines += ["```python", loader, "```"]
    return render_card(metadata, "\n".join(lines))


_FILE_ROLES = {
    "tokenizer.json": "the tokenizer (Hugging Face `tokenizers` format)",
    "tokenizer_config.json": "for `transformers.AutoTokenizer`",
    "special_tokens_map.json": "the special tokens' roles",
    "vocab.json": "the vocabulary (GPT-2 byte encoding)",
    "merges.txt": "the merges, in order",
    "stats.csv": "ByteSpan's training statistics",
    "tfree.json": "T-Free's hasher settings",
    "dictionary.tsv": "T-Free's decoding dictionary",
}


def _split_name(subset: str) -> str:
    """A subset's name as a ``datasets`` split name (letters, digits and ``_``)."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in subset)


def delphi_card(
    repo_id: str, context: Mapping[str, Any], splits: Mapping[str, Mapping[str, Any]]
) -> str:
    """The card of a Delphi dataset repo: one split per subset, ``data/{split}-*.parquet``."""
    metadata = _metadata(
        context,
        tags=[*TAGS, "tokenized", "delphi"],
        source_datasets=list(context.get("datasets") or []),
        configs=[
            {
                "config_name": "default",
                "data_files": [
                    {"split": _split_name(split), "path": f"data/{split}-*.parquet"}
                    for split in splits
                ],
            }
        ],
    )
    rows = [
        (f"`{_split_name(split)}`", meta.get("samples"), meta.get("seq_len"), len(meta["files"]))
        for split, meta in splits.items()
    ]
    first = _split_name(next(iter(splits)))
    body = f"""
# {repo_id.split("/")[1]}

The subsets of {_source(context)} tokenized by {_tokenizer_of(context)}, in the format of
Delphi's tokenized datasets: one column `tokens`, each row a sample of `seq_len` ids opened by
`<bos>`, the documents back to back with `<eos>` after each; consecutive samples share one id.
The tokenizer is `tokenizer.json`; each split's counts are in `meta/{{split}}.json`.

{_table(("split", "samples", "seq_len", "files"), rows)}

## Use

```python
from datasets import load_dataset

samples = load_dataset("{repo_id}", split="{first}")
```
"""
    return render_card(metadata, body)


def nanogpt_card(repo_id: str, context: Mapping[str, Any], tokens: Mapping[str, int]) -> str:
    """The card of a nanoGPT/StochasTok dataset repo: ``train.bin`` and ``val.bin``."""
    metadata = _metadata(
        context,
        tags=[*TAGS, "tokenized", "nanogpt", "stochastok"],
        source_datasets=list(context.get("datasets") or []),
    )
    subsets = context.get("subsets") or {}
    rows = [(f"`{name}.bin`", subsets.get(name, ""), count) for name, count in tokens.items()]
    body = f"""
# {repo_id.split("/")[1]}

The text of {_source(context)} tokenized by {_tokenizer_of(context)}, as nanoGPT's (and
StochasTok's) flat files: little-endian uint16 ids, no header, every document followed by its
end-of-text id. The tokenizer is `tokenizer.json`.

{_table(("file", "subset", "tokens"), rows)}

## Use

```python
import numpy as np
from huggingface_hub import hf_hub_download

ids = np.memmap(hf_hub_download("{repo_id}", "train.bin", repo_type="dataset"), dtype=np.uint16, mode="r")
```
"""
    return render_card(metadata, body)


def lm_card(
    repo_id: str,
    context: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    training: Mapping[str, Any],
    *,
    checkpoint: tuple[int, Mapping[str, Any], Mapping[str, Sequence[Mapping[str, Any]]]]
    | None = None,
) -> str:
    """The card of an LM: its data, tokenizer, training settings and bits per byte.

    ``evaluation`` is the final model's (``evaluate_lm``'s JSON). ``checkpoint``, for a suite's
    branch, is ``(step, training state, per-checkpoint evaluation rows by name)``; its card
    reports those rows, and the final model's bits per byte only as such.
    """
    name = repo_id.split("/")[1]
    bits = float(evaluation["bits_per_byte"])
    valid = context["valid_subset"]
    metadata = _metadata(
        context,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=[*TAGS, "causal-lm", *(["checkpoint"] if checkpoint else [])],
        datasets=list(context.get("datasets") or []),
    )
    if checkpoint is None:
        metadata["metrics"] = ["bits_per_byte"]
        metadata["model-index"] = [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": "text-generation", "name": "Language modelling"},
                        "dataset": {
                            "type": (context.get("datasets") or [context["corpus"]])[0],
                            "name": f"{context['corpus']} ({valid})",
                            "split": valid,
                        },
                        "metrics": [
                            {"type": "bits_per_byte", "name": "Bits per byte", "value": bits}
                        ],
                    }
                ],
            }
        ]
    revision = "" if checkpoint is None else f', revision="step-{checkpoint[0]}"'
    lines = [
        f"# {name}" + ("" if checkpoint is None else f" at step {checkpoint[0]}"),
        "",
        f"A causal language model (toklab preset `{context['preset']}`) trained by toklab on the "
        f"`{context['train_subset']}` subset of {_source(context)}, its text tokenized by "
        f"{_tokenizer_of(context)}.",
        "",
    ]
    if checkpoint is None:
        lines += [
            "## Evaluation",
            "",
            f"On the `{valid}` subset, every document scored in full; bits per byte is the NLL of "
            "every token in bits over the UTF-8 bytes of the original text (`evaluation.json`).",
            "",
            _table(
                ("metric", "value"),
                [
                    (label, evaluation[key])
                    for key, label in _EVALUATION_ROWS
                    if evaluation.get(key) is not None
                ],
            ),
            "",
        ]
        if context.get("suite"):
            lines += [
                "## Checkpoints",
                "",
                "The run keeps checkpoints; published as a suite, each is the branch "
                '`step-{N}` of this repo (`from_pretrained(..., revision="step-{N}")`).',
                "",
            ]
    else:
        step, state, rows = checkpoint
        lines += [
            "## Checkpoint",
            "",
            _table(("checkpoint", "value"), _state_rows(step, state)),
            "",
        ]
        if rows:
            lines += [
                "## Evaluation of this checkpoint",
                "",
                _table(
                    ("evaluation", "setting", "accuracy"),
                    [
                        (kind, _row_label(row), row.get("accuracy"))
                        for kind, found in rows.items()
                        for row in found
                    ],
                ),
                "",
            ]
        else:
            lines += [
                "## Evaluation",
                "",
                "This checkpoint has no evaluation of its own (the config evaluates none per "
                f"checkpoint); the final model, on `main`, has {bits:.4f} bits per byte on `{valid}`.",
                "",
            ]
    lines += [
        "## Training",
        "",
        _table(("setting", "value"), _flatten(training)) if training else "(no train_config.json)",
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'model = AutoModelForCausalLM.from_pretrained("{repo_id}"{revision})',
        f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}"{revision})',
        "```",
    ]
    return render_card(metadata, "\n".join(lines))


_EVALUATION_ROWS = (
    ("bits_per_byte", "bits per byte"),
    ("val_loss", "validation loss (nats per token)"),
    ("tokens_per_byte", "tokens per byte"),
    ("val_documents", "validation documents"),
    ("parameters", "parameters"),
    ("non_embedding_parameters", "non-embedding parameters"),
    ("train_steps", "training steps"),
    ("train_tokens_seen", "training tokens seen"),
    ("next_word_accuracy", "next-word accuracy"),
)


def _state_rows(step: int, state: Mapping[str, Any]) -> list[tuple[str, Any]]:
    rows = [("step", step)]
    rows += [(key, state[key]) for key in ("epoch", "tokens", "lr") if key in state]
    return rows


def _row_label(row: Mapping[str, Any]) -> str:
    """The settings of a per-checkpoint evaluation row: its string fields, in order."""
    return " / ".join(str(value) for key, value in row.items() if isinstance(value, str)) or "-"
