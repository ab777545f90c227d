"""ISO 9660 images written with pycdlib, and the naming rules around them.

``write_iso`` turns a directory tree (plus optional graft points) into an ISO 9660 image with
Rock Ridge (the real names, modes, symlinks) and Joliet (for Windows), optionally bootable with
El Torito (BIOS isolinux, UEFI ``images/efiboot.img``) and hybrid (MBR, + GPT with UEFI) so the
same file boots from a CD and from a USB stick.

Name rules (see doc/media.md):

* ISO 9660 names are mangled to ``A-Z 0-9 _``, one dot, at most 30 characters for files and 31
  for directories; clashes inside one directory get a ``_N`` suffix.  Names are allocated in
  sorted order, so the same tree always gets the same names.
* Joliet allows 64 UCS-2 characters per name (pycdlib enforces the limit; ``xorriso
  -joliet-long`` would allow 103).  Longer names are shortened to their first 31 and last 32
  characters joined by ``~`` (so ``<64 hex>-primary.xml.gz`` keeps its readable end); a clash
  gets a counter.  Rock Ridge always has the full name.
* Deep directories (more than 7 levels) are relocated by pycdlib into ``RR_MOVED`` as mkisofs
  does; Rock Ridge readers see them in place.

Determinism: with ``source_date_epoch`` (or ``SOURCE_DATE_EPOCH`` in the environment) every date
in the image is that time (UTC), the GPT GUIDs and the MBR id are derived from the volume id and
that time, and files are added in sorted order, so the same input gives the same bytes.  pycdlib
reads ``time.time()`` and ``uuid.uuid4()`` itself; we give its modules a thread-local stand-in
for both instead of patching the process-wide functions, so concurrent units are unaffected.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import io
import logging
import os
import re
import threading
import time as _time
import uuid as _uuid
from dataclasses import dataclass, field

import pycdlib
import pycdlib.dates
import pycdlib.headervd
import pycdlib.isohybrid
import pycdlib.pycdlib
import pycdlib.utils

from .. import tools
from . import iso_native, iso_xorriso
from ..errors import PungiLikeError
# re-exported so callers need one import for everything about ISO images
from .naming import (DEFAULT_IMAGE_NAME_FORMAT, DEFAULT_VOLID_FORMATS,
                     DEFAULT_VOLID_LAYERED_FORMATS, Disc, format_values, image_name, split_media,
                     volume_id)

__all__ = ["write_iso", "choose_writer", "IsoResult", "collect_tree", "iso9660_name", "joliet_name",
           "implant_md5", "implanted_md5", "check_md5", "iso_manifest", "manifest_paths",
           "write_manifest",
           "read_volume_id", "isohdpfx_path", "DEFAULT_IMAGE_NAME_FORMAT",
           "DEFAULT_VOLID_FORMATS", "DEFAULT_VOLID_LAYERED_FORMATS", "Disc", "format_values",
           "image_name", "split_media", "volume_id"]

log = logging.getLogger("pungi_like.media.iso")

SECTOR = 2048
VOLID_MAX = 32
ISO_FILE_MAX = 30       # ECMA-119 7.5.2: name + extension, without ";1"
ISO_DIR_MAX = 31
JOLIET_MAX = 64
BOOT_MODES = (None, "bios", "uefi", "bios+uefi")
WRITERS = ("auto", "pycdlib", "xorriso", "native")
ISOLINUX_BIN = "isolinux/isolinux.bin"
BOOT_CAT = "isolinux/boot.cat"
EFIBOOT_IMG = "images/efiboot.img"
ISOHDPFX_CANDIDATES = ("/usr/lib/ISOLINUX/isohdpfx.bin", "/usr/share/syslinux/isohdpfx.bin",
                       "/usr/lib/syslinux/mbr/isohdpfx.bin", "/usr/lib/syslinux/isohdpfx.bin")


# ---- deterministic time and GUIDs for pycdlib --------------------------------------------

_fixed = threading.local()


class _TimeShim:
    """``time`` as pycdlib sees it: the fixed epoch (in UTC) while this thread writes an ISO."""

    def __getattr__(self, name):
        return getattr(_time, name)

    @staticmethod
    def time():
        epoch = getattr(_fixed, "epoch", None)
        return float(epoch) if epoch is not None else _time.time()

    @staticmethod
    def localtime(secs=None):
        if getattr(_fixed, "epoch", None) is not None:
            return _time.gmtime(secs)
        return _time.localtime(secs)


class _UuidShim:
    def __getattr__(self, name):
        return getattr(_uuid, name)

    @staticmethod
    def uuid4():
        seed = getattr(_fixed, "seed", None)
        if seed is None:
            return _uuid.uuid4()
        _fixed.counter += 1
        digest = hashlib.sha256(f"{seed}/{_fixed.counter}".encode()).digest()
        return _uuid.UUID(bytes=digest[:16], version=4)


for _mod in (pycdlib.pycdlib, pycdlib.headervd, pycdlib.dates):
    _mod.time = _TimeShim()
pycdlib.isohybrid.uuid = _UuidShim()


# ---- file data copied by the kernel -------------------------------------------------------

_copy_data_yield = pycdlib.utils.copy_data_yield


def _kernel_copy_data_yield(data_length, blocksize, infp, outfp):
    """pycdlib's ``utils.copy_data_yield`` (a file's data into the image) without passing the
    bytes through Python: ``os.copy_file_range`` (``os.sendfile`` where the kernel refuses it),
    from the input file's position to the output file's, both file objects left after the
    copied bytes as pycdlib's read/write loop leaves them. Objects without a file descriptor
    take pycdlib's loop. Same bytes; a 1 GiB tree of large images took pycdlib 1.8 s of CPU
    with its loop (bench/bench_iso.py --shape large, doc/performance.md)."""
    try:
        in_fd, out_fd = infp.fileno(), outfp.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        yield from _copy_data_yield(data_length, blocksize, infp, outfp)
        return
    outfp.flush()
    src, dst = infp.tell(), outfp.tell()
    copied = 0
    for n in iso_native.kernel_copy(in_fd, out_fd, src, dst, data_length):
        copied += n
        yield n
    if copied < data_length:
        # a file shorter than recorded: pycdlib's loop counts the rest as copied
        yield data_length - copied
    infp.seek(src + copied)
    outfp.seek(dst + copied)


pycdlib.utils.copy_data_yield = _kernel_copy_data_yield


class _FixedClock:
    def __init__(self, epoch, seed):
        self.epoch, self.seed = epoch, seed

    def __enter__(self):
        _fixed.epoch = self.epoch
        _fixed.seed = self.seed if self.epoch is not None else None
        _fixed.counter = 0
        return self

    def __exit__(self, *exc):
        _fixed.epoch = _fixed.seed = None
        return False


def _epoch(source_date_epoch):
    if source_date_epoch is not None:
        return int(source_date_epoch)
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(value) if value.isdigit() else None


# ---- names ---------------------------------------------------------------------------------

_BAD_ISO_CHARS = re.compile(r"[^A-Z0-9_]")


def _iso_candidate(name, is_dir):
    upper = name.upper()
    if is_dir:
        return (_BAD_ISO_CHARS.sub("_", upper) or "_")[:ISO_DIR_MAX]
    stem, dot, ext = upper.rpartition(".")
    if not dot or not stem:
        stem, ext = upper, ""
    stem = _BAD_ISO_CHARS.sub("_", stem)
    ext = _BAD_ISO_CHARS.sub("_", ext)[:8]
    room = ISO_FILE_MAX - (len(ext) + 1 if ext else 0)
    stem = (stem or "_")[:room]
    return f"{stem}.{ext}" if ext else stem


def _dedupe(candidate, taken, max_len, keep_ext):
    if candidate not in taken:
        return candidate
    stem, dot, ext = candidate.rpartition(".") if keep_ext and "." in candidate else (candidate, "", "")
    n = 1
    while True:
        tail = f"_{n}"
        new = stem[:max_len - len(tail) - len(dot) - len(ext)] + tail + dot + ext
        if new not in taken:
            return new
        n += 1


def iso9660_name(name, is_dir, taken=()):
    """The ISO 9660 (level 3) identifier for ``name`` in a directory whose names are ``taken``
    (without the ``;1`` version)."""
    max_len = ISO_DIR_MAX if is_dir else ISO_FILE_MAX
    return _dedupe(_iso_candidate(name, is_dir), set(taken), max_len, keep_ext=not is_dir)


def joliet_name(name, taken=()):
    """The Joliet name for ``name``: itself when it fits 64 characters, else its first 31 and
    last 32 characters joined by ``~`` (a counter replaces the ``~`` on a clash)."""
    taken = set(taken)
    if len(name) <= JOLIET_MAX and name not in taken:
        return name
    head, tail = name[:31], name[-32:]
    candidate = f"{head}~{tail}" if len(name) > JOLIET_MAX else name
    n = 1
    while candidate in taken:
        mark = f"~{n}~"
        candidate = head[:JOLIET_MAX - len(mark) - len(tail)] + mark + tail
        n += 1
    return candidate


# ---- collecting the tree -------------------------------------------------------------------

@dataclass
class _Entry:
    kind: str               # dir | file | symlink
    source: str | None = None
    target: str | None = None
    mode: int = 0o755
    size: int = 0


def _excluded(relpath, excludes):
    """True when a glob of ``excludes`` matches ``relpath`` or its base name (fnmatch rules)."""
    if not excludes:
        return False
    match = _exclude_matcher(tuple(excludes))
    return bool(match(relpath) or match(relpath.rpartition("/")[2]))


@functools.lru_cache(maxsize=64)
def _exclude_matcher(excludes):
    # one regex for every glob: a tree of 10,000 files asks twice per path
    return re.compile("|".join(f"(?:{fnmatch.translate(pat)})" for pat in excludes)).match


def _add_source(entries, relpath, source, excludes):
    """Put ``source`` (file, dir or symlink on disk) at ``relpath`` (no leading slash)."""
    if relpath and _excluded(relpath, excludes):
        return
    st = os.lstat(source)
    if os.path.islink(source):
        target = os.readlink(source)
        resolved = os.path.realpath(source)
        # a relative link that stays inside what we write is kept as a link; anything else is
        # resolved (Pungi resolves links pointing outside the compose the same way)
        inside = not os.path.isabs(target) and os.path.exists(resolved)
        if inside:
            entries[relpath] = _Entry("symlink", source=source, target=target)
            return
        if not os.path.exists(resolved):
            log.warning("skipping dangling symlink %s -> %s", source, target)
            return
        source, st = resolved, os.stat(resolved)
    if os.path.isdir(source):
        if relpath:
            entries[relpath] = _Entry("dir", source=source, mode=st.st_mode & 0o7777)
        _add_dir(entries, relpath, source, excludes)
    else:
        entries[relpath] = _Entry("file", source=source, mode=st.st_mode & 0o7777,
                                  size=st.st_size)


def _add_dir(entries, relpath, source, excludes):
    """The children of directory ``source`` at ``relpath``: one scandir and one lstat per
    child (a tree of 10,000 RPMs is walked in a tenth of the time of stat-ing each path three
    times); symlinks take ``_add_source``'s full path."""
    with os.scandir(source) as it:
        children = sorted(it, key=lambda d: d.name)
    for child in children:
        rel = f"{relpath}/{child.name}" if relpath else child.name
        if child.is_symlink():
            _add_source(entries, rel, child.path, excludes)
            continue
        if excludes and _excluded(rel, excludes):
            continue
        st = child.stat(follow_symlinks=False)
        if child.is_dir(follow_symlinks=False):
            entries[rel] = _Entry("dir", source=child.path, mode=st.st_mode & 0o7777)
            _add_dir(entries, rel, child.path, excludes)
        else:
            entries[rel] = _Entry("file", source=child.path, mode=st.st_mode & 0o7777,
                                  size=st.st_size)


def collect_tree(tree_dir=None, graft=None, excludes=(), tree_entries=None):
    """{relative path: _Entry} for ``tree_dir`` merged with ``graft`` ({iso path: source}),
    graft points winning; parents are created for grafted paths. ``tree_entries``: what this
    function collects of ``tree_dir`` with ``excludes``, when the caller walked the tree for
    it already (a copy is taken)."""
    entries = {}
    if tree_entries is not None:
        entries = dict(tree_entries)
    elif tree_dir:
        _add_source(entries, "", os.path.abspath(tree_dir), excludes)
    grafted = []
    for iso_path, source in sorted((graft or {}).items()):
        rel = iso_path.strip("/")
        for key in [k for k in entries if k == rel or k.startswith(rel + "/")]:
            del entries[key]
        _add_source(entries, rel, os.path.abspath(source), excludes)
        grafted.append(rel)
    # the walks add every directory before what it holds; only a graft point may lack parents
    # (looking at the parents of all 10,000 paths of a DVD took a third of this function)
    for rel in grafted:
        if rel not in entries:
            continue    # excluded, or a dangling link
        parent = os.path.dirname(rel)
        while parent and parent not in entries:
            entries[parent] = _Entry("dir")
            parent = os.path.dirname(parent)
    return entries


# ---- writing -------------------------------------------------------------------------------

def isohdpfx_path():
    for path in ISOHDPFX_CANDIDATES:
        if os.path.exists(path):
            return path
    raise PungiLikeError("isohdpfx.bin (syslinux's isohybrid MBR) not found; install the "
                         "isolinux package (.ci/setup)")


# Cost of each writer in CPU seconds (user + system, xorriso's included) per file and per MiB of
# the tree, fitted from the "many" (10,008 files, 213 MiB: pycdlib 1.16 s, xorriso 0.66 s) and
# "large" (8 files, 1,024 MiB: pycdlib 0.42 s, xorriso 0.83 s) trees of bench/bench_iso.py,
# medians of interleaved runs (doc/media.md; pycdlib with its file data copied by the kernel,
# ``_kernel_copy_data_yield``).  CPU rather than wall time: on a shared machine the wall time
# follows the CPU a writer needs.  xorriso wins when a tree has more than ~7 files per MiB.
# Below XORRISO_MIN_FILES the gain (58 us a file) is under the noise of one run, and pycdlib
# keeps the bytes small trees have always had.
PYCDLIB_S_PER_FILE, PYCDLIB_S_PER_MIB = 107e-6, 0.41e-3
XORRISO_S_PER_FILE, XORRISO_S_PER_MIB = 49e-6, 0.81e-3
XORRISO_MIN_FILES = 1000


def choose_writer(entries):
    """``"xorriso"`` when its measured cost for this tree (files and bytes) is lower than
    pycdlib's and it can take the tree (on PATH, no newline in a path), else ``"pycdlib"``."""
    files = sum(1 for e in entries.values() if e.kind == "file")
    mib = sum(e.size for e in entries.values() if e.kind == "file") / (1 << 20)
    pycdlib_cost = files * PYCDLIB_S_PER_FILE + mib * PYCDLIB_S_PER_MIB
    xorriso_cost = files * XORRISO_S_PER_FILE + mib * XORRISO_S_PER_MIB
    if (files < XORRISO_MIN_FILES or xorriso_cost >= pycdlib_cost
            or not iso_xorriso.graftable(entries)):
        return "pycdlib"
    if not iso_xorriso.available():
        log.warning("xorriso is not installed: writing %d files with pycdlib, which is slower "
                    "for this tree (install xorriso: .ci/setup)", files)
        return "pycdlib"
    return "xorriso"


@dataclass
class IsoResult:
    path: str
    volid: str
    size: int
    boot: str | None
    files: int
    joliet_renamed: dict = field(default_factory=dict)
    seconds: float = 0.0
    writer: str = "pycdlib"
    #: the Rock Ridge path of every file, directory and link in the image, sorted, as
    #: :func:`iso_manifest` reads them back (from what was written, without reading the image)
    manifest: list = field(default_factory=list)
    #: the MD5 the writer implanted (``write_iso``'s ``implant``), or None: then the caller
    #: implants it (:func:`implant_md5`)
    implanted_md5: str | None = None


def write_iso(tree_dir, iso_path, volid, *, boot=None, source_date_epoch=None, excludes=(),
              graft=None, application_id="", publisher="", preparer="pungi_like",
              log_path=None, writer="auto", tree_entries=None, implant=None, record=None,
              old=()) -> IsoResult:
    """Write ``tree_dir`` (+ ``graft``: {path in ISO: source path}) to ``iso_path``.

    ``boot``: None, ``"bios"`` (El Torito no-emulation ``isolinux/isolinux.bin`` with
    boot-info-table, load size 4, catalog ``isolinux/boot.cat``, isohybrid MBR with syslinux's
    ``isohdpfx.bin`` code), ``"uefi"`` (El Torito platform 0xEF ``images/efiboot.img`` only) or
    ``"bios+uefi"`` (both entries, hybrid MBR + GPT).  ``excludes``: globs matched against the
    relative path and the base name.  ``source_date_epoch`` (default: ``$SOURCE_DATE_EPOCH``)
    makes the output reproducible.  ``writer``: ``"auto"`` (``choose_writer``'s measured rule;
    where it picks xorriso 1.5.4, the native writer when it accepts the tree), ``"pycdlib"``,
    ``"xorriso"`` (``media.iso_xorriso``) or ``"native"`` (``media.iso_native``: xorriso
    1.5.4's bytes; xorriso for what it refuses).  ``tree_entries``: what
    :func:`collect_tree` gives of ``tree_dir`` with ``excludes``, when the caller has it (the
    tree is not walked again).  ``implant``: None, or the supported flag of an MD5 to implant
    as ``implantisomd5 [--supported-iso]`` would; the native writer implants it while it
    writes (``IsoResult.implanted_md5``), the others leave it to the caller (None there).
    ``record``, ``old``: the native writer's record of where each file's data lies, written
    for a later image, and the old images' (``[record, directory of its image]``) it copies
    unchanged files' data from (``media.iso_extents``); the other writers ignore them.
    The file is written to a temp name and renamed.
    """
    if boot not in BOOT_MODES:
        raise PungiLikeError(f"write_iso: boot={boot!r} is not one of {BOOT_MODES}")
    if writer not in WRITERS:
        raise PungiLikeError(f"write_iso: writer={writer!r} is not one of {WRITERS}")
    if not volid or len(volid.encode()) > VOLID_MAX:
        raise PungiLikeError(f"volume id {volid!r} is empty or longer than {VOLID_MAX} bytes")
    start = _time.monotonic()
    entries = collect_tree(tree_dir, graft, excludes, tree_entries=tree_entries)
    bios = boot in ("bios", "bios+uefi")
    uefi = boot in ("uefi", "bios+uefi")
    for needed, wanted in ((ISOLINUX_BIN, bios), (EFIBOOT_IMG, uefi)):
        if wanted and (needed not in entries or entries[needed].kind != "file"):
            raise PungiLikeError(f"write_iso: boot={boot} needs {needed} in the tree "
                                 f"({tree_dir or 'graft points'})")
    epoch = _epoch(source_date_epoch)
    if writer == "auto":
        writer = choose_writer(entries)
        if writer == "xorriso" and iso_native.xorriso_is_modelled():
            writer = "native"
    if writer == "native":
        # the native writer writes xorriso 1.5.4's bytes for the trees it models (see
        # media.iso_native); whatever it refuses xorriso writes, as before
        result = _write_native(entries, iso_path, volid, boot, epoch, start, application_id,
                               publisher, preparer, log_path, implant, record, old)
        if result is not None:
            return result
        writer = "xorriso"
    if writer == "xorriso":
        return _write_with_xorriso(entries, iso_path, volid, boot, epoch, start, application_id,
                                   publisher, preparer, log_path)
    seed = f"{volid}/{epoch}"
    iso = pycdlib.PyCdlib()
    iso_names = {"": ""}
    joliet_names = {"": ""}
    taken_iso, taken_joliet = {}, {}
    renamed = {}
    files = 0
    with _FixedClock(epoch, seed):
        # the Joliet volume id is UCS-2: 16 characters; the primary one gets all 32 bytes
        iso.new(interchange_level=3, vol_ident=volid[:16], sys_ident="LINUX", rock_ridge="1.09",
                joliet=3, app_ident_str=application_id[:128], pub_ident_str=publisher[:128],
                preparer_ident_str=preparer[:128])
        iso.pvd.volume_identifier = volid.encode("utf-8").ljust(VOLID_MAX, b" ")
        for rel in sorted(entries, key=lambda p: (p.count("/"), p)):
            entry = entries[rel]
            parent, name = os.path.split(rel)
            iso_parent, jol_parent = iso_names[parent], joliet_names.get(parent)
            iso_id = iso9660_name(name, entry.kind == "dir", taken_iso.setdefault(parent, set()))
            taken_iso[parent].add(iso_id)
            iso_names[rel] = f"{iso_parent}/{iso_id}"
            jol = None
            if jol_parent is not None and entry.kind != "symlink":
                jol_id = joliet_name(name, taken_joliet.setdefault(parent, set()))
                taken_joliet[parent].add(jol_id)
                if jol_id != name:
                    renamed[rel] = jol_id
                jol = f"{jol_parent}/{jol_id}"
                joliet_names[rel] = jol
            if entry.kind == "dir":
                iso.add_directory(iso_path=iso_names[rel], rr_name=name, joliet_path=jol,
                                  file_mode=0o040000 | (entry.mode or 0o755))
            elif entry.kind == "symlink":
                iso.add_symlink(symlink_path=iso_names[rel] + ";1", rr_symlink_name=name,
                                rr_path=entry.target)
            else:
                iso.add_file(entry.source, iso_path=iso_names[rel] + ";1", rr_name=name,
                             joliet_path=jol, file_mode=0o100000 | entry.mode)
                files += 1
        if bios:
            iso.add_eltorito(iso_names[ISOLINUX_BIN] + ";1",
                             bootcatfile=iso_names["isolinux"] + "/BOOT.CAT;1",
                             rr_bootcatname="boot.cat", joliet_bootcatfile=(
                                 joliet_names["isolinux"] + "/boot.cat"),
                             boot_load_size=4, boot_info_table=True)
        if uefi:
            efi_cat = {} if bios else dict(
                bootcatfile=iso_names["images"] + "/BOOT.CAT;1", rr_bootcatname="boot.cat",
                joliet_bootcatfile=joliet_names["images"] + "/boot.cat")
            iso.add_eltorito(iso_names[EFIBOOT_IMG] + ";1", efi=True, platform_id=0xEF,
                             **efi_cat)
        if bios:
            mbr_id = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "little") \
                if epoch is not None else None
            iso.add_isohybrid(mbr_id=mbr_id, efi=uefi)
            with open(isohdpfx_path(), "rb") as fh:
                iso.isohybrid_mbr.mbr = fh.read()[32:432]
        if bios and uefi:
            _reserve_backup_gpt(iso)
        os.makedirs(os.path.dirname(os.path.abspath(iso_path)) or ".", exist_ok=True)
        tmp = f"{iso_path}.tmp-{os.getpid()}-{threading.get_ident()}"
        try:
            iso.write(tmp, blocksize=1 << 20)
            iso.close()
            os.replace(tmp, iso_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return _result(iso_path, volid, boot, files, renamed, start, epoch, "pycdlib", log_path,
                   entries)


def manifest_paths(entries, boot):
    """The sorted Rock Ridge paths of an image written from ``entries`` with ``boot``: every
    entry, plus the El Torito catalog both writers add (``isolinux/boot.cat`` with BIOS boot,
    ``images/boot.cat`` for UEFI alone); what :func:`iso_manifest` reads from the image."""
    paths = {"/" + rel for rel in entries}
    if boot in ("bios", "bios+uefi"):
        paths.add("/" + ISOLINUX_BIN.rpartition("/")[0] + "/boot.cat")
    elif boot == "uefi":
        paths.add("/" + EFIBOOT_IMG.rpartition("/")[0] + "/boot.cat")
    return sorted(paths)


def _result(iso_path, volid, boot, files, renamed, start, epoch, writer, log_path, entries):
    result = IsoResult(path=iso_path, volid=volid, size=os.path.getsize(iso_path), boot=boot,
                       files=files, joliet_renamed=renamed,
                       seconds=round(_time.monotonic() - start, 3), writer=writer,
                       manifest=manifest_paths(entries, boot))
    _log_line(log_path, f"# write_iso {iso_path}: writer={writer} volid={volid!r} boot={boot} "
                        f"files={files} size={result.size} epoch={epoch} "
                        f"joliet_renamed={len(renamed)} {result.seconds:.2f} s")
    return result


def _log_line(log_path, line):
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def _write_native(entries, iso_path, volid, boot, epoch, start, application_id, publisher,
                  preparer, log_path, implant=None, record=None, old=()):
    """The image written by media.iso_native in a child process (with its MD5 implanted when
    ``implant`` is a bool and the child could); None (nothing written, the reason logged)
    when it refuses the tree."""
    options = dict(boot=boot, epoch=epoch, volid=volid, application_id=application_id[:128],
                   publisher=publisher[:128], preparer=preparer[:128])
    try:
        # what the options alone rule out (a bootable image) costs no child
        iso_native.check_options(**options)
    except iso_native.Refused as exc:
        _log_line(log_path, f"# write_iso {iso_path}: native writer refused ({exc}): xorriso")
        return None
    os.makedirs(os.path.dirname(os.path.abspath(iso_path)) or ".", exist_ok=True)
    tmp = f"{iso_path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        proc = tools.run(iso_native.child_command(tmp, record), log_path=log_path,
                         input=iso_native.child_input(entries, implant=implant, old=old,
                                                      **options))
        answer = iso_native.child_answer(proc.stdout)
        files, refused, md5 = answer.get("files"), answer.get("refused"), answer.get("md5")
        if refused is not None:
            if os.path.exists(tmp):
                os.unlink(tmp)
            _log_line(log_path, f"# write_iso {iso_path}: native writer refused ({refused}): "
                                "xorriso")
            return None
        os.replace(tmp, iso_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if answer.get("from_old"):
        _log_line(log_path, f"# {answer['from_old']} of {files} files' data copied from the "
                            "old image of an unchanged source")
    if md5:
        _log_line(log_path, f"# implanted MD5 {md5} by the native writer (the bytes "
                            f"implantisomd5{' --supported-iso' if implant else ''} writes)")
    result = _result(iso_path, volid, boot, files, {}, start, epoch, "native", log_path,
                     entries)
    result.implanted_md5 = md5 or None
    return result


def _write_with_xorriso(entries, iso_path, volid, boot, epoch, start, application_id,
                        publisher, preparer, log_path):
    bios = boot in ("bios", "bios+uefi")
    os.makedirs(os.path.dirname(os.path.abspath(iso_path)) or ".", exist_ok=True)
    tmp = f"{iso_path}.tmp-{os.getpid()}-{threading.get_ident()}"
    try:
        renamed = iso_xorriso.write(
            entries, tmp, volid, bios=bios, uefi=boot in ("uefi", "bios+uefi"), epoch=epoch,
            isohdpfx=isohdpfx_path() if bios else None, application_id=application_id,
            publisher=publisher, preparer=preparer, log_path=log_path)
        os.replace(tmp, iso_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    files = sum(1 for e in entries.values() if e.kind == "file")
    return _result(iso_path, volid, boot, files, renamed, start, epoch, "xorriso", log_path,
                   entries)


# ---- implanted MD5, manifest ---------------------------------------------------------------

def _reserve_backup_gpt(iso):
    """Keep room for the backup GPT at the end of a hybrid UEFI image.

    pycdlib pads the image to a whole cylinder and writes the backup GPT (header + 128
    entries, 16.5 KiB) into the last bytes of that padding; when the ISO data ends on or just
    before a cylinder boundary the padding is shorter than the GPT and the GPT overwrites the
    last file's data (a zeroed grub.cfg was seen). Growing the volume by a few zero sectors
    moves the end away from the boundary.
    """
    hybrid = iso.isohybrid_mbr
    cylinder = hybrid.geometry_heads * hybrid.geometry_sectors * 512
    gpt = 512 + 128 * 128
    size = iso.pvd.space_size * SECTOR
    frac = size % cylinder
    padding = cylinder - frac if frac else 0
    if padding >= gpt:
        return
    extra = padding // SECTOR + 1
    for vd in (iso.pvd, iso.joliet_vd, getattr(iso, "enhanced_vd", None)):
        if vd is not None:
            vd.space_size += extra


def implant_md5(iso_path, supported=False, log_path=None):
    """Implant the MD5 of ``iso_path`` (implantisomd5; ``--supported-iso`` when ``supported``);
    returns the implanted MD5 hex digest."""
    cmd = ["implantisomd5"] + (["--supported-iso"] if supported else []) + [iso_path]
    proc = tools.run(cmd, log_path=log_path)
    # implantisomd5 prints the sum it implants ("md5 = <hex>"); checkisomd5 reads it back only
    # when that line is missing (one process less on the ISO units' path)
    found = re.search(r"^md5 = ([0-9a-f]{32})$", proc.stdout or "", re.M)
    return found.group(1) if found else implanted_md5(iso_path, log_path=log_path)


def implanted_md5(iso_path, log_path=None):
    """The MD5 implanted in ``iso_path`` (``checkisomd5 --md5sumonly``), or None."""
    proc = tools.run(["checkisomd5", "--md5sumonly", iso_path], log_path=log_path, check=False)
    # first line: "<path>:   <md5>"
    first = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
    value = first.rsplit(None, 1)[-1] if first else ""
    return value if re.fullmatch(r"[0-9a-f]{32}", value) else None


def check_md5(iso_path, log_path=None):
    """True when ``checkisomd5`` verifies the implanted MD5 (False when wrong or missing)."""
    proc = tools.run(["checkisomd5", iso_path], log_path=log_path, check=False)
    return proc.returncode == 0 and "PASS" in proc.stdout


def iso_manifest(iso_path):
    """Sorted Rock Ridge paths of every file and directory in the image, as ``isoinfo -R -f``
    prints them (``/isolinux``, ``/isolinux/isolinux.bin`` ...); boot catalogs included."""
    iso = pycdlib.PyCdlib()
    iso.open(iso_path)
    try:
        paths = []
        for top, dirs, files in iso.walk(rr_path="/"):
            prefix = top.rstrip("/")
            paths += [f"{prefix}/{n}" for n in dirs + files]
        return sorted(paths)
    finally:
        iso.close()


def write_manifest(iso_path, manifest_path=None, paths=None, fsync=True):
    """Write ``<iso>.manifest`` (one path per line); returns its path.  ``paths``: the
    image's paths when the caller has them (``IsoResult.manifest`` of :func:`write_iso`),
    else they are read from the image (a 10,000-file image takes pycdlib most of a second).
    ``fsync``: as ``fileutil.write_atomic``'s."""
    from ..fileutil import write_atomic
    manifest_path = manifest_path or iso_path + ".manifest"
    if paths is None:
        paths = iso_manifest(iso_path)
    write_atomic(manifest_path, "".join(p + "\n" for p in paths), fsync=fsync)
    return manifest_path


def read_volume_id(iso_path):
    """The volume id from the primary volume descriptor (trailing spaces removed)."""
    with open(iso_path, "rb") as fh:
        fh.seek(16 * SECTOR + 40)
        return fh.read(32).decode("ascii", "replace").rstrip(" ")
