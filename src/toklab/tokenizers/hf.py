"""Hugging Face interchange for byte-level BPE: ``tokenizer.json``, ``vocab.json``, ``merges.txt``.

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
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from toklab.errors import ConfigError, DataError
from toklab.io import atomic_write
from toklab.tokenizers.byte_unicode import decode_bytes, encode_bytes

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


def _inside_special(text: str, position: int, special_tokens: Iterable[str]) -> bool:
    for token in special_tokens:
        start = text.find(token, max(0, position - len(token) + 1), position + len(token) - 1)
        while start != -1 and start < position:
            if start + len(token) > position:
                return True
            start = text.find(token, start + 1, position + len(token) - 1)
    return False


def last_safe_cut(text: str, special_tokens: Sequence[str] = ()) -> int:
    """The last offset where ``text`` can be cut without changing its tokenization (0 if none).

    A safe cut is a newline directly after an ASCII letter, digit or punctuation character,
    outside every special token: every GPT-2 pre-token ends there whatever follows.
    """
    position = len(text)
    while (position := text.rfind("\n", 0, position)) > 0:
        if "!" <= text[position - 1] <= "~" and not _inside_special(text, position, special_tokens):
            return position
    return 0


def train_hf_bpe(
    texts: Iterable[str],
    vocab_size: int,
    special_tokens: Sequence[str] = (),
    *,
    min_frequency: int = 0,
) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Train with ``tokenizers``' own BpeTrainer (Delphi's choice) on the same pre-tokenization.

    Its ids put the special tokens first and it breaks count ties differently from CS336; the
    result is returned as toklab's ``(vocab, merges)`` and saved in the same file formats.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    specials = set(special_tokens)
    vocab = {
        token_id: (text.encode("utf-8") if text in specials else decode_bytes(text))
        for text, token_id in model["vocab"].items()
    }
    merges = [
        tuple(decode_bytes(part) for part in (m.split(" ") if isinstance(m, str) else m))
        for m in model["merges"]
    ]
    return vocab, merges
