"""ISO writing with pycdlib checked by the real tools: xorriso, checkisomd5, mtools."""

import hashlib
import os
import shutil
import subprocess

import pycdlib
import pytest

from pungi_like.errors import PungiLikeError
from pungi_like.media import checks, efiboot, iso

pytestmark = pytest.mark.integration

EPOCH = 1700000000
LONG_NAME = "a" * 64 + "-primary.xml.gz"


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def boot_tree(tmp_path):
    """A small tree with real isolinux, an efiboot.img, long and odd names, a deep dir, a link."""
    tree = tmp_path / "tree"
    (tree / "isolinux").mkdir(parents=True)
    shutil.copyfile("/usr/lib/ISOLINUX/isolinux.bin", tree / "isolinux" / "isolinux.bin")
    (tree / "isolinux" / "isolinux.cfg").write_text("DEFAULT linux\n")
    (tree / "repodata").mkdir()
    (tree / "repodata" / LONG_NAME).write_bytes(b"primary")
    (tree / "repodata" / ("b" * 64 + "-primary.xml.gz")).write_bytes(b"other primary")
    (tree / "Packages" / "a").mkdir(parents=True)
    (tree / "Packages" / "a" / "acl-tools-1.0-1.x86_64.rpm").write_bytes(b"x" * 5000)
    deep = tree.joinpath(*"abcdefghi")
    deep.mkdir(parents=True)
    (deep / "deep file.txt").write_text("deep\n")
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


def el_torito_report(path):
    proc = subprocess.run(["xorriso", "-indev", str(path), "-report_el_torito", "plain"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=True)
    return proc.stdout       # the "Boot record" summary line is on stderr


def test_bootable_iso_has_bios_and_uefi_entries_and_hybrid_mbr(boot_tree, tmp_path):
    out = tmp_path / "boot.iso"
    result = iso.write_iso(str(boot_tree), str(out), "PL Test x86_64", boot="bios+uefi",
                           source_date_epoch=EPOCH, excludes=("lost+found",))
    report = el_torito_report(out)
    assert "El Torito cat path : /isolinux/boot.cat" in report
    assert "MBR isohybrid" in report and "GPT" in report
    bios = [line for line in report.splitlines() if "El Torito boot img" in line and "BIOS" in line]
    uefi = [line for line in report.splitlines() if "El Torito boot img" in line and "UEFI" in line]
    assert bios and bios[0].split()[-2] == "4"         # load size 4
    assert uefi
    assert "/isolinux/isolinux.bin" in report and "/images/efiboot.img" in report
    assert "boot-info-table" in report
    assert checks.is_iso(out) and checks.has_mbr(out) and checks.has_gpt(out)
    assert checks.has_el_torito(out)
    # syslinux's isohdpfx.bin code is the MBR boot code
    with open("/usr/lib/ISOLINUX/isohdpfx.bin", "rb") as fh:
        code = fh.read()[32:432]
    with open(out, "rb") as fh:
        assert fh.read(432)[32:] == code
    assert iso.read_volume_id(str(out)) == "PL Test x86_64"
    assert result.files >= 6


def test_rock_ridge_keeps_names_modes_links_and_excludes(boot_tree, tmp_path):
    out = tmp_path / "plain.iso"
    iso.write_iso(str(boot_tree), str(out), "PLAIN", excludes=("lost+found",))
    manifest = iso.iso_manifest(str(out))
    assert "/repodata/" + LONG_NAME in manifest
    assert "/a/b/c/d/e/f/g/h/i/deep file.txt" in manifest
    assert not any("lost+found" in p for p in manifest)
    # xorriso, reading Rock Ridge, sees the same files
    found = subprocess.run(["xorriso", "-indev", str(out), "-find", "/", "-type", "f"],
                           capture_output=True, text=True, check=True).stdout
    xfiles = sorted(line.strip().strip("'") for line in found.splitlines()
                    if line.startswith("'"))
    assert "/repodata/" + LONG_NAME in xfiles and "/run-me.sh" in xfiles
    assert set(xfiles) <= set(manifest)
    listing = subprocess.run(["xorriso", "-indev", str(out), "-lsl", "/run-me.sh",
                              "/link-to-cfg"], capture_output=True, text=True, check=True).stdout
    assert "-rwxr-xr-x" in listing
    assert "'/link-to-cfg' -> 'isolinux/isolinux.cfg'" in listing
    # content extracted through Rock Ridge matches the source
    extract = tmp_path / "x"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(out), "-extract",
                    "/Packages/a/acl-tools-1.0-1.x86_64.rpm", str(extract)], check=True,
                   capture_output=True)
    assert extract.read_bytes() == b"x" * 5000


def test_joliet_names_fit_64_characters_and_stay_distinct(boot_tree, tmp_path):
    out = tmp_path / "joliet.iso"
    result = iso.write_iso(str(boot_tree), str(out), "JOLIET", excludes=("lost+found",))
    assert "repodata/" + LONG_NAME in result.joliet_renamed
    reader = pycdlib.PyCdlib()
    reader.open(str(out))
    try:
        names = [f for _top, _dirs, files in reader.walk(joliet_path="/repodata") for f in files]
    finally:
        reader.close()
    assert len(names) == 2 and len(set(names)) == 2
    assert all(len(n) <= 64 and n.endswith("-primary.xml.gz") for n in names)


def test_same_input_same_bytes_and_epoch_changes_them(boot_tree, tmp_path):
    a, b, c = (tmp_path / f"{n}.iso" for n in "abc")
    iso.write_iso(str(boot_tree), str(a), "DET", boot="bios+uefi", source_date_epoch=EPOCH)
    iso.write_iso(str(boot_tree), str(b), "DET", boot="bios+uefi", source_date_epoch=EPOCH)
    iso.write_iso(str(boot_tree), str(c), "DET", boot="bios+uefi", source_date_epoch=EPOCH + 1)
    assert sha256(a) == sha256(b)
    assert sha256(a) != sha256(c)


def test_source_date_epoch_from_environment(boot_tree, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    a, b = tmp_path / "a.iso", tmp_path / "b.iso"
    iso.write_iso(str(boot_tree), str(a), "ENV")
    iso.write_iso(str(boot_tree), str(b), "ENV")
    assert sha256(a) == sha256(b)
    info = subprocess.run(["xorriso", "-indev", str(a), "-pvd_info"], capture_output=True,
                          text=True, check=True).stdout
    assert "Creation Time: 2023111422132000" in info


def test_implanted_md5_passes_checkisomd5_and_detects_corruption(boot_tree, tmp_path):
    out = tmp_path / "md5.iso"
    iso.write_iso(str(boot_tree), str(out), "MD5", boot="bios", source_date_epoch=EPOCH)
    log = tmp_path / "logs" / "md5.log"
    md5 = iso.implant_md5(str(out), log_path=str(log))
    assert md5 and len(md5) == 32
    assert iso.implanted_md5(str(out)) == md5
    assert iso.check_md5(str(out))
    assert "implantisomd5" in log.read_text()
    with open(out, "r+b") as fh:
        fh.seek(os.path.getsize(out) // 2)  # implantisomd5 skips the last 15 sectors
        fh.write(b"corrupted!")
    assert not iso.check_md5(str(out))


def test_graft_points_win_over_the_tree(boot_tree, tmp_path):
    other = tmp_path / "treeinfo"
    other.write_text("[media]\ndiscnum = 1\n")
    out = tmp_path / "graft.iso"
    iso.write_iso(str(boot_tree), str(out), "GRAFT", graft={".treeinfo": str(other),
                                                             "extra/dir/file": str(other)})
    manifest = iso.iso_manifest(str(out))
    assert "/.treeinfo" in manifest and "/extra/dir/file" in manifest
    dest = tmp_path / "out"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(out), "-extract", "/.treeinfo",
                    str(dest)], check=True, capture_output=True)
    assert dest.read_text() == "[media]\ndiscnum = 1\n"


def test_boot_without_isolinux_is_an_error(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "f").write_text("x")
    with pytest.raises(PungiLikeError, match="isolinux/isolinux.bin"):
        iso.write_iso(str(tmp_path / "t"), str(tmp_path / "x.iso"), "X", boot="bios")
    with pytest.raises(PungiLikeError, match="longer than 32"):
        iso.write_iso(str(tmp_path / "t"), str(tmp_path / "x.iso"), "X" * 33)


def test_iso9660_names_are_valid_and_unique():
    taken = set()
    names = []
    for n in ("Some file.with.dots.txt", "some-file.with.dots.txt", "x" * 40 + ".rpm", ".treeinfo"):
        name = iso.iso9660_name(n, False, taken)
        taken.add(name)
        names.append(name)
    assert len(set(names)) == len(names)
    for name in names:
        stem, _, ext = name.rpartition(".") if "." in name else (name, "", "")
        assert len(name) <= 30 and name.count(".") <= 1
        assert all(c.isupper() or c.isdigit() or c in "_." for c in name)
    assert iso.iso9660_name("EFI", True) == "EFI"


def test_backup_gpt_never_overwrites_the_last_file(boot_tree, tmp_path):
    """Regression: an image whose data ends on a 1 MiB cylinder boundary lost its last file to
    pycdlib's backup GPT (a zeroed EFI/BOOT/grub.cfg made the live ISO stop at a grub> prompt)."""
    import io

    filler = os.path.join(boot_tree, "filler.bin")
    hit = False
    for extra in range(0, 520):
        with open(filler, "wb") as fh:
            fh.write(b"\1" * (extra * 2048 + 1))
        probe = iso.write_iso(boot_tree, str(tmp_path / "probe.iso"), "PAD_TEST",
                              boot="bios+uefi", source_date_epoch=EPOCH)
        image = pycdlib.PyCdlib()
        image.open(probe.path)
        last_path, last_end = None, 0
        for top, _, files in image.walk(rr_path="/"):
            for name in files:
                path = f"{top.rstrip('/')}/{name}"
                rec = image.get_record(rr_path=path)
                end = rec.extent_location() * 2048 + rec.get_data_length()
                if end > last_end and not path.endswith("boot.cat"):
                    last_path, last_end = path, end
        out = io.BytesIO()
        image.get_file_from_iso_fp(out, rr_path=last_path)
        image.close()
        source = os.path.join(boot_tree, last_path.lstrip("/"))
        assert out.getvalue() == open(source, "rb").read(), f"{last_path} damaged ({extra})"
        if -(-last_end // 2048) * 2048 % (1 << 20) in (0, 2048):
            hit = True
            break
    assert hit, "no layout ended on a cylinder boundary; the regression was not exercised"
