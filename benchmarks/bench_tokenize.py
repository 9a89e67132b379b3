#!/usr/bin/env python
"""Corpus tokenization throughput and memory: toklab's ``tokenize_corpus`` next to its peers.

Four ways (five with tiktoken) to turn the same documents into token ids with the same
tokenizer and the same number of threads (``RAYON_NUM_THREADS``), timed in one run, in
interleaved rounds, best time per method:

1. the ceiling: ``Tokenizer.encode_batch_fast`` over the documents in batches of
   ``--batch-documents`` (already decoded, in memory), ``[e.ids for e in ...]`` per batch; each
   batch's list of id lists is discarded after the batch; no I/O;
2. toklab: ``tokenize_corpus`` end to end: reading the byte corpus (memory-mapped, decoding
   UTF-8), encoding, writing ``.bin`` + ``.idx`` + ``.meta.json`` atomically (fsync, SHA-256);
3. Delphi's method (``delphi.dataset.tokenization.tokenize_dataset``): a
   ``transformers.PreTrainedTokenizerFast(tokenizer_object=...)`` called on slices of 50
   documents of a ``datasets.Dataset`` with ``add_special_tokens=False`` and no attention mask,
   each document's ids plus EOS appended to a ``collections.deque``, which is drained into
   ``--seq-len`` chunks (BOS first, the last token repeated in the next chunk) as soon as it
   holds one; the chunks are discarded (Delphi then writes parquet; not timed here);
4. StochasTok's method (``dataset_preprocessing/tokenize_dataset.py``): ``Dataset.map`` of one
   ``encode`` per document (StochasTok calls tiktoken's ``encode_ordinary``; here the same
   tokenizer's ``encode(text, add_special_tokens=False)``) plus EOT, columns ``ids`` and
   ``len``, on ``--stochastok-procs`` processes, then its ``write_tokenized_data_as_memmap``:
   1024 contiguous shards, ``np.concatenate`` of each into a uint16 ``np.memmap``;
5. tiktoken (a second peer for the ceiling, when it is installed): ``encode_ordinary_batch``
   over the same batches with ``num_threads`` = the CPUs available, on a ``tiktoken.Encoding``
   built offline from the tokenizer's own vocabulary (GPT-2's ``vocab.json`` and
   ``merges.txt`` for ``--tokenizer gpt2``: the ranks are the ids, the merges must come in rank
   order) and the GPT-2 pattern. It has no word cache, so it is built once, before timing;
   its ids are checked to equal toklab's on the benchmark text before anything is timed.

The ``datasets.Dataset`` the peers read is built before timing (their scripts load one with
``load_dataset``); toklab's byte corpus is written before timing too. All methods read from
memory or the page cache. A pass over the corpus that repeats ``tokenize_corpus``'s steps with a
timer around each then shows where toklab's time goes.

Peak memory: ``tokenize_corpus`` runs in a fresh subprocess per corpus size; the child reports
its RSS high-water mark (VmHWM of ``/proc/self/status``: ``getrusage``'s ``ru_maxrss`` would
include the parent's peak, which Linux carries across the vfork + exec that starts the child)
and, sampled every 10 ms, its peak anonymous RSS (heap, stacks) and peak file-backed RSS
(libraries, and the pages of the memory-mapped corpus it has read, which the kernel may
reclaim).

Text: toklab's demo generator (two synthetic languages, no repetition, so the tokenizer's word
cache does not flatter anyone). Tokenizer: a byte-level BPE of ``--vocab`` ids trained by
``tokenizers``' BpeTrainer on the first ``--train-megabytes`` (``--tokenizer trained``), or
GPT-2's vocab and merges from ``../shared/data/cs336`` (``--tokenizer gpt2``).

    python benchmarks/bench_tokenize.py                                  # 10 MB; 20 and 200 MB
    python benchmarks/bench_tokenize.py --megabytes 100 --memory-megabytes 100 1000
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from itertools import chain, pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # optional (tiktoken) or imported late, after RAYON_NUM_THREADS is set
    import tiktoken

    from toklab.datasets.token_array import TokenArray

REPO = Path(__file__).resolve().parents[1]
GPT2 = REPO.parent / "shared" / "data" / "cs336"
EOT = "<|endoftext|>"
SHARD_MEGABYTES = 2.0
DELPHI_BATCH = 50  # delphi's tokenize_dataset.py --batch-size default
STOCHASTOK_SHARDS = 1024  # write_tokenized_data_as_memmap's total_batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=10.0, help="Text for the timings.")
    parser.add_argument(
        "--memory-megabytes",
        type=float,
        nargs="*",
        default=[20.0, 200.0],
        help="Corpus sizes for toklab's peak memory (none: skip).",
    )
    parser.add_argument("--threads", type=int, default=2, help="RAYON_NUM_THREADS for everyone.")
    parser.add_argument("--tokenizer", choices=["trained", "gpt2"], default="trained")
    parser.add_argument("--vocab", type=int, default=64000)
    parser.add_argument("--train-megabytes", type=float, default=4.0)
    parser.add_argument("--batch-documents", type=int, default=2048, help="toklab and ceiling.")
    parser.add_argument("--seq-len", type=int, default=512, help="Delphi's chunk length.")
    parser.add_argument(
        "--stochastok-procs",
        type=int,
        default=None,
        help="Dataset.map num_proc (default: --threads; StochasTok's own rule, "
        "min(cpu_count // 4, 12), gives 0 = one process on a 2-core machine).",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="Rounds; each method's best time is reported (the rounds interleave methods).",
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "toklab-bench-tokenize"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("TOKENIZER", "CORPUS", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    # Before anything imports tokenizers: its thread pool reads the variable once.
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    if args.child:
        child(*args.child, batch_documents=args.batch_documents)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"CPUs available: {len(os.sched_getaffinity(0))}; RAYON_NUM_THREADS={args.threads}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    sizes = [args.megabytes, *args.memory_megabytes]
    corpora = byte_corpora(args.workdir, sizes, max([*sizes, args.train_megabytes]))
    tokenizer_path = make_tokenizer(args, corpora[max(sizes)])
    throughput(args, tokenizer_path, corpora[args.megabytes])
    if args.memory_megabytes:
        memory(args, tokenizer_path, [corpora[size] for size in args.memory_megabytes])
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (the CPUs are shared)")


# -- inputs --------------------------------------------------------------------------------


def byte_corpora(workdir: Path, sizes: list[float], needed: float) -> dict[float, Path]:
    """A byte corpus of at least each size (MB): the first shards of one generated sequence.

    Shards of ~2 MB of demo documents are generated once and kept in ``workdir`` (reused while
    they cover ``needed`` MB); a corpus of ``S`` MB is the byte corpus of the first shards that
    hold ``S`` MB, so the smaller corpora are prefixes of the larger ones.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from toklab.data.byte_corpus import write_byte_corpus
    from toklab.data.demo import generate_documents

    manifest_path = workdir / "shards" / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    if manifest is None or sum(s["bytes"] for s in manifest["shards"]) < needed * 1e6:
        shutil.rmtree(workdir / "shards", ignore_errors=True)
        shutil.rmtree(workdir / "bytes", ignore_errors=True)
        (workdir / "shards").mkdir(parents=True)
        start = time.perf_counter()
        manifest, total, rows = {"shards": []}, 0, collections.defaultdict(list)
        for doc in generate_documents(["agglutinative", "fusional"], seed=0):
            rows["id"].append(doc.id)
            rows["text"].append(doc.text)
            rows["language"].append(doc.language)
            rows["bytes"].append(len(doc.text.encode("utf-8")))
            if sum(rows["bytes"]) >= SHARD_MEGABYTES * 1e6:
                path = workdir / "shards" / f"part-{len(manifest['shards']):05d}.parquet"
                size = sum(rows.pop("bytes"))
                pq.write_table(pa.table(dict(rows)), path)
                manifest["shards"].append({"path": path.name, "bytes": size})
                total += size
                rows.clear()
                if total >= needed * 1e6:
                    break
        manifest_path.write_text(json.dumps(manifest))
        print(f"generated {total / 1e6:.0f} MB of demo text in {time.perf_counter() - start:.0f} s")
    corpora = {}
    for size in sizes:
        cumulative = np.cumsum([s["bytes"] for s in manifest["shards"]])
        count = int(np.searchsorted(cumulative, size * 1e6)) + 1
        prefix = workdir / "bytes" / f"first_{count:04d}_shards"
        if not prefix.with_suffix(".meta.json").is_file():
            start = time.perf_counter()
            shards = [workdir / "shards" / s["path"] for s in manifest["shards"][:count]]
            write_byte_corpus(shards, prefix, workers=2)
            print(
                f"byte corpus of {cumulative[count - 1] / 1e6:.0f} MB "
                f"written in {time.perf_counter() - start:.0f} s"
            )
        corpora[size] = prefix
    return corpora


def make_tokenizer(args: argparse.Namespace, prefix: Path) -> Path:
    """The tokenizer every method uses, saved as ``tokenizer.json`` in the work directory.

    The BPE is trained on the first documents of the byte corpus at ``prefix``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from toklab.data.byte_corpus import ByteCorpus

    if args.tokenizer == "gpt2":
        if not GPT2.is_dir():
            sys.exit(f"GPT-2 vocab and merges not found in {GPT2}")
        path = args.workdir / "gpt2" / "tokenizer.json"
        vocab, merges = str(GPT2 / "gpt2_vocab.json"), str(GPT2 / "gpt2_merges.txt")
        tokenizer = Tokenizer(models.BPE.from_file(vocab, merges))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.add_special_tokens([EOT])
        label = "GPT-2 vocab + merges (../shared/data/cs336)"
    else:
        path = args.workdir / f"bpe_{args.vocab}_{args.train_megabytes:g}MB" / "tokenizer.json"
        label = f"byte-level BPE trained by tokenizers on the first {args.train_megabytes:g} MB"
        if not path.is_file():
            tokenizer = Tokenizer(models.BPE())
            tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(
                add_prefix_space=False, use_regex=True
            )
            tokenizer.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(
                vocab_size=args.vocab,
                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                special_tokens=[EOT],
                show_progress=False,
            )
            corpus = ByteCorpus(prefix)
            texts, size = [], 0
            for index in range(len(corpus)):
                texts.append(corpus.document_text(index))
                size += len(corpus.document_bytes(index))
                if size >= args.train_megabytes * 1e6:
                    break
            start = time.perf_counter()
            tokenizer.train_from_iterator(texts, trainer)
            print(f"trained the BPE in {time.perf_counter() - start:.0f} s")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tokenizer.save(str(path))
    tokenizer = Tokenizer.from_file(str(path))
    print(f"tokenizer: {label}, V = {tokenizer.get_vocab_size()}")
    return path


# -- the four methods ----------------------------------------------------------------------


def throughput(args: argparse.Namespace, tokenizer_path: Path, prefix: Path) -> None:
    import datasets
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from toklab.data.byte_corpus import ByteCorpus
    from toklab.datasets.token_array import TokenArray, tokenize_corpus

    datasets.disable_progress_bars()
    corpus = ByteCorpus(prefix)
    texts = [corpus.document_text(i) for i in range(len(corpus))]
    megabytes = corpus.num_bytes / 1e6
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    eot = tokenizer.token_to_id(EOT)
    dataset = datasets.Dataset.from_dict({"text": texts})
    procs = args.stochastok_procs if args.stochastok_procs is not None else args.threads
    out = args.workdir / "out"
    out.mkdir(exist_ok=True)
    counts: dict[str, int] = {}
    print(
        f"\ntimings: {megabytes:.1f} MB, {len(texts)} documents; Delphi chunks of {args.seq_len}, "
        f"StochasTok on {procs} process(es)\n"
    )

    # Every method loads its tokenizer afresh each round, as toklab's stage does: a reused
    # Tokenizer keeps its BPE word cache warm from the previous round, which made an earlier
    # version of this benchmark credit the ceiling and Delphi with a 2x faster encoder.
    def fresh() -> Tokenizer:
        return Tokenizer.from_file(str(tokenizer_path))

    def ceiling() -> None:
        tokens = 0
        tokenizer = fresh()
        for first in range(0, len(texts), args.batch_documents):
            batch = texts[first : first + args.batch_documents]
            ids = [e.ids for e in tokenizer.encode_batch_fast(batch, add_special_tokens=False)]
            tokens += sum(map(len, ids))
        counts["ceiling"] = tokens

    def toklab() -> None:
        meta = tokenize_corpus(
            tokenizer_path, prefix, out / "toklab", batch_documents=args.batch_documents
        )
        counts["toklab"] = meta["num_tokens"]

    def delphi() -> None:
        fast = PreTrainedTokenizerFast(tokenizer_object=fresh(), bos_token=EOT, eos_token=EOT)
        counts["delphi"] = delphi_tokenize(dataset, fast, args.seq_len)

    def stochastok() -> None:
        counts["stochastok"] = stochastok_tokenize(dataset, fresh(), eot, procs, out)

    methods = [
        ("encode_batch_fast, ids (the ceiling)", ceiling),
        ("toklab tokenize_corpus (read + write)", toklab),
        ("Delphi's method (transformers, deque)", delphi),
        ("StochasTok's method (Dataset.map)", stochastok),
    ]
    encoding = tiktoken_encoding(tokenizer_path)
    if encoding is not None:
        cpus = len(os.sched_getaffinity(0))
        toklab()  # once before timing: tiktoken's ids must be toklab's
        check_same_ids(encoding, texts, TokenArray.open(out / "toklab"), cpus)
        print(f"  tiktoken runs on {cpus} threads (the CPUs available)\n")

        def tiktoken_peer() -> None:
            tokens = 0
            for first in range(0, len(texts), args.batch_documents):
                batch = texts[first : first + args.batch_documents]
                tokens += sum(map(len, encoding.encode_ordinary_batch(batch, num_threads=cpus)))
            counts["tiktoken"] = tokens

        methods.append(("tiktoken encode_ordinary_batch", tiktoken_peer))
    best = {name: float("inf") for name, _ in methods}
    for _ in range(args.rounds):  # interleaved, so load changes hit every method alike
        for name, run in methods:
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)

    # Every method saw the same token stream (the peers add one EOT per document).
    array = TokenArray.open(out / "toklab")
    stochastok_ids = np.fromfile(out / "stochastok" / "train.bin", dtype=np.uint16)
    expected = np.insert(array.tokens, array.offsets[1:], eot)
    same = counts["ceiling"] == counts["toklab"] == counts["delphi"] - len(texts) == counts.get(
        "tiktoken", counts["toklab"]
    ) and np.array_equal(stochastok_ids, expected)
    print(
        f"  {'method (best of ' + str(args.rounds) + ')':40} {'time':>9} {'throughput':>12} "
        f"{'/ ceiling':>10}"
    )
    rate = {name: megabytes / best[name] for name, _ in methods}
    ceiling_rate, toklab_rate, delphi_rate, stochastok_rate = list(rate.values())[:4]
    for name, _ in methods:
        print(
            f"  {name:40} {best[name]:7.2f} s {rate[name]:7.2f} MB/s {rate[name] / ceiling_rate:9.2f}x"
        )
    print(
        f"\n  {counts['toklab']} tokens ({corpus.num_bytes / counts['toklab']:.2f} bytes/token); "
        f"the same ids from every method: {'yes' if same else 'NO'}"
    )
    verdicts = [
        ("toklab / ceiling >= 0.9", toklab_rate / ceiling_rate, toklab_rate >= 0.9 * ceiling_rate),
        ("toklab / Delphi's method > 1", toklab_rate / delphi_rate, toklab_rate > delphi_rate),
        (
            "toklab / StochasTok's method > 1",
            toklab_rate / stochastok_rate,
            toklab_rate > stochastok_rate,
        ),
    ]
    for label, value, ok in verdicts:
        print(f"  {label:34} {value:6.2f}   {'PASS' if ok else 'FAIL'}")
    if encoding is not None:
        tiktoken_rate = rate[methods[4][0]]
        print(f"  {'toklab / tiktoken':34} {toklab_rate / tiktoken_rate:6.2f}")
        print(f"  {'tiktoken / ceiling':34} {tiktoken_rate / ceiling_rate:6.2f}")
    breakdown(args, tokenizer, corpus, best[methods[1][0]], out / "toklab")


def delphi_tokenize(dataset, tokenizer, seq_len: int) -> int:
    """Delphi's tokenize_dataset: a deque fed 50 documents at a time, drained into chunks.

    Returns the number of tokens (ids + one EOS per document) that went into the deque.
    """
    queue: collections.deque[int] = collections.deque()
    eos, bos = tokenizer.eos_token_id, tokenizer.bos_token_id
    feature = dataset.column_names[0]
    doc, pushed = 0, 0
    while doc < len(dataset):
        while len(queue) < seq_len and doc < len(dataset):
            documents = dataset[doc : doc + DELPHI_BATCH][feature]
            encoded = tokenizer(documents, return_attention_mask=False, add_special_tokens=False)
            for ids in encoded["input_ids"]:
                queue.extend([*ids, eos])
                pushed += len(ids) + 1
            doc += DELPHI_BATCH
        if len(queue) < seq_len - 1:  # Delphi drops the incomplete last chunk
            break
        chunk = [bos]
        chunk.extend(queue.popleft() for _ in range(seq_len - 2))
        chunk.append(queue[0])  # repeated as the first input of the next chunk
    return pushed


def stochastok_encode(example: dict, tokenizer, eot: int) -> dict:
    """StochasTok's ``tokenize``: one document's ids, then EOT."""
    ids = tokenizer.encode(example["text"], add_special_tokens=False).ids
    ids.append(eot)
    return {"ids": ids, "len": len(ids)}


def stochastok_tokenize(dataset, tokenizer, eot: int, procs: int, out: Path) -> int:
    """StochasTok's prepare_data_tokenize + write_tokenized_data_as_memmap; returns the tokens."""
    tokenized = dataset.map(
        functools.partial(stochastok_encode, tokenizer=tokenizer, eot=eot),
        remove_columns=["text"],
        num_proc=procs if procs > 1 else None,
    )
    folder = out / "stochastok"
    folder.mkdir(exist_ok=True)
    length = int(np.sum(tokenized["len"], dtype=np.uint64))
    array = np.memmap(folder / "train.bin", dtype=np.uint16, mode="w+", shape=(length,))
    index = 0
    for shard in range(STOCHASTOK_SHARDS):
        batch = tokenized.shard(
            num_shards=STOCHASTOK_SHARDS, index=shard, contiguous=True
        ).with_format("numpy")
        ids = np.concatenate(batch["ids"])
        array[index : index + len(ids)] = ids
        index += len(ids)
    array.flush()
    del array
    return length


def tiktoken_encoding(tokenizer_path: Path) -> tiktoken.Encoding | None:
    """A ``tiktoken.Encoding`` with the ids of the byte-level BPE at ``tokenizer_path``, or None.

    The mergeable ranks are the model's ids (its tokens in bytes); tiktoken merges the pair
    whose merged token has the lowest rank, so the merges must create tokens in rank order
    (true of GPT-2's files and of ``tokenizers``' trainer). With ``--tokenizer gpt2`` these are
    GPT-2's ``vocab.json`` and ``merges.txt`` (``make_tokenizer`` loads them unchanged), and the
    one special token is ``<|endoftext|>`` = 50256. None, with a line saying why, when tiktoken
    is not installed or the vocabulary does not fit.
    """
    try:
        import tiktoken
    except ImportError:
        print("  tiktoken is not installed: its peer is skipped")
        return None
    from toklab.pretokenization import GPT2_PATTERN
    from toklab.tokenizers.byte_unicode import decode_bytes

    config = json.loads(tokenizer_path.read_text(encoding="utf-8"))
    special = {t["content"]: t["id"] for t in config["added_tokens"] if t["special"]}
    vocab = config["model"]["vocab"]
    ranks = {decode_bytes(token): index for token, index in vocab.items() if token not in special}
    merges = [m.split(" ") if isinstance(m, str) else m for m in config["model"]["merges"]]
    merged = [vocab[a + b] for a, b in merges]
    if any(a >= b for a, b in pairwise(merged)):
        print("  tiktoken: the merges do not create tokens in id order; its peer is skipped")
        return None
    return tiktoken.Encoding(
        name=tokenizer_path.parent.name,
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=special,
    )


def check_same_ids(
    encoding: tiktoken.Encoding, texts: list[str], array: TokenArray, threads: int
) -> None:
    """Stop the benchmark unless tiktoken's ids are toklab's (``array``) for every document."""
    ids = encoding.encode_ordinary_batch(texts, num_threads=threads)
    for index, (document, first, last) in enumerate(
        zip(ids, array.offsets[:-1], array.offsets[1:], strict=True)
    ):
        if not np.array_equal(np.asarray(document), array.tokens[first:last]):
            sys.exit(f"tiktoken's ids differ from toklab's in document {index}: {texts[index]!r}")
    print(f"  tiktoken's ids are toklab's on all {len(texts)} documents")


# -- where toklab's time goes --------------------------------------------------------------


def breakdown(args, tokenizer, corpus, toklab_seconds: float, out_prefix: Path) -> None:
    """``tokenize_corpus``'s loop again, with a timer around each step, and two alternatives."""
    from toklab.datasets.token_array import token_array_paths, token_dtype
    from toklab.io import sha256_file

    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    dtype = token_dtype(vocab_size)
    steps = collections.Counter()
    offsets = corpus.offsets
    with open(args.workdir / "out" / "breakdown.bin", "wb") as handle:
        for first in range(0, len(corpus), args.batch_documents):
            clock = time.perf_counter()
            last = min(first + args.batch_documents, len(corpus))
            start = int(offsets[first])
            data = corpus.bytes[start : int(offsets[last])].tobytes()
            bounds = (offsets[first : last + 1] - start).tolist()
            texts = [data[a:b].decode("utf-8") for a, b in pairwise(bounds)]
            clock = tick(steps, "read the byte corpus + decode UTF-8", clock)
            encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
            clock = tick(steps, "encode_batch_fast (Rust)", clock)
            ids = [e.ids for e in encodings]
            clock = tick(steps, "[e.ids for e in ...] (Rust -> Python ints)", clock)
            lengths = [len(i) for i in ids]
            flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=sum(lengths))
            clock = tick(steps, "np.fromiter(chain(ids), int64)", clock)
            if flat.size and flat.max() >= vocab_size:
                raise ValueError("token id past the vocabulary")
            packed = flat.astype(dtype).tobytes()
            clock = tick(steps, ".max() + .astype(dtype).tobytes()", clock)
            handle.write(packed)
            clock = tick(steps, "write", clock)
            # Alternatives for the flattening, on the same ids (not part of the sum).
            np.fromiter(chain.from_iterable(ids), dtype=dtype, count=sum(lengths))
            clock = tick(steps, "alt: np.fromiter(chain(ids), uint16/32)", clock)
            np.concatenate([np.array(i, dtype=dtype) for i in ids])
            tick(steps, "alt: np.concatenate(np.array(i) per document)", clock)
        clock = time.perf_counter()
        handle.flush()
        os.fsync(handle.fileno())
        tick(steps, "fsync", clock)
    clock = time.perf_counter()
    paths = token_array_paths(out_prefix)
    for name in ("bin", "idx"):
        sha256_file(paths[name])
    tick(steps, "sha256 of the .bin + .idx written", clock)
    total = sum(v for k, v in steps.items() if not k.startswith("alt"))
    print(
        f"\n  where toklab's time goes (one instrumented pass; toklab's best {toklab_seconds:.2f} s)"
    )
    for name, seconds in steps.items():
        share = "" if name.startswith("alt") else f"{100 * seconds / total:5.1f} %"
        print(f"    {name:48} {seconds:7.3f} s {share}")
    print(f"    {'sum of the steps above (no alt)':48} {total:7.3f} s")


def tick(steps: collections.Counter, name: str, since: float) -> float:
    now = time.perf_counter()
    steps[name] += now - since
    return now


# -- peak memory ---------------------------------------------------------------------------


def memory(args: argparse.Namespace, tokenizer_path: Path, prefixes: list[Path]) -> None:
    from toklab.data.byte_corpus import ByteCorpus

    results = []
    for prefix in prefixes:
        out = args.workdir / "out" / f"memory_{prefix.name}"
        command = [sys.executable, __file__, "--child", str(tokenizer_path), str(prefix), str(out)]
        command += ["--threads", str(args.threads), "--batch-documents", str(args.batch_documents)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["megabytes"] = ByteCorpus(prefix).num_bytes / 1e6
        results.append(result)
    print(
        f"\n  toklab tokenize_corpus peak memory (fresh process per corpus, {args.threads} threads)"
    )
    print(
        f"    {'corpus':>9} {'time':>8} {'MB/s':>6} {'VmHWM':>9} {'after imports':>14} "
        f"{'peak anon by 1/4, 1/2, end':>27} {'peak file':>10} {'ru_maxrss':>10}"
    )
    for r in results:
        print(
            f"    {r['megabytes']:6.0f} MB {r['seconds']:6.1f} s {r['megabytes'] / r['seconds']:6.2f} "
            f"{r['hwm_mb']:6.0f} MB {r['baseline_mb']:11.0f} MB "
            f"{' '.join(f'{a:4.0f}' for a in r['anon_mb']):>24} MB "
            f"{r['file_mb']:7.0f} MB {r['maxrss_mb']:7.0f} MB"
        )
    print(
        "    (VmHWM: the child's own high-water mark; peak anon/file sampled every 10 ms; "
        "ru_maxrss\n     includes the parent's peak, carried over the exec, so it is not used)"
    )
    if len(results) < 2:
        return
    small, large = results[0], results[-1]
    text = large["megabytes"] - small["megabytes"]
    print(f"\n  from {small['megabytes']:.0f} MB to {large['megabytes']:.0f} MB of text:")
    for label, key in (
        ("RSS high-water mark (VmHWM)", "hwm_mb"),
        ("peak anonymous RSS (heap)", "anon_mb"),
        ("peak file-backed RSS (mmap)", "file_mb"),
    ):
        before, after = (np.max(r[key]) for r in (small, large))
        growth = after - before
        print(
            f"    {label:28} {before:5.0f} -> {after:5.0f} MB, {growth:+5.0f} MB "
            f"({growth / text:.3f} MB per MB of text): "
            f"{'PASS' if growth < 0.05 * text else 'FAIL'} (bounded: < 0.05 MB per MB)"
        )


def child(tokenizer_path: str, prefix: str, out: str, *, batch_documents: int) -> None:
    """Run ``tokenize_corpus`` once and print its time and memory as JSON (in a subprocess)."""
    import tokenizers  # noqa: F401

    from toklab.datasets.token_array import tokenize_corpus

    baseline = status()["VmRSS"]
    samples: list[tuple[float, float, float]] = []  # (seconds, anonymous MB, file-backed MB)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            now = status()
            samples.append((time.perf_counter() - start, now["RssAnon"], now["RssFile"]))

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    tokenize_corpus(tokenizer_path, prefix, out, batch_documents=batch_documents)
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    # Not getrusage's ru_maxrss: across the parent's vfork + exec it keeps the parent's peak.
    result = {
        "seconds": seconds,
        "hwm_mb": status()["VmHWM"],
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "baseline_mb": baseline,
        # The heap's peak by a quarter, half and the end of the run: flat if it does not grow.
        "anon_mb": [
            max(a for t, a, _ in samples if t <= part * seconds) for part in (0.25, 0.5, 1.0)
        ],
        "file_mb": max(f for _, _, f in samples),
    }
    print(json.dumps(result))


def status() -> dict[str, float]:
    """Memory lines of ``/proc/self/status`` in MB."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                values[key] = int(value.split()[0]) / 1024
    return values


if __name__ == "__main__":
    main()
