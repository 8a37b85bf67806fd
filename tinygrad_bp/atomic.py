"""Writing a file atomically: all of it or nothing, never a half-written file.

The data goes to a temporary file in the target's folder, is flushed to disk,
then renamed over the target. A failure at any step leaves an existing file at
the target untouched and no temporary file behind. A symlink is followed (its
final target is replaced, in the target's folder); a target that exists but is
not a regular file (a folder, a device such as /dev/null, a FIFO, a socket) is
refused. Errors name the caller's path, never the temporary file.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import tempfile

__all__ = ["write_atomic", "check_target", "check_writable"]

_KINDS = [(stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket")]
_FD_ENTRY = re.compile(r"/proc/(self|thread-self|\d+)(/task/\d+)?/fd/[^/]+$")


def _error(e: OSError, path: str, what: str) -> OSError:
    """`e` again (same type and errno), naming `path` and saying `what` failed."""
    return type(e)(e.errno, f"{what}: {e.strerror or e}", path)


def _fd_link(path: str) -> str | None:
    """The /proc/<pid>/fd/<n> entry that `path` (or a symlink on its way) goes through, e.g. /dev/stdout; else None."""
    p = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit of symlink hops
        p = os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p))
        if _FD_ENTRY.match(p):
            return p
        if not os.path.islink(p):
            return None
        p = os.path.join(os.path.dirname(p), os.readlink(p))
    return None


def check_target(path: str | os.PathLike[str]) -> tuple[str, os.stat_result | None]:
    """The final target of `path` (symlinks followed) and its stat (None if it does not exist yet).

    Raises ValueError for an empty path or one with a NUL byte, IsADirectoryError for a folder, OSError
    naming `path` for anything else that is not a regular file (a device, a FIFO,
    an open file descriptor such as /dev/stdout) or cannot be looked at, and
    FileNotFoundError / NotADirectoryError when its folder is missing. Nothing is written.
    """
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise ValueError("empty file name: give the path of a file to write")
    if "\0" in path:  # os.stat would say only "embedded null byte"
        raise ValueError(f"the path {path!r} contains a NUL byte (\\x00), which no file name can hold")
    target = os.path.realpath(path)
    via = "" if target == os.path.abspath(path) else f"links to {target}, which "
    try:
        st: os.stat_result | None = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):  # a missing folder or a file as folder: said below
        st = None
    except OSError as e:  # a symlink loop, a path through a file, no permission
        raise _error(e, path, "cannot look at it") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"{via}is a folder, not a file name", path)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "a special file")
            shown = "" if target.startswith("/proc/") else via  # not "links to /proc/1/fd/pipe:[9]"
            raise OSError(errno.EINVAL, f"{shown}is not a regular file ({kind}); give the name of a file", path)
    fd = _fd_link(path)
    if fd is not None:  # replacing the file behind it would detach it from the process writing to it
        raise OSError(errno.EINVAL, f"is an open file descriptor ({fd}), not a file name; give the name of a file",
                      path)
    if st is not None:
        return target, st
    folder = os.path.dirname(target)
    if not os.path.exists(folder):
        raise FileNotFoundError(errno.ENOENT, f"folder {folder} does not exist", path)
    if not os.path.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, f"{folder} is not a folder", path)
    return target, None


def check_writable(path: str | os.PathLike[str]) -> None:
    """Check that `write_atomic(path, ...)` can create its file, by creating and removing one.

    For checking output paths before long work; raises as `check_target`, and
    OSError naming `path` when its folder does not accept a new file.
    """
    target, _ = check_target(path)
    folder = os.path.dirname(target)
    try:
        fd, probe = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    except OSError as e:
        raise _error(e, os.fsdecode(os.fspath(path)), f"cannot create a file in folder {folder}") from None
    os.close(fd)
    os.unlink(probe)


def _create_temporary(folder: str, suffix: str, mode: int) -> tuple[int, str]:
    """A new file `.tmp-<random><suffix>` in `folder`, opened for writing and created with `mode`.

    Unlike `tempfile.mkstemp` (always 0o600), the kernel applies the umask (or the folder's
    default ACL) to `mode` as for any new file: the process umask is never read or changed.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        name = os.path.join(folder, f".tmp-{secrets.token_hex(6)}{suffix}")
        try:
            return os.open(name, flags, mode), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", folder)


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write `data` (text as UTF-8, or bytes) to `path` atomically, keeping an existing file's permissions.

    A new file gets the permissions `open()` would give it (0o666 less the umask); the
    process umask is never changed (another thread's files keep theirs). A symlink's
    final target is written; a target that is not a regular file is refused (see `check_target`).
    """
    target, st = check_target(path)
    path = os.fsdecode(os.fspath(path))
    folder = os.path.dirname(target)
    try:
        # replacing: private while written, then the old file's mode (chmod is not subject to the umask)
        fd, tmp = _create_temporary(folder, os.path.splitext(target)[1], 0o600 if st is not None else 0o666)
    except OSError as e:
        raise _error(e, path, f"cannot create a file in folder {folder}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        if st is not None:
            os.chmod(tmp, st.st_mode & 0o777)
        os.replace(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _error(e, path, "cannot write it") from None
        raise
