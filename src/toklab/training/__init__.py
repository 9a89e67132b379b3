"""The one trainer: packed token streams, layered configs, resumable (DDP) training."""
