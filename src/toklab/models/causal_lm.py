"""Causal LMs the trainer builds: toklab's Llama, or any ``transformers`` causal LM by class name.

A model is described by a preset (``resources/model_presets.yaml``) plus overrides. Its
``model_class`` (default ``LlamaForCausalLM``) picks the implementation:

* ``LlamaForCausalLM``: toklab's own decoder (:mod:`toklab.models.llama`: flash-attn on GPU,
  SDPA elsewhere, document masking), saved in ``transformers``' Llama layout;
* any other ``transformers`` class whose name ends in ``ForCausalLM`` (Delphi's
  ``MambaForCausalLM`` suite, for one), built from its own config class with the remaining
  keys, and wrapped so that, like toklab's Llama, it maps ids to logits.

Either way the saved directory (``config.json`` + ``model.safetensors``) loads with
``transformers.AutoModelForCausalLM.from_pretrained``, and :func:`load_model` reads it back
without running code from it (safetensors weights, a JSON config, no ``trust_remote_code``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from toklab.errors import ConfigError, DataError
from toklab.models.llama import (
    TFREE_ARCHITECTURE,
    LlamaModel,
    ModelConfig,
    load_checkpoint,
    save_checkpoint,
)
from toklab.models.presets import read_preset

#: The class name that selects toklab's own Llama implementation.
TOKLAB_LLAMA = "LlamaForCausalLM"
#: Config flags that act only at initialisation, saved switched off: transformers (5.x)
#: re-applies Mamba's ``rescale_prenorm_residual`` (out_proj /= sqrt(layers)) to the weights it
#: has just loaded, so a saved model would come back with other weights.
INIT_ONLY_FLAGS = ("rescale_prenorm_residual",)


@dataclass(frozen=True)
class ModelSpec:
    """What to build: a causal-LM class name and the keyword arguments of its config."""

    model_class: str
    config: dict[str, Any]


def _transformers_class(name: str) -> type:
    import transformers

    if not name.endswith("ForCausalLM") or not hasattr(transformers, name):
        raise ConfigError(
            f"unknown model_class '{name}' (toklab's {TOKLAB_LLAMA}, or a transformers class "
            "whose name ends in ForCausalLM, such as MambaForCausalLM)"
        )
    return getattr(transformers, name)


def model_spec(
    preset: str, presets_path: str | Path, vocab_size: int, overrides: dict[str, Any] | None = None
) -> ModelSpec:
    """The spec of ``preset`` with ``overrides`` and the tokenizer's ``vocab_size``.

    Unknown config keys are an error for both kinds of model: ``transformers`` configs would
    otherwise keep a misspelt key as an attribute nobody reads.
    """
    values = {**read_preset(preset, presets_path), **(overrides or {}), "vocab_size": vocab_size}
    model_class = values.pop("model_class", TOKLAB_LLAMA)
    if model_class == TOKLAB_LLAMA:
        known = {f.name for f in fields(ModelConfig)}
    else:
        known = set(_transformers_class(model_class).config_class().to_dict())
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"model preset '{preset}': {model_class} has no config key(s) {', '.join(unknown)}"
        )
    return ModelSpec(model_class, values)


class TransformersCausalLM(nn.Module):
    """A ``transformers`` causal LM behind toklab's model interface: ids in, logits out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.hf = model

    @property
    def config(self) -> Any:
        """The wrapped model's ``transformers`` config."""
        return self.hf.config

    def forward(
        self, input_ids: torch.Tensor, document_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``(batch, length, vocab)`` of ``input_ids``."""
        if document_ids is not None:
            raise ConfigError(
                f"document masking needs toklab's {TOKLAB_LLAMA}, not {type(self.hf).__name__}"
            )
        return self.hf(input_ids=input_ids, use_cache=False).logits

    def tie_weights(self) -> None:
        """Tie what the wrapped model's config ties (its embedding and head)."""
        self.hf.tie_weights()


def build_model(spec: ModelSpec) -> nn.Module:
    """A freshly initialised model (seed the torch generator first for reproducible weights)."""
    if spec.model_class == TOKLAB_LLAMA:
        return LlamaModel(ModelConfig.from_dict(spec.config))
    cls = _transformers_class(spec.model_class)
    return TransformersCausalLM(cls(cls.config_class(**spec.config)))


def spec_of(model: nn.Module) -> ModelSpec:
    """The spec a model was built from (to check that a checkpoint fits a run)."""
    if isinstance(model, LlamaModel):
        return ModelSpec(TOKLAB_LLAMA, asdict(model.config))
    config = model.config.to_dict()
    known = set(type(model.config)().to_dict())
    ignored = {"transformers_version", "architectures", "torch_dtype", "dtype", "_name_or_path"}
    ignored |= set(INIT_ONLY_FLAGS)
    return ModelSpec(
        type(model.hf).__name__, {k: v for k, v in config.items() if k in known - ignored}
    )


def context_limit(model: nn.Module) -> int | None:
    """The longest input the model's positions allow (None: no limit, e.g. Mamba)."""
    return getattr(model.config, "max_position_embeddings", None)


def is_tfree_checkpoint(directory: str | Path) -> bool:
    """Whether the checkpoint in ``directory`` is a T-Free model (its config's architecture).

    The one test of a checkpoint's kind, asked by
    :func:`toklab.training.lm_kinds.checkpoint_kind`, not its files.
    """
    try:
        config = json.loads((Path(directory) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and (config.get("architectures") or [None])[0] == (
        TFREE_ARCHITECTURE
    )


def word_settings(model: nn.Module) -> dict[str, Any] | None:
    """The T-Free hasher settings a model reads words with (``m``, ``k``, ``entire_words``, ``v``).

    None for a model of token ids (:attr:`~toklab.models.llama.ModelConfig.reads_words` false,
    or a ``transformers`` model).
    """
    if not (isinstance(model, LlamaModel) and model.config.reads_words):
        return None
    return {**model.config.tfree, "v": model.config.vocab_size}


def check_vocabulary(model: nn.Module, vocab_size: int, where: str | Path) -> None:
    """An error unless the model's vocabulary is the tokenizer's ``vocab_size`` ids."""
    own = getattr(model.config, "vocab_size", None)
    if own is not None and own != vocab_size:
        raise DataError(
            f"{where}: the model has a vocabulary of {own} ids, its tokenizer {vocab_size} "
            "(a checkpoint of another tokenizer?)"
        )


def embedding_weights(model: nn.Module) -> list[nn.Parameter]:
    """The input embedding and output head weights (one when they are tied)."""
    if isinstance(model, LlamaModel):
        weights = [model.model.embed_tokens.weight, model.lm_head.weight]
    else:
        weights = [model.hf.get_input_embeddings().weight, model.hf.get_output_embeddings().weight]
    return list({id(w): w for w in weights}.values())


def save_model(model: nn.Module, directory: str | Path) -> None:
    """Write ``config.json`` and ``model.safetensors``; the weights appear last, atomically."""
    directory = Path(directory)
    if isinstance(model, LlamaModel):
        save_checkpoint(model, directory)
        return
    staging = directory / ".model.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    flags = {
        name: getattr(model.config, name) for name in INIT_ONLY_FLAGS if hasattr(model.config, name)
    }
    try:
        for name in flags:
            setattr(model.config, name, False)
        model.hf.save_pretrained(staging, safe_serialization=True)
    finally:
        for name, value in flags.items():
            setattr(model.config, name, value)
    # config first, weights last: once model.safetensors is in place, so is everything else
    names = sorted(p.name for p in staging.iterdir())
    for name in [n for n in names if n != "model.safetensors"] + ["model.safetensors"]:
        (staging / name).replace(directory / name)
    staging.rmdir()


def load_model(directory: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """A model saved by :func:`save_model`, with one-line errors for missing or corrupt files."""
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise DataError(f"{config_path}: checkpoint file not found")
    try:
        architectures = json.loads(config_path.read_text()).get("architectures") or [TOKLAB_LLAMA]
    except (json.JSONDecodeError, AttributeError):
        raise DataError(f"{config_path}: not a model config") from None
    if architectures[0] in (TOKLAB_LLAMA, TFREE_ARCHITECTURE):
        return load_checkpoint(directory, map_location=map_location)
    cls = _transformers_class(architectures[0])
    if not (directory / "model.safetensors").is_file():
        raise DataError(f"{directory / 'model.safetensors'}: checkpoint file not found")
    try:
        model, info = cls.from_pretrained(directory, use_safetensors=True, output_loading_info=True)
    except Exception as err:  # SafetensorError, OSError, ValueError: all mean a corrupt checkpoint
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(
            f"{directory / 'model.safetensors'}: unreadable checkpoint ({reason})"
        ) from None
    problems = {kind: keys for kind, keys in info.items() if keys}
    if problems:  # transformers would train on from random weights with only a warning
        raise DataError(f"{directory}: checkpoint does not match its config.json ({problems})")
    return TransformersCausalLM(model.float()).to(map_location)
