"""The output folder, replaced whole: a run writes a new folder beside ``--out`` and swaps
the two in one step, so that a failed or stopped run leaves the old set of files or the
new one, never a mix (the outputs themselves are made by :mod:`geozones.outputs`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import glob
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import OutputError

__all__ = ["claimed", "new_folder", "replace_folder", "discard_folder", "check_replaceable"]

log = logging.getLogger("geozones")

_NEW = ".geozones-new-"
_OLD = ".geozones-old-"


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):  # the file system cannot swap (overlayfs: EXDEV)
        return False
    raise OSError(err, os.strerror(err), str(b))


#: A run's new folders and the open descriptors holding their locks (see :func:`_in_use`).
_LOCKS: dict[str, int] = {}


def _lock(folder: Path) -> None:
    with contextlib.suppress(OSError):  # (a file system without locks: the process id alone says)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        _LOCKS[str(folder)] = fd
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(folder: Path) -> None:
    fd = _LOCKS.pop(str(folder), None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _in_use(d: Path) -> bool:
    """Whether a folder left beside an output folder belongs to a run still going: its
    process is alive here, or its lock is held (a probe's run in another PID namespace,
    a second container on the same volume, had its folder removed as abandoned).
    """
    try:
        pid = int(d.name.rsplit("-", 2)[-2])
        os.kill(pid, 0)
        return True
    except (ValueError, IndexError, PermissionError):
        return True  # not a name of ours, or another user's process: not ours to remove
    except ProcessLookupError:
        pass
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _clear_stale(out: Path) -> None:
    """Remove folders left beside ``out`` by runs that were stopped (their process is gone
    and nobody holds their lock). Where ``out`` itself is missing, a run was stopped
    between the two renames of a file system that cannot swap folders: the old folder is
    put back first (a probe's next run removed it, the only copy of what ``out`` held).
    """
    name = glob.escape(out.name)  # (a run into 'o[1]' removed the leftovers of 'o1')
    found = sorted(out.parent.glob(f".{name}{_NEW}*")) + sorted(out.parent.glob(f".{name}{_OLD}*"))
    busy = [d for d in found if _in_use(d)]
    if any(_NEW in d.name for d in busy):  # (two runs into one folder: the one to end last replaced the other's without a word)
        going = next(d for d in busy if _NEW in d.name)
        raise OutputError(f"another run is writing to this output folder (its new folder {going.name} is in use)", path=out,
                          hint=f"wait for it to end, or give another --out; if no run is going, remove {going}")
    stale = [d for d in found if d not in busy]
    old = sorted((d for d in stale if _OLD in d.name and d.is_dir()), key=lambda d: d.stat().st_mtime)
    if old and not out.exists() and not out.is_symlink():
        os.rename(old[-1], out)
        stale.remove(old[-1])
        log.warning("%s was missing, and the folder a stopped run had moved aside is back in its place (%s)", out, old[-1].name)
    for d in stale:
        _remove(d)


def _remove(folder: Path) -> None:
    """Remove a folder of outputs a run replaced or left, saying so where it cannot (a
    probe's immutable file kept its ``-new-`` folder, holding the old outputs, beside
    ``out`` through every later run without a word).
    """
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        log.warning("%s (outputs a run replaced or left) could not be removed, wholly or in part: remove it by hand "
                    "(is a file in it immutable, or its permissions changed?)", folder)


@contextlib.contextmanager
def claimed(out: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the output folder for one run, from its start: a second run into it (in this
    machine's processes, or another's sharing the volume where its file system locks) is
    refused at once. Two runs into one folder both said "wrote", and the one to end last
    replaced the other's files without a word (a probe).

    The lock is a file ``.OUT.geozones-lock`` beside the folder, held with ``flock``
    (released when the process ends, however it ends) and removed at the end.

    Raises
    ------
    OutputError
        When another run holds the folder.
    """
    if not out:  # (a run without --out stops at its settings' check)
        yield
        return
    out = Path(out).resolve()
    lock = out.parent / f".{out.name}.geozones-lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # (no parent yet, or one this user cannot write: the run says so when it writes)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputError("another run is writing to this output folder", path=out,
                          hint="wait for it to end, or give another --out") from None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def new_folder(out: str | os.PathLike[str]) -> Path:
    """A new, empty folder beside ``out`` for a run's files (see :func:`replace_folder`).

    Parameters
    ----------
    out : str or os.PathLike
        The output folder (it may not exist yet).

    Returns
    -------
    Path
        ``.OUT.geozones-new-PID-XXXX`` in the same parent folder.

    Raises
    ------
    OutputError
        When the parent folder cannot be written.
    """
    out = Path(out).resolve()
    check_replaceable(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _clear_stale(out)
        made = Path(tempfile.mkdtemp(prefix=f".{out.name}{_NEW}{os.getpid()}-", dir=out.parent))
        # (the folder that takes out's place has out's permissions, or a new folder's: a
        # group-shared 2775 output folder had become 0700, mkdtemp's, after a run)
        if out.is_dir():
            mode = stat.S_IMODE(out.stat().st_mode)
            with contextlib.suppress(OSError):  # (and its owner and group, where this user may give them: a probe's
                os.chown(made, out.stat().st_uid, out.stat().st_gid)  # nobody:nogroup folder became root's after a run as root)
        else:
            mask = os.umask(0)
            os.umask(mask)
            mode = 0o777 & ~mask
        os.chmod(made, mode)
        _lock(made)
        return made
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # (the new folder's name is the output folder's and 30 characters more)
            more = 1 + len(_NEW) + 7 + 1 + 8  # ('.', the tag, a PID of up to 7 digits, '-', mkdtemp's 8 characters)
            raise OutputError(f"its name is too long for the new folder a run writes beside it (the name and {more} characters more)", path=out,
                              hint=f"give --out a name of at most {max(os.pathconf(out.parent, 'PC_NAME_MAX') - more, 1)} characters") from exc
        raise OutputError(f"cannot write beside the output folder: {exc.strerror}", path=out,
                          hint="the run's files are written next to the output folder, then take its place: choose a folder whose parent you can write") from exc


def _mount_points() -> list[Path]:
    """The mount points of this machine (Linux's /proc/self/mountinfo; none where unknown)."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            # (field 5, octal escapes for spaces and the like)
            return [Path(line.split()[4].encode().decode("unicode_escape")) for line in fh if len(line.split()) > 4]
    except OSError:
        return []


def check_replaceable(out: str | os.PathLike[str]) -> None:
    """Refuse an output folder that a run cannot take the place of safely: one that is or
    holds a mounted file system (a probe's run emptied a volume mounted inside ``--out``:
    what the folder holds is carried into the new one and the old one removed, down into the
    volume; ``--out /`` began copying the whole machine), or the folder a shell runs in.
    """
    out = Path(out).resolve()
    inside = sorted((m for m in _mount_points() if m == out or out in m.parents), key=lambda m: m != out)
    if inside:
        raise OutputError(f"{'is' if inside[0] == out else 'holds'} a mounted file system ({inside[0]}): a run puts a new folder in the "
                          "place of --out and removes the old one", path=out, hint="give --out a folder of its own, inside the volume")
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        return
    if cwd == out or out in cwd.parents:
        raise OutputError("is the folder this command runs in, or holds it: a run puts a new folder in its place, and the shell would be "
                          "left in a removed one", path=out, hint="give --out a folder of its own, such as --out results, or run from another folder")


def _link_others(old: Path, new: Path, own: tuple[str, ...]) -> None:
    """Link (or copy) into ``new`` what ``old`` holds beside a run's outputs ``own``."""
    for entry in old.iterdir():
        if entry.name in own or (new / entry.name).exists():
            continue
        target = new / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        elif entry.is_dir():
            shutil.copytree(entry, target, symlinks=True, copy_function=_link_or_copy)
            _same_owners(entry, target)
        else:
            _link_or_copy(entry, target)


def _same_owners(src: Path, dst: Path) -> None:
    """Give the folders of a copied tree their originals' owners, where this user may (a
    probe's run as root made the demo's nobody-owned inputs/ root's: its owner lost it).
    """
    for here, dirs, _ in os.walk(src):
        for d in [here, *(os.path.join(here, x) for x in dirs)]:
            with contextlib.suppress(OSError):
                st = os.lstat(d)
                os.lchown(dst / os.path.relpath(d, src), st.st_uid, st.st_gid)


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def replace_folder(new: Path, out: str | os.PathLike[str], own: tuple[str, ...]) -> None:
    """Put the folder ``new`` in the place of ``out``, in one step.

    What ``out`` holds besides the command's outputs ``own`` is linked into
    ``new`` first; then the two folders are swapped by one system call, and the old one is
    removed. A process killed before the swap leaves ``out`` as it was, after it the new
    files (and a stale folder beside, removed by the next run).

    Parameters
    ----------
    new : Path
        From :func:`new_folder`, holding the run's files.
    out : str or os.PathLike
        The output folder.
    own : tuple of str
        The names of the command's own outputs: an old one that the new folder lacks is not
        kept (a run's: :data:`geozones.outputs.OUTPUT_NAMES`).
    """
    out = Path(out).resolve()
    try:
        if not out.exists():
            os.rename(new, out)
            return
        if not out.is_dir():
            raise OutputError("is a file, not a folder", path=out, hint="choose a folder for --out")
        _link_others(out, new, own)
        if _exchange(new, out):
            _remove(new)  # (the old files, now at the new folder's name)
            return
        # a file system that cannot swap: two renames, the old folder kept aside until the end
        old = out.parent / f".{out.name}{_OLD}{os.getpid()}-{new.name[-8:]}"
        try:
            os.rename(out, old)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            _replace_files(new, out, own)  # (a folder overlayfs cannot move: Docker's image layers)
            return
        try:
            os.rename(new, out)
        except BaseException:
            os.rename(old, out)
            raise
        _remove(old)
    finally:
        _unlock(new)


def _replace_files(new: Path, out: Path, own: tuple[str, ...]) -> None:
    """Put a run's files into ``out`` one by one, where ``out`` cannot be moved."""
    log.warning("%s cannot be moved on its file system (a folder of a container's image): its files are replaced one by one, "
                "so a run stopped meanwhile may leave old and new ones together", out)
    for name in own:
        if (new / name).exists():
            os.replace(new / name, out / name)
        elif (out / name).is_file():
            (out / name).unlink()
    _remove(new)


def discard_folder(new: Path, wait: Callable[[], object] | None = None) -> None:
    """Remove a run's new folder after a failure (``out`` is left as it was).

    A second interrupt while it cleans up (Ctrl-C pressed twice, a scheduler's SIGTERM
    sent again, or by two threads' writes) does not cut the clean-up short: it had left
    the half-made folder beside ``out`` until the next run.

    Parameters
    ----------
    new : Path
        From :func:`new_folder`.
    wait : callable, optional
        Called first, to wait for threads still writing into ``new``.
    """
    for _ in range(100):  # (each pass is cut short by one more interrupt at most)
        try:
            if wait is not None:
                wait()
            with contextlib.suppress(OSError):
                shutil.rmtree(new)
            _unlock(new)
            return
        except KeyboardInterrupt:
            continue


@contextlib.contextmanager
def filling(new: Path, out: str | os.PathLike[str], wait: Callable[[], object] | None = None) -> Iterator[Path]:
    """Write a run's files into ``new`` (from :func:`new_folder`): on any failure the folder
    is removed (:func:`discard_folder`; ``out`` is left as it was), and a system error names
    the file as it is in ``out``, or ``out`` itself, not the hidden new folder (a probe's
    full disk named no file at all).

    Parameters
    ----------
    new : Path
    out : str or os.PathLike
        The output folder ``new`` takes the place of.
    wait : callable, optional
        As for :func:`discard_folder`.
    """
    try:
        yield new
    except OSError as exc:
        discard_folder(new, wait=wait)
        raise OSError(*error_words(exc), _as_in_out(exc.filename, new, Path(out))) from exc
    except BaseException:
        discard_folder(new, wait=wait)
        raise


def error_words(exc: OSError) -> tuple[int | None, str]:
    """The error number of ``exc`` and its words: where it has none, the number its text
    gives ("[errno 28]": Arrow's and shutil's errors carry it there only) and that number's
    words, else the text on one line.
    """
    import re

    code = exc.errno
    if code is None and (m := re.search(r"\[errno (\d+)\]", str(exc), re.IGNORECASE)):
        code = int(m.group(1))
    return code, exc.strerror or (os.strerror(code) if code else " ".join(str(exc).split()))


def _as_in_out(name, new: Path, out: Path) -> str:
    if name is None:
        return os.fspath(out)
    try:
        return os.fspath(out / Path(os.fsdecode(name)).relative_to(new))
    except (TypeError, ValueError):  # (a file elsewhere: as it is)
        return os.fsdecode(name) if isinstance(name, (str, bytes)) else os.fspath(out)
