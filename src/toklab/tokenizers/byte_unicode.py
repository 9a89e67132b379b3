"""GPT-2's reversible mapping between bytes and printable unicode characters.

``vocab.json``/``merges.txt`` files and Hugging Face ByteLevel models write every byte as one
printable character (space becomes ``Ġ``, newline ``Ċ``); this module converts both ways.
"""

from __future__ import annotations

from functools import cache


@cache
def bytes_to_unicode() -> dict[int, str]:
    """The GPT-2 table: printable latin-1 bytes map to themselves, the rest to U+0100 onwards."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {b: chr(b) for b in printable}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return table


@cache
def unicode_to_bytes() -> dict[str, int]:
    """The inverse of :func:`bytes_to_unicode`."""
    return {char: byte for byte, char in bytes_to_unicode().items()}


def encode_bytes(data: bytes) -> str:
    """Bytes as GPT-2 printable characters (``b" the"`` → ``"Ġthe"``)."""
    table = bytes_to_unicode()
    return "".join(table[b] for b in data)


def decode_bytes(text: str) -> bytes:
    """GPT-2 printable characters back to bytes; a clear error for a foreign character."""
    table = unicode_to_bytes()
    try:
        return bytes(table[c] for c in text)
    except KeyError as err:
        raise ValueError(f"{text!r} is not in GPT-2 byte-level form (character {err})") from None
