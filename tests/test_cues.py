"""Prediction extraction: equals direct computation, invariants, resume, bad input."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch

from tests.helpers import TINY_MODEL, byte_corpus
from toklab import cues as predictions_module
from toklab.cues import CUES, Predictions, extract_predictions
from toklab.data.byte_corpus import ByteCorpus
from toklab.data.demo import DEMO_LANGUAGES, generate_documents
from toklab.data.packed_stream import PackedStream
from toklab.errors import DataError
from toklab.models.llama import LlamaModel, ModelConfig, save_checkpoint


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("pred")
    torch.manual_seed(0)
    model = LlamaModel(ModelConfig(vocab_size=257, **TINY_MODEL)).eval()
    save_checkpoint(model, root / "model")
    docs = [d.text[:150] for d in itertools.islice(generate_documents(DEMO_LANGUAGES, 0), 6)]
    docs += ["a", "é 🙂"]
    return root, model, byte_corpus(root, docs)


def direct_cues(model, stream, target, start):
    """Cues of one stream position from one forward pass over stream[start:target]."""
    tokens = torch.from_numpy(stream.slice(start, target))[None]
    with torch.no_grad():
        lp = torch.log_softmax(model(tokens)[0, -1].float(), dim=-1)
    actual = int(stream.slice(target, target + 1)[0])
    return {
        "entropy": float(-(lp.exp() * lp).sum()),
        "surprisal": float(-lp[actual]),
        "space_nll": float(-lp[32]),
        "eos_nll": float(-lp[256]),
    }


def test_single_window_equals_full_left_context(setup, tmp_path):
    root, model, _ = setup
    short = byte_corpus(tmp_path, ["hello world", "ab", "x y z."], "short")
    out = extract_predictions(root / "model", short, tmp_path / "p.zarr", context=64, stride=16)
    stream = PackedStream(short, 256)
    cues = Predictions(out, short)
    targets = stream.token_positions(0, len(stream.tokens))
    for i, target in enumerate(targets):
        expected = direct_cues(model, stream, int(target), 0)  # the whole left context
        for cue in CUES:
            assert cues.cue(cue)[i] == pytest.approx(expected[cue], rel=1e-4, abs=1e-5)


def test_sliding_windows_give_the_promised_context(setup, tmp_path):
    root, model, prefix = setup
    context, stride = 64, 16
    out = extract_predictions(
        root / "model",
        prefix,
        tmp_path / "p.zarr",
        context=context,
        stride=stride,
        chunk_bytes=100,
        batch_size=3,
    )
    stream = PackedStream(prefix, 256)
    cues = Predictions(out, prefix)
    corpus = ByteCorpus(prefix)
    targets = stream.token_positions(0, corpus.num_bytes)
    for i in [*range(0, corpus.num_bytes, 37), corpus.num_bytes - 1]:
        target = int(targets[i])
        start = max(0, int(np.ceil((target - context) / stride))) * stride
        assert target - start >= min(target, context - stride + 1)  # at least C - S + 1 tokens
        expected = direct_cues(model, stream, target, start)
        for cue in CUES:
            assert cues.cue(cue)[i] == pytest.approx(expected[cue], rel=1e-4, abs=1e-5)


def test_invariants_and_alignment(setup, tmp_path):
    root, _, prefix = setup
    out = extract_predictions(root / "model", prefix, tmp_path / "p.zarr", context=32, stride=8)
    cues = Predictions(out, prefix)
    corpus = ByteCorpus(prefix)
    for cue in CUES:
        values = cues.cue(cue)
        assert values.shape == (corpus.num_bytes,) and values.dtype == np.float32
        assert np.isfinite(values).all()
    assert (cues.cue("entropy") >= 0).all() and (cues.cue("entropy") <= np.log(257) + 1e-4).all()
    assert (cues.cue("surprisal") >= 0).all()
    space = np.asarray(corpus.bytes) == 32
    np.testing.assert_allclose(
        cues.cue("surprisal")[space], cues.cue("space_nll")[space], rtol=1e-6
    )
    np.testing.assert_array_equal(cues.group["doc_offsets"][:], corpus.offsets)
    np.testing.assert_array_equal(cues.group["pretoken_start"][:], corpus.pretoken_start)
    assert (
        cues.attrs["context"] == 32 and cues.attrs["stride"] == 8 and cues.attrs["units"] == "nats"
    )


def interrupt_at_chunk(monkeypatch, chunk: int) -> dict[str, int]:
    """Extraction raises KeyboardInterrupt at its ``chunk``-th chunk; ``calls["n"]`` counts them."""
    original = predictions_module.cues_for_targets
    calls = {"n": 0}

    def fail_at_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == chunk:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(predictions_module, "cues_for_targets", fail_at_chunk)
    return calls


def test_interrupted_extraction_resumes(setup, tmp_path, monkeypatch):
    root, _, prefix = setup
    whole = extract_predictions(
        root / "model", prefix, tmp_path / "whole.zarr", context=32, stride=8, chunk_bytes=128
    )
    calls = interrupt_at_chunk(monkeypatch, 3)
    target = tmp_path / "resumed.zarr"
    with pytest.raises(KeyboardInterrupt):
        extract_predictions(root / "model", prefix, target, context=32, stride=8, chunk_bytes=128)
    assert not target.exists() and (tmp_path / "resumed.zarr.partial").exists()
    calls["n"] = -100  # no more failures; count the chunks recomputed
    extract_predictions(root / "model", prefix, target, context=32, stride=8, chunk_bytes=128)
    chunks = int(np.ceil(ByteCorpus(prefix).num_bytes / 128))
    assert calls["n"] == -100 + chunks - 2  # the two finished chunks were not recomputed
    for cue in CUES:
        np.testing.assert_array_equal(Predictions(target).cue(cue), Predictions(whole).cue(cue))


def test_a_partial_extraction_of_other_settings_starts_over(setup, tmp_path, monkeypatch, caplog):
    root, _, prefix = setup
    target = tmp_path / "p.zarr"
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        interrupt_at_chunk(patch, 2)
        extract_predictions(root / "model", prefix, target, context=32, stride=8, chunk_bytes=128)
    with caplog.at_level("WARNING", logger="toklab.cues"):
        extract_predictions(root / "model", prefix, target, context=32, stride=16, chunk_bytes=128)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "another extraction's (stride 8 -> 16): starting over" in warning
    fresh = extract_predictions(
        root / "model", prefix, tmp_path / "fresh.zarr", context=32, stride=16, chunk_bytes=128
    )
    for cue in CUES:
        np.testing.assert_array_equal(Predictions(target).cue(cue), Predictions(fresh).cue(cue))


def test_bad_input(setup, tmp_path):
    root, _, prefix = setup
    with pytest.raises(DataError, match="checkpoint file not found"):
        extract_predictions(tmp_path / "nomodel", prefix, tmp_path / "p.zarr", context=32, stride=8)
    small = LlamaModel(ModelConfig(vocab_size=100, **TINY_MODEL))
    save_checkpoint(small, tmp_path / "small")
    with pytest.raises(DataError, match="is this a byte-level model"):
        extract_predictions(tmp_path / "small", prefix, tmp_path / "p.zarr", context=32, stride=8)
    with pytest.raises(DataError, match="exceeds the model's max_position_embeddings"):
        extract_predictions(root / "model", prefix, tmp_path / "p.zarr", context=128, stride=8)
    out = extract_predictions(root / "model", prefix, tmp_path / "p.zarr", context=32, stride=8)
    other = byte_corpus(tmp_path, ["different text"], "other")
    with pytest.raises(DataError, match="computed for a different byte corpus"):
        Predictions(out, other)
    import shutil

    shutil.rmtree(out / "surprisal")
    with pytest.raises(DataError, match="not a toklab predictions group"):
        Predictions(out)
    (tmp_path / "junk.zarr").mkdir()
    with pytest.raises(DataError):
        Predictions(tmp_path / "junk.zarr")


def test_a_truncated_chunk_names_the_group_array_and_chunk(setup, tmp_path):
    """Before: ``RuntimeError: Zstd decompression error`` from the codec, naming no file."""
    root, _, prefix = setup
    out = extract_predictions(
        root / "model", prefix, tmp_path / "p.zarr", context=32, stride=8, chunk_bytes=128
    )
    good = Predictions(out).cue("surprisal")
    # a float64 buffer is filled through zarr, which converts
    wide = Predictions(out).read("surprisal", 100, 300, np.zeros(200))
    np.testing.assert_array_equal(wide, good[100:300].astype(np.float64))
    chunk = out / "surprisal" / "c" / "1"
    message = f"{out}: cannot read array 'surprisal', chunk {chunk} (bytes 128..256): "
    whole = chunk.read_bytes()
    chunk.write_bytes(whole[:300])  # still holds bytes 128..150: short all the same
    with pytest.raises(DataError) as raised:
        Predictions(out).read("surprisal", 128, 150, np.empty(22, dtype=np.float32))
    assert str(raised.value).startswith(message)
    chunk.write_bytes(whole[:10])
    cues = Predictions(out)  # opening reads no chunk
    for read in (lambda: cues.cue("surprisal"), lambda: cues.read("surprisal", 200, 300)):
        with pytest.raises(DataError) as raised:
            read()
        assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
    # the chunks around it still read, and another cue is untouched
    np.testing.assert_array_equal(cues.read("surprisal", 0, 128), good[:128])
    np.testing.assert_array_equal(cues.read("surprisal", 256, 300), good[256:300])
    cues.cue("entropy")
    chunk.unlink()  # a missing chunk reads as the fill value: missing values, named too
    with pytest.raises(DataError, match=f"^{re.escape(str(out))}: cue 'surprisal' has missing"):
        cues.read("surprisal", 100, 200)


def test_raw_chunk_reads_equal_zarr_reads(tmp_path):
    """Toklab's uncompressed cues are read from their chunk files, any range as zarr reads it."""
    import zarr

    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    values = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    raw = group.create_array("raw", shape=(1000,), chunks=(64,), dtype="float32", compressors=None)
    packed = group.create_array("packed", shape=(1000,), chunks=(64,), dtype="float32")
    raw[:], packed[:] = values, values
    assert predictions_module._raw_chunks(packed) is None  # compressed: through zarr
    chunk_file = predictions_module._raw_chunks(raw)
    assert chunk_file is not None and chunk_file(3) == tmp_path / "g.zarr" / "raw" / "c" / "3"
    rng = np.random.default_rng(1)
    for start, stop in [(0, 1000), (0, 64), (63, 65), (999, 1000), *rng.integers(0, 1001, (50, 2))]:
        start, stop = sorted((int(start), int(stop)))
        out = np.full(stop - start, np.nan, dtype=np.float32)
        assert predictions_module._read_raw(chunk_file, 64, start, stop, out)
        np.testing.assert_array_equal(out, values[start:stop])
    (tmp_path / "g.zarr" / "raw" / "c" / "2").unlink()  # missing: zarr reads it (its fill value)
    assert not predictions_module._read_raw(chunk_file, 64, 100, 200, np.empty(100, np.float32))
    last = tmp_path / "g.zarr" / "raw" / "c" / "15"  # the last chunk is stored whole
    assert last.stat().st_size == 4 * 64
    last.write_bytes(last.read_bytes()[:100])  # holds 960..985, but is short: through zarr
    assert not predictions_module._read_raw(chunk_file, 64, 960, 985, np.empty(25, np.float32))


def test_missing_arrays_and_a_wrong_format_are_named(setup, tmp_path):
    import shutil

    import zarr

    root, _, prefix = setup
    out = extract_predictions(root / "model", prefix, tmp_path / "p.zarr", context=32, stride=8)
    zarr.open_group(str(out), mode="r+").attrs["format"] = "toklab-predictions-v0"
    expected = (
        f"{out}: not a toklab predictions group (format 'toklab-predictions-v0', expected "
        f"'toklab-predictions-v1')"
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        Predictions(out)
    zarr.open_group(str(out), mode="r+").attrs["format"] = predictions_module.FORMAT
    shutil.rmtree(out / "surprisal")
    shutil.rmtree(out / "doc_offsets")
    missing = f"{out}: not a toklab predictions group (missing arrays: surprisal, doc_offsets)"
    with pytest.raises(DataError, match=f"^{re.escape(missing)}$"):
        Predictions(out)
    zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    with pytest.raises(
        DataError, match=r"other\.zarr: not a toklab predictions group \(no 'format'"
    ):
        Predictions(tmp_path / "other.zarr")


def test_corpus_hash_is_read_from_the_meta_not_recomputed(setup, tmp_path, monkeypatch):
    from toklab.data import byte_corpus as byte_corpus_module
    from toklab.io import sha256_file

    root, _, prefix = setup
    expected = sha256_file(ByteCorpus(prefix).paths["bin"])
    hashed = []

    def recording(path, *args, **kwargs):
        hashed.append(str(path))
        return sha256_file(path, *args, **kwargs)

    monkeypatch.setattr(predictions_module, "sha256_file", recording)
    monkeypatch.setattr(byte_corpus_module, "sha256_file", recording)
    out = extract_predictions(root / "model", prefix, tmp_path / "p.zarr", context=32, stride=8)
    Predictions(out, prefix)
    assert not [path for path in hashed if path.endswith(".bin")]
    assert Predictions(out).attrs["corpus_sha256"] == expected
