"""The native writer's copy of unchanged files' data from an old image (media.iso_extents):
the same bytes as an image written from the sources, and an old image or source that is not
provably the one recorded is not used."""

import os
import random
import re

import pytest

from pungi_like.media import iso, iso_extents, iso_native

pytestmark = pytest.mark.integration

EPOCH = 1700000000


def make_tree(tree, count=300, seed=11):
    rng = random.Random(seed)
    for i in range(count):
        path = tree / "Packages" / "p" / f"p{i:04d}-1.0-1.x86_64.rpm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randrange(1, 9000)))
    (tree / "repodata").mkdir(exist_ok=True)
    (tree / "repodata" / "repomd.xml").write_bytes(b"<repomd/>\n")
    (tree / "media.repo").write_bytes(b"[InstallMedia]\n")


def write(tree, out, log, record=None, old=()):
    result = iso.write_iso(str(tree), str(out), "PL Test x86_64", writer="native",
                           source_date_epoch=EPOCH, preparer="pungi_like", log_path=str(log),
                           implant=False, record=record and str(record), old=old)
    assert result.writer == "native"
    return result


def taken(log):
    found = re.findall(r"# (\d+) of \d+ files' data copied from the old image", log.read_text())
    return int(found[-1]) if found else 0


def test_a_changed_tree_from_the_old_image_is_the_image_from_its_sources(tmp_path):
    tree = tmp_path / "tree"
    make_tree(tree)
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    record = tmp_path / "work" / "extents.json"
    first = write(tree, old_dir / "a.iso", tmp_path / "log1", record=record)
    assert record.exists() and taken(tmp_path / "log1") == 0
    # one file changed (other size: every later file moves), one added, one removed, one
    # rewritten with its size kept (another mtime: not provably the same data)
    (tree / "Packages/p/p0100-1.0-1.x86_64.rpm").write_bytes(b"x" * 12345)
    (tree / "Packages/p/p0150-2.0-1.x86_64.rpm").write_bytes(b"new" * 999)
    (tree / "Packages/p/p0200-1.0-1.x86_64.rpm").unlink()
    same_size = tree / "Packages/p/p0250-1.0-1.x86_64.rpm"
    size = same_size.stat().st_size
    same_size.write_bytes(b"z" * size)
    os.utime(same_size, ns=(1, 1))
    fresh = write(tree, tmp_path / "fresh.iso", tmp_path / "log2")
    again = write(tree, tmp_path / "again.iso", tmp_path / "log3",
                  old=[[str(record), str(old_dir)]])
    assert (tmp_path / "fresh.iso").read_bytes() == (tmp_path / "again.iso").read_bytes()
    assert again.implanted_md5 == fresh.implanted_md5 != first.implanted_md5
    # 302 files (300 RPMs, repomd.xml, media.repo): all but the two changed and the new one
    assert taken(tmp_path / "log3") == 302 - 3
    assert iso.check_md5(str(tmp_path / "again.iso"))


def test_an_old_image_written_since_its_record_is_not_used(tmp_path):
    tree = tmp_path / "tree"
    make_tree(tree, count=50)
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    record = tmp_path / "extents.json"
    write(tree, old_dir / "a.iso", tmp_path / "log1", record=record)
    with open(old_dir / "a.iso", "r+b") as fh:     # e.g. an MD5 implanted again by a tool
        fh.seek(40000)
        fh.write(b"\xff" * 2048)
    write(tree, tmp_path / "b.iso", tmp_path / "log2", old=[[str(record), str(old_dir)]])
    write(tree, tmp_path / "c.iso", tmp_path / "log3")
    assert taken(tmp_path / "log2") == 0
    assert (tmp_path / "b.iso").read_bytes() == (tmp_path / "c.iso").read_bytes()
    # a missing or unreadable record: the sources
    write(tree, tmp_path / "d.iso", tmp_path / "log4",
          old=[[str(tmp_path / "nothing.json"), str(old_dir)]])
    assert (tmp_path / "d.iso").read_bytes() == (tmp_path / "c.iso").read_bytes()
    # a record of another form, its image untouched: not used, the image written
    os.unlink(old_dir / "a.iso")
    write(tree, old_dir / "a.iso", tmp_path / "log5", record=record)
    text = record.read_text()
    for bad in (text.replace('"files":[[', '"files":[["x",'),
                text.replace('"files":[[', '"files":[[-1,1,1,1,-5],[')):
        record.write_text(bad)
        write(tree, tmp_path / "e.iso", tmp_path / "log6", old=[[str(record), str(old_dir)]])
        assert taken(tmp_path / "log6") == 0
        assert (tmp_path / "e.iso").read_bytes() == (tmp_path / "c.iso").read_bytes()


def test_no_record_when_another_tool_implants_after_the_writer(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    make_tree(tree, count=20)
    entries = iso.collect_tree(str(tree))
    plan = iso_native.prepare(entries, epoch=EPOCH, volid="PL", preparer="pungi_like")
    # a descriptor the writer does not implant into: implantisomd5 writes the image after it,
    # so the record would not describe the image
    monkeypatch.setattr(iso_native._sibling("isomd5"), "implantable", lambda descriptor: False)
    iso_native.write_plan(plan, str(tmp_path / "a.iso"), implant=False,
                          record=str(tmp_path / "r.json"))
    assert plan.implanted_md5 is None
    assert not (tmp_path / "r.json").exists()
    # no MD5 asked for: the image is as the writer left it
    iso_native.write_plan(plan, str(tmp_path / "b.iso"), record=str(tmp_path / "r.json"))
    assert (tmp_path / "r.json").exists()


class _Node:
    def __init__(self, block, size, ident, source="src"):
        self.data_block, self.size, self.ident, self.source = block, size, ident, source


def test_runs_and_a_short_old_image(tmp_path):
    nodes = [_Node(40, 3000, (1, 1, 3000, 5)), _Node(42, 2048, (1, 2, 2048, 5)),
             _Node(43, 10, (1, 3, 10, 5)), _Node(44, 100, (1, 4, 100, 6))]
    # old image: the first two adjacent at another place, the third elsewhere, the fourth
    # with another mtime
    old = iso_extents.OldImage(-1, {(1, 1): (3000, 5, 100), (1, 2): (2048, 5, 102),
                                    (1, 3): (10, 5, 7), (1, 4): (100, 5, 104)})
    kernel, one, marks = [], [], []

    def kernel_copy(src_fd, out_fd, src, dst, length):
        kernel.append((src, dst, length))
        yield length

    iso_extents.copy_data(nodes, 9, old, lambda *a: one.append(a[2:]), kernel_copy,
                          marks.append)
    assert kernel == [(100 * 2048, 40 * 2048, 2 * 2048 + 2048), (7 * 2048, 43 * 2048, 10)]
    assert one == [(44 * 2048, 100)]
    assert marks == [42 * 2048 + 2048, 43 * 2048 + 10, 44 * 2048 + 100]

    kernel.clear()
    one.clear()

    def short_copy(src_fd, out_fd, src, dst, length):
        yield length - 1

    assert iso_extents.copy_data(nodes[:2], 9, old, lambda *a: one.append(a[2:]),
                                 short_copy) == 0
    assert one == [(40 * 2048, 3000), (42 * 2048, 2048)]
