"""The demo compose end to end: the driver composes the demo universe into repos and manifests.

One compose is made per test session (module fixture) and every test reads a property of it that
a release engineer or QA relies on.
"""

import configparser
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CONF = os.path.join(ROOT, "configs", "demo", "demo.conf")
DRIVER = [sys.executable, os.path.join(ROOT, "bin", "pungi-like-koji")]


@pytest.fixture(scope="module")
def demo(universe, tmp_path_factory):
    target = tmp_path_factory.mktemp("composes")
    proc = subprocess.run(
        DRIVER + ["--config", DEMO_CONF, "--target-dir", str(target), "--nightly"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=1200)
    composes = [p for p in glob.glob(os.path.join(target, "Demo-1.0-*")) if not os.path.islink(p)]
    assert len(composes) == 1, (proc.stdout, proc.stderr)
    return {"proc": proc, "topdir": composes[0], "target": str(target)}


def load_rpms(demo):
    with open(os.path.join(demo["topdir"], "compose", "metadata", "rpms.json")) as fh:
        return json.load(fh)["payload"]["rpms"]


def nevras(rpms, variant, arch, category=None):
    """{name.arch} of the packages of one variant.arch (optionally one category)."""
    found = set()
    for srpm, entries in rpms.get(variant, {}).get(arch, {}).items():
        for nevra, entry in entries.items():
            if category and entry["category"] != category:
                continue
            m = re.match(r"^(.*)-\d+:[^-]+-[^-]+\.([^.]+)$", nevra)
            found.add(f"{m.group(1)}.{m.group(2)}")
    return found


def test_compose_finishes_with_status_and_id(demo):
    proc = demo["proc"]
    assert proc.returncode == 0, proc.stderr
    topdir = demo["topdir"]
    assert open(os.path.join(topdir, "STATUS")).read() == "FINISHED\n"
    cid = open(os.path.join(topdir, "COMPOSE_ID")).read()
    assert re.fullmatch(r"Demo-1\.0-\d{8}\.n\.0", cid)
    assert os.path.basename(topdir) == cid
    # the final status line, and nothing but warnings on stderr of a non-TTY run
    assert re.search(rf"Compose {re.escape(cid)} FINISHED in \d+ s", proc.stdout)
    assert "Traceback" not in proc.stderr
    link = os.path.join(demo["target"], "latest-Demo-1")
    assert os.readlink(link) == cid


def test_productmd_loads_the_manifests(demo):
    import productmd.compose

    compose = productmd.compose.Compose(os.path.join(demo["topdir"], "compose"))
    variants = compose.info.variants
    assert {"Server", "Workstation", "Everything"} <= set(variants.variants)
    server = variants["Server"]
    assert {v.uid for v in server.variants.values()} == {"Server-optional",
                                                         "Server-HighAvailability"}
    assert server.paths.repository["x86_64"] == "Server/x86_64/os"
    assert server.paths.source_repository["x86_64"] == "Server/source/tree"
    assert compose.rpms.compose.id == compose.info.compose.id
    assert compose.info.compose.type == "nightly"


def test_server_contents_follow_comps_and_dependencies(demo):
    rpms = load_rpms(demo)
    server = nevras(rpms, "Server", "x86_64", "binary")
    # mandatory/default packages of the Server groups
    for pkg in ["filesystem.x86_64", "busybox.x86_64", "demo-base.x86_64", "kernel.x86_64",
                "srv-monitor.x86_64", "demo-httpd.x86_64", "demo-webapp.noarch",
                "acl-tools.x86_64", "srv-dns.noarch", "demo-mta-a.x86_64"]:
        assert pkg in server, pkg
    # dependencies pulled in: a file dep only in filelists, a library
    assert "demo-data.noarch" in server or "demo-dataviewer.x86_64" not in server
    assert "libdemoc.x86_64" in server
    # additional_packages
    assert "demo-utils-extra.noarch" in server
    # filtered, other variants' groups, the addon's and the optional variant's packages
    for pkg in ["demo-mta-b.x86_64", "ws-editor.x86_64", "ha-pacemaker.x86_64",
                "extra-games.x86_64", "demo-s390-docs.noarch"]:
        assert pkg not in server, pkg
    # multilib: the i686 build of a library in the tree, and no i686 kernel
    assert "libdemoc.i686" in server
    assert not any(p.startswith("kernel") and p.endswith(".i686") for p in server)
    # only the newest demo-utils
    entries = [n for s in rpms["Server"]["x86_64"].values() for n in s
               if n.startswith("demo-utils-0:")]
    assert entries and all(":2.1-2." in n for n in entries), entries


def test_arch_exclusions(demo):
    rpms = load_rpms(demo)
    everything = nevras(rpms, "Everything", "x86_64")
    # ExcludeArch: x86_64 (in its SRPM): dropped from the x86_64 package set, and logged
    assert "demo-s390-docs.noarch" not in everything
    log = open(os.path.join(demo["topdir"], "logs/global/excluding-arch.global.log")).read()
    assert "demo-s390-docs" in log
    # ExclusiveArch: x86_64 packages stay
    assert "demo-firmware-tool.x86_64" in everything


def test_addon_and_optional_do_not_repeat_the_parent(demo):
    rpms = load_rpms(demo)
    server = nevras(rpms, "Server", "x86_64", "binary")
    addon = nevras(rpms, "Server-HighAvailability", "x86_64", "binary")
    optional = nevras(rpms, "Server-optional", "x86_64", "binary")
    assert {"ha-pacemaker.x86_64", "ha-corosync.x86_64"} <= addon
    assert "extra-games.x86_64" in optional
    assert not addon & server
    assert not optional & server
    assert not optional & addon


def test_workstation_has_devel_multilib_and_the_additional_i686_package(demo):
    rpms = load_rpms(demo)
    ws = nevras(rpms, "Workstation", "x86_64", "binary")
    assert {"ws-editor.x86_64", "dev-cc.x86_64", "libdemoc-devel.x86_64"} <= ws
    assert "libdemoc-devel.i686" in ws
    assert "demo-compat32.i686" in ws
    assert "srv-monitor.x86_64" not in ws


def test_source_and_debug_packages_are_in_their_trees(demo):
    rpms = load_rpms(demo)
    topdir = demo["topdir"]
    srpms = nevras(rpms, "Server", "x86_64", "source")
    debug = nevras(rpms, "Server", "x86_64", "debug")
    assert "demo-httpd.src" in srpms
    assert "demo-httpd-debuginfo.x86_64" in debug
    for entries in rpms["Server"]["x86_64"].values():
        for nevra, entry in entries.items():
            path = os.path.join(topdir, "compose", entry["path"])
            assert os.path.exists(path), entry["path"]
            if entry["category"] == "source":
                assert entry["path"].startswith("Server/source/tree/Packages/")
            elif entry["category"] == "debug":
                assert entry["path"].startswith("Server/x86_64/debug/tree/Packages/")
            else:
                assert entry["path"].startswith("Server/x86_64/os/Packages/")


def test_repos_trees_and_media_files(demo):
    import productmd.treeinfo

    top = os.path.join(demo["topdir"], "compose")
    for tree in ["Server/x86_64/os", "Server/source/tree", "Workstation/x86_64/os",
                 "Server/x86_64/debug/tree", "Server/x86_64/os/addons/HighAvailability",
                 "Server-optional/x86_64/os"]:
        assert os.path.exists(os.path.join(top, tree, "repodata", "repomd.xml")), tree
    repomd = open(os.path.join(top, "Server/x86_64/os/repodata/repomd.xml")).read()
    assert 'type="group"' in repomd
    ti = productmd.treeinfo.TreeInfo()
    ti.load(os.path.join(top, "Server/x86_64/os/.treeinfo"))
    assert ti.release.short == "Demo" and ti.tree.arch == "x86_64"
    assert "Server" in ti.variants.variants
    # the addon is described in its parent's tree, with the checksum of its repodata
    assert ti.variants["Server"].variants["HighAvailability"].paths.repository == \
        "addons/HighAvailability"
    assert "addons/HighAvailability/repodata/repomd.xml" in ti.checksums.checksums
    discinfo = open(os.path.join(top, "Server/x86_64/os/.discinfo")).read().splitlines()
    assert discinfo[2] == "x86_64" and discinfo[3] == "ALL"
    media = configparser.ConfigParser()
    media.read(os.path.join(top, "Server/x86_64/os/media.repo"))
    assert media["InstallMedia"]["metadata_expire"] == "-1"


def test_every_repo_passes_repoclosure(demo):
    from phases.test import repoclosure

    top = os.path.join(demo["topdir"], "compose")
    server = os.path.join(top, "Server/x86_64/os")
    assert repoclosure([server]) == []
    assert repoclosure([os.path.join(top, "Workstation/x86_64/os")]) == []
    assert repoclosure([os.path.join(top, "Server/x86_64/os/addons/HighAvailability")],
                       [server]) == []
    # the test phase ran it for every variant.arch and logged the result
    logs = glob.glob(os.path.join(demo["topdir"], "logs", "x86_64", "repoclosure-*.log"))
    assert len(logs) >= 4
    assert all("0 unresolved dependencies" in open(p).read() for p in logs)


def test_timeline_shows_variants_overlapping(demo):
    timeline = json.load(open(os.path.join(demo["topdir"], "logs/global/timeline.json")))
    units = [u for u in timeline["units"] if u["variant"] and u["result"] == "ok"]
    overlaps = [(a["unit"], b["unit"]) for a in units for b in units
                if a["variant"] != b["variant"] and a["start"] < b["start"] < a["end"]]
    assert overlaps, "no two units of different variants ran at the same time"
    assert all(u["log"] for u in timeline["units"] if u["phase"] != "metadata")


def test_logs_config_copy_and_unit_records(demo):
    topdir = demo["topdir"]
    assert os.path.exists(os.path.join(topdir, "logs/global/pungi.global.log"))
    assert os.path.exists(os.path.join(topdir, "logs/global/config-copy/demo.conf"))
    # the included file is copied too
    assert os.path.exists(os.path.join(topdir, "logs/global/config-copy/demo_base.conf"))
    dump = json.load(open(os.path.join(topdir, "logs/global/config-dump.global.log")))
    assert dump["release_short"] == "Demo" and dump["createrepo_checksum"] == "sha256"
    record = json.load(open(os.path.join(topdir, "work/global/units/gather.Server.x86_64.json")))
    assert len(record["inputs_hash"]) == 64 and record["outputs"]


@pytest.mark.skipif(not shutil.which("dnf"), reason="Debian's dnf is installed by .ci/setup")
def test_dnf_installs_a_group_from_the_server_repo(demo, tmp_path):
    repo = os.path.join(demo["topdir"], "compose", "Server", "x86_64", "os")
    root = tmp_path / "root"
    root.mkdir()
    proc = subprocess.run(
        ["dnf", "-y", "-q", f"--installroot={root}", "--releasever=1.0", "--nogpgcheck",
         "--disablerepo=*", f"--repofrompath=server,file://{repo}", "--enablerepo=server",
         "--setopt=install_weak_deps=False", "--setopt=reposdir=/nonexistent",
         f"--setopt=cachedir={tmp_path}/cache", "--forcearch=x86_64",
         "install", "@core", "@server-tools"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout
    query = subprocess.run(["rpm", "--root", str(root), "-qa", "--qf", "%{NAME}\n"],
                           stdout=subprocess.PIPE, text=True, check=True)
    installed = set(query.stdout.split())
    assert {"srv-monitor", "srv-firewall", "busybox", "demo-base", "kernel"} <= installed
    # the alternative MTA that Server filters out was not available to dnf
    assert "demo-mta-b" not in installed


def images_by_type(demo):
    import productmd.compose

    compose = productmd.compose.Compose(os.path.join(demo["topdir"], "compose"))
    found = {}
    for variant, arches in compose.images.images.items():
        for arch, images in arches.items():
            for image in images:
                found.setdefault((variant, image.type, image.arch), []).append(image)
    return found


def test_images_json_lists_boot_iso_dvds_and_source_isos(demo):
    import hashlib

    found = images_by_type(demo)
    for variant in ("Server", "Workstation", "Everything"):
        (boot,) = found[(variant, "boot", "x86_64")]
        # the Server's extra ISO is a DVD too (see the extra ISO test)
        (dvd,) = [i for i in found[(variant, "dvd", "x86_64")]
                  if not i.path.endswith("everything.iso")]
        (src,) = found[(variant, "dvd", "src")]
        assert boot.bootable and dvd.bootable and not src.bootable
        assert boot.volume_id == dvd.volume_id == f"Demo-1.0 {variant}.x86_64"
        cid = os.path.basename(demo["topdir"])
        # Pungi's names: disc number always, "source" in the file name, "src" in the volume id
        assert dvd.path == f"{variant}/x86_64/iso/{cid}-{variant}-x86_64-dvd1.iso"
        assert boot.path == f"{variant}/x86_64/iso/{cid}-{variant}-x86_64-boot.iso"
        assert src.path == f"{variant}/source/iso/{cid}-{variant}-source-dvd1.iso"
        assert src.volume_id == f"Demo-1.0 {variant}.src"
        for image in (boot, dvd, src):
            path = os.path.join(demo["topdir"], "compose", image.path)
            digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
            assert image.checksums["sha256"] == digest, image.path
            assert image.size == os.path.getsize(path)
            assert re.fullmatch(r"[0-9a-f]{32}", image.implant_md5)
            assert os.path.exists(path + ".manifest")
    # the addon is on its parent's DVD, the optional variant has no ISO
    (server_dvd,) = [i for i in found[("Server", "dvd", "x86_64")]
                     if not i.path.endswith("everything.iso")]
    manifest = open(os.path.join(demo["topdir"], "compose", server_dvd.path
                                 + ".manifest")).read()
    assert "/addons/HighAvailability/repodata/repomd.xml" in manifest
    assert "/images/install.img" in manifest and "/images/boot.iso" not in manifest
    assert not any(v == "Server-optional" for v, _, _ in found)


def test_every_iso_passes_xorriso_and_checkisomd5(demo):
    isos = glob.glob(os.path.join(demo["topdir"], "compose", "*", "*", "iso", "*.iso"))
    # boot.iso, DVD and source DVD of 3 variants + the livecd ISO, the live_media ISO and the
    # extra ISO
    assert len(isos) == 12
    for iso in isos:
        check = subprocess.run(["checkisomd5", iso], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        assert check.returncode == 0 and "PASS" in check.stdout, iso
        report = subprocess.run(["xorriso", "-indev", iso, "-report_el_torito", "plain"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert report.returncode == 0, report.stdout
        if "source" not in iso:
            assert re.search(r"El Torito boot img :\s+1\s+BIOS\s+y", report.stdout), iso
            assert re.search(r"El Torito boot img :\s+2\s+UEFI\s+y", report.stdout), iso
            assert "MBR isohybrid" in report.stdout and "GPT" in report.stdout


def test_the_test_phase_booted_every_bootable_image_with_bios_and_uefi(demo):
    topdir = demo["topdir"]
    booted = {}
    for record in glob.glob(os.path.join(topdir, "work/global/units/test.boot.*.json")):
        data = json.load(open(record))
        firmware = data["unit"].rsplit(".", 1)[1]
        for path, result in data["outputs"]["booted"].items():
            booted[(path, firmware)] = result["ok"]
    dvds_and_boot = [i.path for key, imgs in images_by_type(demo).items()
                     for i in imgs if i.bootable]
    # boot.iso and DVD of 3 variants, the livecd and live_media ISOs, the extra ISO
    assert len(dvds_and_boot) == 9
    for path in dvds_and_boot:
        assert booted[(path, "bios")] and booted[(path, "uefi")], path
    # image_build's qcow2 boots from disk with UEFI (its only firmware)
    (qcow2,) = images_by_type(demo)[("Server", "qcow2", "x86_64")]
    assert booted[(qcow2.path, "uefi")] and (qcow2.path, "bios") not in booted
    log = open(os.path.join(topdir, "logs/x86_64/test-boot-Server-uefi.x86_64.log")).read()
    assert "DEMO-INSTALLER-OK" in log
    # the live ISO boots its squashfs root, not the installer
    assert re.search(r"DEMO-BOOT-OK root: \S+ on / type (overlay|squashfs)", log)


def test_live_image_from_a_livecd_task_of_the_embedded_service(demo):
    import hashlib

    topdir = demo["topdir"]
    (live,) = images_by_type(demo)[("Server", "live", "x86_64")]
    assert live.bootable and live.format == "iso" and live.subvariant == "Live"
    assert live.path == f"Server/x86_64/iso/{os.path.basename(topdir)}-Server-x86_64-live.iso"
    path = os.path.join(topdir, "compose", live.path)
    assert live.checksums["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    manifest = open(path + ".manifest").read()
    assert "/LiveOS/squashfs.img" in manifest
    # the task the compose started on the build service is recorded
    tasks = os.listdir(os.path.join(topdir, "logs/global/koji-tasks"))
    assert tasks and all(t.isdigit() for t in tasks)
    log = open(glob.glob(os.path.join(topdir, "logs/x86_64/liveimage-Server-Live-*.log"))[0]).read()
    assert "buildImage('Demo-Live'" in log and "CLOSED" in log


def test_package_set_came_from_the_build_service_tag(demo):
    topdir = demo["topdir"]
    event = json.load(open(os.path.join(topdir, "work/global/koji-event")))
    assert isinstance(event["id"], int) and event["id"] > 0
    rpms = load_rpms(demo)
    entry = next(e for s in rpms["Server"]["x86_64"].values() for n, e in s.items()
                 if n.startswith("demo-httpd-0:") and e["category"] == "binary")
    composed = os.path.join(topdir, "compose", entry["path"])
    hub = glob.glob(os.path.join(ROOT, ".cache", "buildsvc", "packages", "demo-httpd", "*", "*",
                                 "x86_64", os.path.basename(composed)))
    assert hub, "the RPM is not in the build service's top directory"
    # linked from the hub's top directory, not copied
    assert os.stat(hub[0]).st_ino == os.stat(composed).st_ino


def test_image_build_live_media_extra_files_and_extra_iso(demo):
    """Issue 10's deliverables of the demo: a qcow2 from an image task, a live ISO from a
    livemedia task, extra files on the Server tree and DVD, one extra ISO; all in images.json
    with checksums that match, all regular files of the compose."""
    import hashlib

    topdir = demo["topdir"]
    top = os.path.join(topdir, "compose")
    found = images_by_type(demo)
    (qcow2,) = found[("Server", "qcow2", "x86_64")]
    assert qcow2.format == "qcow2" and qcow2.subvariant == "Cloud_Base"
    assert qcow2.path == "Server/x86_64/images/Demo-Cloud-Base-1.0-1.x86_64.qcow2"
    (media,) = found[("Workstation", "live", "x86_64")]
    assert media.path == "Workstation/x86_64/iso/Demo-Workstation-Live-x86_64-1.0-1.iso"
    assert media.bootable and media.subvariant == "Workstation_Live"
    extra = [i for i in found[("Server", "dvd", "x86_64")] if i.path.endswith("everything.iso")]
    assert [i.path for i in extra] == ["Server/x86_64/iso/Demo-Server-x86_64-everything.iso"]
    assert extra[0].bootable and extra[0].volume_id == "Demo-x86_64-everything"
    assert extra[0].additional_variants == ["Everything"]
    for image in (qcow2, media, extra[0]):
        path = os.path.join(top, image.path)
        assert os.path.isfile(path) and not os.path.islink(path), image.path
        assert image.size == os.path.getsize(path)
        assert image.checksums["sha256"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    # extra files: on the Server tree, in its extra_files.json, on its DVD and the extra ISO
    assert open(os.path.join(top, "Server/x86_64/os/README.demo")).read().startswith(
        "Demo Linux 1.0")
    listed = json.load(open(os.path.join(top, "metadata", "extra_files.json")))
    files = [f["file"] for f in listed["payload"]["extra_files"]["Server"]["x86_64"]]
    assert files == ["Server/x86_64/os/README.demo"]
    dvd = [i for i in found[("Server", "dvd", "x86_64")] if not i.path.endswith("everything.iso")]
    for iso in (dvd[0], extra[0]):
        manifest = open(os.path.join(top, iso.path) + ".manifest").read()
        assert "/README.demo" in manifest, iso.path
    # tasks of the build service: the livemedia and image tasks were recorded by the compose
    log = open(os.path.join(topdir, "logs/global/pungi.global.log")).read()
    assert re.search(r"livemedia task \d+", log)


def test_report_and_index_of_the_demo_compose_in_the_browser(demo, tmp_path):
    """Issue 14: the demo compose's report.html and its target's index.html open in a real
    headless Chromium with no console errors and no requests beyond the file itself; the
    timeline has one bar per unit of timeline.json (coloured by its result), the images table
    lists every image of images.json with the boot-test results of its boot units."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "web"))
    import browser

    topdir = demo["topdir"]
    cid = os.path.basename(topdir)
    report = os.path.join(topdir, "logs", "global", "report.html")
    timeline = json.load(open(os.path.join(topdir, "logs", "global", "timeline.json")))
    assert timeline["units"]
    text = open(report, encoding="utf-8").read()
    assert "<script" not in text.lower()
    images = json.load(open(os.path.join(topdir, "compose", "metadata", "images.json")))
    expected_images = {}
    for variant, arches in images["payload"]["images"].items():
        for arch, entries in arches.items():
            for image in entries:
                expected_images[image["path"]] = (f"{variant}.{arch}", image)
    boots = {}
    for record in glob.glob(os.path.join(topdir, "work/global/units/test.boot.*.json")):
        data = json.load(open(record))
        firmware = data["unit"].rsplit(".", 1)[1]
        for path, result in data["outputs"]["booted"].items():
            boots.setdefault(path, set()).add(
                "%s: %s" % (firmware, "booted" if result["ok"] else "FAILED"))
    assert boots, "the demo's test phase booted nothing"
    tasks = sorted(int(t) for t in os.listdir(os.path.join(topdir, "logs/global/koji-tasks")))

    with browser.chromium(tmp_path / "profile") as driver:
        driver.get("about:blank")
        browser.requested_urls(driver)
        driver.get("file://" + report)
        assert driver.title == f"{cid}: FINISHED"
        assert browser.console_errors(driver) == []
        assert browser.requested_urls(driver) == ["file://" + report]

        bars = driver.find_elements("css selector", "svg.gantt rect.unit-bar")
        assert len(bars) == len(timeline["units"])
        shown = sorted((b.get_attribute("data-unit"), b.get_attribute("class")) for b in bars)
        wanted = sorted((u["unit"], "unit-bar result-%s%s" % (u["result"], " reused"
                                                               if u.get("reused") else ""))
                        for u in timeline["units"])
        assert shown == wanted

        table = driver.find_element("id", "images").find_element(
            "xpath", "following-sibling::table")
        rows = table.find_elements("css selector", "tr")[1:]
        assert len(rows) == len(expected_images)
        listed = set()
        for row in rows:
            cells = row.find_elements("css selector", "td")
            path = cells[1].text
            variant_arch, image = expected_images[path]
            listed.add(path)
            assert cells[0].text == variant_arch
            assert cells[2].text == image["type"] and cells[3].text == image["format"]
            assert cells[4].text == "{:,}".format(image["size"])
            assert "sha256:" + image["checksums"]["sha256"] in cells[5].text
            # the link leads to the image in the compose
            href = cells[1].find_element("css selector", "a").get_attribute("href")
            assert href.startswith("file://")
            assert os.path.samefile(href[len("file://"):],
                                    os.path.join(topdir, "compose", path)), href
            boot = cells[6].text
            if path in boots:
                assert {line.split(" (")[0] for line in boot.splitlines()} == boots[path], \
                    (path, boot)
            else:
                assert boot == ("not tested" if image["bootable"] else "not bootable"), path
        assert listed == set(expected_images)
        # every bootable image of the demo was booted (9 ISOs with BIOS and UEFI + the qcow2)
        assert sum(1 for p, (_, i) in expected_images.items() if i["bootable"] and p in boots) \
            == sum(1 for _, i in expected_images.values() if i["bootable"])

        # the build service's tasks, with their method and state read from the hub
        task_rows = driver.find_element("id", "tasks").find_element(
            "xpath", "following-sibling::table").find_elements("css selector", "tr")[1:]
        assert [int(r.find_element("css selector", "td").text) for r in task_rows] == tasks
        for row in task_rows:
            _, method, state = [c.text for c in row.find_elements("css selector", "td")]
            assert method and state == "CLOSED", row.text
            # the embedded hub's port is gone once the compose ends: no links to it
            assert not row.find_elements("css selector", "a"), row.text
        command = driver.find_element("css selector", "p.note code").text
        served = re.fullmatch(r"pungi-like-hub serve --topdir (\S+)", command)
        assert served and os.path.samefile(served.group(1),
                                           os.path.join(ROOT, ".cache", "buildsvc")), command
        assert "Nothing failed." in driver.find_element("id", "failures").find_element(
            "xpath", "following-sibling::p").text
        driver.save_screenshot(str(tmp_path / "demo-compose-report.png"))

        index = os.path.join(demo["target"], "index.html")
        driver.get("file://" + index)
        assert browser.console_errors(driver) == []
        assert browser.requested_urls(driver) == ["file://" + index]
        rows = driver.find_elements("css selector", "table tr")[1:]
        assert [r.find_element("css selector", "td").text for r in rows] == [cid]
        assert "FINISHED" in rows[0].text
        rows[0].find_element("link text", "report").click()
        assert driver.title == f"{cid}: FINISHED"
        assert driver.current_url == "file://" + report
        assert browser.console_errors(driver) == []
