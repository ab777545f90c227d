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
