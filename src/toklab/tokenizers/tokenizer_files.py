"""Hugging Face tokenizer files, the interchange of every toklab tokenizer: writing and reading.

``tokenizer.json`` (with ``vocab.json``, ``merges.txt`` and the transformers configs for a
byte-level BPE) is what every downstream stage reads, through :func:`load_tokenizer`.

Every toklab BPE ends up as a ``tokenizers`` ByteLevel BPE (GPT-2 pre-tokenization, no prefix
space, byte-level decoder), so ``tokenizers.Tokenizer.from_file`` and
``transformers.PreTrainedTokenizerFast`` give the ids toklab gives. Special tokens are added
tokens, never split; when they overlap, the longest match wins (the added-vocabulary matcher is
leftmost-longest). ``tokenizer_config.json`` and ``special_tokens_map.json`` name the BOS, EOS
and PAD tokens (Delphi's ``<bos>``, ``<eos>``, ``<pad>``, or GPT-2's ``<|endoftext|>``) and turn
off ``clean_up_tokenization_spaces``, which would otherwise alter decoded text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from toklab.errors import ConfigError, DataError
from toklab.io import atomic_write
from toklab.tokenizers.byte_unicode import decode_bytes, encode_bytes

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MERGES_HEADER = "#version: 0.2"


def _string_vocab(vocab: Mapping[int, bytes], special_tokens: Sequence[str]) -> dict[str, int]:
    specials = {token.encode("utf-8"): token for token in special_tokens}
    strings: dict[str, int] = {}
    for token_id, token in sorted(vocab.items()):
        text = specials[token] if token in specials else encode_bytes(token)
        if text in strings:
            if token in specials:
                raise ConfigError(f"special token {text!r} is also an ordinary token of the vocab")
            continue  # two merges that spell the same bytes: keep the first id (HF does too)
        strings[text] = token_id
    return strings


def build_hf_tokenizer(
    vocab: Mapping[int, bytes],
    merges: Sequence[tuple[bytes, bytes]],
    special_tokens: Sequence[str] = (),
):
    """A ``tokenizers.Tokenizer`` (ByteLevel BPE) for ``vocab`` and ``merges``."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    model = models.BPE(
        vocab=_string_vocab(vocab, special_tokens),
        merges=[(encode_bytes(a), encode_bytes(b)) for a, b in merges],
        fuse_unk=False,
        byte_fallback=False,
    )
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False, single_word=False) for t in special_tokens]
    )
    return tokenizer


def special_token_roles(special_tokens: Sequence[str]) -> dict[str, str]:
    """BOS/EOS/PAD/UNK roles for transformers, from conventional token names."""
    roles: dict[str, str] = {}
    for token in special_tokens:
        name = token.strip("<>|").lower()
        if name in ("bos", "s", "begin_of_text"):
            roles.setdefault("bos_token", token)
        elif name in ("eos", "/s", "end_of_text"):
            roles.setdefault("eos_token", token)
        elif name in ("pad", "padding"):
            roles.setdefault("pad_token", token)
        elif name in ("unk",):
            roles.setdefault("unk_token", token)
        elif name == "endoftext":  # GPT-2: one token ends and begins documents
            roles.setdefault("bos_token", token)
            roles.setdefault("eos_token", token)
    return roles


def save_tokenizer_files(
    directory: str | Path,
    vocab: Mapping[int, bytes],
    merges: Sequence[tuple[bytes, bytes]],
    special_tokens: Sequence[str] = (),
) -> None:
    """Write tokenizer.json, vocab.json, merges.txt and the transformers config files."""
    directory = Path(directory)
    tokenizer = build_hf_tokenizer(vocab, merges, special_tokens)
    with atomic_write(directory / "tokenizer.json", "w") as handle:
        handle.write(tokenizer.to_str(pretty=True))
    with atomic_write(directory / "vocab.json", "w") as handle:
        json.dump(_string_vocab(vocab, special_tokens), handle, ensure_ascii=False, indent=0)
    with atomic_write(directory / "merges.txt", "w") as handle:
        handle.write(MERGES_HEADER + "\n")
        handle.writelines(f"{encode_bytes(a)} {encode_bytes(b)}\n" for a, b in merges)
    write_transformers_configs(directory, special_tokens)


def write_transformers_configs(directory: str | Path, special_tokens: Sequence[str]) -> None:
    """Write ``tokenizer_config.json`` and ``special_tokens_map.json`` beside a tokenizer.json.

    They let ``transformers.AutoTokenizer`` load the directory as a ``PreTrainedTokenizerFast``
    with the special tokens in their roles.
    """
    directory = Path(directory)
    roles = special_token_roles(special_tokens)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "clean_up_tokenization_spaces": False,
        "add_prefix_space": False,
        "model_max_length": 1_000_000_000,
        **roles,
    }
    with atomic_write(directory / "tokenizer_config.json", "w") as handle:
        json.dump(config, handle, indent=2, sort_keys=True)
    with atomic_write(directory / "special_tokens_map.json", "w") as handle:
        json.dump(roles, handle, indent=2, sort_keys=True)


def _token_bytes(text: str) -> bytes:
    try:
        return decode_bytes(text)
    except ValueError:
        return text.encode("utf-8")  # a special token written literally


def read_vocab_json(path: str | Path) -> dict[int, bytes]:
    """Read a GPT-2-style ``vocab.json`` (token string → id) as id → bytes."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: cannot read vocab ({err})") from None
    return {int(token_id): _token_bytes(text) for text, token_id in table.items()}


def read_merges_txt(path: str | Path) -> list[tuple[bytes, bytes]]:
    """Read a GPT-2-style ``merges.txt`` (an optional ``#version`` line, then ``a b`` lines)."""
    merges = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise DataError(f"{path}: cannot read merges ({err})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise DataError(f"{path} line {number}: expected two tokens, got {line!r}")
        merges.append((decode_bytes(parts[0]), decode_bytes(parts[1])))
    return merges


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json``, with a one-line error if unreadable."""
    from tokenizers import Tokenizer

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: tokenizer file not found")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:
        raise DataError(f"{path}: not a Hugging Face tokenizer.json ({err})") from None


#: The roles of special tokens that tokenized datasets use, as transformers names them.
ROLES = ("bos_token", "eos_token", "pad_token", "unk_token")


def _token_content(value: object) -> str | None:
    """A special token as written in a transformers config: a string or ``{"content": ...}``."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def special_token_ids(tokenizer_path: str | Path) -> dict[str, int]:
    """``{role: id}`` of a ``tokenizer.json``'s BOS/EOS/PAD/UNK tokens.

    The roles come from ``tokenizer_config.json`` (or ``special_tokens_map.json``) beside the
    file, as transformers reads them; without either, from the added tokens' conventional names
    (:func:`special_token_roles`).
    """
    path = Path(tokenizer_path)
    tokenizer = load_tokenizer(path)
    roles: dict[str, str] = {}
    for config_name in ("tokenizer_config.json", "special_tokens_map.json"):
        config_path = path.with_name(config_name)
        if config_path.is_file() and not roles:
            try:
                config = json.loads(config_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as err:
                raise DataError(f"{config_path}: cannot read ({err})") from None
            roles = {r: t for r in ROLES if (t := _token_content(config.get(r))) is not None}
    if not roles:
        added = [t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special]
        roles = special_token_roles(added)
    ids = {}
    for role, token in roles.items():
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            ids[role.removesuffix("_token")] = token_id
    return ids


def require_special_token(tokenizer_path: str | Path, role: str, hint: str = "") -> int:
    """The id of the tokenizer's ``role`` token (``bos``, ``eos``, ...); an error if it has none.

    ``hint`` ends the error's message (what the user can do), instead of the roles found.
    """
    ids = special_token_ids(tokenizer_path)
    if role not in ids:
        found = f"special tokens with roles: {', '.join(sorted(ids)) or 'none'}"
        raise DataError(
            f"{tokenizer_path}: the tokenizer has no {role.upper()} token ({hint or found})"
        )
    return ids[role]


def vocabulary_pieces(tokenizer_path: str | Path) -> list[tuple[bytes, bool] | None]:
    """Per id of a ``tokenizer.json``: ``(bytes, continuation)``, or None for a special token.

    Byte-level models (GPT-2 style: a ``ByteLevel`` pre-tokenizer or decoder) spell tokens in
    GPT-2's byte-to-unicode alphabet, decoded here to the bytes they stand for; other models'
    tokens are taken as UTF-8 strings (SentencePiece's ``▁`` stays a character). ``continuation``
    marks WordPiece tokens with the ``continuing_subword_prefix`` (``##``), which is removed:
    they attach to the token before them, the others start a word.
    """
    path = Path(tokenizer_path)
    load_tokenizer(path)  # one-line errors for a missing or unreadable file
    spec = json.loads(path.read_text(encoding="utf-8"))
    model = spec["model"]
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):  # Unigram: a list of [piece, score]
        vocab = {piece: i for i, (piece, _) in enumerate(vocab or [])}
    byte_level = "ByteLevel" in json.dumps([spec.get("pre_tokenizer"), spec.get("decoder")])
    prefix = model.get("continuing_subword_prefix") if model.get("type") == "WordPiece" else None
    added = {t["id"]: t["content"] for t in spec.get("added_tokens", [])}
    size = max([*vocab.values(), *added], default=-1) + 1
    pieces: list[tuple[bytes, bool] | None] = [None] * size
    for text, token_id in vocab.items():
        if token_id in added:
            continue
        continuation = bool(prefix) and text.startswith(prefix) and len(text) > len(prefix)
        if continuation:
            text = text[len(prefix) :]
        try:
            data = decode_bytes(text) if byte_level else text.encode("utf-8")
        except (KeyError, ValueError):
            data = text.encode("utf-8")
        pieces[token_id] = (data, continuation)
    return pieces
