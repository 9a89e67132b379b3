"""Atomic writes: files, file names for other writers, and whole directories."""

import os

import pytest

from toklab.io import atomic_directory, atomic_path, atomic_write, replace_directory


def listing(path):
    return sorted(p.name for p in path.iterdir())


def test_atomic_write_and_path_leave_only_the_target(tmp_path):
    with atomic_write(tmp_path / "a.txt", "w") as handle:
        handle.write("héllo")
    with atomic_path(tmp_path / "b.bin") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".b.bin.")
        tmp.write_bytes(b"\x00\x01")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    assert listing(tmp_path) == ["a.txt", "b.bin"]


def test_failed_writes_leave_the_old_file(tmp_path):
    (tmp_path / "a.txt").write_text("old")
    for writer in (
        lambda: atomic_write(tmp_path / "a.txt", "w"),
        lambda: atomic_path(tmp_path / "a.txt"),
    ):
        with pytest.raises(RuntimeError), writer():
            raise RuntimeError
    assert (tmp_path / "a.txt").read_text() == "old" and listing(tmp_path) == ["a.txt"]
    with (
        pytest.raises(ValueError, match="needs a write mode"),
        atomic_write(tmp_path / "a.txt", "r"),
    ):
        pass


def test_replace_directory(tmp_path):
    new, target = tmp_path / "new", tmp_path / "target"
    new.mkdir()
    (new / "f").write_text("new")
    replace_directory(new, target)  # no target yet
    assert (target / "f").read_text() == "new" and listing(tmp_path) == ["target"]
    new.mkdir()
    (new / "g").write_text("newer")
    replace_directory(new, target)
    assert listing(target) == ["g"] and listing(tmp_path) == ["target"]


@pytest.mark.parametrize("staging", [None, ".out.staging"])
def test_atomic_directory(tmp_path, staging):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old").write_text("old")
    fixed = tmp_path / staging if staging else None
    if fixed:
        fixed.mkdir()
        (fixed / "stale").write_text("left by a killed process")
    with pytest.raises(RuntimeError), atomic_directory(target, staging=fixed) as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError
    assert listing(target) == ["old"] and listing(tmp_path) == ["out"]
    if fixed:
        fixed.mkdir()
        (fixed / "stale").write_text("left by a killed process")
    with atomic_directory(target, staging=fixed) as tmp:
        assert listing(tmp) == []
        if fixed:
            assert tmp == fixed
        (tmp / "new").write_text("new")
    assert listing(target) == ["new"] and listing(tmp_path) == ["out"]
