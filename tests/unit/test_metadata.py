"""Manifests and tree metadata: what QA and installers read must load with productmd and carry
the values Pungi would write."""

import hashlib
import json
import os
import threading

import productmd.common
import productmd.compose
import productmd.composeinfo
import productmd.discinfo
import productmd.images
import productmd.rpms
import productmd.treeinfo
import pytest

from pungi_like import metadata as md
from pungi_like.errors import ConfigError
from pungi_like.paths import Paths
from pungi_like.variants import all_variants, load_variants

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
DEMO = os.path.join(REPO_ROOT, "configs", "demo", "variants.xml")
REALWORLD = os.path.join(REPO_ROOT, "..", "shared", "realworld")
needs_realworld = pytest.mark.skipif(not os.path.isdir(REALWORLD),
                                     reason="shared/realworld inputs are not beside the repo")

RELEASE = md.ReleaseInfo(name="Dummy Product", short="DP", version="1.0")


def info_for(cid="DP-1.0-20240101.t.0", ctype="test", label=None, final=False):
    return md.ComposeInfo(id=cid, type=ctype, date="20240101", respin=0, label=label, final=final)


# ---- compose id and labels -----------------------------------------------------------------

def _productmd_id(short, version, rtype, ctype, date, respin, bp=None):
    ci = productmd.composeinfo.ComposeInfo()
    ci.release.short, ci.release.version, ci.release.type = short, version, rtype
    ci.release.is_layered = bp is not None
    if bp:
        ci.base_product.short, ci.base_product.version, ci.base_product.type = bp
    ci.compose.date, ci.compose.type, ci.compose.respin = date, ctype, respin
    return ci.create_compose_id()


@pytest.mark.parametrize("args,bp,expected", [
    (("DP", "1.0", "ga", "production", "20240101", 0), None, "DP-1.0-20240101.0"),
    (("Fedora", "Rawhide", "ga", "nightly", "20170406", 0), None, "Fedora-Rawhide-20170406.n.0"),
    (("DP", "1.0", "ga", "test", "20161013", 4), None, "DP-1.0-20161013.t.4"),
    (("DP", "1.0", "ga", "ci", "20240101", 2), None, "DP-1.0-20240101.ci.2"),
    (("DP", "1.0", "ga", "development", "20240101", 0), None, "DP-1.0-20240101.d.0"),
    (("Fedora", "27", "updates", "nightly", "20171213", 0), None,
     "Fedora-27-updates-20171213.n.0"),
    (("Fedora", "27", "updates-testing", "production", "20171213", 1), None,
     "Fedora-27-updates-testing-20171213.1"),
    (("MYPRODUCT", "2.1", "ga", "test", "20161110", 0), ("RHEL", "7", "ga"),
     "MYPRODUCT-2.1-RHEL-7-20161110.t.0"),
    (("RCMTOOLS", "2.0", "updates", "production", "20240101", 0), ("RHEL", "7", "eus"),
     "RCMTOOLS-2.0-updates-RHEL-7-eus-20240101.0"),
])
def test_compose_id(args, bp, expected):
    kwargs = {}
    if bp:
        kwargs = dict(base_product_short=bp[0], base_product_version=bp[1],
                      base_product_type=bp[2])
    cid = md.compose_id(*args, **kwargs)
    assert cid == expected
    assert cid == _productmd_id(*args, bp=bp)
    # productmd reads date, type and respin back out of the id
    date, ctype, respin = productmd.composeinfo.get_date_type_respin(cid)
    assert (date, respin) == (args[4], args[5])
    if args[3] != "development":  # productmd's id parser predates .d
        assert ctype == args[3]


def test_compose_type_suffix():
    assert [md.compose_type_suffix(t) for t in md.COMPOSE_TYPES] == ["", ".n", ".t", ".ci", ".d"]
    with pytest.raises(ConfigError, match="unknown compose type 'weekly'"):
        md.compose_type_suffix("weekly")


@pytest.mark.parametrize("label,parsed,supported", [
    ("Beta-1.0", ("Beta", "1.0"), False),
    ("RC-1.2", ("RC", "1.2"), True),
    ("Update-3.10", ("Update", "3.10"), True),
    ("SecurityFix-1.0", ("SecurityFix", "1.0"), True),
    ("InternalSnapshot-2.0", ("InternalSnapshot", "2.0"), False),
])
def test_labels(label, parsed, supported):
    assert md.parse_label(label) == parsed
    assert md.is_supported_label(label) is supported
    productmd.composeinfo.verify_label(label)


@pytest.mark.parametrize("label", ["Beta", "Beta-1", "beta-1.0", "GA-1.0", "RC-1.0.1", "RC 1.0", ""])
def test_bad_labels(label):
    with pytest.raises(ConfigError, match=f"Label in unknown format: {label}"):
        md.parse_label(label)
    assert md.is_supported_label(label) is False


# ---- composeinfo.json ----------------------------------------------------------------------

def demo_compose(tmp_path):
    top = load_variants(DEMO)
    paths = Paths(tmp_path / "DP-1.0-20240101.t.0")
    return top, all_variants(top), paths


def test_composeinfo_loads_and_lists_existing_paths_only(tmp_path):
    top, flat, paths = demo_compose(tmp_path)
    server = top["Server"]
    ha = server.child("HighAvailability")
    paths.packages_dir("x86_64", server, create=True)
    paths.packages_dir("x86_64", ha, create=True)
    paths.iso_dir("x86_64", server, create=True)
    paths.source_tree(server, create=True)
    os.makedirs(os.path.join(paths.source_tree(server), "Packages"))
    md.write_composeinfo(paths.metadata_file("composeinfo.json", create=True),
                         compose_info=info_for(label="Beta-1.0"), release=RELEASE,
                         base_product=None, variants=flat, paths=paths)
    ci = productmd.compose.Compose(paths.topdir).info
    assert ci.compose.id == "DP-1.0-20240101.t.0"
    assert (ci.compose.label, ci.compose.final) == ("Beta-1.0", False)
    assert (ci.release.short, ci.release.version, ci.release.type) == ("DP", "1.0", "ga")
    assert sorted(ci.variants.variants) == ["Everything", "Server", "Workstation"]
    srv = ci.variants["Server"]
    assert srv.paths.os_tree == {"x86_64": "Server/x86_64/os"}
    assert srv.paths.packages == {"x86_64": "Server/x86_64/os/Packages"}
    assert srv.paths.isos == {"x86_64": "Server/x86_64/iso"}
    # source paths sit under the binary arch key
    assert srv.paths.source_tree == {"x86_64": "Server/source/tree"}
    assert srv.paths.source_packages == {"x86_64": "Server/source/tree/Packages"}
    # no directory, no key
    assert srv.paths.debug_tree == {} and srv.paths.images == {} and srv.paths.source_isos == {}
    assert ci.variants["Workstation"].paths.os_tree == {}
    addon = ci.variants["Server-HighAvailability"]
    assert (addon.type, addon.parent.uid) == ("addon", "Server")
    # Pungi's addon layout: packages directly in the addon's tree, which sits in the parent's
    assert addon.paths.packages == {"x86_64": "Server/x86_64/os/addons/HighAvailability"}
    assert addon.paths.repository == {"x86_64": "Server/x86_64/os/addons/HighAvailability"}
    assert addon.paths.os_tree == {"x86_64": "Server/x86_64/os"}
    assert addon.paths.source_tree == {"x86_64": "Server/source/tree"}
    assert "Server-optional" in [v.uid for v in srv.get_variants()]
    raw = json.loads(open(paths.metadata_file("composeinfo.json")).read())
    assert raw["header"] == {"type": "productmd.composeinfo", "version": "1.2"}
    # children flattened under their UID, parents list child ids
    assert raw["payload"]["variants"]["Server"]["variants"] == ["HighAvailability", "optional"]
    assert "Server-optional" in raw["payload"]["variants"]
    assert "isos" not in raw["payload"]["variants"]["Workstation"]["paths"]


@needs_realworld
def test_composeinfo_matches_pungis_for_the_same_tree(tmp_path):
    """Recreate the directories of Pungi's DP-1.0-20161013.t.4 fixture; our variants block must
    equal the one Pungi wrote."""
    fixture = os.path.join(REALWORLD, "productmd", "pungi-fixtures", "DP-1.0-20161013.t.4")
    with open(os.path.join(fixture, "compose", "metadata", "composeinfo.json")) as fh:
        theirs = json.load(fh)["payload"]
    top = load_variants(os.path.join(REALWORLD, "pungi-configs", "pungi-4.3.6-testdata", "tests",
                                     "data", "dummy-variants.xml"),
                        tree_variants=["Client", "Server"])
    paths = Paths(tmp_path / theirs["compose"]["id"])
    for var in theirs["variants"].values():
        for by_arch in var["paths"].values():
            for rel in by_arch.values():
                os.makedirs(os.path.join(paths.compose_dir(), rel), exist_ok=True)
    c = theirs["compose"]
    info = md.ComposeInfo(id=c["id"], type=c["type"], date=c["date"], respin=c["respin"])
    out = tmp_path / "composeinfo.json"
    md.write_composeinfo(out, compose_info=info, release=RELEASE, base_product=None,
                         variants=top, paths=paths)
    ours = json.loads(out.read_text())["payload"]
    assert ours["variants"] == theirs["variants"]
    assert ours["compose"] == theirs["compose"]
    assert ours["release"] == theirs["release"]


def test_composeinfo_layered(tmp_path):
    path = tmp_path / "v.xml"
    path.write_text("""<variants>
  <variant id="Gluster" name="Gluster Layered Product" type="layered-product">
    <release name="Gluster" version="2.3" short="Gluster"/>
    <arches><arch>x86_64</arch></arches>
  </variant>
  <variant id="Server" name="Server" type="variant">
    <arches><arch>x86_64</arch></arches>
    <variants><ref id="Gluster"/></variants>
  </variant>
</variants>""")
    top = load_variants(path)
    paths = Paths(tmp_path / "c")
    release = md.ReleaseInfo("My Product", "MYPRODUCT", "2.1", "ga", False, True)
    base = md.BaseProductInfo("Red Hat Enterprise Linux", "RHEL", "7", "ga")
    cid = md.compose_id("MYPRODUCT", "2.1", "ga", "test", "20161110", 0, "RHEL", "7", "ga")
    md.write_composeinfo(paths.metadata_file("composeinfo.json", create=True),
                         compose_info=info_for(cid), release=release, base_product=base,
                         variants=top, paths=paths)
    ci = productmd.compose.Compose(paths.topdir).info
    assert ci.release.is_layered and ci.base_product.short == "RHEL"
    assert ci.compose.id == "MYPRODUCT-2.1-RHEL-7-20161110.t.0"
    lp = ci.variants["Server-Gluster"]
    assert (lp.type, lp.release.short, lp.release.version) == ("layered-product", "Gluster", "2.3")


# ---- rpms.json -----------------------------------------------------------------------------

def test_rpms_recorder_pungi_rules(tmp_path):
    rec = md.RpmsRecorder()
    srpm = "bash-5.2-1.src"
    for arch in ("x86_64", "s390x"):
        rec.add("Server", arch, srpm, f"bash-5.2-1.{arch}",
                f"Server/{arch}/os/Packages/b/bash-5.2-1.{arch}.rpm", "A1B2C3D4", "binary")
    rec.add("Server", "x86_64", srpm, "bash-debuginfo-5.2-1.x86_64",
            "Server/x86_64/debug/tree/Packages/b/bash-debuginfo-5.2-1.x86_64.rpm", None, "debug")
    # added once with arch src: recorded under every binary arch that has bash binaries
    rec.add("Server", "src", srpm, srpm, "Server/source/tree/Packages/b/bash-5.2-1.src.rpm",
            None, "source")
    out = tmp_path / "rpms.json"
    rec.write(out, info_for())
    rpms = productmd.rpms.Rpms()
    rpms.load(str(out))
    assert rpms.compose.id == "DP-1.0-20240101.t.0"
    for arch in ("x86_64", "s390x"):
        entry = rpms["Server"][arch]["bash-0:5.2-1.src"]
        assert entry["bash-0:5.2-1.src"] == {
            "category": "source", "path": "Server/source/tree/Packages/b/bash-5.2-1.src.rpm",
            "sigkey": None}
        assert entry[f"bash-0:5.2-1.{arch}"]["sigkey"] == "a1b2c3d4"  # lower-cased
    assert rpms["Server"]["x86_64"]["bash-0:5.2-1.src"][
        "bash-debuginfo-0:5.2-1.x86_64"]["category"] == "debug"
    assert "src" not in rpms["Server"]
    assert len(rec.entries()) == 5


def test_rpms_recorder_accepts_rpm_srpm_order_of_internals_doc(tmp_path):
    rec = md.RpmsRecorder()
    # doc/internals.md spells add(variant, arch, nevra, srpm_nevra, ...); the .src tells them apart
    rec.add("Server", "x86_64", "a-1-1.x86_64", "a-1-1.src", "a.rpm", None, "binary")
    assert rec.entries() == [("Server", "x86_64", "a-0:1-1.src", "a-0:1-1.x86_64", "a.rpm", None,
                              "binary")]


def test_rpms_recorder_rejects_bad_input_at_add():
    rec = md.RpmsRecorder()
    with pytest.raises(ValueError, match="Relative path expected"):
        rec.add("Server", "x86_64", "a-1-1.src", "a-1-1.x86_64", "/abs/a.rpm", None, "binary")
    with pytest.raises(ValueError, match="Invalid category"):
        rec.add("Server", "x86_64", "a-1-1.src", "a-1-1.x86_64", "a.rpm", None, "docs")
    with pytest.raises(ValueError, match="Arch not found"):
        rec.add("Server", "x86-64", "a-1-1.src", "a-1-1.x86_64", "a.rpm", None, "binary")


def test_rpms_recorder_add_many_equals_add():
    """A gather's batch gives the entries and the errors of one add per row; its journal is
    one entry for the tree, whose replay (add_stored) gives those entries again."""
    from pungi_like import reuse_capture

    rows = [("bash-5.2-1.src", "bash-5.2-1.x86_64", "S/x86_64/os/Packages/b/bash.rpm", "A1B2",
             "binary"),
            ("bash-0:5.2-1.src", "bash-debuginfo-0:5.2-1.x86_64", "S/x86_64/debug/b.rpm", None,
             "debug"),
            ("bash-5.2-1.src", "bash-5.2-1.src", "S/source/tree/Packages/b/bash.src.rpm", None,
             "source"),
            ("z-2:1.0-3.noarch", "z-2:1.0-3.src", "S/x86_64/os/Packages/z/z.rpm", "FF", "binary"),
            ("w-1-1.src", "w-1-1.nosrc", "S/source/tree/w.nosrc.rpm", None, "source")]
    one, many = md.RpmsRecorder(), md.RpmsRecorder()
    with reuse_capture.capturing("/nonexistent") as cap_one:
        for row in rows:
            one.add("Server", "x86_64", *row)
    with reuse_capture.capturing("/nonexistent") as cap_many:
        many.add_many("Server", "x86_64", rows)
    assert many.entries() == one.entries() and len(one.entries()) == 5
    assert len(cap_one.journal) == 5 and [op[:3] for op in cap_many.journal] == [
        ("rpms", "Server", "x86_64")]
    replayed = md.RpmsRecorder()
    replayed.add_stored(*cap_many.journal[0][1:])
    assert replayed.entries() == one.entries()
    bad = [(("a-1-1.src", "a-1-1.x86_64", "/abs/a.rpm", None, "binary"), "Relative path"),
           (("a-1-1.src", "a-1-1.x86_64", "a.rpm", None, "docs"), "Invalid category"),
           (("a-1-1.x86_64", "a-1-1.x86_64", "a.rpm", None, "source"), "Invalid category/arch"),
           (("a-1-1.src", "a-1-1.src", "a.rpm", None, "binary"), "Invalid category/arch"),
           (("a-1-1.src", "a.x86_64", "a.rpm", None, "binary"), "Invalid N-E:V-R.A")]
    for row, message in bad:
        for call in (lambda r: md.RpmsRecorder().add("Server", "x86_64", *r),
                     lambda r: md.RpmsRecorder().add_many("Server", "x86_64", [r])):
            with pytest.raises(ValueError, match=message):
                call(row)
    with pytest.raises(ValueError, match="Arch not found"):
        md.RpmsRecorder().add_many("Server", "x86-64", rows[:1])


def test_rpms_recorder_writes_what_productmd_writes(tmp_path):
    """write() renders the entries itself: the file must be productmd's own dump, byte for byte
    (empty, source packages added with arch src, several variants and arches, escapes)."""
    rec = md.RpmsRecorder()
    for i, path in enumerate(["write/empty.json", "write/full.json"]):
        if i:
            for variant in ("Server", "Client-optional"):
                for arch in ("x86_64", "aarch64"):
                    for n in ("bash", "zsh", "a\u00e9\"q"):
                        rec.add(variant, arch, f"{n}-5.2-1.src", f"{n}-1:5.2-1.{arch}",
                                f"{variant}/{arch}/os/Packages/{n}.rpm",
                                "A1B2C3D4" if n == "zsh" else None, "binary")
                        rec.add(variant, arch, f"{n}-5.2-1.src", f"{n}-debuginfo-5.2-1.{arch}",
                                f"{variant}/{arch}/debug/tree/{n}-dbg.rpm", None, "debug")
                    rec.add(variant, "src", "bash-5.2-1.src", "bash-5.2-1.src",
                            f"{variant}/source/tree/Packages/bash.src.rpm", "ABCD", "source")
        out = tmp_path / path
        out.parent.mkdir(exist_ok=True)
        rec.write(out, info_for())
        assert out.read_text() == md._dump(rec.to_productmd(info_for()))
    rpms = productmd.rpms.Rpms()
    rpms.load(str(out))
    assert rpms["Client-optional"]["aarch64"]["bash-0:5.2-1.src"]["bash-0:5.2-1.src"] == {
        "category": "source", "path": "Client-optional/source/tree/Packages/bash.src.rpm",
        "sigkey": "abcd"}


def test_rpms_recorder_threads(tmp_path):
    rec = md.RpmsRecorder()

    def work(n):
        for i in range(50):
            rec.add("Server", "x86_64", f"p{n}-{i}-1.src", f"p{n}-1:{i}-1.x86_64",
                    f"Server/x86_64/os/Packages/p/p{n}-{i}-1.x86_64.rpm", None, "binary")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rec.write(tmp_path / "rpms.json", info_for())
    rpms = productmd.rpms.Rpms()
    rpms.load(str(tmp_path / "rpms.json"))
    assert len(rpms["Server"]["x86_64"]) == 400
    assert rpms["Server"]["x86_64"]["p3-0:7-1.src"]["p3-1:7-1.x86_64"]["category"] == "binary"


# ---- images.json ---------------------------------------------------------------------------

def test_images_recorder(tmp_path, monkeypatch):
    paths = Paths(tmp_path / "c")
    iso = os.path.join(paths.iso_dir("x86_64", "Server", create=True), "DP-Server-dvd1.iso")
    with open(iso, "wb") as fh:
        fh.write(b"\0" * 4096)
    os.utime(iso, (2_000_000_000, 2_000_000_000))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    digest = hashlib.sha256(b"\0" * 4096).hexdigest()
    img = md.make_image(iso, paths.compose_dir(), type="dvd", format="iso", arch="x86_64",
                        bootable=True, implant_md5="0" * 32, volume_id="DP-1.0 Server.x86_64",
                        subvariant="Server", checksums={"sha256": digest})
    rec = md.ImagesRecorder()
    assert not rec.has_images()
    rec.add("Server", "x86_64", img)
    assert rec.has_images()
    src_iso = os.path.join(paths.iso_dir("src", "Server", create=True), "DP-Server-source.iso")
    with open(src_iso, "wb") as fh:
        fh.write(b"src")
    src = md.make_image(src_iso, paths.compose_dir(), type="dvd", format="iso", arch="src",
                        subvariant="Server")
    src.add_checksum(None, "sha256", hashlib.sha256(b"src").hexdigest())
    rec.add("Server", "x86_64", src)  # source images under the binary arch key
    rec.write(paths.metadata_file("images.json", create=True), info_for())
    images = productmd.images.Images()
    images.load(paths.metadata_file("images.json"))
    got = sorted(images["Server"]["x86_64"], key=lambda i: i.path)
    assert [i.path for i in got] == ["Server/source/iso/DP-Server-source.iso",
                                     "Server/x86_64/iso/DP-Server-dvd1.iso"]
    dvd = got[1]
    assert (dvd.size, dvd.mtime, dvd.bootable, dvd.checksums) == (
        4096, 1700000000, True, {"sha256": digest})  # mtime clamped to SOURCE_DATE_EPOCH
    assert (dvd.volume_id, dvd.disc_number, dvd.disc_count) == ("DP-1.0 Server.x86_64", 1, 1)
    clash = md.make_image(iso, paths.compose_dir(), type="dvd", format="iso", arch="x86_64",
                          subvariant="Server", checksums={"sha256": "f" * 64})
    with pytest.raises(ValueError, match="UNIQUE_IMAGE_ATTRIBUTES"):
        rec.add("Server", "x86_64", clash)
    with pytest.raises(ValueError, match="invalid value"):
        md.make_image(iso, paths.compose_dir(), type="floppy", format="iso", arch="x86_64")


# ---- .treeinfo, .discinfo, media.repo ------------------------------------------------------

def _repodata(tree, content):
    os.makedirs(os.path.join(tree, "repodata"), exist_ok=True)
    with open(os.path.join(tree, "repodata", "repomd.xml"), "w") as fh:
        fh.write(content)
    return hashlib.sha256(content.encode()).hexdigest()


def test_treeinfo_with_addon(tmp_path):
    top, _flat, paths = demo_compose(tmp_path)
    server = top["Server"]
    ha = server.child("HighAvailability")
    tree = paths.os_tree("x86_64", server, create=True)
    main_sum = _repodata(tree, "<repomd main/>")
    addon_sum = _repodata(paths.os_tree("x86_64", ha, create=True), "<repomd ha/>")
    assert md.write_treeinfo(paths.os_tree("x86_64", ha), release=RELEASE, variant=ha,
                             arch="x86_64", paths=paths) is None  # addons: in the parent's file
    written = md.write_treeinfo(tree, release=RELEASE, variant=server, arch="x86_64",
                                paths=paths, checksum_type="sha256", timestamp=1700000000)
    assert written == os.path.join(tree, ".treeinfo")
    ti = productmd.treeinfo.TreeInfo()
    ti.load(written)
    assert (ti.release.short, ti.release.version, ti.tree.arch) == ("DP", "1.0", "x86_64")
    assert ti.tree.build_timestamp == 1700000000
    var = ti.variants["Server"]
    assert (var.paths.packages, var.paths.repository) == ("Packages", ".")
    addon = var.variants["HighAvailability"]
    assert (addon.uid, addon.type, addon.parent.uid) == ("Server-HighAvailability", "addon",
                                                         "Server")
    assert addon.paths.repository == "addons/HighAvailability"
    assert tuple(ti.checksums.checksums["repodata/repomd.xml"]) == ("sha256", main_sum)
    assert tuple(ti.checksums.checksums["addons/HighAvailability/repodata/repomd.xml"]) == (
        "sha256", addon_sum)
    text = open(written).read()
    assert "[addon-Server-HighAvailability]" in text and "[general]" in text


def test_treeinfo_source_tree_and_conf(tmp_path):
    top, _flat, paths = demo_compose(tmp_path)

    class Conf:
        release_name, release_short, release_version = "Dummy Product", "DP", "1.0"
        release_type, release_internal, treeinfo_version = "ga", False, "1"
        base_product_name = base_product_short = None
        createrepo_checksum = "sha256"

    tree = paths.source_tree(top["Workstation"], create=True)
    _repodata(tree, "<src/>")
    md.write_treeinfo(tree, conf=Conf, variant=top["Workstation"], arch="src", paths=paths,
                      checksum_type="sha256", timestamp=5, all_variants=[])
    ti = productmd.treeinfo.TreeInfo()
    ti.load(os.path.join(tree, ".treeinfo"))
    assert ti.tree.arch == "src" and ti.release.version == "1"  # treeinfo_version wins
    assert ti.variants["Workstation"].paths.packages == "Packages"
    assert "repodata/repomd.xml" in ti.checksums.checksums


def test_treeinfo_layered_product_and_boot_images(tmp_path):
    path = tmp_path / "v.xml"
    path.write_text("""<variants>
  <variant id="Gluster" name="Gluster" type="layered-product">
    <release name="Gluster" version="2.3" short="Gluster"/>
    <arches><arch>x86_64</arch></arches>
  </variant>
  <variant id="Server" name="Server" type="variant">
    <arches><arch>x86_64</arch></arches>
    <variants><ref id="Gluster"/></variants>
  </variant>
</variants>""")
    top = load_variants(path)
    paths = Paths(tmp_path / "c")
    lp = top["Server"].child("Gluster")
    tree = paths.os_tree("x86_64", lp, create=True)
    md.write_treeinfo(tree, release=md.ReleaseInfo("Dummy Product", "DP", "7.4"),
                      variant=lp, arch="x86_64", paths=paths, timestamp=5)
    ti = productmd.treeinfo.TreeInfo()
    ti.load(os.path.join(tree, ".treeinfo"))
    assert (ti.release.short, ti.release.version, ti.release.is_layered) == ("Gluster", "2.3",
                                                                            True)
    assert (ti.base_product.short, ti.base_product.version) == ("DP", "7")

    # boot files from a buildinstall .treeinfo are copied with checksums
    server_tree = paths.os_tree("x86_64", top["Server"], create=True)
    os.makedirs(os.path.join(server_tree, "images", "pxeboot"))
    for rel in ("images/pxeboot/vmlinuz", "images/install.img"):
        with open(os.path.join(server_tree, rel), "w") as fh:
            fh.write(rel)
    bi = productmd.treeinfo.TreeInfo()
    bi.release.name, bi.release.short, bi.release.version = "Dummy Product", "DP", "7.4"
    bi.tree.arch, bi.tree.build_timestamp = "x86_64", 5
    bi.tree.platforms.add("x86_64")
    v = productmd.treeinfo.Variant(bi)
    v.id = v.uid = v.name = "Server"
    v.type = "variant"
    bi.variants.add(v)
    bi.images.images["x86_64"] = {"kernel": "images/pxeboot/vmlinuz"}
    bi.stage2.mainimage = "images/install.img"
    bi_path = tmp_path / "bi.treeinfo"
    bi.dump(str(bi_path))
    md.write_treeinfo(server_tree, release=md.ReleaseInfo("Dummy Product", "DP", "7.4"),
                      variant=top["Server"], arch="x86_64", paths=paths, timestamp=5,
                      buildinstall_treeinfo=str(bi_path), media=(1, 1))
    ti = productmd.treeinfo.TreeInfo()
    ti.load(os.path.join(server_tree, ".treeinfo"))
    assert ti.images.images["x86_64"]["kernel"] == "images/pxeboot/vmlinuz"
    assert ti.stage2.mainimage == "images/install.img"
    assert ti.checksums.checksums["images/install.img"][1] == hashlib.sha256(
        b"images/install.img").hexdigest()
    assert (ti.media.discnum, ti.media.totaldiscs) == (1, 1)


def test_discinfo_and_media_repo(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    stamp = md.write_discinfo(tmp_path, "Dummy Product 1.0", "x86_64")
    md.write_media_repo(tmp_path, "Dummy Product 1.0")
    di = productmd.discinfo.DiscInfo()
    di.load(str(tmp_path / ".discinfo"))
    assert (di.description, di.arch, di.disc_numbers) == ("Dummy Product 1.0", "x86_64", ["ALL"])
    assert di.timestamp == float(stamp)
    repo = (tmp_path / "media.repo").read_text().splitlines()
    assert repo[0] == "[InstallMedia]" and "name=Dummy Product 1.0" in repo
    assert f"mediaid={stamp}" in repo  # both files agree without a given timestamp
    md.write_discinfo(tmp_path, "Dummy Product 1.0", "x86_64", disc_numbers=[1], timestamp=7)
    assert (tmp_path / ".discinfo").read_text() == "7\nDummy Product 1.0\nx86_64\n1\n"


def test_discinfo_description():
    class Conf:
        release_name, release_version = "Dummy Product", "7.4"
        release_discinfo_description = None
        base_product_name = None

    server = load_variants(DEMO)["Server"]
    assert md.discinfo_description(Conf, server, "x86_64") == "Dummy Product 7.4"
    Conf.base_product_name, Conf.base_product_version = "RHEL", "7"
    assert md.discinfo_description(Conf, server, "x86_64") == "Dummy Product 7.4 for RHEL 7"
    Conf.release_discinfo_description = "%(variant_name)s for %(arch)s"
    assert md.discinfo_description(Conf, server, "x86_64") == "Server for x86_64"


# ---- determinism ---------------------------------------------------------------------------

def _write_everything(topdir):
    top = load_variants(DEMO)
    flat = all_variants(top)
    paths = Paths(topdir)
    server = top["Server"]
    tree = paths.os_tree("x86_64", server, create=True)
    _repodata(tree, "<repomd/>")
    info = info_for()
    md.write_composeinfo(paths.metadata_file("composeinfo.json", create=True), compose_info=info,
                         release=RELEASE, base_product=None, variants=flat, paths=paths)
    rpms = md.RpmsRecorder()
    rpms.add("Server", "x86_64", "a-1-1.src", "a-1-1.x86_64", "Server/x86_64/os/Packages/a.rpm",
             None, "binary")
    rpms.write(paths.metadata_file("rpms.json"), info)
    iso = os.path.join(paths.iso_dir("x86_64", server, create=True), "x.iso")
    with open(iso, "wb") as fh:
        fh.write(b"iso")
    images = md.ImagesRecorder()
    images.add("Server", "x86_64", md.make_image(
        iso, paths.compose_dir(), type="dvd", format="iso", arch="x86_64", subvariant="Server",
        checksums={"sha256": hashlib.sha256(b"iso").hexdigest()}))
    images.write(paths.metadata_file("images.json"), info)
    md.write_treeinfo(tree, release=RELEASE, variant=server, arch="x86_64", paths=paths)
    md.write_discinfo(tree, "Dummy Product 1.0", "x86_64")
    md.write_media_repo(tree, "Dummy Product 1.0")
    files = {}
    for root, _dirs, names in os.walk(topdir):
        for name in names:
            full = os.path.join(root, name)
            if name.endswith(".iso"):
                continue
            with open(full, "rb") as fh:
                files[os.path.relpath(full, topdir)] = fh.read()
    return files


def test_source_date_epoch_gives_identical_bytes(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = _write_everything(tmp_path / "a")
    second = _write_everything(tmp_path / "b")
    assert sorted(first) == sorted(second)
    assert {".treeinfo", ".discinfo", "media.repo", "composeinfo.json", "rpms.json",
            "images.json"} <= {os.path.basename(p) for p in first}
    for rel in first:
        assert first[rel] == second[rel], rel
    treeinfo = next(v for k, v in first.items() if k.endswith(".treeinfo")).decode()
    assert "build_timestamp = 1700000000" in treeinfo
    assert next(v for k, v in first.items() if k.endswith(".discinfo")).startswith(b"1700000000\n")
    # and productmd reads the whole compose back
    compose = productmd.compose.Compose(str(tmp_path / "a"))
    assert compose.info.compose.id == compose.rpms.compose.id == compose.images.compose.id


def test_writes_are_atomic_no_temp_left(tmp_path):
    _write_everything(tmp_path / "c")
    leftovers = [n for _r, _d, names in os.walk(tmp_path) for n in names if n.startswith(".tmp-")]
    assert leftovers == []
