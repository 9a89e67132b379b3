"""Training configuration: a dataclass tree, layered YAML/JSON files and ``key=value`` overrides.

Files are deep-merged in order, then overrides apply. An override's value is parsed as YAML
and checked against the field's declared type, so ``optim.lr=3e-4`` is a float,
``compile=false`` is the boolean False (Delphi turned "false" into True), ``model.
num_key_value_heads=4`` reaches the nested model field, and an unknown key is an error.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from toklab.errors import ConfigError


@dataclass
class OptimConfig:
    """AdamW and the learning-rate schedule."""

    lr: float = 6e-4
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    schedule: str = "cosine"  # cosine | wsd | constant
    warmup_steps: int = 100
    decay_steps: int = 0  # wsd: length of the final decay phase
    min_lr_ratio: float = 0.1


@dataclass
class MultiLabelConfig:
    """T-Free's multi-label loss (:class:`~toklab.training.objectives.MultiLabelLoss`)."""

    pos_weight: float = 300.0  # BCEWithLogits' weight of the positive (active) ids
    loss_scale: float = 100.0  # the mean over v ids is small: scaled up, as the original


@dataclass
class TrainConfig:
    """Everything a run needs besides its data paths."""

    model_preset: str = "tiny"
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides
    optim: OptimConfig = field(default_factory=OptimConfig)
    multi_label: MultiLabelConfig = field(default_factory=MultiLabelConfig)  # T-Free only
    seq_len: int = 256
    batch_size: int = 16  # sequences per optimizer step, over all ranks and micro-batches
    micro_batch_size: int = 16  # sequences per forward pass on one rank
    max_steps: int = 1000
    max_epochs: int | None = None  # when set, max_steps = max_epochs x steps per epoch (Delphi)
    # windows of packed token arrays | chunks of a Delphi export | examples (T-Free: word
    # examples with has_loss segments) | aligned (T-Free's samples from its aligned export)
    data: str = "windows"
    init_from: str = ""  # a model directory whose weights start the run (fine-tuning)
    eval_interval: int = 100
    eval_windows: int = 64
    checkpoint_interval: int = 100  # the resumable checkpoint/ is replaced at these steps
    keep_checkpoints: bool = False  # also keep each of them as checkpoints/step-{N}/ (a suite)
    extra_checkpoint_steps: list[int] = field(default_factory=list)  # kept too (1, 2, 4, ...)
    log_interval: int = 10
    seed: int = 42
    precision: str = "auto"  # auto (bf16 autocast on CUDA) | fp32 | bf16
    compile: bool = False
    document_masking: bool = False
    wandb: str = ""  # "entity/project" (or "project"): also log to Weights & Biases

    def __post_init__(self) -> None:
        choices = {
            "data": ("windows", "chunks", "examples", "aligned"),
            "precision": ("auto", "fp32", "bf16"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{name}: {getattr(self, name)!r} is not one of {', '.join(allowed)}"
                )
        if self.max_epochs is not None and self.max_epochs < 1:
            raise ConfigError(f"max_epochs: {self.max_epochs} is not a positive number of epochs")


def _cast(value: Any, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(kind):
            if option is type(None) and value is None:
                return None
            try:
                return _cast(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: {value!r} does not fit {kind}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_cast(v, t, key) for v, t in zip(value, typing.get_args(kind), strict=True))
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(kind)
        return [_cast(v, item, key) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is float and isinstance(value, str):  # YAML 1.1 reads "3e-4" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    raise ConfigError(f"{key}: expected {getattr(kind, '__name__', kind)}, got {value!r}")


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(prefix + k for k in unknown)}")
    kwargs = {}
    for name, value in values.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{name}: expected a mapping")
            kwargs[name] = _build(kind, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _cast(value, kind, prefix + name)
    return cls(**kwargs)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_train_config(files: list[str | Path] = (), overrides: list[str] = ()) -> TrainConfig:
    """Layer ``files`` (YAML or JSON, later wins), then ``key=value`` overrides, into a config."""
    values: dict[str, Any] = {}
    for path in files:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: cannot read config ({err})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a config file must hold a mapping")
        values = _merge(values, loaded)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r} is not key=value")
        nested: dict[str, Any] = {}
        cursor = nested
        parts = key.split(".")
        for part in parts[:-1]:
            cursor = cursor.setdefault(part, {})
        cursor[parts[-1]] = yaml.safe_load(raw)
        values = _merge(values, nested)
    return _build(TrainConfig, values)


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The config as plain data (for the run's ``train_config.json``)."""
    return dataclasses.asdict(config)
