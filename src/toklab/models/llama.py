"""A Llama-style decoder: RMSNorm, RoPE, SwiGLU, grouped-query attention, no biases.

Module and parameter names follow ``transformers``' ``LlamaForCausalLM``, so a checkpoint
(``model.safetensors`` + ``config.json``) loads there unchanged and gives the same logits.

Attention takes the flash-attn kernel (variable-length, one sequence per document) when
flash-attn is installed and the tensors are on CUDA in half precision; otherwise torch's
``scaled_dot_product_attention``, with a block-diagonal causal mask when documents are packed.
RoPE positions restart at every document when ``document_ids`` are given. The kernel is
:data:`varlen_kernel`: a forward pass reads it once and computes the packed sequences once for
all layers (:class:`Varlen`: cumulative lengths, the row length as the longest); the tests set
a pure-torch kernel with flash-attn's signature (:mod:`toklab.models.flash_reference`) to run
this path on CPU.

**KV cache** (inference): ``forward(input_ids, cache=KVCache())`` stores every layer's keys and
values; a later call with the same cache feeds only the new tokens, whose RoPE positions continue
from ``cache.length`` and which attend over the cached keys and their own (causally). A prefill
(empty cache) takes the same attention path as a call without a cache; new tokens after that take
torch SDPA with an offset causal mask (never flash-attn's varlen kernel). Packed documents are
not supported with a cache (``document_ids`` and ``cache`` together are a ``ValueError``).

**T-Free** (``tfree`` set in the config: the hasher's ``m``, ``k`` and ``entire_words``; the
model code asks only :attr:`ModelConfig.reads_words`) swaps the input embedding for
:class:`TrigramEmbedding`: a word's input is the *sum* of the ``v``-row embedding table over the
``m`` ids of each of its trigrams (an ``embedding_bag``, never a dense one-hot), given as
:class:`TrigramInputs`. The blocks are the same, and the untied ``lm_head`` becomes the
multi-label head (one logit per hash id, trained with a binary cross-entropy by
:mod:`toklab.training.objectives`). Its ``config.json`` names ``TFreeForCausalLM`` with a
``model_type`` of its own, so ``transformers`` refuses it instead of loading it as a Llama over
a vocabulary it is not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from toklab.errors import ConfigError, DataError
from toklab.io import atomic_path, atomic_write
from toklab.models.presets import read_preset

try:  # optional: pip install toklab[gpu]
    from flash_attn import flash_attn_varlen_func
except ImportError:  # pragma: no cover - not installed on CPU machines
    flash_attn_varlen_func = None


@dataclass
class ModelConfig:
    """Sizes and constants of the decoder (names as in ``transformers.LlamaConfig``)."""

    vocab_size: int = 257
    hidden_size: int = 128
    intermediate_size: int = 344
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int | None = None
    max_position_embeddings: int = 256
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    tie_word_embeddings: bool = False
    initializer_range: float = 0.02
    #: T-Free: the trigram hasher's settings {"m", "k", "entire_words"} (vocab_size is its v)
    tfree: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.reads_words:
            if set(self.tfree) != set(TFREE_KEYS):
                raise ConfigError(
                    f"tfree: expected the keys {', '.join(TFREE_KEYS)}, got {sorted(self.tfree)}"
                )
            if self.tie_word_embeddings:
                raise ConfigError("tfree: the multi-label head cannot be tied to the embedding")
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise ConfigError(
                f"num_attention_heads {self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads {self.num_key_value_heads}"
            )

    @property
    def reads_words(self) -> bool:
        """Whether the model reads T-Free words (:class:`TrigramInputs`) instead of token ids.

        The one question the model code asks of its kind: it picks the input embedding, the
        inputs ``forward`` takes and the architecture ``config.json`` names.
        """
        return self.tfree is not None

    @property
    def head_dim(self) -> int:
        """Size of one attention head."""
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build from a dict, ignoring keys that are not fields (e.g. a HF config's extras)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def from_preset(cls, name: str, presets_path: str | Path, **overrides: Any) -> ModelConfig:
        """A preset from ``resources/model_presets.yaml``, with fields overridden."""
        return cls.from_dict({**read_preset(name, presets_path), **overrides})

    def hf_config(self) -> dict[str, Any]:
        """A ``config.json`` that ``transformers.LlamaForCausalLM`` loads (T-Free: refuses)."""
        words = self.reads_words
        values = asdict(self)
        if not words:
            del values["tfree"]  # a token model's config.json stays transformers' Llama's
        return {
            "architectures": [TFREE_ARCHITECTURE if words else "LlamaForCausalLM"],
            "model_type": TFREE_MODEL_TYPE if words else "llama",
            "hidden_act": "silu",
            "attention_bias": False,
            "mlp_bias": False,
            "attention_dropout": 0.0,
            "torch_dtype": "float32",
            **values,
        }

    def num_parameters(self, non_embedding: bool = True) -> int:
        """Parameter count (without the embedding and output head when ``non_embedding``)."""
        h, kv = self.hidden_size, self.num_key_value_heads * self.head_dim
        per_layer = 2 * h * h + 2 * h * kv + 3 * h * self.intermediate_size + 2 * h
        total = self.num_hidden_layers * per_layer + h
        if not non_embedding:
            total += self.vocab_size * h * (1 if self.tie_word_embeddings else 2)
        return total

    def flops_per_token(self, context: int) -> int:
        """Training FLOPs per token: 6 x parameters (incl. the head) + attention (PaLM's count)."""
        matmul = self.num_parameters() - (2 * self.num_hidden_layers + 1) * self.hidden_size
        head = self.vocab_size * self.hidden_size
        attention = 12 * self.num_hidden_layers * self.hidden_size * context
        return 6 * (matmul + head) + attention


#: The keys of ``ModelConfig.tfree``: the TrigramHasher settings besides v (= vocab_size).
TFREE_KEYS = ("entire_words", "k", "m")
TFREE_ARCHITECTURE = "TFreeForCausalLM"
TFREE_MODEL_TYPE = "toklab-tfree"


class TrigramInputs(NamedTuple):
    """A batch of T-Free words as embedding bags: ``shape`` = (batch, length) words.

    Word ``i`` of the flattened batch is the sum of the embedding rows
    ``ids[offsets[i]:offsets[i + 1]]`` (the last bag ends at ``len(ids)``): the ``m`` ids of
    every trigram of the word, repeats kept.
    """

    ids: torch.Tensor
    offsets: torch.Tensor
    shape: tuple[int, int]

    def to(self, device: torch.device | str) -> TrigramInputs:
        """The same inputs on ``device``."""
        return TrigramInputs(self.ids.to(device), self.offsets.to(device), self.shape)


class TrigramEmbedding(nn.Embedding):
    """T-Free's sparse input embedding: each word sums the rows of its trigrams' hash ids.

    An ``nn.Embedding`` (same ``weight`` of shape (v, hidden), same name in checkpoints) whose
    forward takes :class:`TrigramInputs` and reduces each bag with ``embedding_bag(mode="sum")``.
    """

    def forward(self, inputs: TrigramInputs) -> torch.Tensor:  # type: ignore[override]
        """Word embeddings (batch, length, hidden)."""
        summed = F.embedding_bag(inputs.ids, self.weight, inputs.offsets, mode="sum")
        return summed.view(*inputs.shape, self.embedding_dim)


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned scale (computed in float32)."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return self.weight * x.to(dtype)


def rope_tables(config: ModelConfig, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RoPE cosines and sines for integer ``positions`` (B, T): each of shape (B, T, head_dim)."""
    dim = config.head_dim
    inv_freq = 1.0 / (
        config.rope_theta ** (torch.arange(0, dim, 2, device=positions.device).float() / dim)
    )
    angles = positions.float()[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, heads, T, head_dim) by RoPE, halves convention (as transformers' Llama)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos[:, None].to(x.dtype) + rotated * sin[:, None].to(x.dtype)


class VarlenKernel(NamedTuple):
    """A function with ``flash_attn.flash_attn_varlen_func``'s signature, and what it takes."""

    function: Callable[..., torch.Tensor]
    device_types: tuple[str, ...] = ("cuda",)
    dtypes: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16)

    def accepts(self, device: torch.device, dtype: torch.dtype) -> bool:
        """Whether the kernel runs on tensors of ``dtype`` on ``device``."""
        return device.type in self.device_types and dtype in self.dtypes


#: The kernel of the packed-sequence path: flash-attn's when it is installed, else ``None``
#: (SDPA everywhere). Read once per forward pass; swap it to run another kernel (the tests: the
#: reference in :mod:`toklab.models.flash_reference`; the benchmark: ``None`` to time SDPA).
varlen_kernel: VarlenKernel | None = (
    VarlenKernel(flash_attn_varlen_func) if flash_attn_varlen_func is not None else None
)


class Varlen(NamedTuple):
    """One forward pass's sequences for the varlen kernel, computed once, used by every layer.

    ``cu_seqlens`` (int32) are the cumulative lengths of the documents of the flattened (B*T)
    tokens, with a leading 0; ``max_seqlen`` is the row length T, a bound on every document's
    length known without reading ``cu_seqlens`` back from the device.
    """

    function: Callable[..., torch.Tensor]
    cu_seqlens: torch.Tensor
    max_seqlen: int


def varlen_batch(
    document_ids: torch.Tensor | None,
    shape: tuple[int, int],
    device: torch.device,
    dtype: torch.dtype,
) -> Varlen | None:
    """A (B, T) batch's sequences for :data:`varlen_kernel` (``None``: SDPA instead).

    ``None`` when there is no kernel or it does not take ``dtype`` (that of the attention
    inputs) on ``device``. One sequence per row, or per document (a contiguous run of ids
    within a row) when ``document_ids`` are given: counting those reads one number back from
    the device, once.
    """
    kernel = varlen_kernel
    if kernel is None or not kernel.accepts(device, dtype):
        return None
    batch, length = shape
    if document_ids is None:
        cu_seqlens = torch.arange(0, batch * length + 1, length, device=device)
    else:
        starts = torch.nonzero(document_starts(document_ids).flatten()).flatten()
        cu_seqlens = torch.cat([starts, starts.new_tensor([batch * length])])
    return Varlen(kernel.function, cu_seqlens.int(), length)


def document_starts(document_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) booleans: a document starts here (every row's first token, and every new id)."""
    starts = torch.ones_like(document_ids, dtype=torch.bool)
    starts[:, 1:] = document_ids[:, 1:] != document_ids[:, :-1]
    return starts


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    document_ids: torch.Tensor | None,
    varlen: Varlen | None = None,
) -> torch.Tensor:
    """Causal attention over (B, heads, T, d) tensors, within documents when given.

    Fast path (``varlen`` given): the varlen kernel (flash-attn's on CUDA in fp16/bf16) on the
    flattened tokens, one sequence per document. Fallback: torch SDPA (which picks its own
    flash or memory-efficient kernel on GPU), with a block-diagonal causal mask for documents.

    Keys longer than the queries (a KV cache: ``k``/``v`` hold ``offset`` earlier positions and
    then the queries' own) take SDPA with the causal mask shifted by ``offset``: query ``i``
    sees keys ``0 .. offset + i``. ``document_ids`` must be ``None`` then.
    """
    batch, heads, length, dim = q.shape
    groups = heads // k.shape[1]
    offset = k.shape[2] - length
    if offset:
        if document_ids is not None:
            raise ValueError("document_ids cannot be combined with cached keys")
        if groups > 1:
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
        if length == 1:  # one new token sees every key
            return F.scaled_dot_product_attention(q, k, v)
        causal = torch.ones(length, k.shape[2], dtype=torch.bool, device=q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=causal.tril(diagonal=offset))
    if varlen is not None:  # documents are sequences of the flattened (B*T) tokens
        out = varlen.function(
            q.transpose(1, 2).reshape(batch * length, heads, dim),
            k.transpose(1, 2).reshape(batch * length, k.shape[1], dim),
            v.transpose(1, 2).reshape(batch * length, v.shape[1], dim),
            varlen.cu_seqlens,
            varlen.cu_seqlens,
            varlen.max_seqlen,
            varlen.max_seqlen,
            causal=True,
        )
        return out.reshape(batch, length, heads, dim).transpose(1, 2)
    if groups > 1:
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
    if document_ids is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    causal = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()
    same_document = document_ids[:, :, None] == document_ids[:, None, :]
    mask = (causal & same_document)[:, None]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class KVCache:
    """Keys and values of the positions a :class:`LlamaModel` has seen, for incremental decoding.

    ``keys[i]`` / ``values[i]`` are layer ``i``'s (B, kv_heads, T, head_dim) tensors, filled by
    the model's forward (empty lists until the first call); :attr:`length` is T. One cache serves
    one sequence batch and one model; :meth:`reset` empties it. RoPE positions are absolute, so
    a cache cannot slide: past ``max_position_embeddings`` start again with an empty cache.
    """

    def __init__(self) -> None:
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    @property
    def length(self) -> int:
        """The number of cached positions (0 when empty)."""
        return self.keys[0].shape[2] if self.keys else 0

    @property
    def batch_size(self) -> int | None:
        """The batch size of the cached tensors (``None`` when empty)."""
        return self.keys[0].shape[0] if self.keys else None

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append layer ``layer``'s new keys and values; return all of them (cached + new)."""
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat([self.keys[layer], k], dim=2)
            self.values[layer] = torch.cat([self.values[layer], v], dim=2)
        return self.keys[layer], self.values[layer]

    def reset(self) -> None:
        """Forget every cached position."""
        self.keys.clear()
        self.values.clear()


class Attention(nn.Module):
    """Grouped-query self-attention with RoPE."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        h, d = config.hidden_size, config.head_dim
        self.q_proj = nn.Linear(h, config.num_attention_heads * d, bias=False)
        self.k_proj = nn.Linear(h, config.num_key_value_heads * d, bias=False)
        self.v_proj = nn.Linear(h, config.num_key_value_heads * d, bias=False)
        self.o_proj = nn.Linear(config.num_attention_heads * d, h, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        document_ids: torch.Tensor | None,
        cache: KVCache | None = None,
        layer: int = 0,
        varlen: Varlen | None = None,
    ) -> torch.Tensor:
        batch, length, _ = x.shape
        d = self.config.head_dim
        q = self.q_proj(x).view(batch, length, -1, d).transpose(1, 2)
        k = self.k_proj(x).view(batch, length, -1, d).transpose(1, 2)
        v = self.v_proj(x).view(batch, length, -1, d).transpose(1, 2)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        out = attention(q, k, v, document_ids, varlen)
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, -1))


class MLP(nn.Module):
    """SwiGLU feed-forward block."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        h, f = config.hidden_size, config.intermediate_size
        self.gate_proj = nn.Linear(h, f, bias=False)
        self.up_proj = nn.Linear(h, f, bias=False)
        self.down_proj = nn.Linear(f, h, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.self_attn = Attention(config)
        self.mlp = MLP(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        document_ids: torch.Tensor | None,
        cache: KVCache | None = None,
        layer: int = 0,
        varlen: Varlen | None = None,
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope, document_ids, cache, layer, varlen)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nn.Module):
    """Embeddings, decoder layers and the final norm (``model.`` in transformers' names)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        embedding = TrigramEmbedding if config.reads_words else nn.Embedding
        self.embed_tokens = embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


class LlamaModel(nn.Module):
    """The causal LM: ``forward(input_ids, document_ids=None, cache=None) -> logits`` (B, T, V).

    ``input_ids`` are (B, T) token ids, or :class:`TrigramInputs` for a T-Free model. With a
    :class:`KVCache`, they are the positions after the cached ones (see the module docstring).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.model = Decoder(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        self.tie_weights()

    def tie_weights(self) -> None:
        """The head shares the embedding's weight when the config ties them (as transformers)."""
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.initializer_range)

    def _attention_dtype(self) -> torch.dtype:
        """The dtype of the attention inputs: autocast's, or else the weights'."""
        device = self.lm_head.weight.device.type
        if torch.is_autocast_enabled(device):
            return torch.get_autocast_dtype(device)
        return self.lm_head.weight.dtype

    def forward(
        self,
        input_ids: torch.Tensor | TrigramInputs,
        document_ids: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Logits for every position; attention stays within a document when given.

        With ``cache``, the inputs continue the cached positions (RoPE positions from
        ``cache.length``), attend over the cached keys and their own, and are appended to the
        cache. ``document_ids`` cannot be given with a cache (``ValueError``).
        """
        if isinstance(input_ids, TrigramInputs) != self.config.reads_words:
            kind = "T-Free words" if self.config.reads_words else "token ids"
            raise ValueError(f"this model takes {kind} as input, got {type(input_ids).__name__}")
        batch, length = input_ids.shape
        device = self.lm_head.weight.device
        start = 0
        if cache is not None:
            if document_ids is not None:
                raise ValueError("document_ids cannot be combined with a KV cache")
            if cache.batch_size not in (None, batch):
                raise ValueError(
                    f"batch size {batch} does not match the cache's {cache.batch_size}"
                )
            start = cache.length
        if start + length > self.config.max_position_embeddings:
            cached = f" after {start} cached positions" if start else ""
            raise ValueError(
                f"sequence length {length}{cached} exceeds max_position_embeddings "
                f"{self.config.max_position_embeddings}"
            )
        if document_ids is None:
            positions = torch.arange(start, start + length, device=device).expand(batch, length)
        else:
            positions = positions_within_documents(document_ids)
        rope = rope_tables(self.config, positions)
        varlen = None
        if start == 0:  # a prefill takes the path of a call without a cache
            varlen = varlen_batch(document_ids, (batch, length), device, self._attention_dtype())
        x = self.model.embed_tokens(input_ids)
        for index, layer in enumerate(self.model.layers):
            x = layer(x, rope, document_ids, cache, index, varlen)
        return self.lm_head(self.model.norm(x))


def positions_within_documents(document_ids: torch.Tensor) -> torch.Tensor:
    """Position of every token within its document (documents are contiguous runs of ids)."""
    length = document_ids.shape[1]
    index = torch.arange(length, device=document_ids.device).expand_as(document_ids)
    start_index = torch.where(document_starts(document_ids), index, torch.zeros_like(index))
    return index - torch.cummax(start_index, dim=1).values


def save_checkpoint(model: LlamaModel, directory: str | Path) -> None:
    """Write ``model.safetensors`` and ``config.json`` (transformers' Llama layout), atomically."""
    from safetensors.torch import save_file

    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight")
    # The weights are renamed into place last: once model.safetensors is there, so is its config.
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
        with atomic_write(directory / "config.json", "w") as handle:
            json.dump(model.config.hf_config(), handle, indent=2, sort_keys=True)


def load_checkpoint(directory: str | Path, map_location: str | torch.device = "cpu") -> LlamaModel:
    """Load a model saved by :func:`save_checkpoint`; clear errors for missing or bad files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in ("config.json", "model.safetensors"):
        if not (directory / name).is_file():
            raise DataError(f"{directory / name}: checkpoint file not found")
    config = ModelConfig.from_dict(json.loads((directory / "config.json").read_text()))
    model = LlamaModel(config)
    try:
        state = load_file(str(directory / "model.safetensors"), device=str(map_location))
    except (SafetensorError, OSError) as err:
        raise DataError(
            f"{directory / 'model.safetensors'}: unreadable checkpoint ({err})"
        ) from None
    if config.tie_word_embeddings:
        state.setdefault("lm_head.weight", state.get("model.embed_tokens.weight"))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise DataError(
            f"{directory}: checkpoint does not match its config.json "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shapes {shapes[:3]})"
        )
    model.load_state_dict(state)
    return model
