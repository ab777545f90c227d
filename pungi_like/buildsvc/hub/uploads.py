"""File uploads into ``<topdir>/work/<path>/<name>`` (Koji's fast path and checkUpload).

A chunk is POSTed with ``?filename&filepath&fileverify&offset[&overwrite]`` and an
``application/octet-stream`` body; the answer is an XML-RPC struct with the chunk's size and
adler32 digest. Files are written in place; they only become visible to the rest of the hub when
imported, which moves them atomically.

Who may write where (as Koji's ``get_upload_path``):

* ``tasks/<id % 10000>/<id>/...`` is a task's output: only the host holding task ``<id>`` OPEN
  writes there (hostcheck.py), so no user can plant files in a task's output and a host cannot
  write into a task it no longer holds (freed, re-taken, or held by another host);
* any other directory belongs to the first user who uploads into it: the directory records its
  owner in ``.user`` (written to a temporary file and linked into place, so a failed write, e.g.
  a full disk, never leaves an empty marker that would lock the directory forever).

Bounds (limits.py): a chunk may start only within the bytes already written and may not make the
file larger than ``max_upload_size``; ``checkUpload(verify=...)`` hashes at most that many bytes.
Faults name paths relative to ``work/``, never the hub's absolute paths.
"""

from __future__ import annotations

import base64
import errno
import fcntl
import hashlib
import os
import secrets
import stat
import urllib.parse
import zlib

import koji
import koji.util

from . import auth
from .common import as_int
from .context import context
from .dispatch import encode_fault, encode_result, exception_fault
from .limits import limits
from .registry import export, read_only

_VERIFY = {"adler32": koji.util.adler32_constructor, "md5": hashlib.md5,
           "sha256": hashlib.sha256}


def _verify_class(verify):
    if verify in (None, ""):
        return None
    if verify not in _VERIFY:
        raise koji.GenericError("Unsupported verify type: %s" % (verify,))
    return _VERIFY[verify]


def _target(relpath, name):
    """``(reldir, directory, path)`` of an upload; refuses names and paths leaving ``work/``."""
    if not isinstance(relpath, str) or not isinstance(name, str):
        raise koji.ParameterError("upload path and name must be strings")
    if not name or name.startswith(".") or "/" in name or "\0" in name:
        raise koji.GenericError("Invalid upload filename: %r" % name)
    reldir = os.path.normpath(relpath) if relpath else ""
    if reldir in ("", ".") or "\0" in reldir:
        raise koji.GenericError("Invalid upload directory: %r" % relpath)
    try:
        # the normalised path: ``koji import-cg`` uploads to "cli-import/<unique>/" (a trailing
        # slash Koji accepts); '..' that would leave work/ is still refused by upload_dir
        directory = context.hub.pathinfo.upload_dir(reldir)
    except ValueError as exc:
        raise koji.GenericError(str(exc)) from None
    return reldir, directory, os.path.join(directory, name)


def _task_of(reldir):
    """The task id of a ``tasks/<id % 10000>/<id>[/...]`` upload directory, else None."""
    parts = reldir.split("/")
    if parts[0] != "tasks":
        return None
    try:
        task_id = int(parts[2])
    except (IndexError, ValueError):
        task_id = None
    if task_id is None or task_id <= 0 or parts[1] != str(task_id % 10000):
        raise koji.GenericError("Invalid task upload directory: %s (expected "
                                "tasks/<id %% 10000>/<id>)" % reldir)
    return task_id


def authorize(reldir, directory):
    """Check that the session may write into ``reldir`` (see the module docstring); create it."""
    if not context.user:
        raise koji.ActionNotAllowed("you must be logged in to upload")
    task_id = _task_of(reldir)
    try:
        if task_id is not None:
            from .hostcheck import assert_task_held

            # only the host running this task writes its output
            assert_task_held(task_id)
            os.makedirs(directory, exist_ok=True)
            return
        os.makedirs(directory, exist_ok=True)
        _claim(directory, reldir)
    except OSError as exc:
        raise koji.GenericError("cannot use upload directory %s: %s"
                                % (reldir, exc.strerror or exc)) from None


def assert_upload_owner(directory, what):
    """Fault unless the caller may take files out of the upload directory ``directory`` (its
    full path, below ``work/``): the user who uploaded into it (its ``.user`` marker), or an
    admin. A task's output directory belongs to its task, never to an importing user."""
    from .common import has_perm

    if not context.user:
        raise koji.ActionNotAllowed("you must be logged in to import uploads")
    if has_perm("admin"):
        return
    reldir = os.path.relpath(directory, context.hub.pathinfo.work())
    owner = None if _task_of(reldir) is not None else \
        _read_owner(os.path.join(directory, ".user"))
    if owner != str(context.user["id"]):
        raise koji.ActionNotAllowed("%s: the upload directory %s was not uploaded to by %s"
                                    % (what, reldir, context.user["name"]))


def _read_owner(marker):
    try:
        with open(marker) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return text if text.isdigit() else ""


def _claim(directory, reldir):
    """Record the session user as the owner of ``directory`` (first upload) or check it."""
    marker = os.path.join(directory, ".user")
    uid = str(context.user["id"])
    owner = _read_owner(marker)
    if not owner:
        # absent, or empty/garbage (left by a failed write of an older hub): claim it. The
        # marker appears whole or not at all: written aside, then linked (or renamed) in.
        tmp = "%s.%s" % (marker, secrets.token_hex(8))
        try:
            with open(tmp, "x") as f:
                f.write(uid)
                f.flush()
                os.fsync(f.fileno())
            if owner is None:
                try:
                    os.link(tmp, marker)
                except FileExistsError:
                    pass   # another upload claimed it first; the check below decides
            else:
                os.replace(tmp, marker)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
        owner = _read_owner(marker)
    if owner != uid:
        raise koji.GenericError("Invalid upload directory, not owner: %s" % reldir)


def _open_upload(path, rel, create):
    """An fd of the upload file (never through a symlink: imports leave symlinks behind)."""
    flags = os.O_RDWR | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise koji.GenericError("destination is a symlink: %s" % rel) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise koji.GenericError("destination not a file: %s" % rel)
    return fd


def _check_size(rel, end, max_size):
    if end > max_size:
        raise koji.GenericError("upload %s would grow to %d bytes, over the hub's limit of %d "
                                "bytes (max_upload_size)" % (rel, end, max_size))


def write_chunk(path, rel, data, offset, overwrite):
    """Write ``data`` at ``offset`` (-1: append) within the bounds; returns the offset used."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < -1:
        raise koji.ParameterError("Invalid upload offset: %r" % (offset,))
    max_size = limits()["max_upload_size"]
    _check_size(rel, max(offset, 0) + len(data), max_size)
    try:
        try:
            fd = _open_upload(path, rel, create=False)
        except FileNotFoundError:
            if offset > 0:   # refused before anything is created
                raise koji.GenericError("upload offset %d is beyond the end of %s (no bytes "
                                        "written so far); chunks must be sent in order"
                                        % (offset, rel)) from None
            fd = _open_upload(path, rel, create=True)
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                raise koji.LockError("upload %s is being written by another call: %s"
                                     % (rel, exc.strerror)) from None
            size = os.fstat(fd).st_size
            if offset == -1:
                offset = size
            elif offset > size:
                raise koji.GenericError(
                    "upload offset %d is beyond the end of %s (%d bytes written so far); "
                    "chunks must be sent in order" % (offset, rel, size))
            _check_size(rel, offset + len(data), max_size)
            if overwrite:
                os.ftruncate(fd, offset)
            view = memoryview(data)
            pos = offset
            while view:
                n = os.pwrite(fd, view, pos)
                view = view[n:]
                pos += n
        finally:
            os.close(fd)
    except OSError as exc:
        # e.g. ENOSPC: say what failed where, relative to work/ (no absolute hub paths)
        raise koji.GenericError("upload of %s failed: %s" % (rel, exc.strerror or exc)) from None
    return offset


def handle_upload(hub, environ, body: bytes) -> str:
    """Answer one fast-path upload POST."""
    qs = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))

    def arg(name, default=None):
        return (qs.get(name) or [default])[0]

    try:
        with hub.db.engine.connect() as conn:
            context.reset()
            context.hub, context.conn, context.environ = hub, conn, environ
            context.method = "rawUpload"
            auth.load_session(environ)
            reldir, directory, path = _target(arg("filepath"), arg("filename"))
            verify = arg("fileverify")
            if verify not in (None, "", "adler32"):
                raise koji.GenericError("Unsupported verify type: %s" % verify)
            try:
                offset = int(arg("offset", "0"))
            except ValueError:
                raise koji.ParameterError("Invalid upload offset: %r" % arg("offset")) from None
            overwrite = arg("overwrite") not in (None, "", "0")
            # a task's row stays locked (PostgreSQL) while its output is written
            authorize(reldir, directory)
            offset = write_chunk(path, "%s/%s" % (reldir, arg("filename")), body, offset,
                                 overwrite)
            result = {"size": len(body), "fileverify": "adler32",
                      "offset": offset, "hexdigest": "%08x" % (zlib.adler32(body) & 0xFFFFFFFF)}
        return encode_result(result)
    except Exception as exc:
        return encode_fault(*exception_fault(exc))
    finally:
        context.reset()


@read_only
def checkUpload(path, name, verify=None, tail=None, volume=None):
    """Size, mtime and (with ``verify``) the digest of an upload, or None if absent; the digest
    covers at most ``max_upload_size`` bytes (no upload can be larger)."""
    reldir, _directory, full = _target(path, name)
    rel = "%s/%s" % (reldir, name)
    if not context.user:
        raise koji.ActionNotAllowed("you must be logged in to check uploads")
    sum_cls = _verify_class(verify)
    if tail is not None:
        tail = as_int(tail, "tail")
        if tail < 0:
            raise koji.GenericError("Invalid tail value: %r" % tail)
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise koji.GenericError("Not a regular file: %s" % rel) from None
        raise koji.GenericError("cannot read upload %s: %s" % (rel, exc.strerror)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise koji.GenericError("Not a regular file: %s" % rel)
        info = {"size": st.st_size, "mtime": st.st_mtime}
        if sum_cls is None:
            return info
        start = max(0, st.st_size - tail) if tail is not None else 0
        max_size = limits()["max_upload_size"]
        if st.st_size - start > max_size:
            raise koji.GenericError("%s has %d bytes to verify, over the hub's limit of %d "
                                    "(max_upload_size)" % (rel, st.st_size - start, max_size))
        digest = sum_cls()
        length = 0
        pos = start
        while length < st.st_size - start:
            chunk = os.pread(fd, min(1 << 20, st.st_size - start - length), pos)
            if not chunk:
                break
            digest.update(chunk)
            length += len(chunk)
            pos += len(chunk)
        info["sumlength"] = length
        info["hexdigest"] = digest.hexdigest()
        return info
    finally:
        os.close(fd)


@export
def uploadFile(path, name, size, chksum, offset, data, volume=None, checksum=None):
    """The legacy base64 upload (used by old clients and kojid's log uploads)."""
    reldir, directory, full = _target(path, name)
    authorize(reldir, directory)
    try:
        offset = koji.decode_int(offset)
    except (TypeError, ValueError):
        raise koji.ParameterError("Invalid upload offset: %r" % (offset,)) from None
    if not isinstance(data, str):
        raise koji.ParameterError("Invalid type for data: %s" % type(data).__name__)
    try:
        raw = base64.b64decode(data, validate=True) if data else b""
    except ValueError:
        raise koji.ParameterError("upload data is not valid base64") from None
    if offset != -1:
        write_chunk(full, "%s/%s" % (reldir, name), raw, offset, overwrite=True)
    return True
