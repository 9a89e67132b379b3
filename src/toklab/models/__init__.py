"""Decoder-only language models shared by every line of toklab."""

from toklab.models.llama import LlamaModel, ModelConfig, load_checkpoint, save_checkpoint
from toklab.models.vector_math import settle_vector_math

# before any model computes: a process's first parallel cos or exp can differ otherwise
settle_vector_math()

__all__ = ["LlamaModel", "ModelConfig", "load_checkpoint", "save_checkpoint"]
