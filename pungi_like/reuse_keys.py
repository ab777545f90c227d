"""What a unit's key covers besides its declared inputs, and file digests (see
``pungi_like.reuse``)."""

import gzip
import hashlib
import json
import os
import threading
import zlib

from .digest_prefill import holders as search_order, search_needles

_digest_cache = {}
#: (sha256, size, needles) -> {needle: found} of a gzip file's bytes searched decompressed
_compressed_found = {}
_digest_lock = threading.Lock()
#: digest_prefill.Prefill objects still running (a child hashing files for the records)
_prefills = []
#: how long file_digest waits for a running prefill before reading a file itself (s)
PREFILL_WAIT = 120


def _stat_id(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def file_digest(path, needles=(), st=None):
    """(sha256, {needle: found}) of a file, in one read; gzip files are searched decompressed
    as well. Cached per inode, size and mtime (hard links of one file are read once); ``st``:
    the file's stat when the caller has it."""
    if st is None:
        st = os.stat(path)
    key = (_stat_id(st), tuple(needles))
    with _digest_lock:
        if key in _digest_cache:
            return _digest_cache[key]
    result = _known_digest(path, st, needles)
    if result is not None:
        with _digest_lock:
            _digest_cache[key] = result
        return result
    if st.st_nlink > 1 and wait_prefills(key[1]):
        # a hard link: a child may be hashing its file (the package set's, digest_prefill)
        with _digest_lock:
            if key in _digest_cache:
                return _digest_cache[key]
    # unbuffered reads sized to the file: a buffered read of 1 MiB allocates 1 MiB for each
    # of the package set's 10,000+ small RPMs
    want = min(st.st_size + 1, 1 << 20)
    fd = os.open(path, os.O_RDONLY)
    try:
        first = os.read(fd, want)
        h = hashlib.sha256(first)
        # the first read's bytes searched as they are (a file below 1 MiB is all in it)
        needles = key[1]
        order, inner = search_order(needles)
        hits = [False] * len(needles)
        search_needles(first, needles, hits, order, inner)
        chunk = os.read(fd, want) if first else b""
        if chunk:
            keep = max(len(n) for n in needles) if needles else 1
            tail = first[-keep:]
            while chunk:
                h.update(chunk)
                if needles:
                    window = tail + chunk
                    search_needles(window, needles, hits, order, inner)
                    tail = window[-keep:]
                chunk = os.read(fd, want)
        found = dict(zip(needles, hits))
    finally:
        os.close(fd)
    if needles and path.endswith(".gz") and not any(found.values()):
        compressed_key = (h.hexdigest(), st.st_size, tuple(needles))
        with _digest_lock:
            known = _compressed_found.get(compressed_key)
    else:
        known = compressed_key = None
    if known is not None:
        found = dict(known)   # the same bytes searched decompressed already (a copy's)
    elif compressed_key is not None:
        try:
            keep = max(len(n) for n in needles)
            with open(path, "rb") as fh:
                packed = fh.read()
            tail = b""
            for chunk in gunzip_pieces(packed):
                window = tail + chunk
                for n in needles:
                    if n in window:
                        found[n] = "compressed"
                if all(found.values()):
                    break   # every needle found: the rest changes nothing
                tail = window[-keep:]
        except (OSError, EOFError):
            pass
        else:
            with _digest_lock:
                _compressed_found[compressed_key] = dict(found)
    result = (h.hexdigest(), found)
    with _digest_lock:
        _digest_cache[key] = result
    return result


def add_prefill(prefill):
    """A :class:`~pungi_like.digest_prefill.Prefill` started: :func:`file_digest` waits for it
    before reading a hard-linked file itself, with the same needles."""
    with _digest_lock:
        _prefills.append(prefill)


def remove_prefill(prefill):
    with _digest_lock:
        if prefill in _prefills:
            _prefills.remove(prefill)


#: the largest piece :func:`gunzip_pieces` decompresses in one call
GUNZIP_PIECE = 8 << 20


def gunzip_pieces(packed, piece=None):
    """The decompressed bytes of ``packed`` (a gzip file's bytes, members one after the other,
    zero padding between them allowed as ``gzip`` does) in pieces of up to ``piece`` bytes, one
    zlib call a piece. ``gzip.open``'s reads decompressed 8 KiB of the file a call, and each
    call gave the interpreter lock up and waited to take it back: the package set repo's
    metadata searched and normalised by the record thread beside two threads running Python
    took 0.9-1.1 s of wall for 0.1 s of CPU. As ``gzip``: EOFError when a member is cut short,
    ``gzip.BadGzipFile`` when what follows a member is not one, zlib.error when a member's data
    is not deflate's."""
    piece = piece or GUNZIP_PIECE
    rest = packed
    while rest:
        if rest[:2] != b"\x1f\x8b":
            raise gzip.BadGzipFile(f"Not a gzipped file ({rest[:2]!r})")
        unpack = zlib.decompressobj(31)   # a gzip member: header and trailer checked by zlib
        data = rest
        while data and not unpack.eof:
            out = unpack.decompress(data, piece)
            if out:
                yield out
            data = unpack.unconsumed_tail
        if not unpack.eof:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        rest = unpack.unused_data.lstrip(b"\0")


def after_fork_in_child():
    """In a child forked from a process whose other threads may have held this module's lock
    (``scheduler.record_child``): a lock of its own, and no prefill to wait for (the parent's
    children are not its own; what the parent had not taken of them is read)."""
    global _digest_lock, _prefills
    _digest_lock = threading.Lock()
    _prefills = []


def prefilled(ident, needles, digest, found):
    """The digest of the file of ``ident`` (device, inode, size, mtime_ns) computed elsewhere
    (a prefill's child), as :func:`file_digest` would have computed it."""
    with _digest_lock:
        _digest_cache.setdefault((tuple(ident), tuple(needles)), (digest, found))


def wait_prefills(needles):
    """Wait for the running prefills of ``needles`` (at most :data:`PREFILL_WAIT` s each);
    True when there was one."""
    with _digest_lock:
        running = [p for p in _prefills if p.needles == tuple(needles)]
    for prefill in running:
        prefill.wait(PREFILL_WAIT)
    return bool(running)


#: (inode, size, mtime_ns) -> (path, sha256) of old composes' recorded files (``remember``)
_known = {}


def remember(entries):
    """Files an old compose recorded, as (path, record entry): their digests are taken instead
    of read again for a file that is the very same inode, unchanged (``_known_digest``). Only
    entries whose bytes did not name the old compose are taken."""
    if os.environ.get("PUNGI_LIKE_REUSE_VERIFY") == "full":
        return
    found = {}
    for path, entry in entries:
        ident = entry.get("stat")
        if entry.get("names_compose") is False and ident and len(ident) == 3:
            found[tuple(ident)] = (path, entry["sha256"])
    with _digest_lock:
        _known.update(found)


def note_digests(items, needles=()):
    """Digests the caller knows: ``((device, inode, size, mtime_ns), sha256)`` of files whose
    bytes name none of ``needles`` (an old record's entries of the very files, unchanged:
    ``phases.pkgset.entries_from_old``), cached as ``file_digest`` caches what it computes."""
    needles = tuple(needles)
    with _digest_lock:
        for ident, sha256 in items:
            _digest_cache[(tuple(ident), needles)] = (sha256, {n: False for n in needles})


def is_cached(st, needles=()):
    """Is the digest of the file with this stat already known to this process?"""
    with _digest_lock:
        return (_stat_id(st), tuple(needles)) in _digest_cache


def _known_digest(path, st, needles):
    """The recorded digest of ``path`` when an old compose recorded this very file (the same
    device and inode, checked by a stat of the old path, with the same size and mtime: the
    fast path of ``reuse.verify_file``), else None. The bytes did not name the old compose
    when recorded and are unchanged since, so they cannot name a compose made after it (nor,
    on --resume, this same compose): no needle is found."""
    with _digest_lock:
        known = _known.get((st.st_ino, st.st_size, st.st_mtime_ns))
    if known is None:
        return None
    try:
        old = os.stat(known[0])
    except OSError:
        return None
    if _stat_id(old) != _stat_id(st):
        return None
    return known[1], {n: False for n in needles}


def content_inputs(compose, unit):
    """The content behind a unit's inputs, for its key: the compose-wide options and the
    variants file (which every phase reads), the bytes of every file and repo the inputs name
    (a repo by its repomd.xml), and, for a package set from a build service, the RPMs the tags
    hold now with their signed copies."""
    conf = getattr(compose, "conf", None)
    if conf is None:
        return {}
    cache = getattr(compose, "_reuse_global_inputs", None)
    if cache is None:
        from .config import global_options

        values = {o.name: getattr(conf, o.name, None) for o in global_options.OPTIONS}
        try:
            variants = _path_digest(conf.resolve_path(conf.variants_file))
        except Exception:  # noqa: B902 - an scm variants file: its copy in work/ is compared
            variants = str(conf.variants_file)
        cache = {"software": software_digest(), "options": values, "variants": variants,
                 "source_date_epoch": os.environ.get("SOURCE_DATE_EPOCH"),
                 "skipped_phases": sorted(getattr(compose, "skipped_phases", ()) or ())}
        compose._reuse_global_inputs = cache
    found = {}
    base = getattr(conf, "config_dir", None)

    def visit(value):
        if isinstance(value, str):
            check(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                visit(k)
                visit(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                visit(v)

    def check(text):
        if not text or len(text) > 4096 or "\n" in text:
            return
        path = text[len("file://"):] if text.startswith("file://") else text
        if not os.path.isabs(path):
            if not base or "/" not in path and "." not in path:
                return
            path = os.path.join(base, path)
        if path.startswith(compose.topdir + os.sep):
            return  # the compose's own files are covered by the units that made them
        digest = _path_digest(path)
        if digest:
            found[text] = digest

    visit(unit.inputs)
    result = {"global": cache, "files": found}
    if unit.name == "pkgset.global" and getattr(conf, "pkgset_source", None) == "koji":
        result["koji"] = koji_fingerprint(compose)
    return result


def software_digest():
    """The version of pungi_like: another release may make other bytes, so nothing is reused
    across one (as in Pungi, the code itself is not hashed)."""
    import pungi_like

    return pungi_like.__version__


def _path_digest(path):
    if os.path.isfile(path):
        return file_digest(path)[0]
    if os.path.isdir(path):
        repomd = os.path.join(path, "repodata", "repomd.xml")
        if os.path.isfile(repomd):
            return "repo:" + file_digest(repomd)[0]
        listing = []
        for base, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(base, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                listing.append((os.path.relpath(full, path), st.st_size, st.st_mtime_ns))
                if len(listing) > 20000:
                    return "dir:too-large:" + str(os.stat(path).st_mtime_ns)
        return "dir:" + hashlib.sha256(json.dumps(listing).encode()).hexdigest()
    return None


def koji_fingerprint(compose):
    """What a koji package set would hold if it ran now: per RPM the copy it would take (the
    first of ``sigkeys`` signed copies that exists, else unsigned) - the same look-ups as the
    phase, without linking or writing anything."""
    from phases.pkgset import PkgsetPhase, nvra

    koji = compose.koji
    if koji is None:
        return None
    phase = PkgsetPhase(compose)
    event = koji.get_event(compose.koji_event) if compose.koji_event else None
    if event is None:
        path = os.path.join(compose.paths.work_dir("global"), "koji-event")
        if os.path.exists(path):   # a resumed compose keeps its event
            with open(path, encoding="utf-8") as fh:
                event = koji.get_event(json.load(fh)["id"])
        else:
            event = koji.get_event(None)
            # the phase reads this event if it runs: the key and the package set agree
            from .fileutil import write_json_atomic

            write_json_atomic(path, {"id": event["id"], "ts": event["ts"]})
    import io

    chosen = phase.koji_builds(koji, event, io.StringIO())
    allowed = phase.koji_arches()
    wanted = [(build, rpm) for name in sorted(chosen) for build, rpms in [chosen[name]]
              for rpm in sorted(rpms, key=nvra) if rpm["arch"] in allowed]
    keys = [k.lower() for k in (compose.conf.sigkeys or [None]) if k]
    picked = []
    for build, rpm in wanted:
        for key in keys + [None]:
            if koji.exists(koji.rpm_path(build, rpm, key)):
                picked.append([nvra(rpm), rpm["id"], key])
                break
        else:
            picked.append([nvra(rpm), rpm["id"], "missing"])
    return hashlib.sha256(json.dumps(picked).encode()).hexdigest()
