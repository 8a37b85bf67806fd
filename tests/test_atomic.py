"""write_atomic: all of the file or none of it; used by model files, SVG graphs and plots."""

import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp.atomic import check_writable, write_atomic
from tinygrad_bp.engine import Value
from tinygrad_bp.nn import MLP
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


# --- symlinks, special files and error messages ------------------------------------------------

def test_a_symlink_is_followed_and_its_target_written(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "m.json"
    target.write_text("old")
    os.chmod(target, 0o600)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "new" and (os.stat(target).st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real"]
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["m.json"]


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.svg"
    link.symlink_to("made.svg")
    write_atomic(link, "<svg/>")
    assert link.is_symlink() and (tmp_path / "made.svg").read_text() == "<svg/>"


def test_a_fifo_is_refused_and_kept(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match=r"is not a regular file \(a FIFO\)") as info:
        write_atomic(fifo, "x")
    assert info.value.filename == str(fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


@pytest.fixture
def null_device(tmp_path):
    """A character device node like /dev/null (1,3), made in tmp_path so that no test can replace the real one."""
    path = tmp_path / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    return str(path)


@pytest.mark.parametrize("through_link", [False, True])
def test_a_device_is_refused_and_stays_a_character_device(tmp_path, through_link, null_device):
    path = null_device
    if through_link:
        path = str(tmp_path / "null.json")
        os.symlink(null_device, path)
    with pytest.raises(OSError, match=r"is not a regular file \(a character device\)") as info:
        write_atomic(path, "x")
    assert info.value.filename == path
    assert stat.S_ISCHR(os.stat(null_device).st_mode)
    if through_link:
        assert f"links to {null_device}" in str(info.value) and os.path.islink(path)


@pytest.mark.parametrize("form", ["/proc/self/fd/{fd}", "/dev/fd/{fd}", "link"])
def test_an_open_file_descriptor_is_refused_and_its_file_kept(tmp_path, form):
    # /dev/stdout redirected to a file: replacing that file would detach it from the process writing to it
    with open(tmp_path / "out.txt", "w") as f:
        f.write("keep")
        f.flush()
        inode = os.fstat(f.fileno()).st_ino
        path = form.format(fd=f.fileno())
        if form == "link":
            path = str(tmp_path / "stdout.json")
            os.symlink(f"/proc/self/fd/{f.fileno()}", path)
        with pytest.raises(OSError, match=r"is an open file descriptor \(/proc/\d+/fd/\d+\)") as info:
            write_atomic(path, "new")
        assert info.value.filename == path
    assert (tmp_path / "out.txt").read_text() == "keep" and os.stat(tmp_path / "out.txt").st_ino == inode


def test_a_pipe_behind_dev_fd_is_refused():
    r, w = os.pipe()
    try:
        with pytest.raises(OSError, match=r"is not a regular file \(a FIFO\)"):
            write_atomic(f"/dev/fd/{w}", "x")
    finally:
        os.close(r)
        os.close(w)


def test_a_symlink_to_a_folder_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "d")
    with pytest.raises(IsADirectoryError, match="is a folder") as info:
        write_atomic(tmp_path / "l", "x")
    assert info.value.filename == str(tmp_path / "l")
    assert os.listdir(tmp_path / "d") == []


def test_a_missing_folder_is_named_not_a_temporary_file(tmp_path):
    path = tmp_path / "nope" / "m.json"
    with pytest.raises(FileNotFoundError) as info:
        MLP(2, [1]).save(path)
    assert info.value.filename == str(path)
    assert f"folder {tmp_path / 'nope'} does not exist" in str(info.value)
    assert ".tmp-" not in str(info.value)


def test_a_folder_that_is_a_file_is_named(tmp_path):
    (tmp_path / "f").write_text("a file")
    with pytest.raises(NotADirectoryError) as info:
        write_atomic(tmp_path / "f" / "m.json", "x")
    assert info.value.filename == str(tmp_path / "f" / "m.json") and ".tmp-" not in str(info.value)
    assert f"{tmp_path / 'f'} is not a folder" in str(info.value)
    assert (tmp_path / "f").read_text() == "a file"


def test_a_folder_that_refuses_new_files_is_named_not_a_temporary_file():
    with pytest.raises(OSError, match="cannot create a file in folder /proc") as info:
        write_atomic("/proc/m.json", "x")
    assert info.value.filename == "/proc/m.json" and ".tmp-" not in str(info.value)
    with pytest.raises(OSError, match="cannot create a file in folder /proc"):
        check_writable("/proc/m.json")


def test_a_write_failure_names_the_users_path(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device", "/elsewhere/.tmp-abc")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="No space left") as info:
        write_atomic(tmp_path / "g.svg", "x")
    assert info.value.errno == 28 and info.value.filename == str(tmp_path / "g.svg")


def test_an_empty_path_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "..")
    before = sorted(os.listdir("."))
    with pytest.raises(ValueError, match="empty file name"):
        write_atomic("", "x")
    with pytest.raises(ValueError, match="empty file name"):
        check_writable("")
    assert sorted(os.listdir(".")) == before


def test_check_writable_leaves_nothing_behind(tmp_path):
    check_writable(tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_round_trip_through_a_symlink(data, through_link):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        target = os.path.join(d, "t.bin")
        path = target
        if through_link:
            path = os.path.join(d, "l.bin")
            os.symlink("t.bin", path)
        write_atomic(path, data)
        with open(target, "rb") as f:
            assert f.read() == data
        assert sorted(os.listdir(d)) == (["l.bin", "t.bin"] if through_link else ["t.bin"])


@pytest.mark.parametrize("fn", [write_atomic, lambda p, _: check_writable(p)], ids=["write_atomic", "check_writable"])
def test_a_nul_byte_in_the_path_is_named(tmp_path, fn):
    bad = str(tmp_path / "graph\0.svg")
    with pytest.raises(ValueError) as e:
        fn(bad, "<svg/>")
    assert str(e.value) == f"the path {bad!r} contains a NUL byte (\\x00), which no file name can hold"
    assert list(tmp_path.iterdir()) == []


# --- permissions without touching the process umask ---------------------------------------------

@pytest.fixture
def umask():
    """Set the process umask for one test (the test's own process state), restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def test_write_atomic_never_calls_umask(tmp_path, monkeypatch, umask):
    umask(0o022)
    calls = []
    real = os.umask
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real(mask))
    write_atomic(tmp_path / "new.json", "x")
    (tmp_path / "old.json").write_text("old")
    write_atomic(tmp_path / "old.json", "y")
    check_writable(tmp_path / "other.json")
    assert calls == []
    assert os.stat(tmp_path / "new.json").st_mode & 0o777 == 0o644


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664), (0o077, 0o600),
                                        (0o000, 0o666)])
def test_a_new_file_gets_the_mode_open_gives_it(tmp_path, umask, mask, mode):
    umask(mask)
    write_atomic(tmp_path / "m.json", "x")
    with open(tmp_path / "plain.txt", "w") as f:  # what open() makes under the same umask
        f.write("x")
    assert os.stat(tmp_path / "m.json").st_mode & 0o777 == mode == os.stat(tmp_path / "plain.txt").st_mode & 0o777


def test_a_replaced_file_keeps_its_mode_whatever_the_umask(tmp_path, umask):
    umask(0o077)
    target = tmp_path / "shared.json"
    target.write_text("old")
    os.chmod(target, 0o664)  # wider than the umask allows a new file
    write_atomic(target, "new")
    assert target.read_text() == "new" and os.stat(target).st_mode & 0o777 == 0o664


def test_files_other_threads_create_meanwhile_keep_their_permissions(tmp_path, umask):
    import sys
    import threading

    umask(0o022)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, inside write_atomic too
    stop = threading.Event()
    wrong: list[tuple[str, int]] = []
    made = [0, 0]

    def create_files(i):
        k = 0
        while not stop.is_set():
            name = tmp_path / "others" / f"t{i}-{k}"
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            os.close(fd)
            mode = os.stat(name).st_mode & 0o777
            if mode != 0o644:
                wrong.append((name.name, mode))
            os.unlink(name)
            k += 1
        made[i] = k

    (tmp_path / "others").mkdir()
    (tmp_path / "atomic").mkdir()
    threads = [threading.Thread(target=create_files, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for k in range(200):
            write_atomic(tmp_path / "atomic" / f"m{k % 50}.json", "x")
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(old_interval)
    assert min(made) > 0 and wrong == []
    assert {os.stat(p).st_mode & 0o777 for p in (tmp_path / "atomic").iterdir()} == {0o644}
