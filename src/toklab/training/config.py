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


@dataclass(frozen=True)
class Range:
    """The values a numeric field allows: ``low``/``high`` bounds, each included or not."""

    low: float | None = None
    high: float | None = None
    low_included: bool = True
    high_included: bool = True

    def __contains__(self, value: float) -> bool:
        if value != value:  # NaN is in no range
            return False
        if self.low is not None and not (
            value >= self.low if self.low_included else value > self.low
        ):
            return False
        return self.high is None or (
            value <= self.high if self.high_included else value < self.high
        )

    def __str__(self) -> str:
        def shown(bound: float) -> str:
            return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"

        if self.high is None:
            return f"{'>=' if self.low_included else '>'} {shown(self.low)}"
        left, right = "[" if self.low_included else "(", "]" if self.high_included else ")"
        return f"in {left}{shown(self.low)}, {shown(self.high)}{right}"


COUNT = Range(1)  # at least one
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_included=False)
FRACTION = Range(0, 1)  # a probability or ratio
SEED = Range(0, 2**32 - 1)  # numpy's seeds


def bounded(default: Any, allowed: Range) -> Any:
    """A dataclass field with ``default`` whose values (or items) must lie in ``allowed``."""
    return field(default=default, metadata={"range": allowed})


def check_ranges(config: Any, prefix: str = "") -> None:
    """A one-line error naming the first field of ``config`` (recursively) outside its range."""
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if dataclasses.is_dataclass(value):
            check_ranges(value, f"{prefix}{item.name}.")
            continue
        allowed = item.metadata.get("range")
        if allowed is None or value is None:
            continue
        for part in value if isinstance(value, list | tuple) else (value,):
            if part not in allowed:
                problem = "is not a number" if part != part else "is out of range"
                raise ConfigError(f"{prefix}{item.name}: {part!r} {problem} (must be {allowed})")


@dataclass
class OptimConfig:
    """AdamW and the learning-rate schedule."""

    lr: float = bounded(6e-4, POSITIVE)
    betas: tuple[float, float] = bounded((0.9, 0.95), Range(0, 1, high_included=False))
    eps: float = bounded(1e-8, POSITIVE)
    weight_decay: float = bounded(0.01, NON_NEGATIVE)
    grad_clip: float = bounded(1.0, NON_NEGATIVE)  # the gradient norm cap; 0: no clipping
    schedule: str = "cosine"  # cosine | wsd | constant
    warmup_steps: int = bounded(100, NON_NEGATIVE)
    decay_steps: int = bounded(0, NON_NEGATIVE)  # wsd: length of the final decay phase
    min_lr_ratio: float = bounded(0.1, FRACTION)


@dataclass
class MultiLabelConfig:
    """T-Free's multi-label loss (:class:`~toklab.training.objectives.MultiLabelLoss`)."""

    pos_weight: float = bounded(300.0, POSITIVE)  # BCEWithLogits' weight of the active ids
    loss_scale: float = bounded(100.0, POSITIVE)  # the mean over v ids is small: scaled up


@dataclass
class TrainConfig:
    """Everything a run needs besides its data paths.

    Every numeric field has a range (:func:`bounded`), checked with the choices and the
    relations between fields when the config is built, so that ``snakemake -n`` (through
    :mod:`toklab.workflow.checks`) and ``train_lm.py --set`` refuse the same values with the
    same one-line message.
    """

    model_preset: str = "tiny"
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides
    optim: OptimConfig = field(default_factory=OptimConfig)
    multi_label: MultiLabelConfig = field(default_factory=MultiLabelConfig)  # T-Free only
    seq_len: int = bounded(256, COUNT)
    batch_size: int = bounded(16, COUNT)  # sequences per optimizer step, over all ranks
    micro_batch_size: int = bounded(16, COUNT)  # sequences per forward pass on one rank
    max_steps: int = bounded(1000, COUNT)
    # when set, max_steps = max_epochs x steps per epoch (Delphi)
    max_epochs: int | None = bounded(None, COUNT)
    # windows of packed token arrays | chunks of a Delphi export | examples (T-Free: word
    # examples with has_loss segments) | aligned (T-Free's samples from its aligned export)
    data: str = "windows"
    init_from: str = ""  # a model directory whose weights start the run (fine-tuning)
    eval_interval: int = bounded(100, COUNT)
    eval_windows: int = bounded(64, COUNT)
    checkpoint_interval: int = bounded(100, COUNT)  # checkpoint/ is replaced at these steps
    keep_checkpoints: bool = False  # also keep each of them as checkpoints/step-{N}/ (a suite)
    # kept too (1, 2, 4, ...)
    extra_checkpoint_steps: list[int] = field(default_factory=list, metadata={"range": COUNT})
    log_interval: int = bounded(10, COUNT)
    seed: int = bounded(42, SEED)
    precision: str = "auto"  # auto (bf16 autocast on CUDA) | fp32 | bf16
    compile: bool = False
    # ddp: every rank holds the whole model | fsdp: FSDP2 shards it (toklab.training.parallel)
    parallelism: str = "ddp"
    activation_checkpointing: bool = False  # recompute each block's activations in backward
    document_masking: bool = False
    wandb: str = ""  # "entity/project" (or "project"): also log to Weights & Biases

    def __post_init__(self) -> None:
        choices = {
            "data": ("windows", "chunks", "examples", "aligned"),
            "precision": ("auto", "fp32", "bf16"),
            "parallelism": ("ddp", "fsdp"),
            "optim.schedule": ("cosine", "wsd", "constant"),
        }
        for name, allowed in choices.items():
            value = self.optim.schedule if name == "optim.schedule" else getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        check_ranges(self)
        if self.batch_size % self.micro_batch_size:
            raise ConfigError(
                f"batch_size: {self.batch_size} is not a multiple of micro_batch_size "
                f"{self.micro_batch_size}"
            )
        schedule = self.optim.warmup_steps + self.optim.decay_steps
        if self.max_epochs is None and schedule > self.max_steps:
            raise ConfigError(
                f"optim.warmup_steps + optim.decay_steps: {self.optim.warmup_steps} + "
                f"{self.optim.decay_steps} exceed max_steps {self.max_steps}"
            )


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
