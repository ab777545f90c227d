"""Fetch the repodata of a remote (http/https) yum repository into a local directory.

What kojid gets from mergerepo_c/librepo when an external repo is a URL: ``repodata/repomd.xml``
and the metadata files it lists (primary, filelists, other; group files too when asked), each
checked against the checksum repomd.xml gives.  The package files are not fetched: a merged repo
points at them with ``xml:base``.

A mirror is hostile input: every download is bounded in size (``repomd.xml`` by
:data:`MAX_REPOMD_BYTES`, each metadata file by :data:`MAX_METADATA_BYTES`, each kind fetched
once: createrepo_c keeps one record per kind) and in time (connect and each read by ``timeout``
seconds, the whole fetch by ``total_timeout``), ``location_href`` values may not leave the repo,
and every failure is a :class:`RemoteRepoError` naming the URL that failed and why (HTTP status,
network error, size, checksum) - never a traceback.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from ..lazyimport import lazy_module

from ..errors import PungiLikeError

cr = lazy_module("createrepo_c", globals(), "cr")

#: Upper bound of repomd.xml (real ones are a few KiB).
MAX_REPOMD_BYTES = 4 * 1024 * 1024
#: Upper bound of one metadata file (Fedora's compressed filelists is about 60 MiB).
MAX_METADATA_BYTES = 1024 * 1024 * 1024
#: Seconds for the connection and for each read.
DEFAULT_TIMEOUT = 60.0
#: Seconds for the whole fetch (a mirror sending a byte every few seconds never trips the
#: per-read timeout).
DEFAULT_TOTAL_TIMEOUT = 3600.0
#: The metadata a merge needs.
DEFAULT_KINDS = ("primary", "filelists", "other")

_CHUNK = 1024 * 1024
_HASHES = {"sha": "sha1", "sha1": "sha1", "sha224": "sha224", "sha256": "sha256",
           "sha384": "sha384", "sha512": "sha512", "md5": "md5"}


class RemoteRepoError(PungiLikeError):
    pass


def is_remote(url):
    """Whether ``url`` names a repo this module fetches (http or https)."""
    return urllib.parse.urlsplit(url).scheme.lower() in ("http", "https")


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s) URLs (urllib would also follow one to ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not is_remote(newurl):
            raise RemoteRepoError(f"{req.full_url}: redirected to {newurl}, which is not an "
                                  f"http(s) URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(url, dest, limit, timeout, context, deadline=None):
    """Stream ``url`` to ``dest`` (at most ``limit`` bytes, done before the monotonic
    ``deadline``); returns the byte count."""
    req = urllib.request.Request(url, headers={"User-Agent": "pungi-like-builder"})
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                         _HttpOnlyRedirects())
    tmp = dest + ".part"
    try:
        with opener.open(req, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise RemoteRepoError(f"{url}: {length} bytes is more than the limit of "
                                      f"{limit} bytes")
            size = 0
            with open(tmp, "wb") as out:
                while True:
                    # read1: what has arrived (read() would wait for the whole chunk, so
                    # a trickle would never reach the deadline check)
                    chunk = resp.read1(_CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if deadline is not None and time.monotonic() > deadline:
                        raise RemoteRepoError(f"{url}: the fetch did not finish in time (the "
                                              f"limit for a repo's metadata was reached)")
                    if size > limit:
                        raise RemoteRepoError(f"{url}: more than the limit of {limit} bytes")
                    out.write(chunk)
        os.replace(tmp, dest)
        return size
    except urllib.error.HTTPError as exc:
        raise RemoteRepoError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            reason = f"no answer within {timeout:g} s"
        raise RemoteRepoError(f"{url}: cannot connect: {reason}") from None
    except (socket.timeout, TimeoutError):
        raise RemoteRepoError(f"{url}: no data within {timeout:g} s") from None
    except OSError as exc:  # connection resets, TLS errors during the transfer, ...
        raise RemoteRepoError(f"{url}: download failed: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _safe_href(href):
    """``href`` as a relative path inside the repo, or None when it would leave it."""
    if not href or "\\" in href or "\0" in href:
        return None
    norm = posixpath.normpath(href)
    if norm.startswith(("/", "../")) or norm in (".", ".."):
        return None
    return norm


def _check_digest(path, kind, algo, expected, url):
    name = _HASHES.get((algo or "").lower())
    if not name or not expected:
        raise RemoteRepoError(f"{url}: repomd.xml gives no usable checksum for {kind} "
                              f"({algo or 'none'})")
    digest = hashlib.new(name)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        raise RemoteRepoError(f"{url}: {algo} checksum mismatch for {kind} (repomd.xml says "
                              f"{expected}, got {digest.hexdigest()})")


def fetch_repodata(url, dest, *, kinds=DEFAULT_KINDS, timeout=DEFAULT_TIMEOUT,
                   max_repomd=MAX_REPOMD_BYTES, max_file=MAX_METADATA_BYTES, cafile=None,
                   total_timeout=DEFAULT_TOTAL_TIMEOUT):
    """Download ``url``'s repomd.xml and its ``kinds`` of metadata under ``dest``.

    ``dest`` then holds ``repodata/repomd.xml`` and the files at their ``location_href``, so
    createrepo_c (``cr.Metadata().locate_and_load_xml(dest)``) reads it as a local repo.
    Kinds repomd.xml does not list are skipped (createrepo_c keeps one record per kind, so each
    kind is fetched once).  Returns ``dest``.
    """
    deadline = time.monotonic() + total_timeout
    if not is_remote(url):
        raise RemoteRepoError(f"{url}: not an http(s) URL")
    base = url if url.endswith("/") else url + "/"
    context = ssl.create_default_context(cafile=cafile) if base.lower().startswith("https:") \
        else None
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(os.path.join(dest, "repodata"))
    repomd_url = urllib.parse.urljoin(base, "repodata/repomd.xml")
    repomd_path = os.path.join(dest, "repodata", "repomd.xml")
    _download(repomd_url, repomd_path, max_repomd, timeout, context, deadline)
    try:
        repomd = cr.Repomd(repomd_path)
    except Exception as exc:  # createrepo_c raises its own error type with a message
        raise RemoteRepoError(f"{repomd_url}: not a valid repomd.xml ({exc})") from None
    found = set()
    for rec in repomd.records:
        if rec.type not in kinds:
            continue
        href = _safe_href(rec.location_href)
        if href is None:
            raise RemoteRepoError(f"{repomd_url}: {rec.type} location {rec.location_href!r} "
                                  f"is outside the repo")
        file_url = urllib.parse.urljoin(base, urllib.parse.quote(href))
        path = os.path.join(dest, *href.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _download(file_url, path, max_file, timeout, context, deadline)
        _check_digest(path, rec.type, rec.checksum_type, rec.checksum, file_url)
        found.add(rec.type)
    if "primary" in kinds and "primary" not in found:
        raise RemoteRepoError(f"{repomd_url}: lists no primary metadata")
    return dest
