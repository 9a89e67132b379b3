"""StochasTok's evaluations: multiple choice by log-likelihood, addition by generation."""

from __future__ import annotations

import math

import pytest
import torch
from tokenizers import Tokenizer

from toklab.data.addition import problems
from toklab.evaluation.addition import QuestionTokenizer, evaluate_checkpoint, prompt_credit
from toklab.evaluation.multiple_choice import (
    continuation_scores,
    encode_questions,
    evaluate_choices,
    normalized_accuracy,
)
from toklab.models.llama import LlamaModel, ModelConfig
from toklab.tasks.addition import split_problem
from toklab.tasks.langgame import encode_examples, generate_questions


def tiny_model(vocab: int) -> LlamaModel:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=128)  # fmt: skip
    return LlamaModel(config).eval()


def test_continuation_scores_equal_token_by_token_log_likelihoods():
    model = tiny_model(50)
    prompt, options = [3, 4, 5], [[7], [8, 9, 10], [11, 12]]
    scores = continuation_scores(model, prompt, options)
    for option, score in zip(options, scores, strict=True):
        sequence = [*prompt, *option]
        expected = 0.0
        for t in range(len(prompt), len(sequence)):  # one forward per predicted token
            with torch.no_grad():
                logits = model(torch.tensor([sequence[:t]]))[0, -1]
            expected += torch.log_softmax(logits.double(), -1)[sequence[t]].item()
        assert score == pytest.approx(expected, abs=1e-4)


def test_langgame_scoring_matches_the_fine_tuning_examples(gpt2_tokenizer):
    tokenizer = Tokenizer.from_file(str(gpt2_tokenizer))
    words = ["cat", "dog", "apple", "banana", "strawberry", "elephant", "kiwi", "fig", "mango",
             "pineapple", "pear", "plum", "an", "to", "giraffe", "hippopotamus"]  # fmt: skip
    questions = generate_questions(words, 30, seed=1)
    prompts, options, answers = encode_questions(tokenizer, questions, 50256)
    tokens, offsets, starts = encode_examples(tokenizer, questions, 50256)
    for i in range(len(questions)):
        example = tokens[offsets[i] : offsets[i + 1]].tolist()
        assert example == [*prompts[i], *options[i][answers[i]]]
        assert starts[i] == len(prompts[i])


def test_accuracy_and_its_normalization():
    assert normalized_accuracy(0.25, 4) == 0 and normalized_accuracy(1.0, 4) == 1
    assert normalized_accuracy(0.0, 4) == pytest.approx(-1 / 3)

    class Oracle(torch.nn.Module):
        """Puts all its mass on token 9 after anything: option [9] always wins."""

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, ids):
            logits = torch.full((*ids.shape, 20), -10.0)
            logits[..., 9] = 10.0
            return logits

    prompts = [[1, 2], [3], [4, 5, 6]]
    options = [[[9], [8], [7], [6]], [[8], [9], [7], [6]], [[8], [7], [6], [9]]]
    result = evaluate_choices(Oracle(), prompts, options, [0, 1, 2])
    assert result["accuracy"] == pytest.approx(2 / 3) and result["questions"] == 3
    assert result["normalized_accuracy"] == pytest.approx((4 * 2 / 3 - 1) / 3)


def test_questions_tokenized_four_ways_keep_their_text(gpt2_tokenizer):
    tokenizer = Tokenizer.from_file(str(gpt2_tokenizer))
    questions = QuestionTokenizer(gpt2_tokenizer, stochastok_p=1.0, dropout_p=0.5, seed=0)
    texts = [split_problem(p)[0] for p in problems(0, 50, 0)["train"]]
    deterministic = questions.encode(texts, "deterministic", "train")
    assert deterministic == [tokenizer.encode(t).ids for t in texts]
    for method in ("stochastok", "bpedropout", "chars"):
        encoded = questions.encode(texts, method, "train")
        assert [tokenizer.decode(ids) for ids in encoded] == texts
        assert sum(map(len, encoded)) > sum(map(len, deterministic))
        assert encoded == questions.encode(texts, method, "train")  # seeded
    chars = questions.encode(texts, "chars", "train")
    assert [len(ids) for ids in chars] == [len(t) for t in texts]  # digits, $, + and = are tokens


def test_questions_with_a_saved_split_table_match_a_built_one(gpt2_tokenizer, tmp_path):
    from toklab.errors import DataError
    from toklab.tokenizers.stochastok import build_split_table

    build_split_table(gpt2_tokenizer).save(tmp_path / "splits.npz")
    settings = {"stochastok_p": 1.0, "dropout_p": 0.5, "seed": 0}
    built = QuestionTokenizer(gpt2_tokenizer, **settings)
    loaded = QuestionTokenizer(gpt2_tokenizer, splits_path=tmp_path / "splits.npz", **settings)
    texts = [split_problem(p)[0] for p in problems(0, 50, 0)["train"]]
    assert loaded.encode(texts, "stochastok", "train") == built.encode(texts, "stochastok", "train")
    other = tmp_path / "other.json"
    other.write_bytes(gpt2_tokenizer.read_bytes() + b"\n")
    with pytest.raises(DataError, match="built for another tokenizer"):
        QuestionTokenizer(other, splits_path=tmp_path / "splits.npz", **settings)


def test_addition_is_scored_on_the_generated_text_only(gpt2_tokenizer):
    tokenizer = Tokenizer.from_file(str(gpt2_tokenizer))
    questions = QuestionTokenizer(gpt2_tokenizer, stochastok_p=1.0, dropout_p=0.1, seed=0)
    split = problems(3, 30, 0)["train"]
    answers = {split_problem(p)[0]: split_problem(p)[1] for p in split}

    class Oracle(torch.nn.Module):
        """Generates the reversed sum of whatever question it is given, then EOS."""

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, ids):
            text = tokenizer.decode(ids[0].tolist())
            question = text[: text.index("=") + 1]
            target = [*tokenizer.encode(answers[question]).ids, 50256]
            done = len(tokenizer.encode(text).ids) - len(tokenizer.encode(question).ids)
            logits = torch.zeros(*ids.shape, 50257)
            logits[0, -1, target[min(len(target) - 1, max(done, 0))]] = 1.0
            return logits

    rows = evaluate_checkpoint(
        Oracle(), questions, {"train": split}, ["deterministic", "chars"], max_new_tokens=8,
        eos_id=50256,
    )  # fmt: skip
    assert [r["accuracy"] for r in rows] == [1.0, 1.0]
    assert rows[0]["samples"] == 30 and not math.isnan(rows[0]["prompt_credit"])

    class Echo(torch.nn.Module):
        """Generates EOS at once: nothing is ever solved, whatever the prompt holds."""

        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, ids):
            logits = torch.zeros(*ids.shape, 50257)
            logits[..., 50256] = 1.0
            return logits

    rows = evaluate_checkpoint(
        Echo(), questions, {"train": split}, ["deterministic"], max_new_tokens=8, eos_id=50256
    )
    assert rows[0]["accuracy"] == 0.0
    assert prompt_credit(["$123+198=123", "$100+1=101"]) == 0.5


def test_a_checkpoint_of_another_tokenizer_is_refused(gpt2_tokenizer, tmp_path):
    from tests.conftest import run_script
    from toklab.models.causal_lm import save_model
    from toklab.tasks.langgame import write_jsonl

    model_dir = tmp_path / "model"
    save_model(tiny_model(50), model_dir)
    (model_dir / "training_state.json").write_text('{"step": 0}')
    words = ["cat", "dog", "apple", "banana", "strawberry", "elephant", "kiwi", "fig", "an"]
    write_jsonl(tmp_path / "q.jsonl", generate_questions(words, 5, seed=0))
    result = run_script(
        "stochastok.py", "evaluate-langgame", "--pretrained", str(model_dir),
        "--finetuned", str(model_dir), "--questions", str(tmp_path / "q.jsonl"),
        "--tokenizer", str(gpt2_tokenizer), "--output", str(tmp_path / "out.json"),
    )  # fmt: skip
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]  # after tqdm's progress lines
    assert last.startswith("Error: ") and "a vocabulary of 50 ids, its tokenizer 50257" in last
    assert not (tmp_path / "out.json").exists()


def test_questions_of_a_wordpiece_tokenizer_skip_bpe_dropout(tmp_path):
    from tokenizers import models, pre_tokenizers

    vocab = {c: i for i, c in enumerate("$+=0123456789")}
    vocab.update({f"##{c}": len(vocab) + i for i, c in enumerate("0123456789")})
    vocab["[UNK]"] = len(vocab)
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.save(str(tmp_path / "wp.json"))
    questions = QuestionTokenizer(tmp_path / "wp.json", stochastok_p=1.0, dropout_p=0.1, seed=0)
    assert questions.methods == ("deterministic", "stochastok", "chars")
    assert len(questions.encode(["$12+3="], "deterministic", "train")[0]) >= 5
