"""pungi_like.known_files and createrepo's use of it: a tree's packages that are links of files
the package set stat'ed take those stats, found by the inodes of the tree's listing; anything
else (a copy, a file put there since, a listing whose inodes are not its files') is stat'ed."""

import os

import pytest

from phases import createrepo
from pungi_like import known_files
from pungi_like.fileutil import Ident, stat_idents


def _sources(tmp_path, names):
    src = tmp_path / "src"
    src.mkdir()
    for i, name in enumerate(names):
        (src / name).write_bytes(b"r" * (10 + i))
        os.utime(src / name, ns=(0, 1_700_000_000_123_456_789 + i))
    paths = [str(src / name) for name in names]
    return paths, known_files.InodeStats(stat_idents(paths))


def _old_package_list(tree, packages_dir=None):
    """createrepo.package_list as it was (os.walk), for the order and the set."""
    found = []
    root = packages_dir or os.path.join(tree, "Packages")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if not (dirpath == root and d in ("repodata", "addons")))
        prefix = os.path.relpath(dirpath, tree)
        prefix = "" if prefix == os.curdir else prefix + os.sep
        found.extend(prefix + name for name in sorted(filenames) if name.endswith(".rpm"))
    return found


def test_package_list_is_os_walk_s_and_gives_the_inodes_listed(tmp_path):
    tree = tmp_path / "os"
    pkgs = tree / "Packages"
    for rel in ("b/z.rpm", "b/a.rpm", "a/y.rpm", "top.rpm", "notes.txt", "repodata/r.rpm",
                "addons/x.rpm", "a/repodata/kept.rpm", "a/b/deep.rpm"):
        (pkgs / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkgs / rel).write_bytes(b"x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "linked.rpm").write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere", pkgs / "c")      # a link to a directory: not walked
    os.symlink(pkgs / "top.rpm", pkgs / "d.rpm")         # a link to a file: listed
    listed = []
    found = createrepo.package_list(str(tree), listed=listed)
    assert found == _old_package_list(str(tree))
    assert found == ["Packages/d.rpm", "Packages/top.rpm", "Packages/a/y.rpm",
                     "Packages/a/b/deep.rpm", "Packages/a/repodata/kept.rpm",
                     "Packages/b/a.rpm", "Packages/b/z.rpm"]
    paths = [(folder, dev, os.path.join(folder, name), ino) for folder, dev, files in listed
             for name, ino in files]
    assert [path for _folder, _dev, path, _ino in paths] == [str(tree / rel) for rel in found]
    for folder, dev, path, ino in paths:
        assert dev == os.stat(folder).st_dev
        # the link's own inode is not its target's: none is given for it
        assert ino == (None if os.path.islink(path) else os.stat(path).st_ino)
    # an addon's tree: its packages directly in it, its own repodata left out
    assert createrepo.package_list(str(tree), packages_dir=str(pkgs / "b")) == [
        "Packages/b/a.rpm", "Packages/b/z.rpm"]


def test_links_of_known_files_take_their_stats_others_are_stat_ed(tmp_path):
    names = ["a-1.rpm", "b-1.rpm", "c-1.rpm"]
    sources, known = _sources(tmp_path, names)
    tree = tmp_path / "os"
    (tree / "Packages" / "p").mkdir(parents=True)
    os.link(sources[0], tree / "Packages" / "p" / names[0])
    os.link(sources[1], tree / "Packages" / "p" / names[1])
    # a copy: another inode, with another size and mtime than the source's known stat
    (tree / "Packages" / "p" / names[2]).write_bytes(b"copied, longer")
    # a link whose source was replaced since its stat: the new file, another inode
    (tree / "Packages" / "q").mkdir()
    os.unlink(sources[1])
    with open(sources[1], "wb") as fh:
        fh.write(b"replaced")
    os.link(sources[1], tree / "Packages" / "q" / names[1])
    listed = []
    pkgs = createrepo.package_list(str(tree), listed=listed)
    stats = createrepo.known_stats(str(tree), pkgs, listed, known)
    assert sorted(stats) == sorted(str(tree / rel) for rel in pkgs)
    # the very stats made before (no stat of these files): the source's as it was
    for rel in ("Packages/p/a-1.rpm", "Packages/p/b-1.rpm"):
        real = os.stat(tree / rel)
        taken = stats[str(tree / rel)]
        assert isinstance(taken, Ident)
        assert known.get(real.st_dev, real.st_ino) is taken
        assert (taken.st_size, taken.st_mtime_ns) == (real.st_size, real.st_mtime_ns)
    # the others: what os.stat gives now
    for rel, size in (("Packages/p/c-1.rpm", len(b"copied, longer")),
                      ("Packages/q/b-1.rpm", len(b"replaced"))):
        st = stats[str(tree / rel)]
        assert not isinstance(st, Ident)
        assert st.st_size == size
        assert st.st_ino == os.stat(tree / rel).st_ino


def test_a_listing_whose_inodes_are_not_its_files_is_not_taken(tmp_path):
    """A file system whose directory entries name other inodes than its files' stats (an
    overlay without xino): each directory's first known file is stat'ed, and a directory whose
    inode does not agree takes none of its known stats."""
    sources, known = _sources(tmp_path, ["a.rpm", "b.rpm"])
    other = tmp_path / "tree"
    other.mkdir()
    for name in ("a.rpm", "b.rpm"):
        (other / name).write_bytes(b"other bytes, another size")
    dev = os.stat(other).st_dev
    # the listing gives the sources' inodes for the tree's (other) files
    forged = [(str(other), dev, [(name, os.stat(src).st_ino)
                                 for name, src in zip(("a.rpm", "b.rpm"), sources)])]
    stats = known_files.stats_of(forged, known)
    assert sorted(stats) == [str(other / "a.rpm"), str(other / "b.rpm")]
    for st in stats.values():
        assert not isinstance(st, Ident)
        assert st.st_size == len(b"other bytes, another size")
    # the same listing with the files' own inodes: taken... when they are known (here: not)
    stats = known_files.stats_of([(str(other), dev, [(n, os.stat(other / n).st_ino)
                                                     for n in ("a.rpm", "b.rpm")])], known)
    assert all(not isinstance(st, Ident) for st in stats.values())


def test_too_many_unknown_files_leave_the_stats_to_write_repo(tmp_path, monkeypatch):
    sources, known = _sources(tmp_path, ["a.rpm"])
    tree = tmp_path / "os"
    (tree / "Packages").mkdir(parents=True)
    os.link(sources[0], tree / "Packages" / "a.rpm")
    for i in range(3):
        (tree / "Packages" / f"n{i}.rpm").write_bytes(b"n")
    monkeypatch.setattr(known_files, "UNKNOWN_MAX", 2)
    listed = []
    pkgs = createrepo.package_list(str(tree), listed=listed)
    assert createrepo.known_stats(str(tree), pkgs, listed, known) is None
    monkeypatch.setattr(known_files, "UNKNOWN_MAX", 3)
    assert len(createrepo.known_stats(str(tree), pkgs, listed, known)) == 4
    # no known stats at all (a cold compose): nothing is looked up
    assert createrepo.known_stats(str(tree), pkgs, listed, None) is None


class _Compose:
    def __init__(self, known):
        self.known_stats = known


@pytest.mark.parametrize("with_known", [True, False])
def test_createrepo_hands_write_repo_the_known_stats(tmp_path, monkeypatch, with_known):
    """CreaterepoPhase.createrepo gives make_repodata the stats of a re-run's tree (write_repo
    then runs no stat run of its own); in a compose without known stats, none."""
    sources, known = _sources(tmp_path, ["a.rpm", "b.rpm"])
    tree = tmp_path / "os"
    (tree / "Packages" / "p").mkdir(parents=True)
    for src in sources:
        os.link(src, tree / "Packages" / "p" / os.path.basename(src))
    seen = {}
    monkeypatch.setattr(createrepo, "make_repodata",
                        lambda *args, **options: seen.update(options))
    phase = createrepo.CreaterepoPhase.__new__(createrepo.CreaterepoPhase)
    phase.compose = _Compose(known if with_known else None)
    phase.conf = type("Conf", (), dict(
        createrepo_checksum="sha256", createrepo_database=False, createrepo_use_xz=False,
        createrepo_num_workers=1, createrepo_extra_args=[]))()
    phase._slots = None
    assert phase.createrepo(str(tree), str(tmp_path / "log"), str(tmp_path / "list")) == 2
    if not with_known:
        assert seen["stats"] is None
        return
    stats = seen["stats"]
    assert sorted(stats) == [str(tree / "Packages" / "p" / n) for n in ("a.rpm", "b.rpm")]
    for path, st in stats.items():
        real = os.stat(path)
        assert known.get(real.st_dev, real.st_ino) is st
