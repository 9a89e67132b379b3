"""Standard multiple-choice benchmarks: row converters, seeded loading, log-likelihood scoring."""

from __future__ import annotations

import json
import logging

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from tokenizers import Tokenizer

from toklab.errors import ConfigError, DataError
from toklab.evaluation import downstream
from toklab.evaluation.downstream import (
    BENCHMARKS,
    BLIMP_PHENOMENA,
    Choice,
    arc_choice,
    blimp_choice,
    clean_hellaswag,
    hellaswag_choice,
    load_items,
    mmlu_choice,
    option_scores,
    score_items,
    winogrande_choice,
)
from toklab.models.llama import LlamaModel, ModelConfig
from toklab.tokenizers.tokenizer_files import save_tokenizer_files

EOT = "<|endoftext|>"

# Rows in the Hugging Face datasets' own layouts (columns and value types as the hub has them).
HELLASWAG = [
    {"ind": 24, "activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he",
     "ctx": "A man is sitting on a roof. he",
     "endings": ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                 "is holding a rubik's cube.", "starts pulling up roofing on a roof."],
     "source_id": "activitynet~v_-JhWjGDPHMY", "split": "val", "split_type": "zeroshot", "label": "3"},
    {"ind": 92, "activity_label": "Clean and jerk", "ctx_a": "A lady walks to a barbell. She bends down and grabs the pole.",
     "ctx_b": "the lady", "ctx": "A lady walks to a barbell. She bends down and grabs the pole. the lady",
     "endings": ["swings and lands in her arms.", "pulls the barbell forward.",
                 "pulls a rope attached to the barbell.", "stands and lifts the weight over her head."],
     "source_id": "activitynet~v_-lJS58hyo1c", "split": "val", "split_type": "zeroshot", "label": "3"},
    {"ind": 106, "activity_label": "Canoeing", "ctx_a": "Two women in a child are shown in a canoe while a man pulls the canoe while standing in the water, with other individuals visible in the background.",
     "ctx_b": "the child and a different man", "ctx": "Two women in a child are shown in a canoe while a man pulls the canoe while standing in the water, with other individuals visible in the background. the child and a different man",
     "endings": ["are then shown paddling down a river in a boat while a woman talks.",
                 "are driving the canoe, they go down the river flowing side to side.",
                 "sit in a canoe while the man paddles.",
                 "walking go down the rapids, while the man in his helicopter almost falls and goes out of canoehood."],
     "source_id": "activitynet~v_-xQvJmC2jhk", "split": "val", "split_type": "indomain", "label": "2"},
    {"ind": 4, "activity_label": "Home and Garden", "ctx_a": "[header] How to make a lava lamp [title] Gather your supplies. [step] You will need a clear bottle, water, vegetable oil and  food coloring.",
     "ctx_b": "", "ctx": "[header] How to make a lava lamp [title] Gather your supplies. [step] You will need a clear bottle, water, vegetable oil and  food coloring. ",
     "endings": ["[substeps] Pour the water into the bottle [title] Add the oil.",
                 "Put everything in the freezer overnight.",
                 "[step] Shake the bottle as hard as you can.",
                 "Throw away the bottle."],
     "source_id": "wikihow~4", "split": "val", "split_type": "indomain", "label": "0"},
]  # fmt: skip

ARC = [
    {"id": "Mercury_7175875", "question": "An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?",
     "choices": {"text": ["Planetary density will decrease.", "Planetary years will become longer.",
                          "Planetary days will become shorter.", "Planetary gravity will become stronger."],
                 "label": ["A", "B", "C", "D"]}, "answerKey": "C"},
    {"id": "NYSEDREGENTS_2015_4_8", "question": "Which form of energy is produced when a rubber band vibrates?",
     "choices": {"text": ["chemical", "light", "electrical", "sound"], "label": ["1", "2", "3", "4"]},
     "answerKey": "4"},
    {"id": "Mercury_SC_408547", "question": "A student is growing plants. Which tool helps the student measure the height of the plants?",
     "choices": {"text": ["ruler", "balance", "thermometer"], "label": ["A", "B", "C"]}, "answerKey": "A"},
    {"id": "MCAS_2000_4_6", "question": "Which part of a plant takes in water from the soil?",
     "choices": {"text": ["flower", "leaf", "root", "seed", "stem"], "label": ["A", "B", "C", "D", "E"]},
     "answerKey": "C"},
]  # fmt: skip

WINOGRANDE = [
    {"sentence": "Sarah was a much better surgeon than Maria so _ always got the harder cases.",
     "option1": "Sarah", "option2": "Maria", "answer": "1"},
    {"sentence": "Sarah was a much better surgeon than Maria so _ always got the easier cases.",
     "option1": "Sarah", "option2": "Maria", "answer": "2"},
    {"sentence": "They were worried the wine would ruin the bed and the blanket, but the _ was't ruined.",
     "option1": "blanket", "option2": "bed", "answer": "2"},
    {"sentence": "_ could not lift the trophy into the suitcase because the trophy was too heavy.",
     "option1": "The man", "option2": "The trophy", "answer": "1"},
]  # fmt: skip

MMLU = [
    {"question": "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.",
     "subject": "abstract_algebra", "choices": ["0", "4", "2", "6"], "answer": 1},
    {"question": "What is the embryological origin of the hyoid bone?", "subject": "anatomy",
     "choices": ["The first pharyngeal arch", "The first and second pharyngeal arches",
                 "The second pharyngeal arch", "The second and third pharyngeal arches"], "answer": 3},
    {"question": " Which of these is a prime number? ", "subject": "elementary_mathematics",
     "choices": ["4", "9", "11", "15"], "answer": 2},
]  # fmt: skip

BLIMP = [
    {"sentence_good": "Who should Derek hug after shocking Richard?", "sentence_bad": "Who should Derek hug Richard after shocking?",
     "field": "syntax", "linguistics_term": "island_effects", "UID": "adjunct_island", "simple_LM_method": True,
     "one_prefix_method": False, "two_prefix_method": False, "lexically_identical": True, "pair_id": 0},
    {"sentence_good": "Katherine can't help herself.", "sentence_bad": "Katherine can't help himself.",
     "field": "morphology", "linguistics_term": "anaphor_agreement", "UID": "anaphor_gender_agreement",
     "simple_LM_method": True, "one_prefix_method": True, "two_prefix_method": False, "lexically_identical": False, "pair_id": 0},
    {"sentence_good": "Many girls insulted themselves.", "sentence_bad": "Many girls insulted herself.",
     "field": "morphology", "linguistics_term": "anaphor_agreement", "UID": "anaphor_number_agreement",
     "simple_LM_method": True, "one_prefix_method": True, "two_prefix_method": False, "lexically_identical": False, "pair_id": 1},
]  # fmt: skip

ROWS = {
    "hellaswag": HELLASWAG,
    "arc_easy": ARC,
    "arc_challenge": ARC,
    "winogrande": WINOGRANDE,
    "mmlu": MMLU,
    "blimp": BLIMP,
}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# --- converters -----------------------------------------------------------------------------


def test_hellaswag_rows_become_context_and_endings():
    first = hellaswag_choice(HELLASWAG[0])
    assert first == Choice(
        "A man is sitting on a roof. He",
        (" is using wrap to wrap a pair of skis.", " is ripping level tiles off.",
         " is holding a rubik's cube.", " starts pulling up roofing on a roof."),
        3,
    )  # fmt: skip
    assert hellaswag_choice(HELLASWAG[2]).prefix.endswith(
        "in the background. The child and a different man"
    )
    wikihow = hellaswag_choice(HELLASWAG[3])
    assert wikihow.prefix == (
        "How to make a lava lamp. Gather your supplies. You will need a clear bottle, water, "
        "vegetable oil and food coloring."
    )
    assert wikihow.options == (
        " Pour the water into the bottle. Add the oil.",
        " Put everything in the freezer overnight.",
        " Shake the bottle as hard as you can.",
        " Throw away the bottle.",
    )
    assert wikihow.answer == 0 and wikihow.prefixes is None
    only_ctx = {k: v for k, v in HELLASWAG[1].items() if k not in ("ctx_a", "ctx_b")}
    assert hellaswag_choice(only_ctx).prefix == HELLASWAG[1]["ctx"]  # lower-case "the lady"
    mixed_case = {**HELLASWAG[0], "ctx_b": "the man in the Red Sox cap"}
    assert hellaswag_choice(mixed_case).prefix.endswith("roof. The man in the Red Sox cap")


def test_hellaswag_cleaning():
    assert clean_hellaswag(" [header] How to tie a tie [title] Cross the ends.  ") == (
        "How to tie a tie. Cross the ends."
    )
    assert (
        clean_hellaswag("Fold it [step] twice  [substeps] then press.")
        == "Fold it twice then press."
    )
    assert clean_hellaswag("A plain sentence.") == "A plain sentence."


def test_arc_rows_use_question_answer_format_and_their_labels():
    first = arc_choice(ARC[0])
    assert first.prefix == (
        "Question: An astronomer observes that a planet rotates faster after a meteorite impact. "
        "Which is the most likely effect of this increase in rotation?\nAnswer:"
    )
    assert first.options == (
        " Planetary density will decrease.", " Planetary years will become longer.",
        " Planetary days will become shorter.", " Planetary gravity will become stronger.",
    )  # fmt: skip
    assert first.answer == 2
    digits = arc_choice(ARC[1])
    assert digits.options == (" chemical", " light", " electrical", " sound") and digits.answer == 3
    assert arc_choice(ARC[2]).options == (" ruler", " balance", " thermometer")
    assert arc_choice(ARC[2]).answer == 0
    five = arc_choice(ARC[3])
    assert len(five.options) == 5 and five.answer == 2


def test_winogrande_rows_give_one_context_per_option_and_a_shared_continuation():
    first = winogrande_choice(WINOGRANDE[0])
    assert first.prefix == "Sarah was a much better surgeon than Maria so "
    assert first.prefixes == (
        "Sarah was a much better surgeon than Maria so Sarah",
        "Sarah was a much better surgeon than Maria so Maria",
    )
    assert first.options == (" always got the harder cases.",) * 2
    assert first.answer == 0 and first.contexts() == first.prefixes
    assert winogrande_choice(WINOGRANDE[1]).answer == 1
    third = winogrande_choice(WINOGRANDE[2])
    assert third.prefixes[1].endswith("but the bed") and third.options[0] == " was't ruined."
    start = winogrande_choice(WINOGRANDE[3])
    assert start.prefix == "" and start.prefixes == ("The man", "The trophy")
    assert (
        start.options[0]
        == " could not lift the trophy into the suitcase because the trophy was too heavy."
    )


def test_mmlu_rows_list_lettered_choices_and_score_the_letter():
    first = mmlu_choice(MMLU[0])
    assert first.prefix == (
        "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
        "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
        "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:"
    )
    assert first.options == (" A", " B", " C", " D") and first.answer == 1
    third = mmlu_choice(MMLU[2])
    assert third.prefix == (
        "The following are multiple choice questions (with answers) about elementary mathematics."
        "\n\nWhich of these is a prime number?\nA. 4\nB. 9\nC. 11\nD. 15\nAnswer:"
    )
    assert third.answer == 2


def test_blimp_rows_put_the_good_sentence_first():
    item = blimp_choice(BLIMP[1])
    assert item == Choice("", ("Katherine can't help herself.", "Katherine can't help himself."), 0)
    assert item.contexts() == ("", "")


def test_choice_validates_itself():
    with pytest.raises(DataError, match="two or more options"):
        Choice("Q", (" a",), 0)
    with pytest.raises(DataError, match="not one of 2 options"):
        Choice("Q", (" a", " b"), 2)
    with pytest.raises(DataError, match="2 prefixes for 3 options"):
        Choice("", (" a", " b", " c"), 0, ("x", "y"))
    with pytest.raises(DataError, match="non-empty"):
        Choice("Q", (" a", ""), 0)
    item = Choice("Q", [" a", " b"], np.int64(1))  # lists and numpy ints are normalized
    assert item.options == (" a", " b") and type(item.answer) is int and hash(item)


def test_converters_reject_rows_without_answers_or_columns():
    with pytest.raises(DataError, match="lacks column 'endings'"):
        hellaswag_choice({k: v for k, v in HELLASWAG[0].items() if k != "endings"})
    with pytest.raises(DataError, match="unlabeled test split"):
        hellaswag_choice({**HELLASWAG[0], "label": ""})  # hellaswag's test split
    with pytest.raises(DataError, match="answerKey 'E'"):
        arc_choice({**ARC[0], "answerKey": "E"})
    with pytest.raises(DataError, match="no blank"):
        winogrande_choice({**WINOGRANDE[0], "sentence": "No blank here."})
    with pytest.raises(DataError, match="not '1' or '2'"):
        winogrande_choice({**WINOGRANDE[0], "answer": ""})
    with pytest.raises(DataError, match="lacks column 'sentence_bad'"):
        blimp_choice({"sentence_good": "A cat sat."})
    with pytest.raises(DataError, match="not an option index 0-3"):
        mmlu_choice({**MMLU[0], "answer": 4})


# --- the registry and loading ---------------------------------------------------------------


def test_benchmarks_name_their_hub_datasets():
    where = {name: (s.path, s.configs, s.split) for name, s in BENCHMARKS.items()}
    assert where == {
        "hellaswag": ("Rowan/hellaswag", (None,), "validation"),
        "arc_easy": ("allenai/ai2_arc", ("ARC-Easy",), "test"),
        "arc_challenge": ("allenai/ai2_arc", ("ARC-Challenge",), "test"),
        "winogrande": ("allenai/winogrande", ("winogrande_xl",), "validation"),
        "mmlu": ("cais/mmlu", ("all",), "test"),
        "blimp": ("nyu-mll/blimp", BLIMP_PHENOMENA, "train"),
    }
    assert len(BLIMP_PHENOMENA) == len(set(BLIMP_PHENOMENA)) == 67


@pytest.mark.parametrize("name", list(ROWS))
def test_load_items_reads_local_files_in_the_datasets_format(tmp_path, name):
    path = write_jsonl(tmp_path / f"{name}.jsonl", ROWS[name])
    items = load_items(name, limit=None, seed=0, data_files=path, cache_dir=tmp_path / "cache")
    assert items == [BENCHMARKS[name].convert(row) for row in ROWS[name]]


def test_load_items_reads_parquet(tmp_path):
    path = tmp_path / "arc.parquet"
    pq.write_table(pa.Table.from_pylist(ARC), path)
    items = load_items("arc_easy", limit=None, data_files=str(path), cache_dir=tmp_path / "cache")
    assert items == [arc_choice(row) for row in ARC]


def test_load_items_samples_deterministically(tmp_path):
    rows = [{**WINOGRANDE[i % 4], "option1": f"Name{i}"} for i in range(12)]
    path = write_jsonl(tmp_path / "wino.jsonl", rows)
    every = load_items("winogrande", limit=None, data_files=path, cache_dir=tmp_path / "cache")

    def sample(limit, seed):
        return load_items(
            "winogrande", limit=limit, seed=seed, data_files=path, cache_dir=tmp_path / "cache"
        )

    five = sample(5, 3)
    assert len(five) == 5 and five == sample(5, 3)
    assert [every.index(item) for item in five] == sorted(every.index(item) for item in five)
    assert set(sample(3, 3)) <= set(five)  # a smaller limit takes a subset
    assert len({tuple(sample(5, seed)) for seed in range(6)}) > 1
    assert sample(100, 1) == every  # a limit over the size takes every row


def test_load_items_from_the_hub_concatenates_configs(monkeypatch, tmp_path):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        rows = [r for r in BLIMP if r["UID"] == name] if path == "nyu-mll/blimp" else HELLASWAG
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    phenomena = ["adjunct_island", "anaphor_number_agreement"]
    items = load_items("blimp", limit=None, configs=phenomena, cache_dir=tmp_path)
    assert items == [blimp_choice(BLIMP[0]), blimp_choice(BLIMP[2])]
    assert calls == [
        ("nyu-mll/blimp", p, {"split": "train", "cache_dir": str(tmp_path)}) for p in phenomena
    ]
    calls.clear()
    assert len(load_items("hellaswag", limit=2, seed=5)) == 2
    assert calls == [("Rowan/hellaswag", None, {"split": "validation"})]
    calls.clear()
    load_items("blimp", limit=1)
    assert [c[1] for c in calls] == list(BLIMP_PHENOMENA)


def test_load_items_errors_are_one_line(monkeypatch, tmp_path):
    import datasets

    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match="unknown benchmark 'piqa'"):
        load_items("piqa", limit=10)
    with pytest.raises(DataError, match=r"not found") as missing:
        load_items("mmlu", limit=10, data_files=tmp_path / "absent.jsonl", cache_dir=cache)
    assert "\n" not in str(missing.value)
    rows = [{k: v for k, v in row.items() if k != "answer"} for row in MMLU]
    path = write_jsonl(tmp_path / "mmlu.jsonl", rows)
    with pytest.raises(
        DataError, match=r"'mmlu': data_files row \d: the row lacks column 'answer'"
    ) as lacking:
        load_items("mmlu", limit=10, data_files=path, cache_dir=cache)
    assert "\n" not in str(lacking.value)
    partial = write_jsonl(
        tmp_path / "partial.jsonl", [ARC[0], {k: v for k, v in ARC[1].items() if k != "answerKey"}]
    )
    with pytest.raises(DataError, match="row 1: the row lacks column 'answerKey'"):
        load_items("arc_easy", limit=None, data_files=partial, cache_dir=cache)
    with pytest.raises(DataError, match=r"not \.json, \.jsonl or \.parquet"):
        load_items("arc_easy", limit=1, data_files=write_jsonl(tmp_path / "arc.csv", ARC))
    with pytest.raises(ConfigError, match="positive integer"):
        load_items("arc_easy", limit=0, data_files=path)

    def offline(*args, **kwargs):
        raise ConnectionError(
            "Couldn't reach 'allenai/ai2_arc' on the Hub\n(LocalEntryNotFoundError)"
        )

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match=r"cannot load allenai/ai2_arc \(ARC-Challenge\)") as hub:
        load_items("arc_challenge", limit=10)
    assert "\n" not in str(hub.value)


# --- scoring --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def byte_tokenizer(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bytes")
    save_tokenizer_files(directory, {i: bytes([i]) for i in range(256)}, [], [EOT])
    return Tokenizer.from_file(str(directory / "tokenizer.json"))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=257, hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=256)  # fmt: skip
    return LlamaModel(config).eval()


def brute_force(model, context_ids, continuation_ids):
    """The continuation's log-likelihood, one forward pass per predicted token."""
    sequence = [*context_ids, *continuation_ids]
    total = 0.0
    for t in range(len(context_ids), len(sequence)):
        with torch.no_grad():
            logits = model(torch.tensor([sequence[:t]]))[0, -1]
        total += torch.log_softmax(logits.double(), -1)[sequence[t]].item()
    return total


def independent_scores(model, tokenizer, item, eos_id):
    scores = []
    for context, option in zip(item.contexts(), item.options, strict=True):
        ids = tokenizer.encode(context, add_special_tokens=False).ids if context else [eos_id]
        scores.append(
            brute_force(model, ids, tokenizer.encode(option, add_special_tokens=False).ids)
        )
    return scores


def scoring_items():
    return [
        hellaswag_choice(HELLASWAG[0]),
        arc_choice(ARC[1]),
        arc_choice(ARC[2]),
        arc_choice(ARC[3]),
        winogrande_choice(WINOGRANDE[0]),
        winogrande_choice(WINOGRANDE[3]),
        mmlu_choice(MMLU[2]),
        blimp_choice(BLIMP[0]),
    ]


def test_score_items_matches_the_argmax_of_independent_log_likelihoods(model, byte_tokenizer):
    items = scoring_items()
    reference = [independent_scores(model, byte_tokenizer, item, 256) for item in items]
    for item, expected in zip(items, reference, strict=True):
        assert option_scores(model, byte_tokenizer, item, 256) == pytest.approx(expected, abs=1e-4)
        assert sorted(expected)[-1] - sorted(expected)[-2] > 1e-3  # no ties to blur the argmax
    # Answer half the items with the model's choice and half with its least likely option.
    relabeled = [
        Choice(
            item.prefix,
            item.options,
            int(np.argmax(s) if i % 2 == 0 else np.argmin(s)),
            item.prefixes,
        )
        for i, (item, s) in enumerate(zip(items, reference, strict=True))
    ]
    result = score_items(model, byte_tokenizer, relabeled, eos_id=256)
    right = [int(np.argmax(s)) == item.answer for item, s in zip(relabeled, reference, strict=True)]
    assert right == [i % 2 == 0 for i in range(len(items))]
    assert result["questions"] == len(items)
    assert result["accuracy"] == pytest.approx(np.mean(right)) == pytest.approx(0.5)
    counts = [len(item.options) for item in items]
    expected_normalized = np.mean(
        [(k * r - 1) / (k - 1) for k, r in zip(counts, right, strict=True)]
    )
    assert result["normalized_accuracy"] == pytest.approx(expected_normalized)
    # The original's answers (not the model's): the same rule, checked against the reference.
    original = score_items(model, byte_tokenizer, items)  # EOS found by name for BLiMP
    truth = [int(np.argmax(s)) == item.answer for item, s in zip(items, reference, strict=True)]
    assert original["accuracy"] == pytest.approx(np.mean(truth))


def test_winogrande_scores_only_the_shared_continuation(model, byte_tokenizer):
    item = winogrande_choice(WINOGRANDE[0])
    scores = option_scores(model, byte_tokenizer, item, 256)
    tail = byte_tokenizer.encode(item.options[0], add_special_tokens=False).ids
    for context, score in zip(item.prefixes, scores, strict=True):
        ids = byte_tokenizer.encode(context, add_special_tokens=False).ids
        assert score == pytest.approx(brute_force(model, ids, tail), abs=1e-4)
    assert scores[0] != pytest.approx(scores[1], abs=1e-6)


def test_same_option_counts_normalize_like_evaluate_choices(model, byte_tokenizer):
    items = [mmlu_choice(row) for row in MMLU[2:]] + [
        Choice("Q: 2+2?\nA:", (" 4", " 5", " 6", " 7"), 0)
    ]
    result = score_items(model, byte_tokenizer, items)
    assert result["normalized_accuracy"] == pytest.approx((4 * result["accuracy"] - 1) / 3)


def test_long_contexts_lose_their_oldest_tokens(model, byte_tokenizer, caplog):
    item = mmlu_choice(MMLU[1])  # 277 bytes: more than the model's 256 positions
    ids = byte_tokenizer.encode(item.prefix, add_special_tokens=False).ids
    letters = [byte_tokenizer.encode(o, add_special_tokens=False).ids for o in item.options]
    scores = option_scores(model, byte_tokenizer, item, context_length=40)
    expected = [brute_force(model, ids[-(40 - 2) :], letter) for letter in letters]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert len(ids) == 277
    assert option_scores(model, byte_tokenizer, item) == pytest.approx(
        [brute_force(model, ids[-(256 - 2) :], letter) for letter in letters], abs=1e-4
    )
    with caplog.at_level(logging.WARNING, logger=downstream.__name__):
        score_items(model, byte_tokenizer, [item, mmlu_choice(MMLU[2])], context_length=40)
    assert "2 of 2 items had their context cut to fit 40 tokens" in caplog.text


def test_empty_contexts_need_an_end_of_text_id(model, tmp_path):
    save_tokenizer_files(tmp_path, {i: bytes([i]) for i in range(256)}, [], [])
    bare = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    item = blimp_choice(BLIMP[2])
    with pytest.raises(DataError, match="pass eos_id"):
        score_items(model, bare, [item])
    assert score_items(model, bare, [item], eos_id=0)["questions"] == 1
    with pytest.raises(DataError, match="no benchmark items"):
        score_items(model, bare, [])
