"""A native ISO writer for non-bootable trees: the bytes ``xorriso -as mkisofs`` writes.

``media.iso_xorriso.write`` runs xorriso 1.5.4 (libisofs 1.5.4) with Rock Ridge, Joliet
(``-joliet-long``), ISO level 3, owner 0:0, the volume/system/application/publisher/preparer
ids and, with an epoch, ``SOURCE_DATE_EPOCH`` + ``always_gmt`` + every file date put at the
epoch (``iso_xorriso.set_all_file_dates``).  For a tree without boot records this module
writes the same image byte for byte, from ``media.iso.collect_tree``'s entries, without
xorriso's per-file cost (13 stat calls a file, 2 KiB reads handed between threads): the
metadata is built here, each file's data is copied by the kernel (``os.copy_file_range``,
``os.sendfile`` where the kernel refuses it; the interpreter lock is released).

The layout, as libisofs 1.5.4 writes it for such a tree (read from its output, its source -
ecma119.c, ecma119_tree.c, rockridge.c, joliet.c, filesrc.c, util.c - and checked against
xorriso by tests/integration/test_media_iso_native.py):

* sectors 0-15 zero; the primary volume descriptor at 16, the Joliet one at 17, the
  terminator at 18;
* the ISO 9660 directories from 19, depth first (pre-order), children in ISO-name order
  (byte order of the names without ``;1``); the root is followed by one block, its Rock Ridge
  continuation area, holding the ``ER`` entry; a directory's records never cross a sector and
  its extent is whole sectors; then the ISO path tables (L, then M; breadth first, each
  level by parent then name); then the Joliet directories (the same walk, UCS-2 order) and
  the Joliet path tables; then one zero block (libisofs' block for empty files); then the
  file data in the ISO tree's pre-order, each file from a new sector; then 150 zero sectors;
* file data from block 32 on at the earliest (libisofs' "mspad" writer);
* ISO names: ``iso_r_fileid(name, 30)`` (upper case, anything but ``A-Z0-9_`` made ``_``, the
  last dot kept and 30 characters split between base and extension as written there); files
  with the dot forced (``FOO.``) and ``;1``, directories without (xorriso allows directory
  names with an extension); Rock Ridge (RRIP 1.10: the ``ER`` ``RRIP_1991A``) ``PX``
  (36 bytes: mode, 1 link, uid 0, gid 0), ``TF`` (modify, access, attributes: the epoch),
  ``NM`` (the name); the root's ``.`` also ``SP`` and ``CE``; Joliet: the UCS-2 name as it is
  (no ``;1``), a subdirectory's ``..`` record naming the directory itself;
* dates: every recording date and stamp the epoch in GMT; the volume creation and
  modification dates the epoch's ``YYYYMMDDhhmmss00`` (libisofs' volume uuid), expiration
  and effective dates zero; the primary descriptor's application-use area spaces, the Joliet
  one's zero.

xorriso makes the directories above each grafted path itself, with the attributes of a disk
directory above the source grafted first into them - not always the directory's own (a 0555
directory came out 0755 in one tree and 0700 in another; a 0755 one 0700 when an empty
directory's stand-in in xorriso's 0700 work directory was grafted into it first).  Only 0755
is modelled: every directory of the tree, and every disk directory above a file's source as
deep as its image path, must be 0755; empty directories are refused.

Everything outside what was modelled and checked is refused (:func:`prepare` raises
:class:`Refused` with the reason, and ``media.iso.write_iso`` then runs xorriso): boot
records, no epoch, symbolic links, two paths of one inode (libisofs writes their data once),
empty directories, directories other than 0755 (above), names outside printable ASCII or with
a character Joliet replaces, names over 103 characters, ISO names that collide after
mangling (libisofs would rename them), records needing a continuation area, paths deeper
than 7 levels (relocation) or over 240 characters (libisofs' limits), files of 4 GiB - 2 KiB
or more (several extents), ids outside printable ASCII, no preparer (xorriso writes its own),
a volume id outside ``[A-Za-z0-9 ._+-]``, a tree without files.  A tree that is accepted is
written as xorriso writes it or not at all: wrong bytes must not be possible by
construction (each directory's size is checked against its records as laid out).
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import stat
import struct
import sys
import time

SECTOR = 2048
_FIRST_DIR_BLOCK = 19        # system area 0-15, primary 16, Joliet 17, terminator 18
_PADDING_SECTORS = 150       # libisofs' tail padding (300 KiB)
_MIN_DATA_BLOCK = 32         # libisofs' mspad writer (partition offset 0)
_MAX_NAME = 103              # Joliet with -joliet-long; longer names are cut by libisofs
_MAX_DEPTH = 7               # path components; libisofs relocates directories below 8 levels
_MAX_PATH = 240              # ISO and Joliet path characters (libisofs' Joliet limit)
_MAX_FILE_SIZE = 0xFFFFF800  # libisofs' largest single extent; larger files get several
_JOLIET_BAD = set('*/:;?\\')  # valid_j_char: replaced by "_" in Joliet names
_VOLID = re.compile(r"[A-Za-z0-9 ._+-]{1,32}")   # written as given (relaxed_vol_atts)

_ER = (b"ER\xed\x01\x0a\x54\x87\x01" + b"RRIP_1991A"
       + b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM "
         b"SEMANTICS"
       + b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER "
         b"IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.")
assert len(_ER) == 237
_SP = b"SP\x07\x01\xbe\xef\x00"
_PX_LEN, _TF_LEN, _CE_LEN = 36, 26, 28


MODELLED_XORRISO = "1.5.4"
#: the lines of ``xorriso -version`` that must show MODELLED_XORRISO: the layout is libisofs',
#: a shared library that may be newer than the program
_VERSION_LINES = ("xorriso version", "libisofs   in use", "libisoburn in use")


@functools.lru_cache(maxsize=1)
def xorriso_is_modelled():
    """True when the xorriso on PATH (and the libisofs and libisoburn it uses) is the version
    whose images this module writes: then ``write_iso``'s automatic choice may write natively
    what it would give xorriso, the same bytes."""
    import subprocess
    try:
        out = subprocess.run(["xorriso", "-version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    found = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in {k.strip() for k in _VERSION_LINES}:
            found[key.strip()] = value.split()[0] if value.split() else ""
    return all(found.get(k.strip()) == MODELLED_XORRISO for k in _VERSION_LINES)


class Refused(Exception):
    """The tree is outside what this writer models; the message says why."""


def _bb(value, size):
    """ECMA-119 both-byte order."""
    if size == 2:
        return struct.pack("<H", value) + struct.pack(">H", value)
    return struct.pack("<I", value) + struct.pack(">I", value)


# upper case first, then anything but a d-character (A-Z 0-9 _) made "_"
_D_CHARS = str.maketrans({chr(i): (chr(i) if chr(i).isalnum() and not chr(i).islower()
                                   or chr(i) == "_" else "_") for i in range(128)})
_printable = re.compile(r"[ -~]*").fullmatch
#: a name of printable ASCII without the Joliet characters (:data:`_JOLIET_BAD`), not empty:
#: one match a name (the set's intersection with each name cost 4 us a name in the plan)
_name_ok = re.compile("[" + re.escape("".join(c for c in map(chr, range(0x20, 0x7F))
                                              if c not in _JOLIET_BAD)) + "]+").fullmatch


def _source_dir(source):
    """``os.path.dirname(os.path.abspath(source))``, without normpath's work for an absolute
    path that is already normal (a tree's files: 5,400 in a DVD's plan)."""
    if source.startswith("/") and "//" not in source and "/." not in source \
            and not source.endswith("/"):
        return source[:source.rfind("/")] or "/"
    return os.path.dirname(os.path.abspath(source))


def _file_id(name, force_dot):
    """libisofs' ``iso_r_fileid(name, 30, 0, force_dot)`` (= ``iso_2_fileid`` with the dot
    forced): the last dot starts the extension, 30 characters split between base and
    extension (the extension cut to 3 first), upper case, anything but ``A-Z0-9_`` made
    ``_``."""
    dot = name.rfind(".")
    length = len(name)
    if dot < 0 or dot == length - 1:
        lname, lnname, lnext = length, min(length, 30), 0
    else:
        lext = length - dot - 1
        lname = length - lext - 1
        if length > 31 and lext > 3:
            lnext = 30 - lname if lname < 27 else 3
        else:
            lnext = lext
        lnname = 30 - lnext if length > 31 else lname
    if lnname == 0 and lnext == 0:
        raise Refused(f"no ISO 9660 name for {name!r}")
    base = name[:lnname].upper().translate(_D_CHARS)
    ext = name[lname + 1:lname + 1 + lnext].upper().translate(_D_CHARS)
    return f"{base}.{ext}" if lnext > 0 or force_dot else base


def iso_file_id(name):
    """A file's ISO 9660 name (without ``;1``): ``FOO.`` for ``foo``."""
    return _file_id(name, True)


def iso_dir_id(name):
    """A directory's ISO 9660 name: as a file's without the forced dot (xorriso allows
    directory names with an extension: ``allow_dir_id_ext``)."""
    return _file_id(name, False)


def _a_chars(text):
    """libisofs' ``str2a_char``: upper case, anything but a-characters made ``_``."""
    out = []
    for c in text.upper():
        ok = " " <= c <= '"' or "%" <= c <= "?" or "A" <= c <= "Z" or c == "_"
        out.append(c if ok else "_")
    return "".join(out)


class _Node:
    __slots__ = ("name", "is_dir", "mode", "source", "size", "children", "jol_children",
                 "iso_name", "jol_name", "iso_block", "iso_sectors", "jol_block",
                 "jol_sectors", "data_block", "number", "jol_number", "parent", "ident")

    def __init__(self, name, is_dir, mode, source=None, size=0, parent=None):
        self.name, self.is_dir, self.mode = name, is_dir, mode
        self.source, self.size, self.parent = source, size, parent
        self.children = [] if is_dir else None
        self.jol_children = None    # the children in the Joliet tree's order (write_plan)
        self.iso_name = self.jol_name = None
        self.iso_block = self.iso_sectors = self.jol_block = self.jol_sectors = None
        self.data_block = self.number = self.jol_number = None
        self.ident = None           # a file's source: (device, inode, size, mtime_ns)


class Plan:
    """A tree accepted by :func:`prepare`, with the options it is written with."""

    def __init__(self, root, volid, epoch, application_id, publisher, preparer):
        self.root, self.volid, self.epoch = root, volid, epoch
        self.application_id, self.publisher, self.preparer = (application_id, publisher,
                                                              preparer)
        #: the MD5 :func:`write_plan` implanted, if asked to and it could
        self.implanted_md5 = None
        #: the files whose data :func:`write_plan` copied from an old image
        self.from_old = 0


def prepare(entries, *, boot=None, epoch=None, volid="", application_id="", publisher="",
            preparer=""):
    """The :class:`Plan` of ``entries`` ({relative path: media.iso._Entry}) with these
    options (``iso_xorriso.write``'s); :class:`Refused` when the tree or an option is
    outside the model.  Each file's source is stat'ed once here (type, size, mode, inode)."""
    root = _plan(entries, boot, epoch, volid, application_id, publisher, preparer)
    return Plan(root, volid, epoch, application_id, publisher, preparer)


def refusal(entries, **options):
    """None when :func:`prepare` accepts ``entries`` with ``options``, else why not."""
    try:
        prepare(entries, **options)
    except Refused as exc:
        return str(exc)
    return None


def check_options(*, boot=None, epoch=None, volid="", application_id="", publisher="",
                  preparer=""):
    """:class:`Refused` when the options alone are outside the model (no tree looked at)."""
    if boot:
        raise Refused(f"boot={boot} (El Torito, hybrid MBR/GPT are not modelled)")
    if epoch is None:
        raise Refused("no epoch (xorriso's dates and volume uuid would be the time of the run)")
    year = time.gmtime(epoch).tm_year
    if not 1970 <= year <= 2099:
        raise Refused(f"epoch {epoch} is outside the years modelled")
    if not _VOLID.fullmatch(volid):
        raise Refused(f"the volume id {volid!r} has characters not modelled or over 32")
    for what, text in (("application id", application_id), ("publisher", publisher),
                       ("preparer", preparer)):
        if not _printable(text) or len(text) > 128:
            raise Refused(f"the {what} {text!r} is not printable ASCII of at most 128")
    if not preparer:
        # xorriso writes its own version as the preparer when none is given
        raise Refused("no preparer (xorriso's default is not modelled)")


def _plan(entries, boot, epoch, volid, application_id, publisher, preparer):
    check_options(boot=boot, epoch=epoch, volid=volid, application_id=application_id,
                  publisher=publisher, preparer=preparer)
    root = _Node("", True, 0o040755)
    dirs = {"": root}
    inodes = set()
    dir_modes = {}
    dirs_checked = set()
    # parents before children: a path's parent is in ``entries`` (collect_tree adds them)
    for rel in sorted(entries, key=lambda p: (p.count("/"), p)):
        entry = entries[rel]
        parent_rel, _, name = rel.rpartition("/")
        if not _name_ok(name):
            raise Refused(f"{rel!r}: a name outside printable ASCII or with one of {'*/:;?'}"
                          " or a backslash")
        if len(name) > _MAX_NAME:
            raise Refused(f"{rel!r}: a name over {_MAX_NAME} characters")
        if rel.count("/") + 1 > _MAX_DEPTH:
            raise Refused(f"{rel!r}: deeper than {_MAX_DEPTH} levels")
        parent = dirs.get(parent_rel)
        if parent is None:
            raise Refused(f"{rel!r}: its directory is not in the tree")
        if entry.kind == "dir":
            if entry.mode & 0o7777 != 0o755:
                raise Refused(f"{rel!r}: directory mode {entry.mode & 0o7777:o} (only 755 "
                              "is modelled)")
            node = _Node(name, True, stat.S_IFDIR | (entry.mode & 0o7777), parent=parent)
            dirs[rel] = node
        elif entry.kind == "file":
            try:
                st = os.lstat(entry.source)
            except OSError as exc:
                raise Refused(f"{rel!r}: {exc}") from None
            if not stat.S_ISREG(st.st_mode):
                raise Refused(f"{rel!r}: the source is not a regular file")
            if st.st_size >= _MAX_FILE_SIZE:
                raise Refused(f"{rel!r}: {st.st_size} bytes (several extents)")
            # xorriso makes the directories above a grafted file itself, with the attributes
            # of disk directories above its source (a 0755 directory came out 0700 when the
            # first path grafted into it came from a 0700 one): every disk directory above the
            # source, as deep as the file's image path, must be 0755, as the image's are
            source_dir = _source_dir(entry.source)
            depth = rel.count("/")
            if (source_dir, depth) in dirs_checked:
                depth = 0
            else:
                dirs_checked.add((source_dir, depth))
            for _ in range(depth):
                if dir_modes.get(source_dir) is None:
                    try:
                        dir_modes[source_dir] = os.stat(source_dir).st_mode & 0o7777
                    except OSError as exc:
                        raise Refused(f"{rel!r}: {exc}") from None
                if dir_modes[source_dir] != 0o755:
                    raise Refused(f"{rel!r}: its source's directory {source_dir} is not 0755")
                source_dir = os.path.dirname(source_dir)
            key = (st.st_dev, st.st_ino)
            if key in inodes:
                raise Refused(f"{rel!r}: a second path of one file (xorriso writes it once)")
            inodes.add(key)
            node = _Node(name, False, st.st_mode, source=entry.source, size=st.st_size,
                         parent=parent)
            node.ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        else:
            raise Refused(f"{rel!r}: a {entry.kind} (not modelled)")
        parent.children.append(node)
    if not inodes:
        raise Refused("no file in the tree")
    for rel, node in dirs.items():
        if rel and not node.children:
            # xorriso grafts an empty directory from a stand-in in a 0700 temporary
            # directory, whose attributes its parent may take
            raise Refused(f"{rel!r}: an empty directory")
        iso_names, jol_names = set(), set()
        for child in node.children:
            child.iso_name = iso_dir_id(child.name) if child.is_dir else iso_file_id(child.name)
            child.jol_name = child.name
            # the longest record: 33 + ISO name (+ ";1", + a pad byte) + PX, TF, NM
            iso_len = len(child.iso_name) + (0 if child.is_dir else 2)
            if 33 + iso_len + 1 - iso_len % 2 + _PX_LEN + _TF_LEN + 5 + len(child.name) > 254:
                raise Refused(f"{rel}/{child.name}: its record would need a continuation area")
            if child.iso_name in iso_names or child.jol_name in jol_names:
                raise Refused(f"{rel!r}: two names in it are one ISO 9660 or Joliet name "
                              f"({child.iso_name!r})")
            iso_names.add(child.iso_name)
            jol_names.add(child.jol_name)
    for rel, node in dirs.items():
        node.children.sort(key=lambda n: n.iso_name)
        iso_len = _iso_path_len(node)
        for child in node.children:
            if (iso_len + 1 + len(child.iso_name) + (0 if child.is_dir else 2) > _MAX_PATH
                    or len(rel) + 1 + len(child.name) > _MAX_PATH):
                raise Refused(f"{rel}/{child.name}: a path over {_MAX_PATH} characters")
    return root


def _iso_path_len(node):
    length = 0
    while node.parent is not None:
        length += len(node.iso_name) + 1
        node = node.parent
    return length


# ---- records -------------------------------------------------------------------------------

_LE32, _BE32 = struct.Struct("<I").pack, struct.Struct(">I").pack


def _record(extent, size, is_dir, name, susp, date):
    """One directory record (ECMA-119 9.1): ``name`` the identifier's bytes, ``susp`` the
    system use entries; the record padded to an even length."""
    pad = b"" if len(name) % 2 else b"\x00"
    length = 33 + len(name) + len(pad) + len(susp)
    tail = b"\x00" if length % 2 else b""
    length += len(tail)
    if length > 254:
        raise AssertionError(f"a directory record of {length} bytes (prepare() refuses them)")
    return b"".join((bytes((length, 0)), _LE32(extent), _BE32(extent), _LE32(size), _BE32(size),
                     date, b"\x02\x00\x00\x01\x00\x00\x01" if is_dir
                     else b"\x00\x00\x00\x01\x00\x00\x01",
                     bytes((len(name),)), name, pad, susp, tail))


def _iso_record_len(node):
    """The length of ``node``'s record in its directory (what :func:`_record` makes of it)."""
    name = len(node.iso_name) + (0 if node.is_dir else 2)
    length = 33 + name + (1 - name % 2) + _PX_LEN + _TF_LEN + 5 + len(node.name)
    return length + length % 2


def _sectors(lengths):
    """The sectors of records of these lengths laid as :func:`_pack_dir` lays them."""
    used = 0
    for length in lengths:
        if length > SECTOR - used % SECTOR:
            used += SECTOR - used % SECTOR
        used += length
    return (used + SECTOR - 1) // SECTOR


def _px(mode):
    return b"PX\x24\x01" + _bb(mode, 4) + _bb(1, 4) + _bb(0, 4) + _bb(0, 4)


def _pack_dir(records):
    """The records laid in sectors (none crosses a sector): (bytes, sectors)."""
    out = bytearray()
    for rec in records:
        room = SECTOR - len(out) % SECTOR
        if len(rec) > room:
            out += bytes(room)
        out += rec
    sectors = (len(out) + SECTOR - 1) // SECTOR
    out += bytes(sectors * SECTOR - len(out))
    return out, sectors


def _preorder(root, key):
    """The directories depth first, each directory's subdirectories in ``key`` order."""
    order, todo = [], [root]
    while todo:
        node = todo.pop()
        order.append(node)
        todo.extend(sorted((c for c in node.children if c.is_dir), key=key, reverse=True))
    return order


def _breadth_first(root, key):
    order = [root]
    for node in order:
        order.extend(sorted((c for c in node.children if c.is_dir), key=key))
    return order


def _path_tables(dirs, block_of, name_of, number_attr):
    for i, node in enumerate(dirs, 1):
        setattr(node, number_attr, i)
    little, big = bytearray(), bytearray()
    for node in dirs:
        name = name_of(node)
        parent = getattr(node.parent or node, number_attr)
        block = block_of(node)
        pad = b"\x00" if len(name) % 2 else b""
        head = bytes((len(name), 0))
        little += head + struct.pack("<IH", block, parent) + name + pad
        big += head + struct.pack(">IH", block, parent) + name + pad
    return bytes(little), bytes(big)


def _ucs2(text):
    return text.encode("utf-16-be")


def _iso_name_bytes(node):
    return (node.iso_name if node.is_dir else node.iso_name + ";1").encode("ascii")


def _descriptor(kind, total, volid, application_id, publisher, preparer, pt_size, l_pos,
                m_pos, root_record, voldate):
    vd = bytearray(SECTOR)
    vd[0:8] = bytes((kind,)) + b"CD001\x01\x00"
    if kind == 1:
        def text(value, size):
            return value.encode("ascii")[:size].ljust(size, b" ")
        vd[8:40] = text(_a_chars("LINUX"), 32)
        vd[40:72] = text(volid, 32)
        vd[318:446] = text(_a_chars(publisher), 128)
        vd[446:574] = text(_a_chars(preparer), 128)
        vd[574:702] = text(_a_chars(application_id), 128)
        vd[190:318] = b" " * 128
        for at in (702, 739, 776):
            vd[at:at + 37] = b" " * 37
        vd[883:1395] = b" " * 512
    else:
        def text(value, size):
            raw = _ucs2(value)[:size - size % 2]
            return (raw + b"\x00 " * size)[:size]
        vd[8:40] = text("LINUX", 32)
        vd[40:72] = text(volid, 32)
        vd[88:91] = b"%/E"
        vd[190:318] = text("", 128)
        vd[318:446] = text(publisher, 128)
        vd[446:574] = text(preparer, 128)
        vd[574:702] = text(application_id, 128)
        for at in (702, 739, 776):
            vd[at:at + 37] = text("", 37)
    vd[80:88] = _bb(total, 4)
    vd[120:124] = _bb(1, 2)
    vd[124:128] = _bb(1, 2)
    vd[128:132] = _bb(SECTOR, 2)
    vd[132:140] = _bb(pt_size, 4)
    vd[140:144] = struct.pack("<I", l_pos)
    vd[148:152] = struct.pack(">I", m_pos)
    vd[156:190] = root_record
    zero_date = b"0" * 16 + b"\x00"
    vd[813:881] = voldate + voldate + zero_date + zero_date
    vd[881] = 1
    return vd


# ---- writing -------------------------------------------------------------------------------

def write(entries, iso_path, volid, *, epoch, application_id="", publisher="", preparer="",
          boot=None):
    """Write ``entries`` to ``iso_path`` as xorriso 1.5.4 writes them (``iso_xorriso.write``'s
    options); :class:`Refused` (nothing written) for a tree outside the model.  Returns the
    number of files written."""
    return write_plan(prepare(entries, boot=boot, epoch=epoch, volid=volid,
                              application_id=application_id, publisher=publisher,
                              preparer=preparer), iso_path)


def write_plan(plan, iso_path, implant=None, record=None, old=()):
    """Write the image of ``plan`` (:func:`prepare`) to ``iso_path`` (created or truncated);
    returns the number of files.  ``implant``: None, or the supported flag (a bool) to implant
    the image's MD5 with, as ``implantisomd5 [--supported-iso]`` would (``media.isomd5``),
    hashed while the file data is copied; the MD5 is then ``plan.implanted_md5`` (None when
    not implanted).  ``record``: where to write where each file's data lies in the image
    (``media.iso_extents``; not when an MD5 was asked for and not implanted: another tool
    writes the image after this), for a later compose; ``old``: ``[record, directory of its
    image]`` of old images whose unchanged files' data is copied from the first that holds
    (``plan.from_old``: the number of files taken from it)."""
    root, epoch, volid = plan.root, plan.epoch, plan.volid
    application_id, publisher, preparer = plan.application_id, plan.publisher, plan.preparer
    t = time.gmtime(epoch)
    date = bytes((t.tm_year - 1900, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, 0))
    voldate = time.strftime("%Y%m%d%H%M%S00", t).encode("ascii") + b"\x00"
    tf = b"TF\x1a\x01\x0e" + date * 3
    iso_key = (lambda n: n.iso_name)
    jol_key = (lambda n: _ucs2(n.jol_name))
    iso_dirs = _preorder(root, iso_key)
    jol_dirs = _preorder(root, jol_key)

    px_of = {}

    def px_tf(mode):
        entry = px_of.get(mode)
        if entry is None:
            entry = px_of[mode] = _px(mode) + tf
        return entry

    def iso_records(node, ce_block):
        own = px_tf(node.mode)
        parent = node.parent or node
        dot_susp = (_SP + own + b"CE\x1c\x01" + _bb(ce_block, 4) + _bb(0, 4) + _bb(len(_ER), 4)
                    if node is root else own)
        records = [
            _record(node.iso_block, node.iso_sectors * SECTOR, True, b"\x00", dot_susp, date),
            _record(parent.iso_block, parent.iso_sectors * SECTOR, True, b"\x01",
                    px_tf(parent.mode), date)]
        for child in node.children:
            name = child.name.encode("ascii")
            susp = px_tf(child.mode) + b"NM" + bytes((5 + len(name),)) + b"\x01\x00" + name
            if child.is_dir:
                extent, size = child.iso_block, child.iso_sectors * SECTOR
            else:
                extent, size = child.data_block, child.size
            records.append(_record(extent, size, child.is_dir, _iso_name_bytes(child), susp,
                                   date))
        return records

    def jol_records(node):
        # libisofs' Joliet ".." of a subdirectory names the directory itself
        records = [_record(node.jol_block, node.jol_sectors * SECTOR, True, b"\x00", b"", date),
                   _record(node.jol_block, node.jol_sectors * SECTOR, True, b"\x01", b"", date)]
        for child in node.jol_children:
            if child.is_dir:
                extent, size = child.jol_block, child.jol_sectors * SECTOR
            else:
                extent, size = child.data_block, child.size
            records.append(_record(extent, size, child.is_dir, _ucs2(child.jol_name), b"",
                                   date))
        return records

    # the directories' sizes from their records' lengths (which do not depend on extents)
    for node in iso_dirs:
        dot = 34 + (len(_SP) + _PX_LEN + _TF_LEN + _CE_LEN if node is root
                    else _PX_LEN + _TF_LEN)
        node.iso_sectors = _sectors([dot + dot % 2, 34 + _PX_LEN + _TF_LEN]
                                    + [_iso_record_len(c) for c in node.children])
        # (in the Joliet tree's order: where a sector ends depends on it)
        node.jol_children = sorted(node.children, key=jol_key)
        node.jol_sectors = _sectors([34, 34] + [34 + 2 * len(c.jol_name)
                                                for c in node.jol_children])

    # the layout
    block = _FIRST_DIR_BLOCK
    ce_block = None
    for node in iso_dirs:
        node.iso_block = block
        block += node.iso_sectors
        if node is root:
            ce_block = block
            block += 1
    iso_bfs = _breadth_first(root, iso_key)
    jol_bfs = _breadth_first(root, jol_key)
    iso_l, iso_m = _path_tables(iso_bfs, lambda n: n.iso_block,
                                lambda n: n.iso_name.encode("ascii") if n.parent else b"\x00",
                                "number")
    pt_sectors = (len(iso_l) + SECTOR - 1) // SECTOR
    iso_l_pos, iso_m_pos = block, block + pt_sectors
    block += 2 * pt_sectors
    for node in jol_dirs:
        node.jol_block = block
        block += node.jol_sectors
    jol_l, jol_m = _path_tables(jol_bfs, lambda n: n.jol_block,
                                lambda n: _ucs2(n.jol_name) if n.parent else b"\x00",
                                "jol_number")
    jpt_sectors = (len(jol_l) + SECTOR - 1) // SECTOR
    jol_l_pos, jol_m_pos = block, block + jpt_sectors
    block += 2 * jpt_sectors
    # libisofs' mspad writer: file data (from its zero block on) starts at block 32 or later
    zero_block = max(block, _MIN_DATA_BLOCK)
    block = zero_block + 1
    data_start = block
    files = []
    # file data in the ISO tree's pre-order: each directory's children in ISO-name order,
    # a subdirectory's files where the subdirectory stands
    stack = [iter(root.children)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif child.is_dir:
            stack.append(iter(child.children))
        else:
            if child.size:
                child.data_block = block
                block += (child.size + SECTOR - 1) // SECTOR
            else:
                child.data_block = zero_block
            files.append(child)
    total = block + _PADDING_SECTORS

    meta = bytearray(data_start * SECTOR)

    def put(at_block, data):
        meta[at_block * SECTOR:at_block * SECTOR + len(data)] = data

    for node in iso_dirs:
        data, sectors = _pack_dir(iso_records(node, ce_block))
        if sectors != node.iso_sectors:
            raise AssertionError("an ISO directory changed size once laid out")
        put(node.iso_block, data)
    put(ce_block, _ER)
    put(iso_l_pos, iso_l)
    put(iso_m_pos, iso_m)
    for node in jol_dirs:
        data, sectors = _pack_dir(jol_records(node))
        if sectors != node.jol_sectors:
            raise AssertionError("a Joliet directory changed size once laid out")
        put(node.jol_block, data)
    put(jol_l_pos, jol_l)
    put(jol_m_pos, jol_m)
    iso_root = _record(root.iso_block, root.iso_sectors * SECTOR, True, b"\x00", b"", date)
    jol_root = _record(root.jol_block, root.jol_sectors * SECTOR, True, b"\x00", b"", date)
    put(16, _descriptor(1, total, volid, application_id, publisher, preparer, len(iso_l),
                        iso_l_pos, iso_m_pos, iso_root, voldate))
    put(17, _descriptor(2, total, volid, application_id, publisher, preparer, len(jol_l),
                        jol_l_pos, jol_m_pos, jol_root, voldate))
    put(18, b"\xffCD001\x01")

    plan.implanted_md5 = None
    plan.from_old = 0
    md5 = _sibling("isomd5") if implant is not None else None
    extents = _sibling("iso_extents") if record or old else None
    with_data = [node for node in files if node.size]
    follower = old_image = None
    fd = os.open(iso_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        os.pwrite(fd, meta, 0)
        if md5 is not None and md5.implantable(meta[16 * SECTOR:17 * SECTOR]):
            follower = md5.Follower(iso_path, total, total * SECTOR)
        written = follower.written if follower is not None else None
        if old:
            old_image = extents.open_old(old)
        if old_image is not None:
            plan.from_old = extents.copy_data(with_data, fd, old_image, _copy, kernel_copy,
                                              written)
        else:
            for node in with_data:
                _copy(node.source, fd, node.data_block * SECTOR, node.size)
                if written is not None:
                    written(node.data_block * SECTOR + node.size)
        os.ftruncate(fd, total * SECTOR)
        if follower is not None:
            implanted, follower = follower.finish(), None
            os.pwrite(fd, implanted.appdata(implant), md5.PVD_OFFSET + md5.APPDATA_OFFSET)
            plan.implanted_md5 = implanted.hexdigest()
        if record and (implant is None or plan.implanted_md5):
            extents.write_record(record, fd, [(node.ident, node.data_block)
                                              for node in with_data])
    finally:
        if follower is not None:
            follower.abort()
        if old_image is not None:
            old_image.close()
        os.close(fd)
    return len(files)


_siblings = {}


def _sibling(name):
    """The module ``media.<name>`` (standard library only); in the child (this file run as a
    script with ``-I``, its directory not on ``sys.path``) loaded from beside this file by its
    path."""
    if name not in _siblings:
        if __package__:
            import importlib
            module = importlib.import_module(f"{__package__}.{name}")
        else:
            import importlib.util
            spec = importlib.util.spec_from_file_location(
                f"pungi_like_{name}", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   f"{name}.py"))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        _siblings[name] = module
    return _siblings[name]


def kernel_copy(in_fd, out_fd, src, dst, size, chunk=1 << 30):
    """Copy ``size`` bytes from ``in_fd`` at ``src`` to ``out_fd`` at ``dst`` in the kernel
    (``os.copy_file_range``; ``os.sendfile`` where the kernel refuses it, e.g. across file
    systems), yielding the bytes of each call; it stops early when the input ends (the caller
    decides what a short copy means). The interpreter lock is released in each call. Also
    ``media.iso``'s copy of pycdlib's file data."""
    left, use_sendfile = size, False
    while left > 0:
        count = min(left, chunk)
        if not use_sendfile:
            try:
                n = os.copy_file_range(in_fd, out_fd, count, src, dst)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS,
                                     errno.EOPNOTSUPP):
                    raise
                use_sendfile = True
                continue
        else:
            os.lseek(out_fd, dst, os.SEEK_SET)
            n = os.sendfile(out_fd, in_fd, src, count)
        if n == 0:
            return
        src, dst, left = src + n, dst + n, left - n
        yield n


def _copy(source, out_fd, offset, size):
    """``size`` bytes of ``source`` to ``out_fd`` at ``offset``, copied by the kernel."""
    in_fd = os.open(source, os.O_RDONLY)
    try:
        if sum(kernel_copy(in_fd, out_fd, 0, offset, size)) != size:
            raise OSError(errno.EIO, f"{source} is shorter than its {size} bytes "
                                     "(it changed while the image was written)")
    finally:
        os.close(in_fd)


# ---- in a child process --------------------------------------------------------------------

class _JobEntry:
    __slots__ = ("kind", "source", "mode")

    def __init__(self, kind, source, mode):
        self.kind, self.source, self.mode = kind, source, mode


def child_command(iso_path, record=None):
    """The command that writes an image in a child process (``python -I -S`` running this
    file): the job on its standard input (:func:`child_input`), its answer the last line of
    its output (:func:`child_answer`).  A compose writes its images beside other units'
    Python threads; in-process, this writer's 16,000 system calls for a DVD of 5,400 files
    would each give up the interpreter lock and wait to get it back (0.95-1.5 s instead of
    0.2 s with one busy thread beside it), as xorriso never does."""
    # -I (isolated: -E, -s and -P, so the script's directory - pungi_like/media, whose module
    # names could shadow the standard library's - is not put on sys.path) and -S
    # ``record`` on the command line: the compose notes it as a file the unit made
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), iso_path] + (
        [record] if record else [])


def child_input(entries, implant=None, old=(), **options):
    """The job text of ``entries`` ({relative path: media.iso._Entry}) with ``options``
    (:func:`prepare`'s), ``implant`` and ``old`` (:func:`write_plan`'s)."""
    rows = [[rel, e.kind, e.source, e.mode] for rel, e in entries.items()]
    job = {"entries": rows, "options": options}
    if implant is not None:
        job["implant"] = bool(implant)
    if old:
        job["old"] = [list(pair) for pair in old]
    return json.dumps(job, separators=(",", ":"))


def child_answer(output):
    """The child's answer: ``{"files": N}`` (with ``"md5"``, the implanted MD5, when it
    implanted one, and ``"from_old"``, the files copied from an old image, when there were)
    or ``{"refused": why}``."""
    return json.loads(output.strip().splitlines()[-1])


def _child_main(iso_path, record=None):
    job = json.load(sys.stdin)
    entries = {rel: _JobEntry(kind, source, mode) for rel, kind, source, mode in job["entries"]}
    try:
        plan = prepare(entries, **job["options"])
    except Refused as exc:
        print(json.dumps({"refused": str(exc)}))
        return
    answer = {"files": write_plan(plan, iso_path, implant=job.get("implant"), record=record,
                                  old=job.get("old") or ())}
    if plan.implanted_md5:
        answer["md5"] = plan.implanted_md5
    if plan.from_old:
        answer["from_old"] = plan.from_old
    print(json.dumps(answer))


if __name__ == "__main__":
    _child_main(*sys.argv[1:3])
