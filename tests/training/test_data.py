import numpy as np
import pytest

from tests.helpers import byte_corpus
from toklab.data.packed_stream import PackedStream
from toklab.errors import DataError
from toklab.io import write_json


def token_array(tmp_path, offsets, tokens, dtype="uint16"):
    prefix = tmp_path / "tokens"
    (tmp_path / "tokens.bin").write_bytes(np.asarray(tokens, dtype).tobytes())
    (tmp_path / "tokens.idx").write_bytes(np.asarray(offsets, "<i8").tobytes())
    write_json(tmp_path / "tokens.meta.json", {"dtype": dtype, "vocab_size": 1000})
    return prefix


def test_token_array_stream(tmp_path):
    stream = PackedStream(token_array(tmp_path, [0, 2, 3], [7, 8, 9]), eos_id=999)
    assert stream.tokens.dtype == np.uint16 and stream.vocab_size == 1000
    assert stream.slice(0, len(stream) + 1).tolist() == [999, 7, 8, 999, 9, 999, 999]


def test_stream_reads_a_byte_corpus(tmp_path):
    stream = PackedStream(byte_corpus(tmp_path, ["ab", "c"]), eos_id=256)
    assert stream.slice(0, len(stream)).tolist() == [256, 97, 98, 256, 99, 256]


@pytest.mark.parametrize(
    ("offsets", "tokens", "message"),
    [
        ([0, 2, 4], [1, 2, 3], r"tokens.idx: index ends at 4 but .*tokens.bin has 3 tokens"),
        ([0, 3, 2], [1, 2], r"tokens.idx: corrupt index \(offsets not increasing from 0\)"),
        ([0], [], r"tokens.idx: no documents in .*tokens.bin"),
    ],
)
def test_corrupt_index_is_one_line_naming_the_file(tmp_path, offsets, tokens, message):
    with pytest.raises(DataError, match=message):
        PackedStream(token_array(tmp_path, offsets, tokens), eos_id=999)


def test_missing_file(tmp_path):
    prefix = token_array(tmp_path, [0, 1], [5])
    (tmp_path / "tokens.meta.json").unlink()
    with pytest.raises(DataError, match=r"tokens.meta.json: token array file not found"):
        PackedStream(prefix, eos_id=999)
