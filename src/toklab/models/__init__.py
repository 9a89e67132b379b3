"""Decoder-only language models shared by every line of toklab."""

from toklab.models.llama import LlamaModel, ModelConfig, load_checkpoint, save_checkpoint

__all__ = ["LlamaModel", "ModelConfig", "load_checkpoint", "save_checkpoint"]
