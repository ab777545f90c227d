"""Stats a compose made once, found again by device and inode from a directory's listing.

A re-run's package set stats its 10,458 source files by ``stat`` runs
(:func:`~pungi_like.fileutil.stat_idents`), and a tree's packages are hard links of them (the
package set's download directory links the sources, the gathers link those into the trees).
createrepo then stat'ed the tree's 5,400 files again (a ``stat`` run on the changed run's
path). A directory's listing names each entry's inode without a stat (``d_ino``:
``os.DirEntry.inode()``); a regular file whose device and inode are those of a file stat'ed
before *is* that file, so its size and modification time are the ones stat'ed (files are
taken as unchanged in place since, as everywhere in the compose: the reuse rules trust
device, inode, size and mtime, and the package set repo and the gathers' solves already
describe the files as stat'ed). A file not found so is stat'ed as before.

The inode a listing gives is the file's own on the file systems the compose runs on (ext4,
xfs, btrfs, tmpfs); each directory listed has one of its files stat'ed to check that it is
there (where it is not - an overlay without ``xino`` - nothing of that directory is taken).
"""

import os
import threading


class InodeStats:
    """Stats (:class:`~pungi_like.fileutil.Ident` objects) looked up by
    ``(st_dev, st_ino)``; the index is made at the first look-up, not where the stats were
    made (that is on the package set's path)."""

    def __init__(self, idents):
        self._idents = [i for i in idents if i is not None]
        self._index = None
        self._lock = threading.Lock()

    def __len__(self):
        return len(self._idents)

    def index(self):
        """``{(st_dev, st_ino): stat}``."""
        index = self._index
        if index is None:
            with self._lock:
                if self._index is None:
                    self._index = {(i.st_dev, i.st_ino): i for i in self._idents}
                index = self._index
        return index

    def get(self, dev, ino):
        return self.index().get((dev, ino))


def of(compose):
    """The compose's :class:`InodeStats` (``compose.known_stats``), or None."""
    known = getattr(compose, "known_stats", None)
    return known if known else None


#: a listing with more files than this not found among the known stats is not used: the files
#: are stat'ed as before (outside the process) instead of one by one here
UNKNOWN_MAX = 64


def _checked(path, ino, dev):
    """Whether ``ino``, the inode a listing gave for ``path``, and ``dev`` are its stat's."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return st.st_ino == ino and st.st_dev == dev


def stats_of(listed, known, names=None):
    """``{path: stat}`` of the files of ``listed`` (:func:`package_walk`'s answer: each
    directory with its device and its files' names and inodes as the listing gave them):
    the known stat of each file ``known`` has, once the directory's first such file's stat
    showed that the listing's inodes are its files' (else none of the directory's), a stat
    of each other file. ``names``: the path each file is keyed by, in the listing's order
    (default: the directory joined with its name). None when more than
    :data:`UNKNOWN_MAX` are not found or one of them cannot be stat'ed."""
    index = known.index()
    found, unknown = {}, []
    at = 0
    for folder, dev, files in listed:
        ok = None
        top = os.path.join(folder, "")
        for name, ino in files:
            path = names[at] if names is not None else top + name
            at += 1
            ident = index.get((dev, ino)) if ino is not None else None
            if ident is not None:
                if ok is None:
                    ok = _checked(top + name, ino, dev)
                if ok:
                    found[path] = ident
                    continue
            unknown.append((path, top + name))
    if len(unknown) > UNKNOWN_MAX:
        return None
    try:
        for path, real in unknown:
            found[path] = os.stat(real)
    except OSError:
        return None
    return found


def package_walk(root, keep, skip_top=()):
    """os.walk's files of ``root`` (links to directories not followed, unreadable directories
    left out; ``skip_top``: names of ``root``'s directories not walked), in its order -
    each directory's file names sorted, then its directories by name - for the names
    ``keep`` accepts: ``[(directory, device, [(name, d_ino)])]``, a directory's device by
    its stat, the inode None for an entry that is not a regular file (a link to one)."""
    found = []

    def walk(top, dev, first):
        try:
            with os.scandir(top) as it:
                entries = list(it)
        except OSError:
            return
        files, dirs = [], []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if not is_dir:
                if keep(entry.name):
                    files.append(entry)
            elif not (first and entry.name in skip_top) and not entry.is_symlink():
                dirs.append(entry)
        files.sort(key=lambda e: e.name)
        found.append((top, dev, [(e.name, e.inode() if e.is_file(follow_symlinks=False)
                                  else None) for e in files]))
        for entry in sorted(dirs, key=lambda e: e.name):
            try:
                sub_dev = entry.stat().st_dev
            except OSError:
                continue
            walk(entry.path, sub_dev, False)

    try:
        dev = os.stat(root).st_dev
    except OSError:
        return found
    walk(root, dev, True)
    return found
