"""The xorriso ISO writer (media.iso_xorriso) and the rule choosing it, checked by the real tools:
the image it writes must hold what pycdlib's holds (paths, modes, links, boot layout) and be
byte-reproducible under SOURCE_DATE_EPOCH."""

import hashlib
import os
import shutil
import subprocess

import pycdlib
import pytest

from pungi_like.errors import PungiLikeError
from pungi_like.media import checks, efiboot, iso, iso_native

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("xorriso") is None, reason="xorriso not installed")]

EPOCH = 1700000000


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def boot_tree(tmp_path):
    """isolinux, an efiboot.img, a script, a link, an excluded dir, an '=' in a name."""
    tree = tmp_path / "tree"
    (tree / "isolinux").mkdir(parents=True)
    shutil.copyfile("/usr/lib/ISOLINUX/isolinux.bin", tree / "isolinux" / "isolinux.bin")
    (tree / "isolinux" / "isolinux.cfg").write_text("DEFAULT linux\n")
    (tree / "Packages" / "a").mkdir(parents=True)
    (tree / "Packages" / "a" / "acl-tools-1.0-1.x86_64.rpm").write_bytes(b"x" * 5000)
    (tree / "Packages" / "a" / "odd=name\\1.rpm").write_bytes(b"odd")
    (tree / "empty-dir").mkdir()
    script = tree / "run-me.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    os.symlink("isolinux/isolinux.cfg", tree / "link-to-cfg")
    (tree / "lost+found").mkdir()
    (tree / "lost+found" / "junk").write_text("junk")
    grub = tmp_path / "BOOTX64.EFI"
    grub.write_bytes(b"MZ fake efi binary")
    efiboot.make_efiboot_img(str(tree / "images" / "efiboot.img"),
                             {"EFI/BOOT/BOOTX64.EFI": str(grub)}, source_date_epoch=EPOCH)
    return tree


def rr_modes_and_links(path):
    reader = pycdlib.PyCdlib()
    reader.open(str(path))
    try:
        found = {}
        for top, dirs, files in reader.walk(rr_path="/"):
            for name in dirs + files:
                rr = f"{top.rstrip('/')}/{name}"
                rec = reader.get_record(rr_path=rr)
                link = rec.rock_ridge.symlink_path().decode() if rec.rock_ridge.is_symlink() \
                    else None
                found[rr] = (rec.rock_ridge.get_file_mode() & 0o7777, link)
        return found
    finally:
        reader.close()


def test_xorriso_image_holds_what_the_pycdlib_image_holds(boot_tree, tmp_path):
    treeinfo = tmp_path / "treeinfo"
    treeinfo.write_text("[media]\n")
    kw = dict(boot="bios+uefi", source_date_epoch=EPOCH, excludes=("lost+found",),
              graft={".treeinfo": str(treeinfo)}, application_id="PL 1")
    a, b = tmp_path / "pycdlib.iso", tmp_path / "xorriso.iso"
    ra = iso.write_iso(str(boot_tree), str(a), "PL Test x86_64", writer="pycdlib", **kw)
    rb = iso.write_iso(str(boot_tree), str(b), "PL Test x86_64", writer="xorriso", **kw)
    assert (ra.writer, rb.writer) == ("pycdlib", "xorriso")
    assert ra.files == rb.files
    manifest = iso.iso_manifest(str(b))
    assert manifest == iso.iso_manifest(str(a))
    assert "/Packages/a/odd=name\\1.rpm" in manifest and "/lost+found" not in manifest
    assert "/empty-dir" in manifest and "/isolinux/boot.cat" in manifest
    modes = rr_modes_and_links(b)
    assert modes["/run-me.sh"][0] == 0o755
    assert modes["/link-to-cfg"][1] == "isolinux/isolinux.cfg"
    report = subprocess.run(["xorriso", "-indev", str(b), "-report_el_torito", "plain"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            check=True).stdout
    assert "El Torito cat path : /isolinux/boot.cat" in report
    bios = [ln for ln in report.splitlines() if "El Torito boot img" in ln and "BIOS" in ln]
    uefi = [ln for ln in report.splitlines() if "El Torito boot img" in ln and "UEFI" in ln]
    assert bios and bios[0].split()[-2] == "4" and uefi
    assert "boot-info-table" in report
    assert checks.is_iso(b) and checks.has_mbr(b) and checks.has_gpt(b)
    with open("/usr/lib/ISOLINUX/isohdpfx.bin", "rb") as fh:
        code = fh.read()[32:432]
    with open(b, "rb") as fh:
        assert fh.read(432)[32:] == code
    assert iso.read_volume_id(str(b)) == "PL Test x86_64"
    md5 = iso.implant_md5(str(b))
    assert md5 and iso.check_md5(str(b))


def test_xorriso_image_is_byte_reproducible(boot_tree, tmp_path):
    a, b, c, d = (tmp_path / f"{n}.iso" for n in "abcd")
    for out in (a, b):
        iso.write_iso(str(boot_tree), str(out), "DET", boot="bios+uefi", writer="xorriso",
                      source_date_epoch=EPOCH)
    assert sha256(a) == sha256(b)
    # a copy of the tree (other inodes, other times, same modes) gives the same bytes
    copy = tmp_path / "copy"
    shutil.copytree(boot_tree, copy, symlinks=True, copy_function=shutil.copy)
    for top, dirs, files in os.walk(copy):
        for name in dirs + files:
            os.utime(os.path.join(top, name), (EPOCH + 999, EPOCH + 999), follow_symlinks=False)
    iso.write_iso(str(copy), str(c), "DET", boot="bios+uefi", writer="xorriso",
                  source_date_epoch=EPOCH)
    assert sha256(c) == sha256(a)
    iso.write_iso(str(boot_tree), str(d), "DET", boot="bios+uefi", writer="xorriso",
                  source_date_epoch=EPOCH + 1)
    assert sha256(d) != sha256(a)


def test_uefi_only_image_has_its_catalog_under_images(boot_tree, tmp_path):
    out = tmp_path / "uefi.iso"
    iso.write_iso(str(boot_tree), str(out), "UEFI", boot="uefi", writer="xorriso",
                  source_date_epoch=EPOCH)
    report = subprocess.run(["xorriso", "-indev", str(out), "-report_el_torito", "plain"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            check=True).stdout
    assert "El Torito cat path : /images/boot.cat" in report
    assert not [ln for ln in report.splitlines() if "El Torito boot img" in ln and "BIOS" in ln]


def make_files(top, count, size=2048):
    for i in range(count):
        d = top / "Packages" / f"{i % 26:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"pkg-{i:05d}-1.0-1.noarch.rpm").write_bytes(b"r" * size)


def test_the_rule_picks_xorriso_for_many_small_files_only(tmp_path):
    small = tmp_path / "small"
    make_files(small, 20)
    assert iso.choose_writer(iso.collect_tree(str(small))) == "pycdlib"
    many = tmp_path / "many"
    make_files(many, iso.XORRISO_MIN_FILES + 200)
    assert iso.choose_writer(iso.collect_tree(str(many))) == "xorriso"
    result = iso.write_iso(str(many), str(tmp_path / "many.iso"), "MANY",
                           source_date_epoch=EPOCH)
    # xorriso's bytes, written natively when xorriso is the version media.iso_native models
    assert result.writer == ("native" if iso_native.xorriso_is_modelled() else "xorriso")
    assert result.files == iso.XORRISO_MIN_FILES + 200
    assert len([p for p in iso.iso_manifest(result.path) if p.endswith(".rpm")]) == result.files
    # the same files beside a 4 GiB image (sparse: the rule reads sizes) are under 3 a MiB
    with open(many / "install.img", "wb") as fh:
        fh.truncate(4 << 30)
    assert iso.choose_writer(iso.collect_tree(str(many))) == "pycdlib"


def test_unknown_writer_is_an_error(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "f").write_text("x")
    with pytest.raises(PungiLikeError, match="writer='genisoimage' is not one of"):
        iso.write_iso(str(tmp_path / "t"), str(tmp_path / "x.iso"), "X", writer="genisoimage")


@pytest.mark.parametrize("writer", ["pycdlib", "xorriso", "native"])
@pytest.mark.parametrize("boot", [None, "bios", "uefi", "bios+uefi"])
def test_manifest_of_the_writer_is_what_the_image_holds(boot_tree, tmp_path, writer, boot):
    """write_iso's own manifest (what createiso writes to .manifest without reading the image
    back) equals the paths read from the image: links, empty dirs, graft points over the tree,
    excludes and the boot catalog included."""
    treeinfo = tmp_path / "treeinfo"
    treeinfo.write_text("[media]\n")
    extra = tmp_path / "extra"
    (extra / "sub").mkdir(parents=True)
    (extra / "sub" / "file.txt").write_text("x")
    out = tmp_path / f"{writer}-{boot}.iso"
    result = iso.write_iso(str(boot_tree), str(out), "MANIFEST", boot=boot, writer=writer,
                           source_date_epoch=EPOCH, excludes=("lost+found",),
                           graft={".treeinfo": str(treeinfo), "deep/graft": str(extra),
                                  "Packages/a": str(extra / "sub")})
    read_back = iso.iso_manifest(str(out))
    assert result.manifest == read_back
    assert "/deep/graft/sub/file.txt" in read_back and "/Packages/a/file.txt" in read_back
    assert "/Packages/a/acl-tools-1.0-1.x86_64.rpm" not in read_back
    catalogs = [p for p in read_back if p.endswith("/boot.cat")]
    assert catalogs == {None: [], "bios": ["/isolinux/boot.cat"], "uefi": ["/images/boot.cat"],
                        "bios+uefi": ["/isolinux/boot.cat"]}[boot]
    manifest = iso.write_manifest(str(out), paths=result.manifest)
    assert open(manifest).read() == "".join(p + "\n" for p in read_back)


def test_pycdlib_writes_file_data_through_the_kernel_with_the_same_bytes(boot_tree, tmp_path):
    """media.iso swaps pycdlib's read/write loop for copy_file_range: the bootable image
    (boot info table patched into isolinux.bin, the efiboot image, files of every size) is
    byte for byte the one pycdlib's own loop writes, and a file object without a descriptor
    still takes that loop."""
    import io

    import pycdlib.utils

    (boot_tree / "big.img").write_bytes(os.urandom(3 << 20) + b"tail")
    assert pycdlib.utils.copy_data_yield is iso._kernel_copy_data_yield
    kernel, loop = tmp_path / "kernel.iso", tmp_path / "loop.iso"
    iso.write_iso(str(boot_tree), str(kernel), "COPY", boot="bios+uefi", writer="pycdlib",
                  source_date_epoch=EPOCH)
    pycdlib.utils.copy_data_yield = iso._copy_data_yield
    try:
        iso.write_iso(str(boot_tree), str(loop), "COPY", boot="bios+uefi", writer="pycdlib",
                      source_date_epoch=EPOCH)
    finally:
        pycdlib.utils.copy_data_yield = iso._kernel_copy_data_yield
    assert sha256(kernel) == sha256(loop)
    reader = pycdlib.PyCdlib()
    reader.open(str(kernel))
    try:
        data = io.BytesIO()
        reader.get_file_from_iso_fp(data, rr_path="/big.img")
    finally:
        reader.close()
    assert data.getvalue() == (boot_tree / "big.img").read_bytes()
    assert checks.has_el_torito(str(kernel))
    out = io.BytesIO()
    copied = list(iso._kernel_copy_data_yield(5, 2048, io.BytesIO(b"abcdefg"), out))
    assert sum(copied) == 5 and out.getvalue() == b"abcde"


def _writes_the_same(cmd, other, out, env):
    """Run the xorriso command ``other`` (a variant of ``cmd``, which wrote its image) with its
    image written to ``out``: are the two images' bytes the same?"""
    other[other.index("-o") + 1] = str(out)
    subprocess.run(other, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return sha256(cmd[cmd.index("-o") + 1]) == sha256(out)


def test_pacifier_interval_leaves_the_image_bytes_alone(boot_tree, tmp_path, monkeypatch):
    """The writer asks xorriso to look for the write's end every 0.1 s (-pacifier
    interval=0.1) instead of once a second: the same command without it writes the same bytes."""
    from pungi_like.media import iso_xorriso
    real_run = iso_xorriso.tools.run
    plain = tmp_path / "plain.iso"
    seen = []

    def run_both(cmd, **kw):
        result = real_run(cmd, **kw)
        at = cmd.index("-pacifier")
        assert cmd[at + 1] == "interval=0.1"
        seen.append(_writes_the_same(cmd, cmd[:at] + cmd[at + 2:], plain, kw["env"]))
        return result

    monkeypatch.setattr(iso_xorriso.tools, "run", run_both)
    iso.write_iso(str(boot_tree), str(tmp_path / "ours.iso"), "PACE", boot="bios+uefi",
                  writer="xorriso", source_date_epoch=EPOCH)
    assert seen == [True]


def _long_named(tree):
    """Names and a link target too long for one directory record: Rock Ridge continues them
    in continuation areas (CE), where time stamps may be too."""
    deep = tree / ("d" * 200)
    deep.mkdir()
    (deep / ("f" * 240 + ".rpm")).write_bytes(b"long")
    os.symlink("./" * 150 + "f" * 240 + ".rpm", deep / "far-link")


def _xorriso_dated(tree, out, boot, epoch):
    """xorriso with its own --set_all_file_dates, as the writer ran it before."""
    cmd = ["xorriso", "-as", "mkisofs", "-iso-level", "3", "-R", "-uid", "0", "-gid", "0",
           "-J", "-joliet-long", "-V", "DATES", "-sysid", "LINUX", "-p", "pungi_like"]
    if boot:
        cmd += ["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
                "-boot-load-size", "4", "-boot-info-table", "-isohybrid-mbr",
                "/usr/lib/ISOLINUX/isohdpfx.bin", "-eltorito-alt-boot", "-e",
                "images/efiboot.img", "-no-emul-boot", "-isohybrid-gpt-basdat"]
    cmd += ["--set_all_file_dates", f"={epoch}", "-o", str(out), str(tree)]
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch), TZ="Europe/Berlin")
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("boot", [None, "bios+uefi"])
def test_file_dates_set_in_the_image_as_xorriso_sets_them(boot_tree, tmp_path, monkeypatch,
                                                           boot):
    """The writer sets the file dates in xorriso's image itself (set_all_file_dates): the
    bytes are those of xorriso's --set_all_file_dates on the same tree, in another time
    zone too; the dates of the tree's files differ from the epoch, so a date left alone
    would show."""
    shutil.rmtree(boot_tree / "lost+found")
    _long_named(boot_tree)
    monkeypatch.setenv("TZ", "America/New_York")
    ours, theirs = tmp_path / "ours.iso", tmp_path / "theirs.iso"
    written = iso.write_iso(str(boot_tree), str(ours), "DATES", boot=boot, writer="xorriso",
                            source_date_epoch=EPOCH + 12345)
    assert written.writer == "xorriso"
    _xorriso_dated(boot_tree, theirs, boot, EPOCH + 12345)
    assert sha256(ours) == sha256(theirs)
    reader = pycdlib.PyCdlib()
    reader.open(str(ours))
    try:
        record = reader.get_record(rr_path="/" + "d" * 200 + "/" + "f" * 240 + ".rpm")
        assert record.rock_ridge.name() == b"f" * 240 + b".rpm"
        assert record.rock_ridge.dr_entries.ce_record is not None   # continued: CE read
    finally:
        reader.close()


def test_file_dates_left_to_xorriso_when_the_image_is_not_read(boot_tree, tmp_path,
                                                             monkeypatch):
    """An image whose layout set_all_file_dates refuses is written again by xorriso with
    its own --set_all_file_dates: the same bytes, and the log says so."""
    from pungi_like.media import iso_xorriso

    def refuse(path, epoch):
        raise ValueError("refused for the test")

    monkeypatch.setattr(iso_xorriso, "set_all_file_dates", refuse)
    shutil.rmtree(boot_tree / "lost+found")
    ours, theirs, log = tmp_path / "ours.iso", tmp_path / "theirs.iso", tmp_path / "iso.log"
    iso.write_iso(str(boot_tree), str(ours), "DATES", boot="bios+uefi", writer="xorriso",
                  source_date_epoch=EPOCH, log_path=str(log))
    _xorriso_dated(boot_tree, theirs, "bios+uefi", EPOCH)
    assert sha256(ours) == sha256(theirs)
    assert "file dates not set in place (refused for the test)" in log.read_text()


def test_set_all_file_dates_refuses_what_is_not_an_image(tmp_path):
    from pungi_like.media import iso_xorriso
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"\0" * 40 * 2048)
    with pytest.raises(ValueError, match="no volume descriptor"):
        iso_xorriso.set_all_file_dates(str(junk), EPOCH)


@pytest.mark.parametrize("boot", [None, "bios+uefi"])
def test_path_list_order_leaves_the_image_bytes_alone(boot_tree, tmp_path, monkeypatch, boot):
    """The writer gives xorriso its path list in descending order (libisofs finds each new
    node's place in a directory from the head of a sorted list): the same list in ascending
    order writes the same bytes, with a directory of many files."""
    from pungi_like.media import iso_xorriso
    many = boot_tree / "Packages" / "p"
    many.mkdir()
    for i in range(300):
        (many / f"p{i:04d}-1.0-1.x86_64.rpm").write_bytes(b"r" * (i % 7 + 1))
    real_run = iso_xorriso.tools.run
    ascending = tmp_path / "ascending.iso"
    seen = []

    def run_both(cmd, **kw):
        result = real_run(cmd, **kw)
        listed = cmd[cmd.index("-path-list") + 1]
        with open(listed, encoding="utf-8") as fh:
            lines = fh.readlines()
        assert lines == sorted(lines, reverse=True) and len(lines) > 300
        with open(listed, "w", encoding="utf-8") as fh:
            fh.writelines(sorted(lines))
        seen.append(_writes_the_same(cmd, list(cmd), ascending, kw["env"]))
        return result

    monkeypatch.setattr(iso_xorriso.tools, "run", run_both)
    iso.write_iso(str(boot_tree), str(tmp_path / "ours.iso"), "ORDER", boot=boot,
                  writer="xorriso", source_date_epoch=EPOCH)
    assert seen == [True]
