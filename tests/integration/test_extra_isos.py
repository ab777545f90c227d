"""extra_isos on real composes: one ISO with the packages of two variants, its own extra files
and named by formats, for x86_64 and src; recorded in images.json; a failable arch that fails."""

import json
import os
import subprocess

import pytest
import productmd.images
import productmd.treeinfo

from pungi_like.media import iso as isomod
from tests.integration.test_driver import make_config, only_compose

pytestmark = pytest.mark.integration


def run(tmp_path, universe, extra):
    from pungi_like.cli.compose_driver import main

    conf = make_config(tmp_path, universe, extra)
    target = tmp_path / "composes"
    code = main(["--config", conf, "--target-dir", str(target), "--test", "--quiet"])
    return code, only_compose(str(target))


@pytest.fixture(scope="module")
def compose(universe, tmp_path_factory):
    base = tmp_path_factory.mktemp("extraisos")
    (base / "extra").mkdir()
    (base / "extra" / "README.demo").write_text("On the extra ISO.\n")
    (base / "extra" / "TREE-NOTE").write_text("In the Server tree.\n")
    code, topdir = run(base, universe, """
extra_files = [("^Server$", {"*": [{"scm": "file", "repo": "", "file": "extra/TREE-NOTE"}]})]
extra_isos = {
    "^Server$": [{
        "include_variants": ["Workstation"],
        "extra_files": [{"scm": "file", "repo": "", "file": "extra/README.demo",
                         "target": "extra"}],
        "filename": "{release_short}-{variant}-{arch}-everything.iso",
        "volid": "{release_short}-{arch}-everything",
        "inherit_extra_files": True,
    }],
}
""")
    return {"code": code, "topdir": topdir, "compose": os.path.join(topdir, "compose")}


def manifest(path):
    with open(path + ".manifest") as fh:
        return {line.strip() for line in fh if line.strip()}


def test_extra_iso_holds_each_variant_in_its_own_directory(compose):
    assert compose["code"] == 0
    iso = os.path.join(compose["compose"], "Server", "x86_64", "iso",
                       "Demo-Server-x86_64-everything.iso")
    files = manifest(iso)
    for uid in ("Server", "Workstation"):
        assert f"/{uid}/repodata/repomd.xml" in files
        assert any(f.startswith(f"/{uid}/Packages/") and f.endswith(".rpm") for f in files)
    # each variant's packages are exactly its tree's
    for uid in ("Server", "Workstation"):
        tree = os.path.join(compose["compose"], uid, "x86_64", "os")
        in_tree = {os.path.relpath(os.path.join(d, f), tree)
                   for d, _, names in os.walk(os.path.join(tree, "Packages")) for f in names}
        assert {f[len(uid) + 2:] for f in files if f.startswith(f"/{uid}/Packages/")
                and f.endswith(".rpm")} == in_tree
    assert {"/extra/README.demo", "/extra_files.json", "/.treeinfo", "/.discinfo",
            "/media.repo", "/Server/TREE-NOTE"} <= files
    assert isomod.read_volume_id(iso) == "Demo-x86_64-everything"
    assert isomod.check_md5(iso)


def test_extra_iso_treeinfo_lists_both_variants_with_their_paths(compose, tmp_path):
    iso = os.path.join(compose["compose"], "Server", "x86_64", "iso",
                       "Demo-Server-x86_64-everything.iso")
    out = tmp_path / "treeinfo"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", iso, "-extract", "/.treeinfo",
                    str(out)], check=True, capture_output=True)
    ti = productmd.treeinfo.TreeInfo()
    ti.load(str(out))
    assert sorted(ti.variants) == ["Server", "Workstation"]
    assert ti.variants["Workstation"].paths.packages == "Workstation/Packages"
    assert ti.variants["Workstation"].paths.repository == "Workstation"
    assert (ti.media.discnum, ti.media.totaldiscs) == (1, 1)


def test_source_extra_iso_and_images_json(compose):
    top = compose["compose"]
    src_iso = os.path.join(top, "Server", "source", "iso", "Demo-Server-src-everything.iso")
    files = manifest(src_iso)
    assert any(f.startswith("/Workstation/Packages/") and f.endswith(".src.rpm") for f in files)
    assert "/extra/README.demo" in files
    assert isomod.read_volume_id(src_iso) == "Demo-src-everything"
    images = productmd.images.Images()
    images.load(os.path.join(top, "metadata", "images.json"))
    extra = {img.path: img for img in images.images["Server"]["x86_64"]
             if "everything" in img.path}
    assert sorted(extra) == ["Server/source/iso/Demo-Server-src-everything.iso",
                             "Server/x86_64/iso/Demo-Server-x86_64-everything.iso"]
    binary = extra["Server/x86_64/iso/Demo-Server-x86_64-everything.iso"]
    assert (binary.type, binary.format, binary.arch) == ("dvd", "iso", "x86_64")
    assert binary.unified and binary.additional_variants == ["Workstation"]
    assert binary.volume_id == "Demo-x86_64-everything" and binary.implant_md5
    assert binary.size == os.path.getsize(os.path.join(top, binary.path))
    assert "sha256" in binary.checksums   # imagechecksum ran after the extra ISOs
    assert extra["Server/source/iso/Demo-Server-src-everything.iso"].arch == "src"
    # checksum files beside it, as for every ISO
    assert os.path.exists(os.path.join(top, binary.path + ".SHA256SUM"))


def test_a_failing_failable_arch_gives_finished_incomplete(universe, tmp_path):
    code, topdir = run(tmp_path, universe, """
extra_isos = {
    "^Server$": [{
        "include_variants": [],
        "skip_src": True,
        "failable_arches": ["x86_64"],
        "extra_files": [{"scm": "file", "repo": "", "file": "no-such-file"}],
    }],
}
""")
    assert code == 4
    assert open(os.path.join(topdir, "STATUS")).read() == "FINISHED_INCOMPLETE\n"
    deliverables = json.load(open(os.path.join(topdir, "logs", "global",
                                               "deliverables.json")))
    assert deliverables["failed"] == {"extra_iso": [["Server", "x86_64", None]]}
    (detail,) = deliverables["failed_details"]
    assert "extra file no-such-file matches no file" in detail["error"]
    # no source ISO (skip_src) and the normal DVD is there
    cid = os.path.basename(topdir)
    for sub in ("x86_64", "source"):
        isos = [f for f in os.listdir(os.path.join(topdir, "compose", "Server", sub, "iso"))
                if f.endswith(".iso")]
        assert isos and all(f.startswith(cid) for f in isos), isos


def test_extra_iso_of_a_bootable_variant_carries_the_installer_for_its_own_volume_id(
        universe, tmp_path):
    # the repos package set holds what some variant asks for: Server asks for the installer
    code, topdir = run(tmp_path, universe, """
buildinstall_method = "lorax"
buildinstall_skip = [("^(?!Server$)", {"*": True})]
additional_packages = [("^Server$", {"*": ["demo-installer"]})]
extra_isos = {"^Server$": [{"include_variants": ["Workstation"], "skip_src": True,
                            "filename": "{release_short}-{variant}-{arch}-everything.iso",
                            "volid": "{release_short}-{arch}-everything"}]}
""")
    assert code == 0
    top = os.path.join(topdir, "compose")
    iso = os.path.join(top, "Server", "x86_64", "iso", "Demo-Server-x86_64-everything.iso")
    files = manifest(iso)
    assert {"/isolinux/isolinux.bin", "/images/efiboot.img", "/images/install.img",
            "/EFI/BOOT/BOOTX64.EFI", "/Workstation/repodata/repomd.xml"} <= files
    assert not [f for f in files if f.endswith("boot.iso")]
    report = subprocess.run(["xorriso", "-indev", iso, "-report_el_torito", "plain"],
                            capture_output=True, text=True, check=True).stdout
    assert "El Torito img path :   1  /isolinux/isolinux.bin" in report
    assert "El Torito img path :   2  /images/efiboot.img" in report
    assert isomod.check_md5(iso)
    images = productmd.images.Images()
    images.load(os.path.join(top, "metadata", "images.json"))
    (img,) = [i for i in images.images["Server"]["x86_64"] if i.path.endswith("everything.iso")]
    assert img.bootable and img.type == "dvd"
    assert img.volume_id == "Demo-x86_64-everything"
    # the installer's menus and GRUB look for this ISO's volume id, not the DVD's (Pungi's
    # tweak_configs); the demo compose boots such an ISO in its test phase
    for member in ("/isolinux/isolinux.cfg", "/EFI/BOOT/grub.cfg"):
        out = tmp_path / os.path.basename(member)
        subprocess.run(["xorriso", "-osirrox", "on", "-indev", iso, "-extract", member,
                        str(out)], check=True, capture_output=True)
        text = out.read_text()
        assert "LABEL=Demo-x86_64-everything" in text, (member, text)
        assert "LABEL=Demo-1.0" not in text
    efi = tmp_path / "BOOTX64.EFI"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", iso, "-extract",
                    "/EFI/BOOT/BOOTX64.EFI", str(efi)], check=True, capture_output=True)
    assert b"Demo-x86_64-everything" in efi.read_bytes()
