"""imagechecksum: CHECKSUM files and checksums in images.json for every image."""

import hashlib
import mmap
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from phases import IMAGE_PHASES
from phases.base import PhaseBase
from pungi_like.config.options import Option
from pungi_like.digest_prefill import holders
from pungi_like.fileutil import write_atomic
from pungi_like.reuse_precheck import map_file

# hashlib's guaranteed algorithms except shake_*, whose digests need a length
CHECKSUM_TYPES = ["blake2b", "blake2s", "md5", "sha1", "sha224", "sha256", "sha384",
                  "sha3_224", "sha3_256", "sha3_384", "sha3_512", "sha512"]

OPTIONS = [
    Option("media_checksums",
           {"type": "array", "items": {"enum": CHECKSUM_TYPES}, "minItems": 1},
           default=["md5", "sha1", "sha256"],
           help="Checksum types computed for every image."),
    Option("media_checksum_one_file", {"type": "boolean"}, default=False,
           help="Write one `CHECKSUM` file per directory instead of one file per type "
                "(needs exactly one checksum type)."),
    Option("media_checksum_base_filename", {"type": "string"}, default="",
           help="Prefix of the checksum file names; a format string with the compose keys "
                "plus `variant`, `arch` and `dirname`."),
]


def file_digests(path, algorithms, bufsize=1 << 20):
    """Every digest of one file in a single read (hashlib releases the GIL on big buffers)."""
    hashes = {alg: hashlib.new(alg) for alg in algorithms}
    buf = bytearray(bufsize)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            for h in hashes.values():
                h.update(view[:n])
    return {alg: h.hexdigest() for alg, h in hashes.items()}


_noted = {}     # (path, device, inode, size, mtime_ns) -> {algorithm: hex digest}
_noted_lock = threading.Lock()


def _identity(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def note_image(path, algorithms, needles=None):
    """Compute the digests of an image the calling unit has just written (still in the page
    cache) and keep them for :func:`digests_of` in this process, as long as the file stays
    the very same (device, inode, size, mtime): the image units of a variant hash their own
    images beside one another, and the checksum unit, which follows them all, hashes only
    what was not noted (an image taken from an old compose, for one). With ``needles`` (the
    unit record's, bytes) and sha256 among ``algorithms``, the image is also searched for
    them, in a thread beside the digests, and the unit record's digest of it is handed to
    ``reuse_keys`` (``prefilled``): the record thread, which builds the DVD's record after
    the last units, does not read the image again. An image of :data:`MAPPED_MIN` bytes or
    more is hashed and searched over a mapping (:func:`_mapped_digests`)."""
    identity = _identity(path)
    wanted = tuple(needles) if needles and "sha256" in algorithms and identity is not None \
        else ()
    mapped = _mapped_digests(path, algorithms, wanted) if identity is not None else None
    if mapped is not None:
        digests, found = mapped
        found = found if wanted else None
    else:
        search = pool = None
        if wanted:
            pool = ThreadPoolExecutor(max_workers=1)
            search = pool.submit(_search, path, wanted)
        try:
            digests = digests_of([path], algorithms)[path]
            found = search.result() if search is not None else None
        finally:
            if pool is not None:
                pool.shutdown()
    if identity is not None and _identity(path) == identity:
        with _noted_lock:
            _noted.setdefault(identity, {}).update(digests)
        if found is not None:
            from pungi_like import reuse_keys

            reuse_keys.prefilled(identity[1:], tuple(needles), digests["sha256"], found)


#: images from this size on are hashed over a mapping by note_image
MAPPED_MIN = 4 << 20


def _mapped_digests(path, algorithms, needles):
    """``({algorithm: hex digest}, {needle: found})`` of the image at ``path`` hashed over a
    read-only mapping of it, a window (:data:`MAPPED_WINDOW`) at a time: each algorithm's
    update of the window in a thread of its own (one hand-over of the interpreter lock a
    window, not one after each read and each update of a MiB: beside the compose's other
    threads each hand-over waits to take the lock back), the needles searched in the window
    meanwhile, then the window's pages dropped from the process (:func:`_drop_pages`); None
    for a file under :data:`MAPPED_MIN` or one that cannot be mapped. Only for an image the
    calling unit has just written: a file cut short while it is mapped would end this
    process (SIGBUS)."""
    try:
        fh = open(path, "rb", buffering=0)
    except OSError:
        return None
    with fh:
        mapping = map_file(fh.fileno(), os.fstat(fh.fileno()).st_size, MAPPED_MIN)
    if mapping is None:
        return None
    with mapping:
        view = memoryview(mapping)
        try:
            hashes = {alg: hashlib.new(alg) for alg in algorithms}
            needles = list(needles)
            found = [False] * len(needles)
            reach = _reach(needles)
            with ThreadPoolExecutor(max_workers=max(1, len(hashes))) as pool:
                for start in range(0, len(view), MAPPED_WINDOW):
                    with view[start:start + MAPPED_WINDOW] as part:
                        jobs = [pool.submit(h.update, part) for h in hashes.values()]
                        try:
                            _search_window(mapping, needles, found, start, MAPPED_WINDOW,
                                           reach)
                        finally:
                            for job in jobs:
                                job.result()
                    _drop_pages(mapping, start, MAPPED_WINDOW)
            return ({alg: h.hexdigest() for alg, h in hashes.items()},
                    dict(zip(needles, found)))
        finally:
            view.release()


#: bytes of a mapping hashed and searched a call (a search holds the interpreter lock
#: throughout: a DVD of 4 GB in one call would hold it for seconds), whose pages are then
#: dropped from the process: a mapped page read counts in the process's resident size until
#: it is unmapped, so an image mapped and read whole showed as resident (a 47 MB DVD of the
#: 10k bench raised the compose's peak RSS from 199-206 to 270-274 MiB; a 4 GB DVD would
#: have shown 4 GB)
MAPPED_WINDOW = 16 << 20


def _drop_pages(data, start, length):
    """Drop the pages of ``data[start:start + length]`` from the process when ``data`` is a
    read-only mapping of a file (the page cache keeps them); nothing for bytes or a
    ``start`` that is not a multiple of the page size."""
    advise = getattr(data, "madvise", None)
    if advise is None or not hasattr(mmap, "MADV_DONTNEED") or start % mmap.PAGESIZE:
        return
    try:
        advise(mmap.MADV_DONTNEED, start, min(length, len(data) - start))
    except OSError:
        pass    # only the resident size is at stake, not the bytes read


def _search_window(data, needles, found, start, window, reach=None):
    """Look for each needle not ``found`` yet among those starting in ``data[start:start +
    window]`` (the window read on by a needle's length less one: a needle across two windows
    is found in the first); ``found`` is updated. ``reach`` (:func:`_reach`): a needle that
    holds a shorter one is looked for only once that one was found (this window's search of it
    read on far enough to see it inside any occurrence of the longer one starting here): the
    compose's directory holds its id, so an image naming neither is scanned once."""
    order, inner, ends = reach or _reach(needles)
    for i in order:
        if not found[i] and all(found[j] for j in inner[i]):
            found[i] = data.find(needles[i], start, start + window + ends[i] - 1) != -1


def _reach(needles):
    """``(order, inner, ends)`` for :func:`_search_window`: the needles' indexes shortest first,
    the shorter needles each holds, and how far past a window each is looked for (its own
    length, or the longest needle holding it)."""
    order, inner = holders(tuple(needles))
    ends = [len(n) for n in needles]
    for i in range(len(needles)):
        for j in inner[i]:
            ends[j] = max(ends[j], len(needles[i]))
    return order, inner, ends


def _search_in(data, needles, window=None):
    """``{needle: found}`` in ``data`` (bytes or a mapping), a window (:data:`MAPPED_WINDOW`
    by default) at a time, as :func:`_mapped_digests` searches."""
    window = window or MAPPED_WINDOW
    needles = list(needles)
    found = [False] * len(needles)
    reach = _reach(needles)
    for start in range(0, len(data), window):
        _search_window(data, needles, found, start, window, reach)
    return dict(zip(needles, found))


def _search(path, needles, bufsize=1 << 20):
    """``{needle: found}`` in the bytes of ``path``, as ``reuse_keys.file_digest`` searches
    them (a needle across two reads is found).

    It runs beside the image's digests and holds the interpreter lock while it scans, so it
    scans little: each read where it lies, and only the bytes around the read's start again
    for a needle across reads (not the read joined to the last one's end: a copy of each
    MiB); a needle that holds a shorter one (the compose's directory holds its id) is looked
    for only from the read where that one was first found, before which it cannot occur, so
    an image that names neither (a DVD) is scanned once, not once a needle."""
    needles = list(needles)
    found = [False] * len(needles)
    # shortest first: a needle's inner needles are decided for a read before the needle is
    order = sorted(range(len(needles)), key=lambda i: len(needles[i]))
    inner = {i: [j for j in order if len(needles[j]) < len(needles[i])
                 and needles[j] in needles[i]] for i in order}
    keep = max((len(n) for n in needles), default=1) - 1
    tail = b""      # the last ``keep`` bytes read so far
    with open(path, "rb", buffering=0) as fh:
        while not all(found):
            chunk = fh.read(bufsize)
            if not chunk:
                break
            for i in order:
                needle = needles[i]
                if found[i] or not all(found[j] for j in inner[i]):
                    continue
                edge = len(needle) - 1
                if needle in chunk or (edge > 0 and tail and needle in (
                        tail[-edge:] + chunk[:edge])):
                    found[i] = True
            if keep:
                tail = chunk[-keep:] if len(chunk) >= keep else (tail + chunk)[-keep:]
    return dict(zip(needles, found))


def digests_of(paths, algorithms, workers=None):
    """``{path: {algorithm: hex digest}}`` of every file, one job per file and algorithm on a
    thread pool: hashlib releases the GIL while it hashes, so the algorithms of one image run
    on separate cores (each job reads the file again, from the page cache; MD5 of a DVD alone
    takes as long as SHA-1 and SHA-256 together, so one read feeding all three in turn takes
    their sum). Digests :func:`note_image` kept for the very same file are taken as they are."""
    result, jobs = {}, []
    for path in paths:
        identity = _identity(path) if _noted else None
        with _noted_lock:
            noted = dict(_noted.get(identity) or {})
        for alg in algorithms:
            if alg in noted:
                result.setdefault(path, {})[alg] = noted[alg]
            else:
                jobs.append((path, alg))
    if not jobs:
        return result
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(lambda job: file_digests(job[0], [job[1]]), jobs))
    for (path, alg), digest in zip(jobs, found):
        result.setdefault(path, {})[alg] = digest[alg]
    return result


def checksum_lines(entries, alg):
    """BSD-tagged lines, sorted by file name: a size comment, then the digest."""
    lines = []
    for name, size, digests in sorted(entries):
        lines.append(f"# {name}: {size} bytes\n")
        lines.append(f"{alg.upper()} ({name}) = {digests[alg]}\n")
    return "".join(lines)


class ImagechecksumPhase(PhaseBase):
    name = "imagechecksum"
    aliases = ("image_checksum",)
    never_skip = True

    def validate(self):
        if self.conf.media_checksum_one_file and len(self.conf.media_checksums) != 1:
            return ["media_checksum_one_file needs exactly one type in media_checksums, found "
                    + ", ".join(self.conf.media_checksums)]
        return []

    def units(self):
        units = []
        for variant in self.compose.all_variants:
            for arch in variant.arches:
                # images of failed (failable) units are simply absent: checksum the rest
                after = [f"{phase}.{variant.uid}.*" for phase in IMAGE_PHASES]
                units.append(self.unit(f"{variant.uid}.{arch}", self._run, variant=variant,
                                       arch=arch, after=after))
        return units

    def base_filename(self, variant, arch, dirname):
        fmt = self.conf.media_checksum_base_filename
        if not fmt:
            return ""
        compose = self.compose
        values = {
            "compose_id": compose.compose_id, "release_short": self.conf.release_short,
            "version": self.conf.release_version, "date": compose.compose_date,
            "respin": compose.compose_respin, "type": compose.compose_type,
            "type_suffix": compose.compose_type_suffix, "label": compose.compose_label or "",
            "variant": variant.uid, "arch": arch, "dirname": dirname,
        }
        return (fmt % values).format(**values) + "-"

    def _run(self, unit):
        variant, arch = unit.variant, unit.arch
        algorithms = list(self.conf.media_checksums)
        images = [img for v, a, img in self.compose.images.items()
                  if v == variant.uid and a == arch]
        by_dir = {}
        for image in images:
            by_dir.setdefault(os.path.dirname(image.path), []).append(image)
        top = self.paths.compose_dir()
        written = []
        # durable once the compose's STATUS leaves STARTED (Compose.syncer): metadata.write
        # and the test units wait for this unit, not for its fsyncs
        sync = getattr(self.compose, "syncer", None) or True
        # a file listed under several arches (source ISOs) is hashed once; every file and
        # algorithm of the unit at once
        every = sorted({img.path for img in images})
        hashed = digests_of([os.path.join(top, rel) for rel in every], algorithms)
        digests = {rel: hashed[os.path.join(top, rel)] for rel in every}
        for directory, dir_images in sorted(by_dir.items()):
            paths = sorted({img.path for img in dir_images})
            entries = []
            for img in dir_images:
                img.checksums.update(digests[img.path])
            for rel in paths:
                name = os.path.basename(rel)
                entries.append((name, os.path.getsize(os.path.join(top, rel)), digests[rel]))
                if not self.conf.media_checksum_one_file:
                    for alg in algorithms:
                        target = os.path.join(top, rel + f".{alg.upper()}SUM")
                        write_atomic(target, checksum_lines([entries[-1]], alg), fsync=sync)
                        written.append(target)
            prefix = self.base_filename(variant, arch, os.path.basename(directory))
            if self.conf.media_checksum_one_file:
                target = os.path.join(top, directory, f"{prefix}CHECKSUM")
                write_atomic(target, checksum_lines(entries, algorithms[0]), fsync=sync)
                written.append(target)
            else:
                for alg in algorithms:
                    target = os.path.join(top, directory, f"{prefix}{alg.upper()}SUM")
                    write_atomic(target, checksum_lines(entries, alg), fsync=sync)
                    written.append(target)
        return {"images": len(images), "files": sorted(self.paths.relative(p) for p in written)}
