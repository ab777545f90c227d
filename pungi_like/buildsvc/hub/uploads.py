"""File uploads into ``<topdir>/work/<path>/<name>`` (Koji's fast path and checkUpload).

A chunk is POSTed with ``?filename&filepath&fileverify&offset[&overwrite]`` and an
``application/octet-stream`` body; the answer is an XML-RPC struct with the chunk's size and
adler32 digest. The directory records its owner in ``.user``; other users may not write to it.
Files are written in place; they only become visible to the rest of the hub when imported, which
moves them atomically.
"""

from __future__ import annotations

import base64
import os
import urllib.parse
import zlib

import koji

from . import auth
from .context import context
from .dispatch import encode_fault, encode_result, exception_fault
from .registry import export, read_only


def _target(relpath, name):
    if not isinstance(relpath, str) or not isinstance(name, str):
        raise koji.ParameterError("upload path and name must be strings")
    if not name or name.startswith(".") or "/" in name:
        raise koji.GenericError("Invalid upload filename: %r" % name)
    try:
        directory = context.hub.pathinfo.upload_dir(relpath)
    except ValueError as exc:
        raise koji.GenericError(str(exc)) from None
    return directory, os.path.join(directory, name)


def _claim(directory):
    """Make sure the session user may write to ``directory``; record them as its owner."""
    if not context.user:
        raise koji.ActionNotAllowed("you must be logged in to upload")
    os.makedirs(directory, exist_ok=True)
    marker = os.path.join(directory, ".user")
    uid = str(context.user["id"])
    try:
        with open(marker, "x") as f:
            f.write(uid)
    except FileExistsError:
        with open(marker) as f:
            owner = f.read().strip()
        if owner != uid:
            # a task freed from one builder and run by another writes to the same task dir
            tasks_dir = os.path.join(context.hub.pathinfo.work(), "tasks") + os.sep
            if not (directory.startswith(tasks_dir)
                    and context.user["usertype"] == koji.USERTYPES["HOST"]):
                raise koji.GenericError("Invalid upload directory, not owner: %s" % directory)
            with open(marker, "w") as f:
                f.write(uid)


def _write_chunk(path, data, offset, overwrite):
    mode = "r+b" if os.path.exists(path) else "wb"
    with open(path, mode) as f:
        if offset == -1:
            f.seek(0, os.SEEK_END)
        else:
            if overwrite:
                f.truncate(offset)
            f.seek(offset)
        f.write(data)


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
            directory, path = _target(arg("filepath"), arg("filename"))
            _claim(directory)
            verify = arg("fileverify")
            if verify not in (None, "adler32"):
                raise koji.GenericError("Unsupported verify type: %s" % verify)
            offset = int(arg("offset", "0"))
            overwrite = arg("overwrite") not in (None, "", "0")
            _write_chunk(path, body, offset, overwrite)
            result = {"size": len(body), "fileverify": "adler32",
                      "offset": offset, "hexdigest": "%08x" % (zlib.adler32(body) & 0xFFFFFFFF)}
        return encode_result(result)
    except Exception as exc:
        return encode_fault(*exception_fault(exc))
    finally:
        context.reset()


@read_only
def checkUpload(path, name, verify=None, tail=None, volume=None):
    """Size, mtime and (with ``verify``) the adler32 of an upload, or None if absent."""
    directory, full = _target(path, name)
    if not context.user:
        raise koji.ActionNotAllowed("you must be logged in to check uploads")
    if not os.path.isfile(full):
        return None
    st = os.stat(full)
    info = {"size": st.st_size, "mtime": st.st_mtime}
    if verify:
        if verify != "adler32":
            raise koji.GenericError("Unsupported verify type: %s" % verify)
        value = 1
        length = 0
        with open(full, "rb") as f:
            if tail is not None:
                f.seek(max(0, st.st_size - int(tail)))
            for chunk in iter(lambda: f.read(1 << 20), b""):
                value = zlib.adler32(chunk, value)
                length += len(chunk)
        info["sumlength"] = length
        info["hexdigest"] = "%08x" % (value & 0xFFFFFFFF)
    return info


@export
def uploadFile(path, name, size, chksum, offset, data, volume=None):
    """The legacy base64 upload (used by old clients and kojid's log uploads)."""
    directory, full = _target(path, name)
    _claim(directory)
    raw = base64.b64decode(data) if data else b""
    if offset != -1:
        _write_chunk(full, raw, offset, overwrite=True)
    return True
