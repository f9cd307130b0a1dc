"""Owner-only local state, written atomically: the token file, the rescue journal and the lock files.

One rule for who owns it: the state directory of a host belongs to one user, the one Airflow runs as
(the owner of the directory). A process of another user gets a clear error that names the file, its
owner and the fix, never a raw ``PermissionError``. A process running as root (an admin running
``airflow lockit refresh``) hands every file and directory it creates, or finds created by root,
over to the directory's owner, so the Airflow user can still lock and replay after it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import re
import stat
import tempfile
import time
from pathlib import Path

from lockit_provider.exceptions import LockitConfigError

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_GROUP_OR_WORLD_WRITABLE = stat.S_IWGRP | stat.S_IWOTH


def effective_uid() -> int:
    """Return the user this process acts as (a function so tests can play another user)."""
    return os.geteuid()


def safe_filename(key: str) -> str:
    """Return a file name for ``key``: its safe characters plus a hash, so distinct keys never collide."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return f"{_UNSAFE.sub('_', key).lstrip('.')[:80]}-{digest}"  # no hidden files, no '..'


def user_name(uid: int) -> str:
    """Return the login name of ``uid``, or ``uid N`` when it has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def ownership_error(path: Path, kind: str, owner: int) -> LockitConfigError:
    """Say that ``path`` belongs to another user, and how to put it right either way."""
    me, them = user_name(effective_uid()), user_name(owner)
    return LockitConfigError(
        f"the {kind} {path} belongs to {them}, not to {me} who runs this process. Lockit's local state "
        f"on a host belongs to the user Airflow runs as: if that is {me}, hand it over with "
        f"`sudo chown -R {me} {path}`; otherwise run this as {them} (e.g. `sudo -u {them} airflow lockit "
        "...`). A command run as root hands what it creates to the directory's owner by itself",
        field="state_dir",
    )


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` owner-only (0700) with any missing parents; check and tighten it if it exists.

    An existing directory we own that others may use is tightened to 0700: anyone who can write in it
    could swap a lock file or plant a journal entry. One that belongs to another user is
    an error naming it (or, for root, is handed over to its parent's owner).
    """
    missing: list[Path] = []
    current = directory
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
            _adopt_parent_owner(path)
    _check_own_dir(directory)


def _check_own_dir(directory: Path) -> None:
    try:
        info = os.stat(directory)  # a symlinked state directory is the operator's choice: follow it
    except OSError as error:
        raise LockitConfigError(
            f"the state directory {directory} cannot be used ({error.strerror or type(error).__name__}): "
            "set the connection extra 'state_dir' to a directory the Airflow user can write",
            field="state_dir",
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise LockitConfigError(
            f"the state directory {directory} is not a directory: remove it, or set the connection extra "
            "'state_dir' elsewhere",
            field="state_dir",
        )
    uid = effective_uid()
    if info.st_uid != uid:
        if uid != 0:
            raise ownership_error(directory, "state directory", info.st_uid)
        return  # root may use any directory; what it creates goes to the directory's owner
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(directory, 0o700)
        if info.st_mode & _GROUP_OR_WORLD_WRITABLE:
            logger.warning("Tightened %s to 0700: it was writable by other users", directory)


def _adopt_parent_owner(path: Path) -> None:
    """As root, give ``path`` to the owner of its directory (so the Airflow user can still use it)."""
    if effective_uid() != 0:
        return
    with contextlib.suppress(OSError):
        parent = os.stat(path.parent)
        if parent.st_uid != 0 and os.lstat(path).st_uid != parent.st_uid:
            os.chown(path, parent.st_uid, parent.st_gid, follow_symlinks=False)


def prepare_lock_file(path: Path) -> None:
    """Make ``path`` safe to hand to ``FileLock``: a plain file of ours in a private directory.

    A symbolic link at the lock path is refused (a lock would follow it to whatever it names); a
    file of another user is an error naming it, its owner and the fix.
    """
    make_private_dir(path.parent)
    _strip_group_world_write(path.parent.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    except OSError as error:
        raise LockitConfigError(
            f"the lock file {path} cannot be created ({error.strerror or type(error).__name__}): set the "
            "connection extra 'state_dir' to a directory the Airflow user can write",
            field="state_dir",
        ) from None
    else:
        os.close(fd)
        _adopt_parent_owner(path)
        return
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise LockitConfigError(
            f"the lock file {path} is a symbolic link (to {os.readlink(path)!r}); a lock file must be a "
            f"plain file, or locking would follow the link. Remove the link (`rm {path}`): the provider "
            "creates the lock file itself",
            field="state_dir",
        )
    if not stat.S_ISREG(info.st_mode):
        raise LockitConfigError(
            f"the lock file {path} is not a plain file: remove it (the provider creates it itself)",
            field="state_dir",
        )
    if effective_uid() == 0:
        _adopt_parent_owner(path)  # e.g. left root-owned by an older version run as root
    elif info.st_uid != effective_uid():
        raise ownership_error(path, "lock file", info.st_uid)


def _strip_group_world_write(directory: Path) -> None:
    """Take write access away from group and others on a directory of ours that holds our state.

    Only the write bits: the state directory may be one that others need to read or traverse.
    """
    with contextlib.suppress(OSError):
        info = os.stat(directory)
        if info.st_uid == effective_uid() and info.st_mode & _GROUP_OR_WORLD_WRITABLE:
            os.chmod(directory, stat.S_IMODE(info.st_mode) & ~_GROUP_OR_WORLD_WRITABLE)
            logger.warning("Removed group and world write access from %s", directory)


def check_private_file(path: Path, kind: str) -> None:
    """Raise the ownership error when ``path`` exists and belongs to another user (root excepted)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if info.st_uid != effective_uid() and effective_uid() != 0:
        raise ownership_error(path, kind, info.st_uid)


def write_private_file(path: Path, data: bytes, *, visible_first: bool = False) -> None:
    """Replace ``path`` with ``data`` atomically; the file is readable by its owner only.

    A reader sees the old or the new content, never a torn write; the fsyncs make a rename that
    survived a crash also hold its data, and the content is on disk when this returns.

    ``visible_first`` renames before syncing: the next process sees the new content within a fraction
    of a millisecond instead of after two fsyncs (several ms on network disks), which is what counts
    when this process may be killed any moment. Only a power loss inside that window can leave a
    damaged file, so it is for files whose readers survive one (the rescue journal quarantines it).
    """
    tmp = _write_temp_beside(path, data, publish_first=visible_first)
    if not visible_first:
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    _fsync_dir(path.parent)


def create_private_file_once(path: Path, data: bytes) -> bytes:
    """Create ``path`` with ``data`` unless it exists; return the content that won (race-free)."""
    tmp = _write_temp_beside(path, data)
    try:
        # link() fails when the name exists, so two processes creating it at once agree on one content.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return read_private_file(path)


def read_private_file(path: Path, limit: int = 1 << 20) -> bytes:
    """Return the content of the plain file ``path`` without following a symbolic link at it.

    Raises ``OSError`` (``ELOOP`` for a link, ``IsADirectoryError`` for a directory) when it is not
    a plain file, and ``ValueError`` when it is larger than ``limit`` bytes.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise IsADirectoryError(f"{path} is not a plain file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit} bytes")
    return data


def quarantine(path: Path, now: float | None = None) -> Path | None:
    """Move ``path`` (file, directory or link) aside as ``<name>.quarantined-<UTC time>``, owner-only.

    Returns the new path, or None when it cannot be moved (e.g. a directory we may not write).
    """
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    target = path.with_name(f"{path.name}.quarantined-{stamp}")
    suffix = 0
    while os.path.lexists(target):
        suffix += 1
        target = path.with_name(f"{path.name}.quarantined-{stamp}-{suffix}")
    try:
        os.rename(path, target)  # renames a link itself, never what it points to
    except OSError:
        return None
    with contextlib.suppress(OSError):
        mode = os.lstat(target).st_mode
        if not stat.S_ISLNK(mode):
            os.chmod(target, 0o700 if stat.S_ISDIR(mode) else 0o600)
    _adopt_parent_owner(target)
    return target


def _write_temp_beside(path: Path, data: bytes, *, publish_first: bool = False) -> str:
    """Write ``data`` to a new owner-only (0600) temporary file next to ``path``; return its name.

    ``publish_first`` renames it over ``path`` before the fsync (see :func:`write_private_file`).
    """
    make_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if publish_first:
                os.replace(tmp, path)
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _adopt_parent_owner(path if publish_first else Path(tmp))
    return tmp


def _fsync_dir(directory: Path) -> None:
    """Flush a directory entry change (a rename) to disk where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
