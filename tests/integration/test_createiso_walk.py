"""createiso walks a tree once: the sizes it splits discs by and what write_iso would collect
of the tree (media.iso.collect_tree) come from the same walk, or the writer collects the tree
itself when that walk cannot stand for it."""

import os

import pytest

from phases.createiso import CreateisoPhase
from pungi_like.media import iso

pytestmark = pytest.mark.integration


def _tree(root):
    (root / "Packages" / "a").mkdir(parents=True)
    (root / "Packages" / "a" / "acl-1.0-1.x86_64.rpm").write_bytes(b"a" * 3000)
    (root / "Packages" / "b").mkdir()
    (root / "Packages" / "b" / "bash-5-1.x86_64.rpm").write_bytes(b"b" * 10)
    (root / "repodata").mkdir()
    (root / "repodata" / "repomd.xml").write_text("<repomd/>")
    (root / "images").mkdir()
    (root / "images" / "boot.iso").write_bytes(b"i" * 100)
    (root / "images" / "efiboot.img").write_bytes(b"e" * 50)
    (root / "addons" / "HA" / "images").mkdir(parents=True)
    (root / "addons" / "HA" / "images" / "boot.iso").write_bytes(b"h")
    (root / "lost+found").mkdir()
    (root / "lost+found" / "junk").write_text("junk")
    (root / "empty").mkdir()
    script = root / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o750)
    (root / ".treeinfo").write_text("[general]\n")
    return root


def test_one_walk_gives_the_sizes_and_what_collect_tree_gives(tmp_path):
    tree = _tree(tmp_path / "os")
    sizes, entries = CreateisoPhase._tree_walk(str(tree))
    assert sizes == CreateisoPhase._tree_sizes(str(tree))
    assert "images/boot.iso" not in sizes and "addons/HA/images/boot.iso" not in sizes
    assert "lost+found/junk" not in sizes and sizes["Packages/a/acl-1.0-1.x86_64.rpm"] == 3000
    assert list(sizes)[:2] == [".treeinfo", "run.sh"]     # a directory's files, then its dirs
    collected = iso.collect_tree(str(tree), excludes=("images/boot.iso",))
    assert entries == collected     # same keys, kinds, sources, modes and sizes
    assert entries["run.sh"].mode == 0o750 and entries["empty"].kind == "dir"
    # write_iso takes it instead of walking: the same image
    graft = {".treeinfo": str(tmp_path / "stage-treeinfo")}
    (tmp_path / "stage-treeinfo").write_text("[general]\n[media]\n")
    assert iso.collect_tree(str(tree), graft, ("images/boot.iso",), tree_entries=entries) \
        == iso.collect_tree(str(tree), graft, ("images/boot.iso",))
    assert entries == collected     # the caller's entries are not changed by the graft


def test_a_link_in_the_tree_leaves_the_collecting_to_the_writer(tmp_path):
    tree = _tree(tmp_path / "os")
    os.symlink("../run.sh", tree / "Packages" / "again.sh")
    sizes, entries = CreateisoPhase._tree_walk(str(tree))
    assert entries is None
    assert sizes == CreateisoPhase._tree_sizes(str(tree)) and "Packages/again.sh" in sizes


def test_the_listing_of_one_find_run_gives_what_the_walk_gives(tmp_path, monkeypatch):
    """The tree's stats come from one find run (no stat a file in this process): the same
    sizes, entries and order as the walk's own stats, names with spaces, a newline or bytes
    that are no UTF-8 included; the walk stats the tree itself when find gives no listing."""
    import phases.createiso as createiso

    tree = _tree(tmp_path / "os")
    odd = tree / "Packages" / "o"
    odd.mkdir()
    for name in ("with space.rpm", "new\nline.rpm", "z-last.rpm", "A-upper.rpm"):
        (odd / name).write_bytes(b"x" * len(name))
    (odd / os.fsdecode(b"latin-\xe9.rpm")).write_bytes(b"l")
    (tree / "run.sh").chmod(0o4750)
    listing = createiso._find_listing(str(tree))
    assert listing is not None and [e.name for e in listing["Packages/o/"]] == sorted(
        ["with space.rpm", "new\nline.rpm", "z-last.rpm", "A-upper.rpm",
         os.fsdecode(b"latin-\xe9.rpm")])
    sizes, entries = CreateisoPhase._tree_walk(str(tree))
    monkeypatch.setattr(createiso, "_find_listing", lambda root: None)
    walked_sizes, walked_entries = CreateisoPhase._tree_walk(str(tree))
    assert list(sizes.items()) == list(walked_sizes.items())
    assert list(entries.items()) == list(walked_entries.items())
    assert entries["run.sh"].mode == 0o4750
    assert entries == iso.collect_tree(str(tree), excludes=("images/boot.iso",))


def test_find_gives_no_listing_for_a_link_or_an_unreadable_directory(tmp_path):
    import phases.createiso as createiso

    tree = _tree(tmp_path / "os")
    os.symlink("../run.sh", tree / "Packages" / "again.sh")
    assert createiso._find_listing(str(tree)) is None
    other = _tree(tmp_path / "other")
    (other / "closed").mkdir()
    (other / "closed" / "f").write_text("f")
    (other / "closed").chmod(0)
    try:
        if os.access(other / "closed", os.R_OK):
            pytest.skip("running as a user who reads any directory")
        assert createiso._find_listing(str(other)) is None
    finally:
        (other / "closed").chmod(0o755)
