"""Repodata written from package records the compose already holds, as createrepo_c writes it.

A tree's packages are hard links of the package set's files, whose repodata (written a moment
before) already holds a record of each: the ``<package>`` entry of primary, filelists and other.
:func:`write_repo` takes such a record when it describes the very file, the test createrepo_c
``--update`` makes (same file name, size and mtime, same checksum type), puts the file's own
location in it and writes the repodata; files without such a record are read with
``createrepo_c.package_from_rpm`` and dumped by the library, as the command would do.

What makes the output the command's own, byte for byte:

- Records are taken verbatim only from repos this process wrote with this module or through the
  createrepo_c library it loads (:func:`trust`), or that carry :data:`MARK` of this library
  version for their very repomd.xml: the same library dumped them, so their text is what it
  would dump again. Records of other repos (the ``pkgset_repos`` a package set is gathered from,
  written by any createrepo_c) are parsed and dumped again by the library (for a package set
  repo whose records come only from such repos, createrepo_c runs instead: its workers use
  every core).
- Packages are written sorted by file name, then path (createrepo_c's ``task_cmp``).
- The XML is gzip-compressed with zlib at level 6 (gzopen's ``wb``), which is createrepo_c's gz
  writer; :func:`zlib_matches_library` checks once per process that this Python's zlib gives the
  library's bytes, else the caller falls back to the command. A work repo no compose output
  holds (the package set's) may ask for :data:`WORK_LEVEL` instead: the same XML, other gzip
  bytes.
- repomd.xml is dumped by the library (``createrepo_c.Repomd``) with the checksums, sizes and
  time stamps createrepo_c computes (``--revision``/``--set-timestamp-to-revision`` honoured).

What it does not do (the caller runs the command instead, :func:`unsupported`): sqlite databases,
xz/zstd/zchunk compression, delta RPMs, extra command-line arguments.

Dumping and compressing run in threads: zlib and hashlib release the interpreter lock on big
buffers, so the three files are compressed on both cores.
"""

import hashlib
import itertools
import operator
import os
import re
import tempfile
import threading
import time
import zlib
from ..reuse_capture import ThreadPool as ThreadPoolExecutor
from dataclasses import dataclass, field

from ..fileutil import stat_many
from ..lazyimport import lazy_module

cr = lazy_module("createrepo_c", globals(), "cr")

#: createrepo_c's default --changelog-limit
CHANGELOG_LIMIT = 10
#: files left without a record that are read rather than parsing another whole repo for them
FEW = 50
#: files from which write_repo stats them by ``stat`` runs (fileutil.stat_many)
STAT_MANY = 200
_KINDS = ("primary", "filelists", "other")
_XMLFILE = {"primary": "PrimaryXmlFile", "filelists": "FilelistsXmlFile",
            "other": "OtherXmlFile"}   # createrepo_c's classes
_END = b"</package>\n"
# attribute values that libxml2 writes as they are (nothing to escape)
_SAFE_ATTR = re.compile(r"[A-Za-z0-9._+~^:/@%,=()\[\]{}!$*;#-]*")   # fullmatch
_TIME_SIZE = re.compile(rb'<time file="(\d+)" build="\d+"/>\n  <size package="(\d+)"')
_CHECKSUM = re.compile(rb'<checksum type="([a-z0-9]+)" pkgid="YES">([0-9a-f]+)</checksum>')
_PKGID = re.compile(rb'<package pkgid="([0-9a-f]+)"')
_ENTRY = re.compile(rb"<package ")
_LOCATION = re.compile(rb'\n  <location ((?:xml:base="[^"]*" )?)href="([^"]*)"/>\n')

_lock = threading.Lock()
_trusted = {}        # realpath of a repo dir -> repomd.xml's (size, mtime_ns) when we wrote it
_indexes = {}        # (realpath, repomd (size, mtime_ns)) -> RecordIndex
_loading = {}        # realpath -> lock held while its index is read
_adopted = {}        # (realpath, repomd (size, mtime_ns)) -> RecordIndex parsed in a child
_templates = {}
_zlib_ok = None

#: zlib's level of createrepo_c's gz writer
GZ_LEVEL = 6
#: zlib's level of a work repo's metadata that no compose output holds (the package set repo,
#: on a cold compose's critical path: its 14 MB primary.xml took 0.16 s at level 6, 0.06 s at
#: 1, for 35 % more bytes); its readers (libsolv, record_index) decompress it as fast or
#: faster. The unit's output hash follows these bytes, as it follows the code's version
WORK_LEVEL = 1


class RepoWriteError(Exception):
    """The repodata could not be written from records (the caller runs createrepo_c)."""


def unsupported(database=False, compress_type="gz", extra_args=(), deltas=False):
    """Why :func:`write_repo` cannot write repodata with these createrepo_c options, or None."""
    if database:
        return "sqlite databases (--database) are written by createrepo_c"
    if compress_type not in (None, "gz", "gzip"):
        return f"{compress_type} compression is written by createrepo_c"
    if extra_args:
        return f"extra createrepo_c arguments {list(extra_args)}"
    if deltas:
        return "delta RPMs are made by createrepo_c"
    if not zlib_matches_library():
        return "this Python's zlib does not compress as the createrepo_c library does"
    return None


def zlib_matches_library():
    """Whether :func:`gzip_bytes` gives the bytes of the createrepo_c library's gz writer (checked
    once per process on a sample of repodata-like XML)."""
    global _zlib_ok
    with _lock:
        if _zlib_ok is None:
            sample = "".join(f'<package pkgid="{i:064x}" name="p{i}" arch="noarch">\n'
                             f'  <version epoch="0" ver="1.{i}" rel="1"/>\n</package>\n'
                             for i in range(3000)).encode()
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "sample.gz")
                out = cr.CrFile(path, cr.MODE_WRITE, cr.GZ_COMPRESSION)
                out.write(sample.decode())
                out.close()
                with open(path, "rb") as fh:
                    _zlib_ok = fh.read() == gzip_bytes(sample)
        return _zlib_ok


def gzip_bytes(data):
    """``data`` gzip-compressed as createrepo_c's gz writer does (zlib level 6, no name, no
    time stamp)."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31, 8)
    return comp.compress(data) + comp.flush()


#: beside repodata/ of a work repo: which createrepo_c library dumped the repodata of which
#: repomd.xml, so that a later process (``--resume``, a re-run reusing the package set) trusts it
MARK = ".repodata-dumper.json"

#: beside :data:`MARK`: where each entry of the marked repodata's primary, filelists and
#: other starts and ends (uncompressed), with its file name, mtime, size and checksum type,
#: as :func:`write_repo` wrote them, for the repomd.xml of the mark: a later process's
#: :func:`record_index` of the repo takes them instead of searching the 19 MB of text
#: (:func:`_side_index`)
SIDE_INDEX = ".repodata-index"


def trust(repo_dir, mark=False):
    """Mark ``repo_dir``'s repodata, as it is now, as dumped by this process's createrepo_c
    library (written by :func:`write_repo` or by the createrepo_c command of the same
    installation): its records may be copied verbatim. ``mark``: also write :data:`MARK` beside
    repodata/ (only in work repos: never in a compose's trees)."""
    stat = _repomd_stat(repo_dir)
    if stat:
        with _lock:
            _trusted[os.path.realpath(repo_dir)] = stat
        if mark:
            import json
            from ..fileutil import write_atomic
            write_atomic(os.path.join(repo_dir, MARK), json.dumps(
                {"createrepo_c": cr.VERSION, "repomd_sha256": _repomd_digest(repo_dir)}),
                fsync=False)   # lost in a crash: the next process parses the records instead


def is_trusted(repo_dir):
    """Whether ``repo_dir``'s records would be taken verbatim (:func:`trust`, :data:`MARK`)."""
    stat = _repomd_stat(repo_dir)
    with _lock:
        if stat is not None and _trusted.get(os.path.realpath(repo_dir)) == stat:
            return True
    return stat is not None and _marked(repo_dir)


def _repomd_digest(repo_dir):
    with open(os.path.join(repo_dir, "repodata", "repomd.xml"), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _marked(repo_dir):
    """Whether :data:`MARK` says this library version dumped ``repo_dir``'s repodata as it is."""
    import json
    try:
        with open(os.path.join(repo_dir, MARK), encoding="utf-8") as fh:
            mark = json.load(fh)
        return (mark.get("createrepo_c") == cr.VERSION
                and mark.get("repomd_sha256") == _repomd_digest(repo_dir))
    except (OSError, ValueError, AttributeError):
        return False


def trust_copy(source_dir, copy_dir):
    """``copy_dir``'s repodata is a copy of ``source_dir``'s: trusted when that one is."""
    source = _repomd_stat(source_dir)
    with _lock:
        trusted = source is not None and _trusted.get(os.path.realpath(source_dir)) == source
    if trusted:
        trust(copy_dir, mark=os.path.exists(os.path.join(source_dir, MARK)))
        with _lock:
            index = _indexes.get((os.path.realpath(source_dir), source))
        if index is not None:   # the copy's records are the source's, held already
            _remember(copy_dir, index)


def written_after(repo_dir, mtime_ns):
    """Whether ``repo_dir``'s repodata (its repomd.xml) was written in a later second than
    ``mtime_ns``. A record holds a file's mtime in whole seconds, as createrepo_c writes it:
    a file changed in place later in the second its record was written (a package signed in
    place keeps its size: rpm reserves room for the signature) still matches the record's
    name, size and mtime. Only a record written in a later second than the file's mtime
    surely describes the file as it is (git's "racily clean" index entries)."""
    stat = _repomd_stat(repo_dir)
    return stat is not None and mtime_ns // 1_000_000_000 < stat[1] // 1_000_000_000


def _repomd_stat(repo_dir):
    try:
        st = os.stat(os.path.join(repo_dir, "repodata", "repomd.xml"))
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


# ---- records -----------------------------------------------------------------------------------
class _Store:
    """The decompressed primary, filelists and other of one repo, kept whole, and where each
    entry starts and ends in them (arrays: a few bytes an entry, not an object); entries one
    after another (entry i + 1 starts where entry i ends). ``location``: what every
    ``<location>`` line of primary holds before the file name (:func:`common_location`), when
    they all hold the same, else None (or unset)."""
    __slots__ = ("texts", "starts", "ends", "location")

    def __init__(self, texts, spans):
        from array import array
        self.texts = texts
        self.starts = tuple(array("Q", (s for s, _e in kind)) for kind in spans)
        self.ends = tuple(array("Q", (e for _s, e in kind)) for kind in spans)
        self.location = None


def common_location(found):
    """``found``: ``[(base attribute, href)]`` of each ``<location>`` line of a primary (what
    :data:`_LOCATION` finds: ``b'xml:base="..." '`` or ``b''``, and the href as written). The
    start every line shares up to its file name - ``b'\\n  <location xml:base="..." href="dir/'``
    - when every line has the same base attribute and the same directory before the name,
    else None. With it, :func:`_primary_pieces` moves a run of entries to their new location
    by one replace of that start, not entry by entry."""
    heads = {(attr, href[:href.rfind(b"/") + 1]) for attr, href in found}
    if len(heads) != 1:
        return None
    attr, folder = heads.pop()
    return b"\n  <location " + attr + b'href="' + folder


@dataclass(slots=True)
class Record:
    """One package's entries of primary, filelists and other (entry ``i`` of ``store``), and
    what tells whether it describes a file."""
    store: _Store
    i: int
    mtime: int
    size: int
    checksum_type: str

    def part(self, k):
        store = self.store
        return store.texts[k][store.starts[k][self.i]:store.ends[k][self.i]]

    @property
    def primary(self):
        return self.part(0)

    @property
    def filelists(self):
        return self.part(1)

    @property
    def other(self):
        return self.part(2)


@dataclass
class RecordIndex:
    """The records of one repo by file name (the last one wins, as in createrepo_c --update)."""
    records: dict = field(default_factory=dict)
    verbatim: bool = True


def _read(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        return zlib.decompress(raw, 47)
    with tempfile.TemporaryDirectory() as tmp:  # xz, zstd, bz2: the library decompresses
        out = os.path.join(tmp, "plain")
        cr.decompress_file(path, out, cr.AUTO_DETECT_COMPRESSION)
        with open(out, "rb") as fh:
            return fh.read()


def _locations(repo_dir):
    repomd = cr.Repomd(os.path.join(repo_dir, "repodata", "repomd.xml"))
    found = {rec.type: os.path.join(repo_dir, rec.location_href) for rec in repomd.records}
    missing = [kind for kind in _KINDS if kind not in found]
    if missing:
        raise RepoWriteError(f"{repo_dir}: repomd.xml lists no {', '.join(missing)}")
    return found


def _entry_offsets(data):
    """``(starts, ends)`` (arrays) of the ``<package>`` entries of one decompressed metadata
    file this library dumped: one after another, each ``</package>`` line followed by the next
    entry (checked: as many ``</package>\\n<package `` as entries less one), so an entry ends
    where the next starts (XML text escapes ``<``: the tags cannot occur in an entry's text)."""
    from array import array
    starts = array("Q", [m.start() for m in _ENTRY.finditer(data)])
    if not starts:
        return starts, array("Q")
    last = data.rfind(_END)
    if data.count(_END + b"<package ") != len(starts) - 1 or last < starts[-1]:
        raise RepoWriteError("metadata entries that are not one after another")
    ends = starts[1:]
    ends.append(last + len(_END))
    return starts, ends


def _verbatim_index(repo_dir):
    """Records of a repo this library dumped: its entries as they are. Each field is found by
    one regular expression over the whole primary (no loop per entry in Python): every primary
    entry of createrepo_c has exactly one ``<checksum pkgid="YES">``, ``<time>``/``<size>`` pair
    and ``<location>``, at its top level, so the n-th match of each belongs to the n-th entry
    when each gives as many matches as there are entries; filelists and other must list the
    same pkgids in the same order. A repo :func:`write_repo` marked has them in its
    :data:`SIDE_INDEX` (:func:`_side_index`): the searches are made only without one (0.06 of
    the 0.11 s of CPU of a 10,458-package set repo's index, in a re-run's package set unit)."""
    locations = _locations(repo_dir)
    texts = tuple(_read(locations[kind]) for kind in _KINDS)
    side = _side_index(repo_dir, texts)
    if side is not None:
        return side
    pri_text, fil_text, oth_text = texts
    offsets = [_entry_offsets(text) for text in texts]
    count = len(offsets[0][0])
    checksums = _CHECKSUM.findall(pri_text)
    times = _TIME_SIZE.findall(pri_text)
    locations = _LOCATION.findall(pri_text)
    if not (len(offsets[1][0]) == len(offsets[2][0]) == count):
        raise RepoWriteError(f"{repo_dir}: primary, filelists and other list {count}, "
                             f"{len(offsets[1][0])}, {len(offsets[2][0])} packages")
    if not (len(checksums) == len(times) == len(locations) == count):
        raise RepoWriteError(f"{repo_dir}: a primary entry this module cannot read")
    pkgids = [pkgid for _type, pkgid in checksums]
    if _PKGID.findall(fil_text) != pkgids or _PKGID.findall(oth_text) != pkgids:
        raise RepoWriteError(f"{repo_dir}: primary, filelists and other are not in one order")
    store = _Store.__new__(_Store)
    store.texts = texts
    store.starts = tuple(starts for starts, _ends in offsets)
    store.ends = tuple(ends for _starts, ends in offsets)
    store.location = common_location(locations)
    index = RecordIndex(verbatim=True)
    records = index.records
    for i, ((checksum_type, _pkgid), (mtime, size), (_base, href)) in enumerate(
            zip(checksums, times, locations)):
        name = href.rpartition(b"/")[2].decode()
        if "&" in name:
            import html
            name = html.unescape(name)
        records[name] = Record(store, i, int(mtime), int(size), checksum_type.decode())
    return index


def _parsed_index(repo_dir):
    """Records of a repo another createrepo_c may have written: parsed and dumped again by this
    library, so the text is this library's. Each package is dumped as soon as it is parsed (one
    file at a time), so only the text stays in memory."""
    locations = _locations(repo_dir)
    primary, filelists, other = [], [], []

    def on_primary(pkg):
        primary.append((pkg.pkgId, os.path.basename(pkg.location_href), int(pkg.time_file),
                        int(pkg.size_package), pkg.checksum_type,
                        cr.xml_dump_primary(pkg).encode()))
        return True

    cr.xml_parse_primary(locations["primary"], pkgcb=on_primary, do_files=True)

    def dumper(found, dump):
        def on_package(pkg):
            found.append((pkg.pkgId, dump(pkg).encode()))
            return True
        return on_package

    cr.xml_parse_filelists(locations["filelists"], pkgcb=dumper(filelists, cr.xml_dump_filelists))
    cr.xml_parse_other(locations["other"], pkgcb=dumper(other, cr.xml_dump_other))
    if not len(primary) == len(filelists) == len(other):
        raise RepoWriteError(f"{repo_dir}: primary, filelists and other list "
                             f"{len(primary)}, {len(filelists)}, {len(other)} packages")
    index = RecordIndex(verbatim=False)
    texts, spans = [], []
    for dumped in ([p[5] for p in primary], [f[1] for f in filelists], [o[1] for o in other]):
        ends = list(itertools.accumulate(len(d) for d in dumped))
        spans.append(list(zip([0] + ends[:-1], ends)))
        texts.append(b"".join(dumped))
    store = _Store(tuple(texts), spans)
    locations = _LOCATION.findall(store.texts[0])
    if len(locations) == len(primary):
        store.location = common_location(locations)
    for i, ((pkgid, name, mtime, size, checksum, _pri), fil, oth) in enumerate(
            zip(primary, filelists, other)):
        if not pkgid == fil[0] == oth[0]:
            raise RepoWriteError(f"{repo_dir}: primary, filelists and other are not in one order")
        index.records[name] = Record(store, i, mtime=mtime, size=size, checksum_type=checksum)
    return index


def record_index(repo_dir):
    """The records of ``repo_dir``. Those of a trusted repo (a package set repo every tree of
    its arch takes records from) are kept per process while its repomd.xml is unchanged; those
    of another repo (read once, for the package set repo) are not kept."""
    real = os.path.realpath(repo_dir)
    stat = _repomd_stat(repo_dir)
    if stat is None:
        raise RepoWriteError(f"{repo_dir}: no repodata/repomd.xml")
    with _lock:
        verbatim = _trusted.get(real) == stat
        loading = _loading.setdefault(real, threading.Lock())
    if not verbatim and _marked(repo_dir):
        trust(repo_dir)
        verbatim = True
    if not verbatim:
        with _lock:
            adopted = _adopted.pop((real, stat), None)
        return adopted if adopted is not None else _parsed_index(repo_dir)
    key = (real, stat)
    with loading:   # two trees of one arch wait for one read of the package set repo
        with _lock:
            index = _indexes.get(key)
        if index is None:
            index = _verbatim_index(repo_dir)
            with _lock:
                for old in [k for k in _indexes if k[0] == real]:
                    del _indexes[old]
                _indexes[key] = index
    return index


def adopt_parsed(repo_dir, stat, index):
    """``index``: what :func:`_parsed_index` gives for ``repo_dir`` (a repo this library did not
    dump), made in another process (:mod:`pungi_like.rpmtools.recordparse`) while its
    repomd.xml was ``stat``; :func:`record_index` takes it, once, instead of parsing again."""
    with _lock:
        _adopted[(os.path.realpath(repo_dir), tuple(stat))] = index


def discard_adopted(repo_dir):
    """Forget what :func:`adopt_parsed` left for ``repo_dir`` and no one took."""
    real = os.path.realpath(repo_dir)
    with _lock:
        for key in [k for k in _adopted if k[0] == real]:
            del _adopted[key]


# ---- writing ----
_STAGING = ".repodata.records."
_BATCH = 512    # entries compressed at a time (big enough for zlib to run without the GIL)
_RUN = 2048     # primary entries relocated by one replace at most (_primary_pieces)
_FEED = 2 << 20  # bytes of text hashed and compressed by one call (_feed_all)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()   # read once, at import: os.umask is process-wide


def remove_staging(outputdir):
    """Remove what a killed :func:`write_repo` left in ``outputdir`` (one writer per output dir,
    so nothing else can be using it)."""
    import shutil
    try:
        names = os.listdir(outputdir)
    except OSError:
        return
    for name in names:
        if name.startswith(_STAGING):
            shutil.rmtree(os.path.join(outputdir, name), ignore_errors=True)


def log_result(log_path, outputdir, result, sources):
    """One line in the unit's log: what :func:`write_repo` did."""
    if log_path:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(f"# repodata of {outputdir} written from records: {result.packages} packages, "
                     f"{result.reused} records taken from {', '.join(sources) or 'no repo'}, "
                     f"{len(result.read)} files read; {result.seconds:.2f} s\n")
            for rel in result.read[:20]:
                fh.write(f"#   read (no record of the very file): {rel}\n")


def log_fallback(log_path, outputdir, reason):
    """One line in the unit's log: why createrepo_c runs instead of :func:`write_repo`."""
    if log_path:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(f"# repodata of {outputdir} by the createrepo_c command: {reason}\n")


# ---- writing -------------------------------------------------------------------------------
@dataclass
class WriteResult:
    packages: int = 0
    reused: int = 0
    read: list = field(default_factory=list)    # files read with package_from_rpm
    seconds: float = 0.0


def _template(kind):
    with _lock:
        if kind not in _templates:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, kind)
                xml = getattr(cr, _XMLFILE[kind])(path, cr.NO_COMPRESSION)
                xml.set_num_of_pkgs(987654321)
                xml.close()
                with open(path, "rb") as fh:
                    head, tail = fh.read().split(b"987654321")
            _templates[kind] = (head, tail)
        return _templates[kind]


def _location_line(href, base):
    if _SAFE_ATTR.fullmatch(href) and (base is None or _SAFE_ATTR.fullmatch(base)):
        if base:
            return f'\n  <location xml:base="{base}" href="{href}"/>\n'.encode()
        return f'\n  <location href="{href}"/>\n'.encode()
    return library_location_line(href, base)


def library_location_line(href, base):
    """The ``<location>`` line as createrepo_c's library writes it (it escapes what needs
    escaping): the slow path of ``_location_line`` and the reference its fast path is tested
    against."""
    pkg = cr.Package()
    pkg.location_href = href
    if base:
        pkg.location_base = base
    text = cr.xml_dump_primary(pkg).encode()
    start = text.find(b"\n  <location ")
    return text[start:text.find(b"/>\n", start) + 3]


def _relocate(primary, href, base):
    start = primary.find(b"\n  <location ")
    end = primary.find(b"/>\n", start) + 3
    return primary[:start] + _location_line(href, base) + primary[end:]


def _primary_pieces(chunks, base, lengths=None):
    """The primary entries of ``chunks`` (write_repo's: ``(dumped texts, None)`` or ``(Record,
    relative path)``) in order, each record's ``<location>`` line made the file's (as
    :func:`_relocate` makes it), in pieces of about :data:`_BATCH` entries or more. A run of
    records that follow one another in one store whose lines share their start up to the
    file name (``_Store.location``), going to paths of one directory that
    :func:`_location_line` writes as they are, is one slice of the store's primary with that
    start replaced once: 10,458 records relocated one by one held the interpreter lock for
    0.05 s beside the unit's other threads. The replace is taken only when the slice holds
    that start exactly once per entry (each entry has one ``<location>`` line, and markup
    cannot occur in text), else the run is relocated record by record. A run is at most
    :data:`_RUN` entries (a slice and its replaced copy in memory at a time, not the whole
    primary's: the 60,000-RPM case's memory). ``lengths``: a list each entry's length as
    written is appended to (for :data:`SIDE_INDEX`)."""
    new_attr = None
    if not base:
        new_attr = b""
    elif _SAFE_ATTR.fullmatch(base):
        new_attr = f'xml:base="{base}" '.encode()
    n = len(chunks)
    batch = []
    x = 0
    while x < n:
        entry, rel = chunks[x]
        if rel is None:
            batch.append(entry[0])
            if lengths is not None:
                lengths.append(len(entry[0]))
            x += 1
        else:
            store, first = entry.store, entry.i
            old = getattr(store, "location", None)
            folder = rel[:rel.rfind("/") + 1]
            y = x + 1
            if old is not None and new_attr is not None:
                cut = len(folder)
                while y < n and y - x < _RUN:
                    other, path = chunks[y]
                    if (path is None or other.store is not store or other.i != first + y - x
                            or path[:cut] != folder or "/" in path[cut:]):
                        break
                    y += 1
            piece = None
            if y - x > 1 and _SAFE_ATTR.fullmatch("".join(path for _e, path in chunks[x:y])):
                text = store.texts[0][store.starts[0][first]:store.ends[0][first + y - x - 1]]
                start = b"\n  <location " + new_attr + b'href="' + folder.encode()
                if text.count(old) == y - x:
                    piece = text.replace(old, start)
            if piece is None:
                moved = [_relocate(e.part(0), path, base) for e, path in chunks[x:y]]
                if lengths is not None:
                    lengths.extend(map(len, moved))
                batch.extend(moved)
            else:
                if lengths is not None:
                    # one replace of the start in each entry: each grew by the same
                    grow = len(start) - len(old)
                    lengths.extend(e - s + grow for s, e in zip(
                        store.starts[0][first:first + y - x], store.ends[0][first:first + y - x]))
                if batch:
                    yield b"".join(batch)
                    batch = []
                yield piece
            x = y
        if len(batch) >= _BATCH:
            yield b"".join(batch)
            batch = []
    if batch:
        yield b"".join(batch)


def _entry_pieces(chunks, k, lengths=None):
    """The filelists (``k`` 1) or other (2) entries of ``chunks`` in order: a run of records
    that follow one another in one store is one slice of its text (at most :data:`_RUN`
    entries), a file's dumped text a piece of its own. ``lengths``: as
    :func:`_primary_pieces`'."""
    n = len(chunks)
    x = 0
    while x < n:
        entry, rel = chunks[x]
        if rel is None:
            if lengths is not None:
                lengths.append(len(entry[k]))
            yield entry[k]
            x += 1
            continue
        store, first = entry.store, entry.i
        y = x + 1
        while y < n and y - x < _RUN:
            other, path = chunks[y]
            if path is None or other.store is not store or other.i != first + y - x:
                break
            y += 1
        if lengths is not None:
            lengths.extend(map(operator.sub, store.ends[k][first:first + y - x],
                               store.starts[k][first:first + y - x]))
        yield store.texts[k][store.starts[k][first]:store.ends[k][first + y - x - 1]]
        x = y


def _feed_all(stream, pieces):
    """Feed ``pieces`` to ``stream`` joined into texts of about :data:`_FEED` bytes: each
    feed gives the interpreter lock up for its hash and for each output block of its
    compression and waits to take it back behind the compose's other threads, so fewer,
    larger feeds (a 10,000-package tree's primary in one) keep the dump from queueing for
    the lock tens of times (the deflate stream, and so the bytes, do not depend on how the
    text is cut)."""
    batch, size = [], 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= _FEED:
            stream.feed(b"".join(batch))
            batch, size = [], 0
    if batch:
        stream.feed(b"".join(batch))


def _from_rpm(path, href, base, checksum):
    try:
        pkg = cr.package_from_rpm(path, cr.checksum_type(checksum), href, base, CHANGELOG_LIMIT)
    except (OSError, cr.CreaterepoCError) as exc:
        # the command decides what a file it cannot read becomes (createrepo_c 1.2.5
        # writes the repodata without it and exits 2: the unit fails, as it did before)
        raise RepoWriteError(f"{path}: {exc}") from exc
    return (cr.xml_dump_primary(pkg).encode(), cr.xml_dump_filelists(pkg).encode(),
            cr.xml_dump_other(pkg).encode())


class _Stream:
    """One metadata file compressed while its pieces come (only the compressed bytes are kept:
    deflate's output does not depend on how its input is cut), with the checksum and size of
    the uncompressed text."""

    def __init__(self, checksum, compress=True, level=GZ_LEVEL):
        self.comp = zlib.compressobj(level, zlib.DEFLATED, 31, 8) if compress else None
        self.open_hash = hashlib.new(checksum)
        self.open_size = 0
        self.out = []

    def feed(self, data):
        self.open_hash.update(data)
        self.open_size += len(data)
        if self.comp is None:
            self.out.append(data)
        else:
            piece = self.comp.compress(data)
            if piece:
                self.out.append(piece)

    def finish(self):
        if self.comp is not None:
            self.out.append(self.comp.flush())
        return b"".join(self.out)


def _data_file(repodata, kind, stream, checksum, timestamp, name=None):
    """Write one metadata file (unique name) from ``stream`` and return its RepomdRecord."""
    compress = stream.comp is not None
    data = stream.finish()
    digest = hashlib.new(checksum, data).hexdigest()
    filename = f"{digest}-{name or kind + '.xml'}{'.gz' if compress else ''}"
    path = os.path.join(repodata, filename)
    with open(path, "wb") as fh:
        fh.write(data)
    record = cr.RepomdRecord(kind, path)
    record.checksum = digest
    record.checksum_type = checksum
    if compress:
        record.checksum_open = stream.open_hash.hexdigest()
        record.checksum_open_type = checksum
        record.size_open = stream.open_size
    record.size = len(data)
    record.timestamp = timestamp
    record.location_href = f"repodata/{filename}"
    return record


def _whole(data, checksum, compress=True):
    stream = _Stream(checksum, compress)
    stream.feed(data)
    return stream


def write_repo(root, outputdir, relpaths, *, sources=(), checksum="sha256", baseurl=None,
               groupfile=None, group_gz=False, revision=None, set_timestamp_to_revision=False,
               workers=3, max_read=None, mark=False, stat_from=None, group_compressed=False,
               level=GZ_LEVEL, stats=None):
    """Write ``outputdir/repodata`` for the RPMs ``relpaths`` (relative to ``root``), as
    ``createrepo_c root --outputdir outputdir --pkglist LIST --checksum CHECKSUM
    --unique-md-filenames --no-database [--baseurl] [--groupfile] [--revision
    --set-timestamp-to-revision]`` writes it (gz; with ``group_gz`` also the gzipped groupfile,
    as ``modifyrepo_c --mdtype group_gz`` adds it, with the same time stamp; with
    ``group_compressed`` the ``group`` record is the gzipped groupfile, the command's own
    record of ``--groupfile`` when no ``modifyrepo_c`` follows).

    Records come from ``sources`` (repo dirs) where they describe the very file; every other
    file is read, unless there are more than ``max_read`` of them (RepoWriteError: createrepo_c's
    workers read files faster than this process's one interpreter lock). The repodata replaces
    any there atomically (written beside, then renamed); ``mark``: see :func:`trust`.
    ``stat_from``: ``{relative path: path}`` of files whose size, mtime and bytes are those of
    the file under ``root`` (the file it is being hard-linked from): they are looked at there,
    so the repo can be written while the links are made. ``level``: zlib's level of primary,
    filelists and other (:data:`WORK_LEVEL` for a work repo only: other bytes than the
    command's). ``stats``: ``{path: stat}`` of files the caller stat'ed (``st_size``,
    ``st_mtime`` in whole seconds and ``st_mtime_ns``: :class:`~pungi_like.fileutil.Ident`,
    os.stat's) for the paths the files are looked at (``stat_from``'s or under ``root``):
    taken when they hold every file, else the files are stat'ed here. Returns a
    :class:`WriteResult`."""
    started = time.monotonic()
    remove_staging(outputdir)
    result = WriteResult()
    entries = sorted(relpaths, key=lambda rel: (os.path.basename(rel), rel))
    result.packages = len(entries)
    chunks = [None] * len(entries)
    stat_from = stat_from or {}
    where = [stat_from.get(rel) or os.path.join(root, rel) for rel in entries]
    known, stats = stats, None
    if known:
        stats = [known.get(p) for p in where]
        if None in stats:
            stats = None
    # many files: stat'ed by stat runs, not one by one under the interpreter lock
    stats = stats or (len(where) >= STAT_MANY and _stat_runs(root, where)) or [os.stat(p)
                                                                                for p in where]
    to_read = list(range(len(entries)))
    # repos whose text is taken as it is first; a repo that must be parsed only for the files
    # they leave without a record, and not at all when reading those few files costs less
    pending = sorted(sources, key=lambda src: not is_trusted(src))
    for src in pending:
        if not to_read:
            break
        if not is_trusted(src) and len(to_read) <= FEW:
            break
        records = record_index(src).records
        # a record describes a file with its name, size and mtime only when it was written in a
        # later second than the file's mtime (:func:`written_after`)
        made = _repomd_stat(src)
        made = made[1] // 1_000_000_000 if made else -1
        still = []
        for i in to_read:
            candidate = records.get(os.path.basename(entries[i]))
            st = stats[i]
            if (candidate is not None and candidate.size == st.st_size
                    and candidate.mtime == int(st.st_mtime)
                    and st.st_mtime_ns // 1_000_000_000 < made
                    and candidate.checksum_type == checksum):
                # the record's own text; primary gets the file's location when it is dumped
                chunks[i] = (candidate, entries[i])
            else:
                still.append(i)
        to_read = still
    result.reused = len(entries) - len(to_read)
    if max_read is not None and len(to_read) > max_read:
        raise RepoWriteError(f"{len(to_read)} of {len(entries)} files have no record in "
                             f"{', '.join(sources) or 'no repo'}")
    if to_read:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            read = pool.map(lambda i: _from_rpm(where[i], entries[i],
                                                baseurl, checksum), to_read)
            for i, dumped in zip(to_read, read):
                chunks[i] = (dumped, None)
        result.read = [entries[i] for i in to_read]

    if revision is None:
        revision = str(int(time.time()))
    timestamp = int(revision) if set_timestamp_to_revision else int(time.time())
    os.makedirs(outputdir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=_STAGING, dir=outputdir)
    # a marked repo's entries as written, for its SIDE_INDEX: (first offset, [length]) a kind
    spans = [None, None, None]
    try:
        os.chmod(staging, 0o777 & ~_UMASK)
        def dump(k):
            kind = _KINDS[k]
            head, tail = _template(kind)
            stream = _Stream(checksum, level=level)
            top = head + str(len(entries)).encode() + tail[:tail.index(b"\n") + 1]
            lengths = [] if mark else None
            body = (_primary_pieces(chunks, baseurl, lengths) if k == 0
                    else _entry_pieces(chunks, k, lengths))
            _feed_all(stream, itertools.chain((top,), body, (tail[tail.index(b"\n") + 1:],)))
            spans[k] = (len(top), lengths)
            return _data_file(staging, kind, stream, checksum, timestamp)

        jobs = [lambda k=k: dump(k) for k in range(3)]
        if groupfile:
            with open(groupfile, "rb") as fh:
                group = fh.read()
            name = os.path.basename(groupfile)
            jobs.append(lambda: _data_file(staging, "group",
                                           _whole(group, checksum, group_compressed),
                                           checksum, timestamp, name=name))
            if group_gz:
                jobs.append(lambda: _data_file(staging, "group_gz", _whole(group, checksum),
                                               checksum, timestamp, name=name))
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            records = list(pool.map(lambda job: job(), jobs))
        repomd = cr.Repomd()
        repomd.set_revision(str(revision))
        for record in records:
            repomd.set_record(record)
        repomd.sort_records()
        with open(os.path.join(staging, "repomd.xml"), "w", encoding="utf-8") as fh:
            fh.write(repomd.xml_dump())
        target = os.path.join(outputdir, "repodata")
        if os.path.isdir(target):
            old = tempfile.mkdtemp(prefix=_STAGING + "old.", dir=outputdir)
            os.rename(target, os.path.join(old, "repodata"))
            os.rename(staging, target)
            import shutil
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, target)
    except BaseException:
        import shutil
        shutil.rmtree(staging, ignore_errors=True)
        raise
    trust(outputdir, mark=mark)
    if mark:
        _write_side_index(outputdir, entries, chunks, spans, baseurl)
        # a work repo (a package set's) whose records later writes take: its index is the
        # records just written, held in memory, instead of reading the files back
        _remember(outputdir, _written_index(entries, chunks, stats, checksum))
    result.seconds = time.monotonic() - started
    return result


def _stat_runs(root, paths):
    """:func:`~pungi_like.fileutil.stat_many` of ``paths``, named relative to ``root`` when all
    are under it: a tree's 5,400 names in one ``stat`` run instead of three of absolute paths
    (each run's start and end give the interpreter lock up and wait to take it back behind the
    compose's other threads)."""
    prefix = os.path.join(root, "")
    if all(path.startswith(prefix) for path in paths):
        cut = len(prefix)
        return stat_many([path[cut:] for path in paths], cwd=root)
    return stat_many(paths)


def _written_index(entries, chunks, stats, checksum):
    """The :class:`RecordIndex` of the repodata :func:`write_repo` just wrote from ``chunks``:
    a record taken from a source is that very record (its text; the location in its primary is
    the source's, but every write puts the file's own there, :func:`_relocate`), a file read
    gets a record of its dumped text with the size and mtime of its stat, as createrepo_c
    records them. The last entry of a file name wins, as in :func:`_verbatim_index`."""
    index = RecordIndex(verbatim=True)
    dumped = [i for i, (entry, rel) in enumerate(chunks) if rel is None]
    store = None
    if dumped:
        spans = []
        for k in range(3):
            ends = list(itertools.accumulate(len(chunks[i][0][k]) for i in dumped))
            spans.append(list(zip([0] + ends[:-1], ends)))
        store = _Store(tuple(b"".join(chunks[i][0][k] for i in dumped) for k in range(3)), spans)
    position = {i: n for n, i in enumerate(dumped)}
    for i, (entry, rel) in enumerate(chunks):
        if rel is None:
            st = stats[i]
            entry = Record(store, position[i], int(st.st_mtime), st.st_size, checksum)
        index.records[entries[i].rpartition("/")[2]] = entry
    return index


def _write_side_index(outputdir, entries, chunks, spans, base):
    """:data:`SIDE_INDEX` of the repodata :func:`write_repo` just wrote and marked from
    ``chunks``, whose entries it wrote at ``spans`` (per kind: the first entry's offset and
    each entry's length): one JSON line (the repomd.xml digest and library version of the
    mark, the count, the byte order, the names' size, the checksum types, whether the
    primary's location lines share their start), then the file names (NUL-separated), then
    arrays (native byte order, checked by its name in the line): per kind the n + 1 entry boundaries, the mtimes, sizes and
    checksum type numbers. The mtime, size and type of a record taken are that record's (its
    text's); those of a file read are read from its dumped text, as :func:`_verbatim_index`
    reads them. Not written (and any old one removed) when something does not add up."""
    import json
    import sys
    from array import array
    from ..fileutil import write_atomic
    path = os.path.join(outputdir, SIDE_INDEX)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    n = len(entries)
    if any(span is None or len(span[1]) != n for span in spans):
        return
    info = [(entry.mtime, entry.size, entry.checksum_type) if rel is not None
            else _dumped_info(entry[0]) for entry, rel in chunks]
    if None in info:
        return
    kinds = sorted({ctype for _m, _s, ctype in info})
    number = {ctype: k for k, ctype in enumerate(kinds)}
    mtimes = array("q", [mtime for mtime, _s, _c in info])
    sizes = array("Q", [size for _m, size, _c in info])
    types = array("B", [number[ctype] for _m, _s, ctype in info])
    names = [rel.rpartition("/")[2] for rel in entries]
    bounds = [array("Q", itertools.accumulate(lengths, initial=first))
              for first, lengths in spans]
    # whether every location line shares its start up to the file name (common_location's):
    # one folder, and a base and folder written as they are (a name escaped holds no "/");
    # the reader takes the start from the first entry (the file does not name the compose,
    # which the base holds, so a unit's record takes it as any file: reuse.describe_files)
    folders = {rel[:rel.rfind("/") + 1] for rel in entries}
    location = (not base or bool(_SAFE_ATTR.fullmatch(base))) and len(folders) == 1 \
        and bool(_SAFE_ATTR.fullmatch(folders.pop()))
    with open(os.path.join(outputdir, "repodata", "repomd.xml"), "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    blob = "\0".join(names).encode("utf-8", "surrogateescape")
    head = {"repomd_sha256": digest, "createrepo_c": cr.VERSION, "count": n,
            "byteorder": sys.byteorder, "names": len(blob), "types": kinds,
            "location": location}
    write_atomic(path, json.dumps(head).encode() + b"\n" + blob + b"".join(
        a.tobytes() for a in (*bounds, mtimes, sizes, types)), fsync=False)


def _dumped_info(primary):
    """``(mtime, size, checksum type)`` of a primary entry the library dumped, as
    :func:`_verbatim_index` reads them, or None."""
    found = _TIME_SIZE.search(primary)
    ctype = _CHECKSUM.search(primary)
    if found is None or ctype is None:
        return None
    return int(found.group(1)), int(found.group(2)), ctype.group(1).decode()


def _side_index(repo_dir, texts):
    """The :class:`RecordIndex` :data:`SIDE_INDEX` gives for ``repo_dir``'s decompressed
    ``texts`` (primary, filelists, other), or None when there is none for the repomd.xml
    there (another library, another repodata), or it does not fit the texts: each kind's
    first entry must start with ``<package `` where it says, its last end with
    ``</package>\n`` where it says, and nothing like an entry follow it."""
    import json
    import sys
    from array import array
    try:
        with open(os.path.join(repo_dir, SIDE_INDEX), "rb") as fh:
            data = fh.read()
        line = data.index(b"\n")
        head = json.loads(data[:line])
        if (head.get("repomd_sha256") != _repomd_digest(repo_dir)
                or head.get("createrepo_c") != cr.VERSION
                or head.get("byteorder") != sys.byteorder):
            return None
        n, size = int(head["count"]), int(head["names"])
        kinds = [str(k) for k in head["types"]]
        location = head.get("location") is True
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    at = line + 1
    blob = data[at:at + size]
    at += size
    arrays = []
    for code, count in (("Q", n + 1), ("Q", n + 1), ("Q", n + 1), ("q", n), ("Q", n),
                        ("B", n)):
        a = array(code)
        width = a.itemsize * count
        a.frombytes(data[at:at + width])
        if len(a) != count:
            return None
        arrays.append(a)
        at += width
    if at != len(data):
        return None
    names = blob.decode("utf-8", "surrogateescape").split("\0") if n else []
    if len(names) != n or any(t >= len(kinds) for t in set(arrays[5])):
        return None
    if n:
        for text, bound in zip(texts, arrays[:3]):
            first, last = bound[0], bound[-1]
            if (text[first:first + 9] != b"<package " or text[last - len(_END):last] != _END
                    or text.find(b"<package ", last) != -1
                    or any(a > b for a, b in zip(bound, bound[1:]))):
                return None
    store = _Store.__new__(_Store)
    store.texts = tuple(texts)
    store.starts = tuple(bound[:-1] for bound in arrays[:3])
    store.ends = tuple(bound[1:] for bound in arrays[:3])
    store.location = None
    if location and n:
        found = _LOCATION.search(texts[0], arrays[0][0], arrays[0][1])
        if found is None:
            return None
        store.location = common_location([found.groups()])
    index = RecordIndex(verbatim=True)
    records = index.records
    for i, (name, mtime, size, t) in enumerate(zip(names, arrays[3], arrays[4], arrays[5])):
        records[name] = Record(store, i, mtime, size, kinds[t])
    return index


def _remember(repo_dir, index):
    """Hold ``index`` as the records of ``repo_dir``'s repodata as it is now (trusted)."""
    stat = _repomd_stat(repo_dir)
    if stat is None:
        return
    real = os.path.realpath(repo_dir)
    with _lock:
        if _trusted.get(real) != stat:
            return
        for old in [k for k in _indexes if k[0] == real]:
            del _indexes[old]
        _indexes[(real, stat)] = index

