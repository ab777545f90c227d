"""The native ISO writer (media.iso_native) against xorriso 1.5.4: the same bytes (``cmp``)
for every tree shape it accepts, xorriso's image for what it refuses, and the image read
back by xorriso listing every file with its content."""

import io
import os
import random
import shutil
import subprocess

import pycdlib
import pytest

from pungi_like.media import iso, iso_native

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("xorriso") is None, reason="xorriso not installed")]

EPOCH = 1700000000
IDS = dict(application_id="PL 1.0", preparer="pungi_like")


def _version():
    out = subprocess.run(["xorriso", "-version"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True).stdout
    return out.splitlines()[0] if out else "?"


same_bytes = pytest.mark.skipif(
    not iso_native.xorriso_is_modelled(),
    reason=f"the native writer models xorriso {iso_native.MODELLED_XORRISO}; "
           f"installed: {_version()}")


def write_both(tree, tmp_path, volid="PL Test x86_64", graft=None, epoch=EPOCH, **ids):
    ids = {**IDS, **ids}
    x, n = tmp_path / "x.iso", tmp_path / "n.iso"
    rx = iso.write_iso(str(tree), str(x), volid, writer="xorriso", source_date_epoch=epoch,
                       graft=graft, **ids)
    rn = iso.write_iso(str(tree), str(n), volid, writer="native", source_date_epoch=epoch,
                       graft=graft, log_path=str(tmp_path / "log"), **ids)
    return rx, rn, x, n


def assert_same(tree, tmp_path, **kw):
    rx, rn, x, n = write_both(tree, tmp_path, **kw)
    assert (rx.writer, rn.writer) == ("xorriso", "native"), open(tmp_path / "log").read()
    assert subprocess.run(["cmp", str(x), str(n)]).returncode == 0
    assert (rn.files, rn.manifest, rn.size) == (rx.files, rx.manifest, rx.size)
    return n


def files(tree, spec):
    for rel, data in spec.items():
        path = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)


def rpm_name(i, extra=""):
    return f"p{i:04d}-mod{i % 13}{extra}-1.{i % 7}-1.fc41.x86_64.rpm"


@pytest.fixture
def dvd(tmp_path):
    """A DVD-like tree: many RPMs in one directory, a few elsewhere, repodata."""
    tree = tmp_path / "tree"
    rng = random.Random(7)
    spec = {f"Packages/p/{rpm_name(i)}": rng.randbytes(rng.randrange(1, 9000))
            for i in range(400)}
    spec.update({f"Packages/a/a{i}.rpm": rng.randbytes(3000) for i in range(5)})
    spec.update({f"repodata/{rng.randbytes(32).hex()}-primary.xml.gz": rng.randbytes(70000),
                 "repodata/repomd.xml": b"<repomd/>\n", "media.repo": b"[InstallMedia]\n"})
    files(tree, spec)
    return tree


@same_bytes
def test_dvd_tree_and_its_changes(dvd, tmp_path):
    assert_same(dvd, tmp_path)
    p = dvd / "Packages" / "p"
    # a file grows by sectors (every later file moves), another shrinks to one sector
    (p / rpm_name(10)).write_bytes(os.urandom(30000))
    (p / rpm_name(11)).write_bytes(b"x")
    assert_same(dvd, tmp_path)
    # long names (up to 103) grow the directories past more sectors
    for i in range(60):
        (p / rpm_name(i, "-" + "long" * 18)[:103]).write_bytes(os.urandom(100))
    assert_same(dvd, tmp_path)
    # many removed files shrink them
    for i in range(100, 350):
        (p / rpm_name(i)).unlink()
    assert_same(dvd, tmp_path)
    # a new file at the top, a new nested directory, empty files, modes
    (dvd / "AAA-new").write_bytes(b"top")
    files(dvd, {"a/b/c/d/e/f/deep.txt": b"deep", "Packages/p/empty.rpm": b"", "zero": b""})
    os.chmod(dvd / "AAA-new", 0o4755)
    os.chmod(p / rpm_name(1), 0o600)
    assert_same(dvd, tmp_path)


@same_bytes
def test_a_dvd_sized_directory(tmp_path):
    """5,400 packages in one directory, as the bench's DVD has: hundreds of sectors of ISO and
    Joliet records, the path tables and the data after them."""
    tree = tmp_path / "tree"
    files(tree, {f"Packages/p/{rpm_name(i)}": bytes([i % 251]) * (1 + i * 37 % 6000)
                 for i in range(5400)})
    files(tree, {"repodata/repomd.xml": b"<repomd/>\n"})
    assert_same(tree, tmp_path)


@same_bytes
def test_names_that_mangle_and_long_ids(tmp_path):
    tree = tmp_path / "tree"
    files(tree, {
        "noext": b"1", "a.b.c": b"2", ".treeinfo": b"3", "trailing.": b"4",
        "x" * 40 + ".rpm": b"5", "y" * 20 + "." + "e" * 20: b"6", "z" * 103: b"7",
        "UPPER lower=eq,comma(1)+~#%&'@[]^`{}!$": b"8",
        "dir.with.dots/" + "q" * 103: b"9", "d" * 60 + "/f": b"10", ".hidden/f": b"11"})
    assert_same(tree, tmp_path, volid="Fedora-WS-dvd-x86_64-41 Long Id",
                application_id="lower case app 1.0", publisher="Some Publisher <x@y>",
                preparer="prep")
    # no application id, no publisher: xorriso leaves them blank; ids longer than Joliet's
    # 64 characters
    assert_same(tree, tmp_path, volid="V1.0+x_y", application_id="", publisher="")
    assert_same(tree, tmp_path, volid="V", application_id="a" * 128, publisher="P" * 100,
                preparer="pre (parer) " * 10)


@same_bytes
def test_a_directory_in_another_order_in_joliet(tmp_path):
    """Upper and lower case names: the ISO 9660 order (upper-cased names) is not the Joliet
    one (case kept, "B" before "a"), so the two directories end their sectors elsewhere."""
    tree = tmp_path / "tree"
    # (this seed's lengths make the Joliet directory one sector longer in its own order than
    # in the ISO order)
    rng = random.Random(112)
    names = [f"{'a' if i % 2 else 'B'}{i:04d}{'x' * rng.randrange(0, 90)}" for i in range(40)]
    files(tree, {f"Packages/{name}": b"p" for name in names})
    assert_same(tree, tmp_path)


@same_bytes
def test_grafts_and_another_time_zone(dvd, tmp_path, monkeypatch):
    stage = tmp_path / "stage"
    files(stage, {".treeinfo": b"[general]\n", ".discinfo": b"1\n", "q/r/grafted": b"g",
                  "q/r/s/t": b"t"})
    for d in (stage, stage / "q", stage / "q" / "r", stage / "q" / "r" / "s"):
        os.chmod(d, 0o755)
    # files at the top, a file in new directories of other names, a directory over the tree's
    graft = {".treeinfo": str(stage / ".treeinfo"), ".discinfo": str(stage / ".discinfo"),
             "new/dir/file": str(stage / "q" / "r" / "grafted"),
             "repodata/sub": str(stage / "q" / "r" / "s")}
    monkeypatch.setenv("TZ", "America/New_York")
    assert_same(dvd, tmp_path, graft=graft, epoch=EPOCH + 12345)


def random_tree(tree, seed):
    rng = random.Random(seed)
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+~=, ()!#$%&'@[]^`{}"
    dirs = [str(tree)]
    os.makedirs(tree)
    for _ in range(rng.randrange(1, 300)):
        parent = rng.choice(dirs)
        name = "".join(rng.choice(chars) for _ in range(
            rng.choice((3, 5, 8, 12, 20, 29, 30, 31, 32, 33, 40, 60, 103))))
        path = os.path.join(parent, name)
        if os.path.exists(path):
            continue
        if rng.random() < 0.1 and parent.count("/") - str(tree).count("/") < 5:
            path = path[:len(parent) + 1 + 31]
            if os.path.exists(path):
                continue
            os.mkdir(path)
            dirs.append(path)
            continue
        with open(path, "wb") as fh:
            fh.write(rng.randbytes(rng.choice((0, 1, 2047, 2048, 2049,
                                               rng.randrange(1, 50000)))))
        os.chmod(path, rng.choice((0o644, 0o600, 0o755, 0o4755, 0o444)))
    for d in dirs[1:]:
        if not os.listdir(d):
            with open(os.path.join(d, "filler"), "w") as fh:
                fh.write("x")


@same_bytes
def test_random_trees(tmp_path):
    accepted = 0
    for seed in range(60):
        work = tmp_path / str(seed)
        random_tree(work / "tree", seed)
        entries = iso.collect_tree(str(work / "tree"))
        if iso_native.refusal(entries, epoch=EPOCH, volid="R", **IDS):
            continue
        assert_same(work / "tree", work, volid="R")
        accepted += 1
        shutil.rmtree(work)
    assert accepted >= 45


def read_back(path):
    reader = pycdlib.PyCdlib()
    reader.open(str(path))
    try:
        found = {}
        for top, _, names in reader.walk(rr_path="/"):
            for name in names:
                rr = f"{top.rstrip('/')}/{name}"
                out = io.BytesIO()
                reader.get_file_from_iso_fp(out, rr_path=rr)
                found[rr] = out.getvalue()
        return found
    finally:
        reader.close()


def test_read_back_lists_every_file_with_its_content(dvd, tmp_path):
    n = tmp_path / "n.iso"
    result = iso.write_iso(str(dvd), str(n), "RB", writer="native", source_date_epoch=EPOCH,
                           **IDS)
    assert result.writer == "native"
    expected = {}
    for top, _, names in os.walk(dvd):
        for name in names:
            full = os.path.join(top, name)
            with open(full, "rb") as fh:
                expected["/" + os.path.relpath(full, dvd)] = fh.read()
    assert read_back(n) == expected
    listing = subprocess.run(["xorriso", "-indev", str(n), "-find", "/", "-type", "f"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             check=True).stdout
    assert {line.strip().strip("'") for line in listing.splitlines() if line.strip()} \
        == set(expected)
    # the Joliet tree as well
    reader = pycdlib.PyCdlib()
    reader.open(str(n))
    try:
        joliet = {f"{t.rstrip('/')}/{x}" for t, _, ns in reader.walk(joliet_path="/") for x in ns}
    finally:
        reader.close()
    assert joliet == set(expected)


@pytest.mark.parametrize("case", ["symlink", "hardlink", "collision", "no-epoch", "mode",
                                  "empty-dir", "long-name", "unicode", "source-dir-mode"])
def test_refused_trees_fall_back_to_xorriso(case, dvd, tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    epoch, graft = EPOCH, None
    if case == "symlink":
        os.symlink("media.repo", dvd / "link")
    elif case == "hardlink":
        os.link(dvd / "media.repo", dvd / "media2.repo")
    elif case == "collision":
        files(dvd, {"a-b": b"1", "a_b": b"2"})
    elif case == "no-epoch":
        epoch = None
    elif case == "mode":
        os.chmod(dvd / "repodata", 0o700)
    elif case == "empty-dir":
        os.mkdir(dvd / "empty")
    elif case == "long-name":
        files(dvd, {"n" * 104: b"1"})
    elif case == "unicode":
        files(dvd, {"caf\u00e9.txt": b"1"})
    elif case == "source-dir-mode":
        # a file grafted into a new directory from a 0700 one
        files(tmp_path / "private", {"f": b"1"})
        os.chmod(tmp_path / "private", 0o700)
        graft = {"extra/f": str(tmp_path / "private" / "f")}
    entries = iso.collect_tree(str(dvd), graft)
    why = iso_native.refusal(entries, epoch=epoch, volid="F", **IDS)
    assert why and ("not 0755" in why) == (case == "source-dir-mode")
    rx, rn, x, n = write_both(dvd, tmp_path, volid="F", epoch=epoch, graft=graft)
    assert (rx.writer, rn.writer) == ("xorriso", "xorriso")
    assert "native writer refused" in open(tmp_path / "log").read()
    if epoch is not None:
        assert subprocess.run(["cmp", str(x), str(n)]).returncode == 0


def test_bootable_trees_are_refused(dvd):
    entries = iso.collect_tree(str(dvd))
    assert "boot" in iso_native.refusal(entries, boot="bios", epoch=EPOCH, volid="B", **IDS)
    assert iso_native.refusal(entries, epoch=EPOCH, volid="B", **IDS) is None


@same_bytes
def test_auto_writes_natively_what_it_would_give_xorriso(tmp_path):
    tree = tmp_path / "tree"
    files(tree, {f"Packages/{i:05d}.rpm": b"r" * (i % 3000) for i in range(iso.XORRISO_MIN_FILES)})
    x, n = tmp_path / "x.iso", tmp_path / "a.iso"
    iso.write_iso(str(tree), str(x), "AUTO", writer="xorriso", source_date_epoch=EPOCH, **IDS)
    ra = iso.write_iso(str(tree), str(n), "AUTO", source_date_epoch=EPOCH,
                       log_path=str(tmp_path / "log"), **IDS)
    assert ra.writer == "native"
    assert "writer=native" in open(tmp_path / "log").read()
    assert subprocess.run(["cmp", str(x), str(n)]).returncode == 0


def test_the_kernel_copy_stops_at_the_input_end_and_each_caller_decides(tmp_path):
    """kernel_copy (both writers' file data) copies at the offsets asked and stops where the
    input ends; the native writer then fails (a file changed under it), pycdlib's copy counts
    the rest as copied, as pycdlib's own loop does."""
    src = tmp_path / "src"
    src.write_bytes(b"0123456789")
    out = tmp_path / "out"
    out.write_bytes(b"." * 16)
    in_fd = os.open(src, os.O_RDONLY)
    out_fd = os.open(out, os.O_WRONLY)
    try:
        assert sum(iso_native.kernel_copy(in_fd, out_fd, 2, 4, 5)) == 5
        assert sum(iso_native.kernel_copy(in_fd, out_fd, 6, 12, 8, chunk=3)) == 4
    finally:
        os.close(in_fd)
        os.close(out_fd)
    assert out.read_bytes() == b"....23456...6789"
    with pytest.raises(OSError, match="shorter than its 20 bytes"):
        fd = os.open(out, os.O_WRONLY)
        try:
            iso_native._copy(str(src), fd, 0, 20)
        finally:
            os.close(fd)
    with open(src, "rb") as infp, open(tmp_path / "p", "w+b") as outfp:
        infp.seek(3)
        copied = list(iso._kernel_copy_data_yield(12, 2048, infp, outfp))
        assert sum(copied) == 12 and infp.tell() == 10 and outfp.tell() == 7
    assert (tmp_path / "p").read_bytes() == b"3456789"
