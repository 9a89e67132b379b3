import numpy as np
import pytest

from toklab.data.arrays import array_paths, map_array, read_index
from toklab.errors import DataError


def test_array_paths(tmp_path):
    paths = array_paths(tmp_path / "sub.v1", ("bin", "idx", "meta.json"))
    assert paths == {
        "bin": tmp_path / "sub.v1.bin",
        "idx": tmp_path / "sub.v1.idx",
        "meta.json": tmp_path / "sub.v1.meta.json",
    }


def test_map_array_of_empty_and_full_files(tmp_path):
    (tmp_path / "empty.bin").write_bytes(b"")
    (tmp_path / "full.bin").write_bytes(np.arange(5, dtype="<u2").tobytes())
    assert map_array(tmp_path / "empty.bin", np.uint16).shape == (0,)
    np.testing.assert_array_equal(map_array(tmp_path / "full.bin", np.uint16), np.arange(5))


@pytest.mark.parametrize(
    ("offsets", "length", "message"),
    [
        (b"", 0, r"x.idx: corrupt index \(0 bytes\)"),
        (b"\0" * 12, 0, r"x.idx: corrupt index \(12 bytes\)"),
        (np.array([1, 3], "<i8").tobytes(), 3, r"corrupt index \(offsets not increasing from 0\)"),
        (np.array([0, 3, 2], "<i8").tobytes(), 2, r"corrupt index \(offsets not increasing"),
        (np.array([0, 3], "<i8").tobytes(), 4, r"x.idx: index ends at 3 but .*x.bin has 4 tokens"),
    ],
)
def test_read_index_names_the_file_and_problem(tmp_path, offsets, length, message):
    (tmp_path / "x.idx").write_bytes(offsets)
    with pytest.raises(DataError, match=message):
        read_index(tmp_path / "x.idx", tmp_path / "x.bin", length, "tokens")


def test_read_index(tmp_path):
    (tmp_path / "x.idx").write_bytes(np.array([0, 0, 4, 9], "<i8").tobytes())
    offsets = read_index(tmp_path / "x.idx", tmp_path / "x.bin", 9, "bytes")
    assert offsets.dtype == np.dtype("<i8") and offsets.tolist() == [0, 0, 4, 9]
