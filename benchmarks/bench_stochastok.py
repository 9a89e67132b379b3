#!/usr/bin/env python
"""StochasTok expansion and seeded BPE-dropout throughput, side by side with their peers.

1. **Expansion**: toklab's ``expand_documents`` (compiled; a Fenwick tree over piece counts)
   against a faithful re-implementation of the original ``StochastokProcessor.expand``: per
   document ``int(len * p)`` attempts, ``np.random.randint`` over the current list, a dict
   lookup of the token's expansions (int keys: the table as first built, before the JSON cache
   turns them into strings), ``random.choice`` of a pair and list splicing
   ``ids[:i] + [l, r] + ids[i+1:]``. Both expand the same GPT-2 token ids of the same
   documents; the original's loop runs on the first ``--original-tokens`` tokens of each case
   (it is slow), toklab's on all of them; throughput is tokens in per second. Two document
   lengths: tinyshakespeare's paragraphs (short) and the same text cut into documents of about
   ``--long-tokens`` tokens (OpenWebText's documents average about 1,000 GPT-2 tokens), each at
   ``p`` = 0.1 (pretraining) and 1.0 (the addition task).
2. **Split tables**: toklab's ``build_split_table`` (every split of every GPT-2 token) against
   the original's ``build_expansions``, whose membership test scans a list of every token as a
   tuple; the original runs on a seeded sample of ``--original-table-tokens`` merged tokens and
   its time per token is extrapolated to the vocabulary (marked as such).
3. **BPE-dropout**: toklab's seeded ``encode_with_dropout`` (the deterministic encoding by
   ``tokenizers``, then compiled merges per word) against ``tokenizers``' own unseeded BPE
   dropout (``models.BPE(..., dropout=p)``, ``encode_batch``) and the deterministic encoding,
   on the same documents, with ``RAYON_NUM_THREADS`` threads for ``tokenizers``.

    python benchmarks/bench_stochastok.py            # tinyshakespeare, GPT-2's vocabulary
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
from pathlib import Path

import numpy as np
from timing import fastest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
EOT = "<|endoftext|>"


def original_expand(token_ids: list[int], expansions: dict, expand_prop: float) -> list[int]:
    """StochasTok's ``expand`` as written (without its tqdm wrapper and the unused cap)."""
    num_to_expand = int(len(token_ids) * expand_prop)
    for _ in range(num_to_expand):
        idx = np.random.randint(len(token_ids))
        token_id = token_ids[idx]
        if token_id in expansions:
            chosen = random.choice(expansions[token_id])
            token_ids = token_ids[:idx] + list(chosen) + token_ids[idx + 1 :]
    return token_ids


def original_build(vocab: dict[bytes, int], tokens: list[bytes]) -> dict[int, list]:
    """StochasTok's ``build_expansions`` on ``tokens``: list-of-tuples membership, as written."""
    as_tuples = [tuple(token) for token in vocab]
    merges = {}
    for token in tokens:
        for j in range(1, len(token)):
            first, second = token[:j], token[j:]
            if tuple(first) in as_tuples and tuple(second) in as_tuples:
                merges[(vocab[first], vocab[second])] = vocab[token]
    expansions: dict[int, list] = {}
    for pair, token_id in merges.items():
        expansions.setdefault(token_id, []).append(pair)
    return expansions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--text", type=Path, default=SHARED / "tinyshakespeare" / "input.txt")
    parser.add_argument("--long-tokens", type=int, default=1000)
    parser.add_argument("--original-tokens", type=int, default=100_000)
    parser.add_argument("--original-table-tokens", type=int, default=300)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)

    from tokenizers import Tokenizer, models, pre_tokenizers

    from toklab.tokenizers.bpe_dropout import MergeTable, encode_with_dropout
    from toklab.tokenizers.stochastok import build_split_table, expand_documents
    from toklab.tokenizers.tokenizer_files import (
        read_merges_txt,
        read_vocab_json,
        save_tokenizer_files,
        vocabulary_pieces,
    )

    print(f"$ python benchmarks/bench_stochastok.py  (threads {args.threads})")
    print(f"machine: {platform.processor() or platform.machine()}; nproc {os.cpu_count()}; "
          f"load average at start {', '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    directory = Path(tempfile.mkdtemp())
    save_tokenizer_files(
        directory,
        read_vocab_json(SHARED / "cs336" / "gpt2_vocab.json"),
        read_merges_txt(SHARED / "cs336" / "gpt2_merges.txt"),
        [EOT],
    )
    path = directory / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path))
    text = args.text.read_text(encoding="utf-8")
    paragraphs = [t for t in text.split("\n\n") if t]
    encodings = tokenizer.encode_batch(paragraphs, add_special_tokens=False)
    ids = np.concatenate([np.array(e.ids, dtype=np.uint16) for e in encodings])
    short = np.concatenate([[0], np.cumsum([len(e.ids) for e in encodings])]).astype(np.int64)
    long = np.unique(np.concatenate([np.arange(0, len(ids), args.long_tokens), [len(ids)]]))
    print(f"text: {args.text.name}, {len(text.encode()):,} bytes, {len(ids):,} GPT-2 tokens; "
          f"{len(short) - 1:,} paragraphs (mean {np.diff(short).mean():.0f} tokens) and "
          f"{len(long) - 1:,} documents of {args.long_tokens} tokens")  # fmt: skip

    # -- split tables
    print("\n== split tables (GPT-2, 50,257 ids)")
    seconds, table = fastest(lambda: build_split_table(path), repeats=1)
    print(f"  toklab build_split_table: {seconds:.2f} s for {table.vocab_size:,} ids "
          f"({len(table.left):,} splits of {table.splittable:,} tokens)")  # fmt: skip
    pieces = vocabulary_pieces(path)
    vocab = {piece[0]: i for i, piece in enumerate(pieces) if piece is not None}
    # a seeded sample of merged tokens (the first ones are short and end the list scans early)
    sample = [
        pieces[i][0] for i in random.Random(0).sample(range(256, 50256), args.original_table_tokens)
    ]
    seconds_original, _ = fastest(lambda: original_build(vocab, sample), repeats=1)
    per_token = seconds_original / len(sample)
    print(f"  original build_expansions: {seconds_original:.2f} s for {len(sample)} tokens = "
          f"{per_token * 1e3:.1f} ms per token -> about {per_token * 50_000 / 60:.0f} minutes for "
          f"the 50,000 merged tokens (extrapolated); ratio per token "
          f"{per_token / (seconds / table.vocab_size):,.0f}x")  # fmt: skip
    expansions = {t: table.splits(t) for t in range(table.vocab_size) if table.splits(t)}

    # -- expansion
    print("\n== expansion: tokens in per second (toklab on all tokens, the original on the first "
          f"{args.original_tokens:,})")  # fmt: skip
    for label, offsets in (("paragraphs", short), (f"{args.long_tokens}-token docs", long)):
        for p in (0.1, 1.0):
            seconds, (out, _) = fastest(
                lambda offsets=offsets, p=p: expand_documents(ids, offsets, table, p, seed=0, key=0)
            )
            ours = len(ids) / seconds
            last = int(np.searchsorted(offsets, args.original_tokens, "right"))
            docs = [ids[offsets[d] : offsets[d + 1]].tolist() for d in range(last - 1)]
            count = sum(map(len, docs))
            np.random.seed(0)
            random.seed(0)
            seconds_original, grown = fastest(
                lambda docs=docs, p=p: [original_expand(d, expansions, p) for d in docs], repeats=1
            )
            theirs = count / seconds_original
            growth_ours = len(out) / len(ids) - 1
            growth_theirs = sum(map(len, grown)) / count - 1
            print(f"  {label:>16} p={p:<4}: toklab {ours:>13,.0f} tok/s, original {theirs:>10,.0f} "
                  f"tok/s: {ours / theirs:,.0f}x  (growth {100 * growth_ours:.2f}% vs "
                  f"{100 * growth_theirs:.2f}%)")  # fmt: skip

    # -- BPE-dropout
    print(f"\n== BPE-dropout p={args.dropout}: documents/s and bytes/s on the {len(paragraphs):,} "
          "paragraphs")  # fmt: skip
    merge_table = MergeTable.from_tokenizer(path)
    model = json.loads(path.read_text())["model"]
    reference = Tokenizer(
        models.BPE(
            model["vocab"],
            [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]],
            dropout=args.dropout,
        )
    )
    reference.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    num_bytes = len("".join(paragraphs).encode())
    encode_with_dropout(tokenizer, merge_table, paragraphs[:10], args.dropout, seed=0, key=0)
    rows = {
        "toklab seeded dropout": lambda: encode_with_dropout(
            tokenizer, merge_table, paragraphs, args.dropout, seed=0, key=0
        ),
        "tokenizers dropout (unseeded)": lambda: reference.encode_batch(paragraphs),
        "tokenizers deterministic": lambda: tokenizer.encode_batch(paragraphs),
    }
    results = {name: fastest(function)[0] for name, function in rows.items()}
    base = results["tokenizers dropout (unseeded)"]
    for name, seconds in results.items():
        print(f"  {name:>30}: {len(paragraphs) / seconds:>10,.0f} docs/s, "
              f"{num_bytes / seconds / 1e6:6.2f} MB/s  ({base / seconds:.2f}x tokenizers' dropout)")  # fmt: skip


if __name__ == "__main__":
    main()
