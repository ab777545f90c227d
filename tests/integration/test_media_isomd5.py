"""The implanted MD5 computed by media.isomd5 (and by the native writer while it writes)
against isomd5sum's own tools: the same bytes as ``implantisomd5`` writes, accepted by
``checkisomd5``."""

import os
import random
import shutil
import subprocess

import pytest

from pungi_like.media import iso, iso_native, isomd5

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("implantisomd5") is None
                                 or shutil.which("checkisomd5") is None,
                                 reason="isomd5sum not installed")]

EPOCH = 1700000000


def fake_image(path, sectors, file_size, rng, appdata=b" " * 512):
    """Random bytes with a primary volume descriptor of ``sectors`` at sector 16."""
    data = bytearray(rng.randbytes(file_size))
    pvd = bytearray(2048)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[80:84] = sectors.to_bytes(4, "little")
    pvd[84:88] = sectors.to_bytes(4, "big")
    pvd[883:1395] = appdata
    data[32768:34816] = pvd
    path.write_bytes(bytes(data))


def by_the_tool(path, supported=False):
    out = subprocess.run(["implantisomd5"] + (["--supported-iso"] if supported else [])
                         + [str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    assert out.returncode == 0, out.stdout
    return next(line.split(" = ")[1] for line in out.stdout.splitlines()
                if line.startswith("md5 = "))


def test_the_same_bytes_as_implantisomd5_for_any_size(tmp_path):
    # sizes around the fragments' 32 KiB reads, images shorter than their volume (the tool
    # stops at the file's end), one read starting two fragments on (a small image: fewer
    # than 20 fragment sums), and the supported flag
    rng = random.Random(5)
    sizes = [17, 18, 31, 32, 35, 36, 37, 100, 336, 337, 358, 1000, 4000, 22981]
    cases = [(s, s * 2048, False) for s in sizes]
    cases += [(rng.randrange(17, 30000), None, rng.random() < 0.5) for _ in range(12)]
    for sectors, size, supported in cases:
        if size is None:
            size = max(17 * 2048, sectors * 2048 + rng.choice([-20480, -2048, 0, 777, 4096]))
        fake_image(tmp_path / "a.iso", sectors, size, rng)
        shutil.copy(tmp_path / "a.iso", tmp_path / "b.iso")
        expected = by_the_tool(tmp_path / "a.iso", supported)
        assert isomd5.implant_file(str(tmp_path / "b.iso"), supported) == expected
        assert (tmp_path / "a.iso").read_bytes() == (tmp_path / "b.iso").read_bytes(), \
            (sectors, size, supported)


def test_what_the_tool_would_refuse_is_left_alone(tmp_path):
    rng = random.Random(6)
    fake_image(tmp_path / "used.iso", 400, 400 * 2048, rng, appdata=b"x" + b" " * 511)
    before = (tmp_path / "used.iso").read_bytes()
    assert isomd5.implant_file(str(tmp_path / "used.iso")) is None
    assert (tmp_path / "used.iso").read_bytes() == before
    # no primary volume descriptor at sector 16 (the tool looks further): not ours either
    data = bytearray(before)
    data[32768] = 0
    (tmp_path / "other.iso").write_bytes(bytes(data))
    assert isomd5.implant_file(str(tmp_path / "other.iso")) is None


def dvd_tree(tree, count=600, seed=3):
    rng = random.Random(seed)
    for i in range(count):
        path = tree / "Packages" / "p" / f"p{i:04d}-1.0-1.x86_64.rpm"
        path.parent.mkdir(parents=True, exist_ok=True)
        # a few large files: several of the follower's MiB chunks inside one file
        path.write_bytes(rng.randbytes(rng.randrange(1, 9000) if i % 97 else 3_000_000))
    (tree / "media.repo").write_bytes(b"[InstallMedia]\n")


@pytest.mark.parametrize("supported", [False, True])
def test_the_native_writer_implants_what_implantisomd5_would(tmp_path, supported):
    tree = tmp_path / "tree"
    dvd_tree(tree)
    plain, implanted = tmp_path / "plain.iso", tmp_path / "implanted.iso"
    kw = dict(writer="native", source_date_epoch=EPOCH, preparer="pungi_like",
              log_path=str(tmp_path / "log"))
    first = iso.write_iso(str(tree), str(plain), "PL Test x86_64", **kw)
    second = iso.write_iso(str(tree), str(implanted), "PL Test x86_64", implant=supported, **kw)
    assert (first.writer, second.writer) == ("native", "native")
    assert first.implanted_md5 is None
    assert second.implanted_md5 == by_the_tool(plain, supported)
    assert plain.read_bytes() == implanted.read_bytes()
    assert iso.check_md5(str(implanted))
    assert iso.implanted_md5(str(implanted)) == second.implanted_md5
    assert "implanted MD5 " + second.implanted_md5 in (tmp_path / "log").read_text()


def test_in_process_and_a_failed_write_leaves_no_thread(tmp_path, monkeypatch):
    import threading

    tree = tmp_path / "tree"
    dvd_tree(tree, count=50)
    entries = iso.collect_tree(str(tree))
    plan = iso_native.prepare(entries, epoch=EPOCH, volid="PL", preparer="pungi_like")
    iso_native.write_plan(plan, str(tmp_path / "a.iso"), implant=False)
    shutil.copy(tmp_path / "a.iso", tmp_path / "b.iso")
    # the image as written holds the implant: blank it and let the tool implant it again
    data = bytearray((tmp_path / "b.iso").read_bytes())
    data[32768 + 883:32768 + 1395] = b" " * 512
    (tmp_path / "b.iso").write_bytes(bytes(data))
    assert by_the_tool(tmp_path / "b.iso") == plan.implanted_md5
    assert (tmp_path / "a.iso").read_bytes() == (tmp_path / "b.iso").read_bytes()

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(iso_native, "_copy", broken)
    plan = iso_native.prepare(entries, epoch=EPOCH, volid="PL", preparer="pungi_like")
    with pytest.raises(OSError, match="disk full"):
        iso_native.write_plan(plan, str(tmp_path / "c.iso"), implant=False)
    assert not [t for t in threading.enumerate() if t.name == "isomd5"]
