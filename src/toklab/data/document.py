"""The record every corpus source yields."""

from __future__ import annotations

from typing import NamedTuple


class Document(NamedTuple):
    """One document: a stable id, its text, and its language when the source knows it."""

    id: str
    text: str
    language: str | None = None
