"""The files of an old compose's units checked by a child process while the driver starts.

A re-run takes a unit from an old compose only when every file its record names is still the
very file recorded (``reuse.ReusePool.check``: a ``stat`` a file - the same inode, size and
modification time - else its bytes hashed). A no-op re-run at 10,000 RPMs stats 22,500 files
and decodes the files' part of the record datas (4 MB of JSON) for it: about 80 ms of CPU, all
of it under the interpreter lock the compose's threads share, part of it (the package set's
10,458 files) before any unit after the package set can start, while the second core is idle.

:class:`Precheck` starts this file as a script (the standard library only, ``python -I -S``),
or, from the driver's entry point before its imports, forks it (:class:`_Forked`), as soon as
the driver knows the newest old compose: the child reads that compose's unit
records, and for each unit in the order the units started there decodes the files of its
record data, stats them and answers with the record data's identity and whether every file
is the one recorded (by the rule above, without the bytes); a record data of many files has an
index beside it (``<unit>.idx``, written with it: :func:`make_index`), read instead of decoding
the files' JSON. ``check`` takes the answer for the record data it reads itself (the same
device, inode, size and modification time) instead of its own stats; a unit whose answer is not "every file unchanged", or that has none, is checked
in the process as before (a file changed since may still hold the recorded bytes).

    python -I -S reuse_precheck.py TOPDIR COMPOSE_ID | --find [--skip PATH] DIR...
    # stdout: ["compose", top directory, compose id], then a JSON line a unit: [unit,
    #          data identity, files top, files compose id, every file unchanged, every
    #          file under work/, link_plan or null]
"""

import json
import os
import sys

#: how long a unit's check waits for the child's answer before checking the files itself (s)
WAIT = 5.0
#: the size asked for the pipe of the child's answers (Linux's default limit for a user)
PIPE_SIZE = 1 << 20


def reusable_records(topdir):
    """Each readable reusable unit record of ``topdir``'s ``work/global/units`` (a dict with a
    key, ``reusable`` and the unit's name), in the order of the files' names; none when the
    directory cannot be listed. Shared with ``reuse.read_records`` (this file imports nothing
    of the package: it runs as a script)."""
    units = os.path.join(topdir, "work", "global", "units")
    try:
        names = sorted(os.listdir(units))
    except OSError:
        return
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(units, name), encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("key") and record.get("reusable") \
                and isinstance(record.get("unit"), str):
            yield record


def _records(topdir):
    """The reusable unit records of ``topdir`` with a record data, in the order the units
    started (as ``reuse.read_records`` reads them)."""
    found = []
    for record in reusable_records(topdir):
        start = record.get("start")
        found.append((start if isinstance(start, (int, float)) else 0.0, record["unit"],
                      record))
    found.sort(key=lambda item: (item[0], item[1]))
    return [record for _start, _name, record in found]


def data_identity(st):
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


#: a directory holding as many of a unit's files or more is listed once (``check_unit``)
LISTING_MIN = 256


def newest_compose(dirs, skip=None):
    """(top directory, compose id) of the newest FINISHED (or FINISHED_INCOMPLETE) compose in
    ``dirs`` (each a compose directory or a directory of composes), as
    ``reuse.find_old_composes`` orders them (by STATUS's modification time), without its
    release check (the driver compares the pick with its newest old compose); or None."""
    found = []
    skip = os.path.abspath(skip) if skip else None
    for target in dirs:
        target = os.path.abspath(target)
        try:
            candidates = [target] if os.path.exists(os.path.join(target, "COMPOSE_ID")) else [
                os.path.join(target, d) for d in os.listdir(target)]
        except OSError:
            continue
        for path in candidates:
            if os.path.islink(path) or path == skip:
                continue
            try:
                with open(os.path.join(path, "COMPOSE_ID"), encoding="utf-8") as fh:
                    cid = fh.read().strip()
                with open(os.path.join(path, "STATUS"), encoding="utf-8") as fh:
                    status = fh.read().strip()
                mtime = os.path.getmtime(os.path.join(path, "STATUS"))
            except OSError:
                continue
            if cid and status in ("FINISHED", "FINISHED_INCOMPLETE"):
                found.append((mtime, cid, path))
    if not found:
        return None
    _mtime, cid, path = max(found)
    return path, cid


#: a record data of this many bytes or more is mapped, not read (``map_file``)
MAP_MIN = 1 << 20


def map_file(fd, size, min_size=None):
    """The bytes of the open file ``fd`` (``size`` bytes) as a read-only ``mmap``, or None for
    a file under ``min_size`` bytes (:data:`MAP_MIN` by default) or one that cannot be
    mapped. Its pages are the page cache's, brought in as they are read: of a package set's
    record data (6 MB) only the files (2.2 MB) are read here, and the pages never read cost
    nothing (read whole, each page of the copy was a page fault). Only for a file that is
    never changed in place (a record data is written to a temporary file and renamed, or
    hard-linked as it is; an image its unit has just written): a file cut short while it is
    mapped ends the process (SIGBUS). Standard library only, as this module (the compose's
    other mappings take it from here)."""
    if size < (MAP_MIN if min_size is None else min_size):
        return None
    import mmap

    try:
        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None


def check_unit(topdir, compose_id, record, verified=None, decoder=json.JSONDecoder()):
    """The answer line's items for one unit record (see the module docstring; no identity
    when its record data cannot be read). ``verified``: ``{(device, inode): (size, mtime_ns)}`` of
    the files found unchanged so far, added to here: a unit's file is the one recorded when
    the listing of its directory names the recorded inode and that inode was found unchanged
    through another name (a tree's packages are hard links of the package set's: one
    listing of a directory instead of a stat a file)."""
    name = record["unit"]
    path = os.path.join(topdir, "work", "global", "reuse", name + ".json")
    at = record.get("files_at")
    if isinstance(at, list) and len(at) == 2 and all(isinstance(a, str) and a for a in at):
        files_top, files_id = at
    else:
        files_top, files_id = topdir, compose_id
    unreadable = [name, None, files_top, files_id, False, False, None]
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return unreadable
    try:
        st = os.fstat(fd)
        raw = map_file(fd, st.st_size)
        if raw is None:
            chunks = []
            while True:
                chunk = os.read(fd, st.st_size + 1)   # one read for the whole file, mostly
                if not chunk:
                    break
                chunks.append(chunk)
            raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except OSError:
        return unreadable
    finally:
        os.close(fd)
    head = b'{"files":'
    verified = {} if verified is None else verified
    work = "work" + os.sep
    if raw[:len(head)] == head and st.st_size >= INDEX_DATA_MIN:
        index = read_index(path, st)
        if index is not None:
            # the record data's index (``make_index``): its files without decoding them
            try:
                plan = {"plain": index["plain"],
                        "named": [item[0] for item in index["named"]],
                        "special": index["special"]}
                unchanged = _indexed_unchanged(index, files_top, files_id, verified)
                all_work = bool(index["count"]) and all(
                    rel.startswith(work) for rel in _index_rels(plan))
                return [name, data_identity(st), files_top, files_id, unchanged, all_work,
                        plan if unchanged and not all_work else None]
            except (TypeError, AttributeError, ValueError):
                pass    # not an index this code wrote: the files decoded
    try:
        if raw[:len(head)] != head:
            raise ValueError("not a record data")
        # the files' JSON only (a JSON string holds no bare quote: the end of the files)
        end = raw.find(b'},"journal":')
        text = str(memoryview(raw)[:end + 1 if end > 0 else len(raw)], "utf-8")
        files, _end = decoder.raw_decode(text, len(head))
        if not isinstance(files, dict):
            raise ValueError("no files")
    except ValueError:
        return [name, data_identity(st), files_top, files_id, False, False, None]
    unchanged = _unchanged(files, files_top, files_id, verified)
    all_work = bool(files) and all(rel.startswith(work) for rel in files)
    return [name, data_identity(st), files_top, files_id, unchanged, all_work,
            link_plan(files) if unchanged and not all_work else None]


#: the index of a record data ``<unit>.json`` is ``<unit>.idx`` beside it (``make_index``)
INDEX_SUFFIX = ".idx"
#: the index's format; an index of another is not read
INDEX_VERSION = 2
#: an index larger than this is not read (a package set's at 10,000 RPMs: 0.75 MB)
INDEX_MAX = 1 << 28
#: a record data of fewer files has no index, one of fewer bytes is decoded without looking
#: for one (decoding it costs less than opening another file)
INDEX_FILES_MIN = 256
INDEX_DATA_MIN = 1 << 15


def index_path(data):
    """The index file of the record data at ``data``."""
    return (data[:-len(".json")] if data.endswith(".json") else data) + INDEX_SUFFIX


def _stat_triple(entry):
    st = entry.get("stat") if isinstance(entry, dict) else None
    if type(st) not in (list, tuple) or len(st) != 3 or any(type(x) is not int for x in st) \
            or type(entry.get("size")) is not int or entry["size"] != st[1]:
        return None
    return list(st)


def make_index(files, data_ident):
    """The index of a record data of :data:`INDEX_FILES_MIN` files or more whose ``files``
    were just written to a file of identity ``data_ident`` (inode, size, modification time in
    ns, as ``os.stat`` gives them): what :func:`check_unit` needs of each file - its place
    (``link_plan``'s) and its recorded stat, the ints of one directory's files in one flat
    list - as a JSON value a third of the size of the files' JSON, with no object a file (a
    package set's 10,458 files: 3.6 ms to decode, 20 ms for the files' JSON). None for fewer
    files, or when a file's entry has no stat of three ints or its size differs from its
    stat's (such a unit is not unchanged: the child decodes it and says so). The index is
    taken only for a record data of that identity (the reuse's rule for every file: the
    same inode, size and modification time), so an index left from another record data at
    the same path, or a record data changed since, is not used."""
    if len(files) < INDEX_FILES_MIN:
        return None
    plan = link_plan(files)
    stats = {}
    sep = os.sep
    for folder, bases in plan["plain"].items():
        flat = []
        for base in bases:
            triple = _stat_triple(files[folder + sep + base])
            if triple is None:
                return None
            flat += triple
        stats[folder] = flat
    named = []
    for rel in plan["named"]:
        triple = _stat_triple(files[rel])
        if triple is None:
            return None
        named.append([rel] + triple)
    for entry in plan["special"].values():
        if _stat_triple(entry) is None:
            return None
    return {"v": INDEX_VERSION, "data": [int(x) for x in data_ident], "count": len(files),
            "plain": plan["plain"], "stats": stats, "named": named,
            "special": plan["special"]}


def index_text(index):
    """The text of an index (``make_index``): its files' places and stats, then under
    ``"tail"`` what a record data written again from the same files with other special
    entries changes (``splice_index``): the count, the record data's identity, the special
    entries."""
    dumps = json.dumps
    tail = {"count": index["count"], "data": index["data"], "special": index["special"]}
    return "".join(['{"v":', dumps(index["v"]), ',"plain":',
                    dumps(index["plain"], separators=(",", ":")), ',"stats":',
                    dumps(index["stats"], separators=(",", ":")), ',"named":',
                    dumps(index["named"], separators=(",", ":")), _TAIL.decode(),
                    dumps(tail, separators=(",", ":")), "}"])


#: where an index's tail starts: the values before it are lists, so no key there is followed
#: by "{", and a quote in a string is escaped
_TAIL = b',"tail":'


def splice_index(raw, old_ident, dropped, special, data_ident):
    """The text of the index of a record data written again (a re-run's taken unit whose
    special files - ``link_plan``'s: texts naming the compose - were rewritten) from the
    index ``raw`` (bytes) of the record data it was taken from, whose identity is
    ``old_ident`` (inode, size, mtime): the same files but its special ones, all
    ``dropped``, and ``special`` (rewritten ones of them: each a text naming the compose, with
    its stat) added after the others, in a record data of identity ``data_ident``. None when
    ``raw`` is not an index of that record data, ``dropped`` is not its special files, or an
    entry of ``special`` is not one of them or has no stat (the child then decodes the new
    record data)."""
    if not raw.startswith(b'{"v":%d,"plain":' % INDEX_VERSION) or not raw.endswith(b"}}"):
        return None
    at = raw.find(_TAIL + b"{")
    if at < 0:
        return None
    try:
        tail = json.loads(raw[at + len(_TAIL):-1])
        if tail["data"] != [int(x) for x in old_ident] or type(tail["count"]) is not int \
                or not isinstance(tail["special"], dict):
            return None
        count = tail["count"] - len(tail["special"])
        if set(tail["special"]) != set(dropped) or not set(special) <= set(dropped):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    for entry in special.values():
        mark = entry.get("names_compose") if isinstance(entry, dict) else None
        if not mark or mark == "repodata" or _stat_triple(entry) is None:
            return None
    tail = {"count": count + len(special), "data": [int(x) for x in data_ident],
            "special": special}
    try:
        text = json.dumps(tail, separators=(",", ":"))
    except (TypeError, ValueError):
        return None     # a value the record data holds as its str
    return raw[:at] + _TAIL + text.encode() + b"}"


def read_index(data, st):
    """The index (``make_index``) of the record data at ``data`` whose ``os.fstat`` is ``st``,
    when there is one of this format made for that very file; else None."""
    try:
        fd = os.open(index_path(data), os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if size > INDEX_MAX:
            return None
        chunks = []
        while True:
            chunk = os.read(fd, size + 1)
            if not chunk:
                break
            chunks.append(chunk)
        index = json.loads(b"".join(chunks))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    try:
        if index["v"] != INDEX_VERSION or not isinstance(index["tail"], dict):
            return None
        index.update(index.pop("tail"))
        if index["data"] != [st.st_ino, st.st_size, st.st_mtime_ns] \
                or type(index["count"]) is not int:
            return None
        plain, stats, named, special = (index["plain"], index["stats"], index["named"],
                                        index["special"])
        if not (isinstance(plain, dict) and isinstance(stats, dict) and
                isinstance(named, list) and isinstance(special, dict)) \
                or not all(isinstance(entry, dict) for entry in special.values()):
            return None
        for folder, bases in plain.items():
            flat = stats.get(folder)
            if not isinstance(bases, list) or not isinstance(flat, list) \
                    or len(flat) != 3 * len(bases):
                return None
        for item in named:
            if not isinstance(item, list) or len(item) != 4 or not isinstance(item[0], str):
                return None
        if index["count"] != sum(len(b) for b in plain.values()) + len(named) + len(special):
            return None
    except (KeyError, TypeError):
        return None
    return index


def _index_rels(plan):
    sep = os.sep
    for folder, bases in plan["plain"].items():
        for base in bases:
            yield folder + sep + base
    yield from plan["named"]
    yield from plan["special"]


def _indexed_unchanged(index, files_top, files_id, verified):
    """``_unchanged`` of an index's files: a directory of :data:`LISTING_MIN` files or more
    that is not listed (``_check_dirs``'s rule) stat'ed by one ``map`` and compared as one
    list with the recorded stats (a package set's 10,458 files: no tuple made a file)."""
    by_dir = {}
    stats = index["stats"]
    top = os.path.join(files_top, "")
    for folder, bases in index["plain"].items():
        flat = stats[folder]
        if len(bases) >= LISTING_MIN:
            dev = _listed_first(bases, flat, top + folder, verified)
            if dev is None:
                if not _same_stats(top + folder, bases, flat, verified):
                    return False
                continue
            if _same_listed(top + folder, bases, flat, verified, dev):
                continue
            # else each file as _check_dirs checks it: listed, or stat'ed
        triples = [flat[i:i + 3] for i in range(0, len(flat), 3)]
        by_dir.setdefault(folder, []).extend(
            (base, triple, triple[1]) for base, triple in zip(bases, triples))
    extra = [(item[0], item[1:], item[2]) for item in index["named"]]
    extra += [(rel, entry.get("stat"), entry.get("size"))
              for rel, entry in index["special"].items()]
    for rel, triple, size in extra:
        if "{" in rel:
            rel = rel.replace("{topdir}", files_top).replace("{compose_id}", files_id)
        folder, _, base = rel.rpartition(os.sep)
        by_dir.setdefault(folder, []).append((base, triple, size))
    return _check_dirs(by_dir, files_top, verified)


def _listed_first(bases, flat, where, verified):
    """The device of the directory ``where`` when ``_check_dirs`` would list it (its first 16
    files' inodes mostly found unchanged already), else None."""
    if not verified:
        return None
    try:
        dev = os.stat(where).st_dev
    except OSError:
        return None     # _same_stats says what is missing
    return dev if _mostly_verified(dev, flat[0:48:3], verified) else None


def _mostly_verified(dev, inodes, verified):
    """``_check_dirs``' rule for listing a directory instead of a stat a file: of its first 16
    files' ``inodes`` (on device ``dev``), 12 or more found unchanged already."""
    return sum(1 for ino in inodes[:16] if (dev, ino) in verified) >= 12


def _same_listed(where, bases, flat, verified, dev):
    """Does the listing of the directory ``where`` (device ``dev``) name each of ``bases``
    with its recorded inode (``flat``: inode, size, modification time of each), each inode
    found unchanged already (``verified``) with the recorded size and time? ``_check_dirs``'s
    listing rule for a whole directory in C-level loops; False sends the directory through
    ``_check_dirs`` (which stats what the listing does not prove)."""
    import itertools

    try:
        with os.scandir(where) as found:
            listed = {e.name: e.inode() for e in found}
    except OSError:
        return False
    inodes = flat[0::3]
    return list(map(listed.get, bases)) == inodes and \
        list(map(verified.get, zip(itertools.repeat(dev), inodes))) == \
        list(zip(flat[1::3], flat[2::3]))


def _same_stats(where, bases, flat, verified):
    """Is each of the files ``bases`` of the directory ``where`` the one recorded in ``flat``
    (inode, size, modification time of each, one after another)? Each found so is added to
    ``verified``."""
    import functools
    import itertools

    try:
        at = os.open(where, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        found = list(map(functools.partial(os.stat, dir_fd=at), bases))
    except (OSError, ValueError, TypeError):
        return False
    finally:
        os.close(at)
    if [x for st in found for x in (st.st_ino, st.st_size, st.st_mtime_ns)] != flat:
        return False
    devices = {st.st_dev for st in found}
    if len(devices) == 1:   # the inodes, sizes and times are the recorded ones
        verified.update(zip(zip(itertools.repeat(devices.pop()), flat[0::3]),
                            zip(flat[1::3], flat[2::3])))
    else:
        verified.update({(st.st_dev, st.st_ino): (st.st_size, st.st_mtime_ns)
                         for st in found})
    return True


def link_plan(files):
    """What ``reuse.ReusePool.check`` makes of a record data's ``files`` for a unit whose
    files are placed: ``plain``, ``{directory: [base names]}`` of the files linked as they
    are; ``named``, the relative paths of such files that name a placeholder (linked under
    another name); ``special``, ``{relative path: entry}`` of the others (rewritten, or in a
    repodata directory rewritten as a whole). The driver then decodes none of the entries
    of the thousands of packages of a tree, nor sorts them by directory."""
    sep = os.sep
    repodata = {rel.rpartition(sep)[0] for rel, entry in files.items()
                if entry.get("names_compose") == "repodata"}
    plain, named, special = {}, [], {}
    for rel, entry in files.items():
        folder, _, base = rel.rpartition(sep)
        if entry.get("names_compose") or folder in repodata:
            special[rel] = entry
        elif "{" in rel or not folder:
            named.append(rel)
        else:
            group = plain.get(folder)
            if group is None:
                plain[folder] = group = []
            group.append(base)
    return {"plain": plain, "named": named, "special": special}


def _unchanged(files, files_top, files_id, verified):
    """Is every file of ``files`` (a record data's) the one recorded: the same inode, size
    and modification time (``reuse.ReusePool.check``'s rule)?"""
    by_dir = {}
    for rel, entry in files.items():
        if "{" in rel:
            rel = rel.replace("{topdir}", files_top).replace("{compose_id}", files_id)
        folder, _, base = rel.rpartition(os.sep)
        by_dir.setdefault(folder, []).append(
            (base, entry.get("stat") if isinstance(entry, dict) else None,
             entry.get("size") if isinstance(entry, dict) else None))
    return _check_dirs(by_dir, files_top, verified)


def _check_dirs(by_dir, files_top, verified):
    """Is every file of ``by_dir`` (``{folder: [(base, recorded stat, recorded size)]}``,
    folders relative to ``files_top``) the one recorded? ``verified``: see ``check_unit``."""
    top = os.path.join(files_top, "")
    for folder, items in by_dir.items():
        where = top + folder + os.sep if folder else top
        listed = None
        # listed when most of its files' inodes were found unchanged already (a sample of
        # 16 looked up in ``verified`` with the directory's device: no set of every inode
        # verified so far made again for each unit)
        if len(items) >= LISTING_MIN and verified:
            try:
                dev = os.stat(where).st_dev
                if _mostly_verified(dev, [stat[0] for _base, stat, _size in items[:16]
                                          if isinstance(stat, list) and stat[:1]], verified):
                    with os.scandir(where) as found:
                        listed = {e.name: e.inode() for e in found}
            except (OSError, TypeError):
                listed = None
        # the files of a directory stated relative to its descriptor: the kernel walks the
        # directory's path once, not once a file (a package set's 10,458 files: 15 % less)
        at = None
        if len(items) >= LISTING_MIN:
            try:
                at = os.open(where, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                at = None
        try:
            for base, stat, recorded_size in items:
                try:
                    ino, size, mtime = stat
                    if recorded_size != size:
                        return False
                    if listed is not None and listed.get(base) == ino \
                            and verified.get((dev, ino)) == (size, mtime):
                        continue
                    file_st = os.stat(where + base) if at is None or os.sep in base \
                        else os.stat(base, dir_fd=at)
                except (OSError, KeyError, ValueError, TypeError):
                    return False
                if file_st.st_ino != ino or file_st.st_size != size \
                        or file_st.st_mtime_ns != mtime:
                    return False
                verified[(file_st.st_dev, ino)] = (size, mtime)
        finally:
            if at is not None:
                os.close(at)
    return True


def child(argv, serve=None):
    """``TOPDIR COMPOSE_ID``, or ``--find [--skip PATH] DIR...`` (``newest_compose``): the
    first line names the compose checked, one line a unit follows. ``serve`` (the forked
    child's, :class:`Precheck`'s ``report``): after the last unit an ``["end"]`` line, then
    ``serve(top directory checked)``."""
    import gc

    # a short life: its objects (the verified stats, the answers) are freed by its end, and
    # the cyclic collector's passes over them cost it 3-5 % of its CPU
    gc.disable()
    out = sys.stdout
    if argv[:1] == ["--find"]:
        argv = argv[1:]
        skip = None
        if argv[:1] == ["--skip"]:
            skip, argv = argv[1], argv[2:]
        picked = newest_compose(argv, skip)
        if picked is None:
            return 0
        topdir, compose_id = picked
    else:
        topdir, compose_id = argv[0], argv[1]
    out.write(json.dumps(["compose", topdir, compose_id]) + "\n")
    out.flush()
    try:
        records = _records(topdir)
    except OSError:
        return 0
    verified = {}
    for record in records:
        out.write(json.dumps(check_unit(topdir, compose_id, record, verified)) + "\n")
        out.flush()
    if serve is not None:
        del verified, records
        out.write('["end"]\n')
        out.flush()
        serve(topdir)
    return 0


def serve_report(topdir):
    """The forked child's second job (``Precheck(report=True)``), after its answers: the
    compose report's pages rendered when the driver asks - so that the driver's threads,
    which take turns at one interpreter lock, spend nothing on Jinja (its import 14 ms of
    CPU, its templates loaded) in a re-run, whose wall is that lock's work: here Jinja is
    imported and the templates loaded on the other core while the driver's units run (about
    16 ms of this child's CPU; the standard library it needs is imported before the fork).

    Requests are JSON lines on stdin: ``{"prepare": true}`` (``Precheck.prepare``, the
    driver will ask: Jinja imported and the templates loaded now), then ``{"pages":
    [[path, template, context], ...]}`` (``report.report_page`` and ``index_page``: the
    driver makes what they show; their values JSON's) - each rendered and written
    (``report_render.write_page``: Jinja and that module are all this child imports for
    it); the answer a line ``["report", True, first path]`` or ``["report", False,
    error]``. EOF (``Precheck.release``, or the driver gone) before either, and nothing is
    imported or written. Imports after the fork come from ``sys.path`` without the working
    directory (``python -P``'s rule for the package's children). ``topdir``: the compose
    checked."""
    import os as _os

    out = sys.stdout
    line = sys.stdin.buffer.readline()
    if not line:
        return
    try:
        here = _os.getcwd()
    except OSError:
        here = None
    sys.path[:] = [p for p in sys.path if p not in ("", ".", here)]
    try:
        from pungi_like import report_render

        report_render.warm_up()
        ready = None
    except Exception as exc:  # noqa: B902 - the driver renders the pages itself
        ready = f"{type(exc).__name__}: {exc}"
    try:
        request = json.loads(line)
        if request.get("prepare"):
            line = sys.stdin.buffer.readline()
            if not line:
                return
            request = json.loads(line)
        if ready is not None:
            raise RuntimeError(ready)
        written = [report_render.write_page(path, template, context)
                   for path, template, context in request["pages"]]
        answer = ["report", True, written[0] if written else None]
    except Exception as exc:  # noqa: B902 - said to the driver, which renders them itself
        answer = ["report", False, f"{type(exc).__name__}: {exc}"]
    out.write(json.dumps(answer) + "\n")
    out.flush()


def find_args(dirs, skip=None):
    """The child's arguments for the newest compose in ``dirs`` (``skip``: a compose directory
    left out): what :class:`Precheck` runs with ``dirs``."""
    return ["--find"] + (["--skip", os.path.abspath(skip)] if skip else []) \
        + [os.path.abspath(d) for d in dirs]


#: the child's start: this file run as ``__main__`` from its cached byte code (a script given
#: by its path is compiled from its source every time: 2-3 ms of the child's CPU before its
#: first answer); ``argv[1]`` is this file's path
BOOT = ("import sys\n"
        "from importlib.machinery import SourceFileLoader\n"
        "sys.argv = sys.argv[1:]\n"
        "exec(SourceFileLoader('__main__', sys.argv[0]).get_code('__main__'),"
        " {'__name__': '__main__', '__file__': sys.argv[0], '__builtins__': __builtins__})\n")


def _grow_pipe(fd):
    """Room in the pipe of the child's answers for those the driver has not asked for yet
    (a gather's link plan is 0.25 MB at 10,000 RPMs): with the 64 KiB of a pipe the child
    waited for the driver to read one before it checked the next unit."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass


def _may_fork():
    """Can this process fork the child (:class:`_Forked`)? Only while it runs no other thread
    (a thread holding a lock at the fork leaves it held in the child) and where ``os.fork``
    exists."""
    if not hasattr(os, "fork"):
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


class _Forked:
    """The child as a fork of the driver's entry point (``compose_driver``, before its
    imports): ``child`` runs in the forked copy, which holds the interpreter and this module
    already, instead of a new ``python -I -S`` that starts an interpreter, loads this file and
    imports ``json`` first (about 10 ms of the child's CPU before its first stat, and the
    driver's import of ``subprocess`` before it could start it) - the child's answers are on
    the path of a no-op re-run, whose units wait for them. What ``Precheck`` asks of a
    ``subprocess.Popen``: ``stdout``, ``poll``, ``kill``, ``wait``, ``returncode``."""

    def __init__(self, pid, stdout, requests=None):
        self.pid = pid
        self.stdout = stdout
        #: the child's stdin (``serve``'s requests), or None
        self.requests = requests
        self.returncode = None

    @classmethod
    def start(cls, args, serve=None):
        """The forked child checking ``args`` (``child``'s; ``serve``: its second job, its
        stdin a pipe from here), or None when it could not fork."""
        # what ``child`` imports, imported here: the forked child reads no module from
        # ``sys.path`` (its first entry is the working directory under ``python -m``), as
        # the isolated ``python -I -S`` child did not
        import functools  # noqa: F401
        import gc  # noqa: F401
        import itertools  # noqa: F401
        import mmap  # noqa: F401

        if serve is not None:
            # the standard library that ``serve``'s Jinja imports and the driver imports
            # anyway (its dataclasses, files, the config's types): imported once, here,
            # instead of once more in the child (16 ms of its CPU), which forks that much later
            import dataclasses  # noqa: F401
            import hashlib  # noqa: F401
            import pickle  # noqa: F401
            import tempfile  # noqa: F401
            import typing  # noqa: F401

        read_end, write_end = os.pipe()
        _grow_pipe(write_end)
        asked, ask = os.pipe() if serve is not None else (None, None)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()   # nothing the driver buffered is written twice
            except (AttributeError, OSError, ValueError):
                pass
        try:
            pid = os.fork()
        except OSError:
            for fd in (read_end, write_end, asked, ask):
                if fd is not None:
                    os.close(fd)
            return None
        if pid == 0:    # the child: never returns into the driver
            code = 1
            try:
                os.close(read_end)
                null = os.open(os.devnull, os.O_RDWR)
                os.dup2(null if asked is None else asked, 0)
                os.dup2(null, 2)
                os.dup2(write_end, 1)
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))   # as Popen's close_fds
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
                sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
                code = child(args, serve)
                sys.stdout.flush()
            except BaseException:  # noqa: B902 - the driver reads an ended child's silence
                pass
            finally:
                os._exit(code if isinstance(code, int) else 1)
        os.close(write_end)
        if asked is not None:
            os.close(asked)
        return cls(pid, open(read_end, "rb", buffering=0),
                   open(ask, "wb", buffering=0) if ask is not None else None)

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self):
        if self.returncode is None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass

    def wait(self):
        if self.returncode is None:
            try:
                _pid, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self.returncode = -1
        return self.returncode


class Precheck:
    """The child checking the units of the old compose ``topdir`` (id ``compose_id``) or, with
    ``dirs``, of the newest compose there (``newest_compose``; ``skip``: a compose directory
    left out), started at once; :attr:`compose` says which, :meth:`unchanged` gives its answer
    for an old unit."""

    def __init__(self, topdir=None, compose_id=None, dirs=(), skip=None, fork=False,
                 report=False):
        import threading

        if topdir is not None:
            args = [os.path.abspath(topdir), compose_id]
        else:
            args = find_args(dirs, skip)
        #: the child's arguments (``compose_run.start_precheck`` compares a child started
        #: early with the one it would start)
        self.args = args
        self._answers = {}
        self._header = None
        self._lock = threading.Lock()
        self._pending = b""
        self._ended = False
        #: the child wrote its last answer (``["end"]``: it serves the report now)
        self._answered = False
        self._reply = None
        self.proc = _Forked.start(args, serve_report if report else None) \
            if fork and _may_fork() else None
        #: the child makes the report when asked (:meth:`report`; ``serve_report``)
        self.serves = self.proc is not None and self.proc.requests is not None
        if self.proc is None:
            import subprocess

            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", BOOT, os.path.abspath(__file__)] + args,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            _grow_pipe(self.proc.stdout.fileno())

    @property
    def compose(self):
        """(top directory, compose id) of the compose the child checks, or None (none found,
        or the child ended or was stopped before it said)."""
        if self._header is None:
            self._read_until(lambda: self._header is not None)
        return self._header or None

    def answer(self, name, timeout=WAIT):
        """The child's answer for the unit ``name`` (the list it wrote), waiting for it up to
        ``timeout`` s; None when the child did not answer for it (ended, or too slow: then it
        is stopped and every later unit is checked in the process)."""
        self._read_until(lambda: name in self._answers, timeout)
        return self._answers.get(name)

    def prepare(self):
        """Tell the child (``serve_report``) that the pages will be asked for: it imports
        Jinja and loads the templates now, beside the units, not when asked."""
        self._send({"prepare": True})

    def release(self):
        """Tell the child that no pages will be asked for: it ends after its answers,
        importing nothing more."""
        requests = getattr(self.proc, "requests", None)
        self.serves = False
        if requests is not None:
            try:
                requests.close()
            except OSError:
                pass

    def _send(self, request):
        requests = getattr(self.proc, "requests", None) if self.serves else None
        if requests is None:
            return False
        try:
            requests.write(json.dumps(request).encode() + b"\n")
            return True
        except (OSError, ValueError):
            return False

    def report(self, pages, timeout=60.0):
        """``pages`` (``[(path, template, context)]``: ``report.report_page``'s and
        ``index_page``'s) rendered and written by the child (``serve_report``): True, or
        False when the child does not serve them, ended, could not take them (a value that
        JSON does not give back as it is) or failed, or did not answer within ``timeout`` s
        (then it is stopped); the caller renders them itself then (written again whole)."""
        if not self.serves:
            return False
        try:
            request = json.dumps({"pages": pages}).encode() + b"\n"
            if json.loads(request)["pages"] != [list(page) for page in pages]:
                return False    # a tuple, a key that is not a string
        except (TypeError, ValueError):
            return False
        self._read_until(lambda: self._answered)    # its answers read first
        with self._lock:
            if self._ended or not self._answered:
                return False
            try:
                self.proc.requests.write(request)
            except (OSError, ValueError):
                self._stop()
                return False
        self._read_until(lambda: self._reply is not None, timeout, past_end=True)
        reply = self._reply
        return bool(reply and reply[1] is True)

    def _read_until(self, done, timeout=WAIT, past_end=False):
        import select
        import time

        deadline = time.monotonic() + timeout
        with self._lock:
            while not done() and not self._ended and (past_end or not self._answered):
                left = deadline - time.monotonic()
                fd = self.proc.stdout.fileno()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    self._stop()
                    break
                data = os.read(fd, 1 << 16)
                if not data:
                    self._stop()
                    break
                *lines, self._pending = (self._pending + data).split(b"\n")
                for line in lines:
                    try:
                        item = json.loads(line)
                        if self._header is None:
                            self._header = (item[1], item[2]) if item[0] == "compose" \
                                else False
                        elif item == ["end"]:
                            self._answered = True
                        elif len(item) == 3 and item[0] == "report":
                            self._reply = item
                        elif len(item) == 7:
                            self._answers[item[0]] = item
                    except (ValueError, IndexError, TypeError, KeyError):
                        continue
            if self._ended and self._header is None:
                self._header = False

    def unchanged(self, old, data_ident):
        """(every file unchanged, every file under work/, ``link_plan`` or None) of the old
        unit ``old`` (a ``reuse.OldUnit``) whose record data this process read with the
        identity ``data_ident``, when the child checked that very record data and its files
        where ``old`` has them; else None."""
        checked = self.compose
        if not checked or os.path.abspath(old.topdir) != checked[0]:
            return None
        item = self.answer(old.record["unit"])
        if not item or item[1] != list(data_ident) or item[2] != old.files_top \
                or item[3] != old.files_names.compose_id:
            return None
        plan = item[6] if isinstance(item[6], dict) else None
        return bool(item[4]), bool(item[5]), plan

    def _stop(self):
        self._ended = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        if getattr(self.proc, "requests", None) is not None:
            self.proc.requests.close()

    def close(self):
        """Stop the child (its answers are not needed any more); a unit waiting for an answer
        meanwhile checks its files itself."""
        if self.proc.poll() is None:
            self.proc.kill()    # first: a unit waiting for an answer holds the lock
        with self._lock:
            if not self._ended:
                self._stop()


if __name__ == "__main__":
    sys.exit(child(sys.argv[1:]))
