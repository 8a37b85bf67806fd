"""write_atomic: all of the file or none of it; used by model files, SVG graphs and plots."""

import os

import pytest

from tinygrad_bp.atomic import write_atomic
from tinygrad_bp.engine import Value
from tinygrad_bp.viz import to_svg


def test_writes_text_and_bytes_exactly(tmp_path):
    write_atomic(tmp_path / "a.txt", "σ(net) = ½\n")
    assert (tmp_path / "a.txt").read_bytes() == "σ(net) = ½\n".encode()
    write_atomic(tmp_path / "b.bin", b"\x00\xff\x10")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff\x10"


def test_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "m.json"
    target.write_text("old")
    os.chmod(target, 0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new" and (os.stat(target).st_mode & 0o777) == 0o640


@pytest.mark.parametrize("step", ["fsync", "replace", "chmod"])
def test_a_failure_at_any_step_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, step):
    target = tmp_path / "graph.svg"
    target.write_text("old contents")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, step, boom)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new contents " * 1000)
    monkeypatch.undo()
    assert target.read_text() == "old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.svg"]


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path, "x")


def test_to_svg_that_fails_to_write_keeps_the_old_svg(tmp_path, monkeypatch):
    target = tmp_path / "g.svg"
    target.write_text("<svg>old</svg>")
    x = Value(2.0, label="x")
    y = (x * x).tanh()
    y.backward()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        to_svg(y, target)
    monkeypatch.undo()
    assert target.read_text() == "<svg>old</svg>"
    svg = to_svg(y, target)
    assert target.read_text() == svg and "<svg" in svg
