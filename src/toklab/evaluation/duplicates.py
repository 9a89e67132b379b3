r"""Duplicate tokens of a vocabulary: tokens that differ from another one only by case or a space.

T-Free (Deiseroth et al., 2024, Tab. 1) reports the share of a vocabulary's tokens that are
near-duplicates of another token of the same vocabulary: ``"the"``, ``" the"``, ``"The"`` and
``" The"`` are four tokens for one word (BPE/Unigram 64k 35.24%, Mistral 31.47%, Gemma 34.68%,
Command-R 15.31%; T-Free itself has no token vocabulary, so 0). Defined here as follows.

**Surface of a token.** Every id of the model's vocabulary is spelled as the text it stands for:

* *byte-level* vocabularies (GPT-2 style: a ``ByteLevel`` pre-tokenizer or decoder) write each
  byte as one character of GPT-2's byte-to-unicode alphabet
  (:mod:`toklab.tokenizers.byte_unicode`; ``Ġ`` is a space, ``Ċ`` a newline): the characters are
  mapped back to their bytes;
* *SentencePiece* vocabularies (Unigram or BPE with a ``Metaspace`` pre-tokenizer/decoder, or a
  decoder that replaces a marker by a space, as Llama/Mistral/Gemma do) write a space as ``▁``
  (or the configured replacement): every marker becomes a space. With ``byte_fallback``, the
  ``<0xNN>`` tokens stand for the single byte ``NN``;
* *WordPiece* (and BPE with a ``continuing_subword_prefix``): a piece with the prefix
  (``##``, ByteSpan's ``▁``) continues a word and has no space before it; the prefix is
  removed. A piece without it starts a word: where the vocabulary's spaces are not written in
  its tokens (BERT-style, text split at spaces before the model), its surface gets the implied
  leading space; in a byte-level WordPiece (ByteSpan) the space is already one of its bytes. A
  BPE ``end_of_word_suffix`` (``</w>``) is removed.
* any other vocabulary's tokens are their vocab strings.

A surface that is valid UTF-8 is a string; one that is not (a token holding part of a
multi-byte character, which byte-level and byte-fallback vocabularies have) stays ``bytes``.

**Key and duplicates.** A surface's key strips *one* leading space (``" the"`` → ``"the"``,
``"  x"`` → ``" x"``) and lowercases a string with :meth:`str.lower`; ``bytes`` are never
lowercased and never equal a string. A token is a *duplicate* when its key is shared with at
least one other token of the vocabulary; all tokens of a shared key count, including the
"original" (``the, Ġthe, The, ĠThe, cat`` → 4 of 5). Tokens with identical surfaces (a
WordPiece word-initial ``the`` and continuation ``##the``, a byte-fallback ``<0x41>`` and ``A``)
share a key too. Added tokens (every special token) and the model's unknown token are left
out of both the count and the vocabulary size it is a share of.

``duplicate_tokens`` = duplicates / tokens considered, ``duplicate_tokens_count`` = duplicates,
and ``duplicate_tokens_redundant`` = (duplicates - keys they share) / tokens considered, the
share of the vocabulary that keeping one token per key would remove (``the, Ġthe, The, ĠThe,
cat`` → 3 of 5). The paper does not say which of the two it counts; GPT-2's 50,256 ordinary
tokens give 53.06% and 34.19%, and the paper's BPE/Unigram figures (about 35% at 64k) are
close to the second. Both are properties of the vocabulary, the same on every row of a
tokenizer in the statistics table.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toklab.tokenizers.byte_unicode import decode_bytes

#: A token's text: a string, or bytes when they are not valid UTF-8 on their own.
Surface = str | bytes

_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@dataclass(frozen=True)
class DuplicateTokens:
    """Duplicate tokens of one vocabulary (special tokens excluded)."""

    tokens: int  # ordinary tokens of the vocabulary
    duplicates: int  # those whose key another token shares
    groups: int  # distinct keys among the duplicates

    @property
    def share(self) -> float:
        """``duplicates / tokens``."""
        return self.duplicates / self.tokens if self.tokens else float("nan")

    @property
    def redundant(self) -> float:
        """``(duplicates - groups) / tokens``: the share one token per key would remove."""
        return (self.duplicates - self.groups) / self.tokens if self.tokens else float("nan")

    def columns(self) -> dict[str, float | int]:
        """The statistics-table columns."""
        return {
            "duplicate_tokens": self.share,
            "duplicate_tokens_count": self.duplicates,
            "duplicate_tokens_redundant": self.redundant,
        }


def _components(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every component (a dict with a ``type``) of a pipeline spec, nested sequences included."""
    if isinstance(node, Mapping):
        if "type" in node:
            yield node
        for value in node.values():
            yield from _components(value)
    elif isinstance(node, list):
        for value in node:
            yield from _components(value)


def _tokenizer_spec(tokenizer: Any) -> dict[str, Any]:
    if isinstance(tokenizer, (str, Path)):
        from toklab.tokenizers.tokenizer_files import load_tokenizer

        tokenizer = load_tokenizer(tokenizer)
    return json.loads(tokenizer.to_str())


def _space_marker(spec: Mapping[str, Any]) -> str | None:
    """The character a SentencePiece-style vocabulary writes for a space (``▁``), if any."""
    for part in ("pre_tokenizer", "decoder", "normalizer"):
        for component in _components(spec.get(part)):
            if component["type"] == "Metaspace":
                return component.get("replacement", "\u2581")
            if component["type"] == "Replace":
                pattern = component.get("pattern", {}).get("String")
                if part == "decoder" and component.get("content") == " " and pattern:
                    return pattern
                if part == "normalizer" and pattern == " " and component.get("content"):
                    return component["content"]
    return None


def _as_surface(data: bytes) -> Surface:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def token_surfaces(tokenizer: Any) -> dict[int, Surface]:
    """``{id: surface}`` of a vocabulary's ordinary tokens (see the module docstring).

    ``tokenizer`` is a ``tokenizers.Tokenizer`` or the path of a ``tokenizer.json``. Added
    tokens and the unknown token are left out.
    """
    spec = _tokenizer_spec(tokenizer)
    model = spec["model"]
    kind = model.get("type")
    vocab = model.get("vocab") or {}
    excluded = {token["id"] for token in spec.get("added_tokens") or []}
    if kind == "Unigram":
        if model.get("unk_id") is not None:
            excluded.add(model["unk_id"])
        vocab = {piece: i for i, (piece, _) in enumerate(vocab)}
    elif model.get("unk_token") in vocab:
        excluded.add(vocab[model["unk_token"]])
    types = {c["type"] for p in ("pre_tokenizer", "decoder") for c in _components(spec.get(p))}
    byte_level = "ByteLevel" in types
    marker = None if byte_level else _space_marker(spec)
    prefix = model.get("continuing_subword_prefix") if kind in ("WordPiece", "BPE") else None
    suffix = model.get("end_of_word_suffix") if kind == "BPE" else None
    implied_space = kind == "WordPiece" and not byte_level
    byte_fallback = bool(model.get("byte_fallback"))
    surfaces: dict[int, Surface] = {}
    for text, token_id in vocab.items():
        if token_id in excluded:
            continue
        if byte_fallback and (match := _BYTE_FALLBACK.fullmatch(text)):
            surfaces[token_id] = _as_surface(bytes([int(match[1], 16)]))
            continue
        space = ""
        if prefix and text.startswith(prefix) and len(text) > len(prefix):
            text = text[len(prefix) :]
        elif implied_space:
            space = " "
        if suffix and text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
        if byte_level:
            try:
                data = decode_bytes(text)
            except ValueError:  # a character outside the alphabet: the string as written
                data = text.encode("utf-8")
            surfaces[token_id] = _as_surface(data)  # its spaces are bytes of it
        else:
            surfaces[token_id] = space + (text.replace(marker, " ") if marker else text)
    return surfaces


def duplicate_key(surface: Surface) -> Surface:
    """One leading space stripped; strings lowercased (``" The"`` → ``"the"``), bytes not."""
    if isinstance(surface, bytes):
        return surface.removeprefix(b" ")
    return surface.removeprefix(" ").lower()


def count_duplicates(surfaces: Mapping[int, Surface] | list[Surface]) -> DuplicateTokens:
    """Duplicates among ``surfaces`` (an id-to-surface mapping or a list of surfaces)."""
    values = surfaces.values() if isinstance(surfaces, Mapping) else surfaces
    keys = Counter(duplicate_key(surface) for surface in values)
    shared = [count for count in keys.values() if count > 1]
    return DuplicateTokens(tokens=sum(keys.values()), duplicates=sum(shared), groups=len(shared))


def duplicate_tokens(tokenizer: Any) -> DuplicateTokens:
    """Duplicate tokens of a ``tokenizers.Tokenizer`` (or ``tokenizer.json`` path)."""
    return count_duplicates(token_surfaces(tokenizer))
