#!/usr/bin/env python
"""Decoding speed with and without the KV cache, side by side with ``transformers``' generate.

1. **Token LM** (toklab's Llama from a preset, random weights, fp32): greedy decoding of
   ``--new-tokens`` tokens after prompts of several lengths, by
   - ``toklab.generation.generate`` with its KV cache (the prompt prefilled once, then one token
     per step),
   - the same function without a cache (the model wrapped, so every step re-runs the window),
   - ``transformers``' ``generate`` (``do_sample=False``, its own cache) on the same weights,
     exported as a checkpoint and loaded by ``AutoModelForCausalLM``.
   The three must produce the same tokens (checked); tokens/s, and the cache's speed-up.
   A last row decodes past the context length, where RoPE positions cannot slide: the cache
   is emptied and the last window re-run at every step, as the uncached loop does.
2. **T-Free LM** (the same blocks with the trigram embedding and head, v = 8000, m = 10):
   ``toklab.generation.generate_words`` (the prompt's words once, then one word per step through
   the cache) against the same loop re-running every word of the window at each step; both
   decode with the same dictionary of tinyshakespeare's words, so both give the same words
   (checked). Words/s, and the speed-up.

Times are the fastest of ``--repeats`` runs after one warm-up run.

    python benchmarks/bench_generate.py --threads 2
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from collections import Counter
from pathlib import Path

import torch
from timing import fastest
from torch import nn

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PRESETS = REPO / "resources" / "model_presets.yaml"


class Uncached(nn.Module):
    """A toklab Llama behind a wrapper: ``generate`` then runs it on the whole window each step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inner = model
        self.config = model.config

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.inner(input_ids)


def token_section(args: argparse.Namespace) -> None:
    from transformers import AutoModelForCausalLM

    from toklab.generation import generate
    from toklab.models.causal_lm import build_model, model_spec
    from toklab.models.llama import save_checkpoint

    torch.manual_seed(0)
    model = build_model(model_spec(args.preset, PRESETS, args.vocab)).eval()
    context = model.config.max_position_embeddings
    with tempfile.TemporaryDirectory() as directory:
        save_checkpoint(model, directory)
        hf = AutoModelForCausalLM.from_pretrained(directory).eval()
    uncached = Uncached(model).eval()
    parameters = sum(p.numel() for p in model.parameters())
    print(f"\n## 1. token LM: preset {args.preset}, {parameters / 1e6:.1f}M parameters, "
          f"vocab {args.vocab}, context {context}; greedy, {args.new_tokens} new tokens")  # fmt: skip
    print(f"{'prompt':>7} {'cached tok/s':>13} {'uncached':>9} {'transformers':>13} "
          f"{'cache speed-up':>15} {'toklab/transformers':>20}  same tokens")  # fmt: skip
    generator = torch.Generator().manual_seed(1)
    lengths = [length for length in args.prompts if length + args.new_tokens <= context]
    for length in [*lengths, context]:  # the last: past the context, the window slides
        prompt = torch.randint(0, args.vocab, (length,), generator=generator).tolist()

        def toklab(m: nn.Module = model, p: list[int] = prompt) -> list[int]:
            return generate(m, p, max_new_tokens=args.new_tokens, temperature=0)

        def reference(p: list[int] = prompt) -> list[int]:
            ids = torch.tensor([p])
            out = hf.generate(
                ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                do_sample=False, use_cache=True, pad_token_id=0,
            )  # fmt: skip
            return out[0, len(p) :].tolist()

        with torch.inference_mode():
            cached_s, cached = fastest(toklab, args.repeats, warm_up=True)
            uncached_s, plain = fastest(
                lambda p=prompt: toklab(uncached, p), args.repeats, warm_up=True
            )
            if length + args.new_tokens <= context:
                hf_s, theirs = fastest(reference, args.repeats, warm_up=True)
                hf_rate = f"{args.new_tokens / hf_s:13.1f}"
                versus = f"{hf_s / cached_s:19.2f}x"
                same = cached == plain == theirs
            else:  # transformers' Llama refuses positions past max_position_embeddings
                hf_rate, versus, same = f"{'-':>13}", f"{'-':>20}", cached == plain
        n = args.new_tokens
        print(f"{length:7d} {n / cached_s:13.1f} {n / uncached_s:9.1f} {hf_rate} "
              f"{uncached_s / cached_s:14.2f}x {versus}  {'yes' if same else 'NO'}")  # fmt: skip
    print(
        f"(prompt {context}: past the context from the first new token on, so the cache is "
        "emptied and the window re-run at every step)"
    )


def tfree_section(args: argparse.Namespace) -> None:
    from toklab.datasets.tfree_words import word_bags
    from toklab.generation import generate_words
    from toklab.models.causal_lm import build_model, model_spec
    from toklab.tokenizers.tfree import TrigramHasher, join_words, split_words
    from toklab.tokenizers.tfree_dictionary import WordDictionary

    text = (SHARED / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    words = split_words(text)
    hasher = TrigramHasher(args.v, args.m)
    dictionary = WordDictionary.from_counts(Counter(words), hasher, top_n=args.dictionary)
    torch.manual_seed(0)
    tfree = {"m": args.m, "k": 0, "entire_words": False}
    model = build_model(model_spec(args.preset, PRESETS, args.v, {"tfree": tfree})).eval()
    context = model.config.max_position_embeddings
    print(f"\n## 2. T-Free LM: preset {args.preset}, v = {args.v}, m = {args.m}, dictionary of "
          f"{len(dictionary)} words; greedy, {args.new_words} new words")  # fmt: skip
    print(f"{'prompt':>7} {'cached words/s':>15} {'uncached':>9} {'cache speed-up':>15}  same")

    def uncached_words(prompt: list[str]) -> list[str]:
        extended = dictionary.add_words(prompt)
        sequence, new = list(prompt), []
        for _ in range(args.new_words):
            window = sequence[-context:]
            logits = model(word_bags([window], hasher, torch.device("cpu")))[:, -1]
            (word,) = extended.decode(logits, temperature=0.0)
            new.append(word)
            sequence.append(word)
        return new

    for length in [n for n in args.prompts if n + args.new_words <= context]:
        prompt = words[1000 : 1000 + length]
        with torch.inference_mode():
            cached_s, cached = fastest(
                lambda p=prompt: generate_words(
                    model, dictionary, join_words(p), max_new_words=args.new_words,
                    stop_word=None,
                ),
                args.repeats, warm_up=True,
            )  # fmt: skip
            uncached_s, plain = fastest(
                lambda p=prompt: uncached_words(p), args.repeats, warm_up=True
            )
        n = args.new_words
        print(f"{length:7d} {n / cached_s:15.1f} {n / uncached_s:9.1f} "
              f"{uncached_s / cached_s:14.2f}x  {'yes' if cached == plain else 'NO'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cs336-17M")
    parser.add_argument("--vocab", type=int, default=10_000)
    parser.add_argument("--prompts", type=int, nargs="+", default=[8, 64, 160])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--new-words", type=int, default=32)
    parser.add_argument("--v", type=int, default=8000)
    parser.add_argument("--m", type=int, default=10)
    parser.add_argument("--dictionary", type=int, default=5000, help="top-N words")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--sections", default="token,tfree")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# bench_generate: {platform.processor() or platform.machine()}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
    sections = args.sections.split(",")
    if "token" in sections:
        token_section(args)
    if "tfree" in sections:
        tfree_section(args)


if __name__ == "__main__":
    main()
