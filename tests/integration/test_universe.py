"""The package universe: the rpmbuild-based builder and the demo universe built from it."""

import hashlib
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from pungi_like.universe import ensure_universe
from pungi_like.universe.rpmbuild import Package, Subpackage, generate_spec

pytestmark = pytest.mark.integration

REPO_NS = {"r": "http://linux.duke.edu/metadata/repo"}


def rpmq(path, *args):
    out = subprocess.run(["rpm", "-qp", *args, str(path)], check=True, capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if line]


def qf(path, fmt):
    return rpmq(path, "--qf", fmt)[0]


def repodata(repo_dir):
    root = ET.parse(os.path.join(repo_dir, "repodata", "repomd.xml")).getroot()
    return {d.get("type"): os.path.join(repo_dir, d.find("r:location", REPO_NS).get("href"))
            for d in root.findall("r:data", REPO_NS)}


def load_pool(repo_dir, arch="x86_64"):
    import solv

    pool = solv.Pool()
    if hasattr(pool, "setdisttype"):
        pool.setdisttype(solv.Pool.DISTTYPE_RPM)
    pool.setarch(arch)
    repo = pool.add_repo("universe")
    md = repodata(repo_dir)
    fh = solv.xfopen(md["primary"])
    repo.add_rpmmd(fh, None)
    fh.close()
    fh = solv.xfopen(md["filelists"])
    repo.add_rpmmd(fh, None, solv.Repo.REPO_EXTEND_SOLVABLES)
    fh.close()
    pool.addfileprovides()
    pool.createwhatprovides()
    return pool, repo


# ---------------------------------------------------------------------------- the builder

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from pungi_like.universe.rpmbuild import build_packages

    tmp = tmp_path_factory.mktemp("builder")
    packages = [
        Package("libfoo", "1.2", "3", arches=["x86_64", "i686"], provides=["libfoo.so.1{so64}"],
                files={"{libdir}/libfoo.so.1": "lib\n"},
                subpackages=[
                    Subpackage("libfoo-devel",
                               requires=["libfoo%{?_isa} = %{version}-%{release}"],
                               files={"/usr/include/foo.h": "h\n", "{libdir}/libfoo.so": "x",
                                      "{libdir}/pkgconfig/foo.pc": "Name: foo\n"}),
                    Subpackage("libfoo-doc", arch="noarch",
                               files={"/usr/share/doc/libfoo/README": "r"})]),
        Package("ep", "2.0", epoch=3, arch="noarch", files={"/usr/bin/ep": "#!/bin/sh\necho\n"},
                scripts={"post": "echo hi"}, requires=["libfoo >= 1.0"]),
        Package("exclx", arch="noarch", excludearch=["x86_64"], files={"/usr/share/exclx/a": "a"}),
        Package("onlyx", arches=["x86_64", "i686"], exclusivearch=["x86_64"],
                files={"/usr/share/onlyx/a": "a"}, symlinks={"/usr/bin/onlyx": "../share/onlyx/a"}),
    ]
    out = tmp / "out"
    result = build_packages(packages, out, workdir=tmp / "work")
    return out, result


def test_builder_writes_srpm_and_binaries_flat(built):
    out, result = built
    names = sorted(os.listdir(out))
    assert names == sorted([
        "ep-2.0-1.noarch.rpm", "ep-2.0-1.src.rpm", "exclx-1.0-1.noarch.rpm", "exclx-1.0-1.src.rpm",
        "libfoo-1.2-3.i686.rpm", "libfoo-1.2-3.x86_64.rpm", "libfoo-1.2-3.src.rpm",
        "libfoo-devel-1.2-3.i686.rpm", "libfoo-devel-1.2-3.x86_64.rpm",
        "libfoo-doc-1.2-3.noarch.rpm", "onlyx-1.0-1.src.rpm", "onlyx-1.0-1.x86_64.rpm"])
    assert sorted(os.path.basename(p) for p in result.srpms) == [
        "ep-2.0-1.src.rpm", "exclx-1.0-1.src.rpm", "libfoo-1.2-3.src.rpm", "onlyx-1.0-1.src.rpm"]
    assert [os.path.basename(p) for p in result.by_package["libfoo"]][0] == "libfoo-1.2-3.src.rpm"
    assert len(result.by_package["libfoo"]) == 6
    assert set(result.timings) == {"libfoo-1.2-3", "ep-3:2.0-1", "exclx-1.0-1", "onlyx-1.0-1"}


def test_builder_multilib_sonames_and_libdir(built):
    out, _ = built
    x64, x32 = out / "libfoo-1.2-3.x86_64.rpm", out / "libfoo-1.2-3.i686.rpm"
    assert qf(x64, "%{arch}") == "x86_64" and qf(x32, "%{arch}") == "i686"
    assert "libfoo.so.1()(64bit)" in rpmq(x64, "--provides")
    assert "libfoo.so.1" in rpmq(x32, "--provides")
    assert rpmq(x64, "-l") == ["/usr/lib64/libfoo.so.1"]
    assert rpmq(x32, "-l") == ["/usr/lib/libfoo.so.1"]
    assert "libfoo(x86-32) = 1.2-3" in rpmq(out / "libfoo-devel-1.2-3.i686.rpm", "--requires")
    assert qf(out / "libfoo-devel-1.2-3.x86_64.rpm", "%{sourcerpm}") == "libfoo-1.2-3.src.rpm"
    assert qf(out / "libfoo-doc-1.2-3.noarch.rpm", "%{arch}") == "noarch"


def test_builder_no_automatic_dependencies(built):
    out, _ = built
    # a .pc file would make rpm's generators add /usr/bin/pkg-config; AutoReqProv is off
    requires = rpmq(out / "libfoo-devel-1.2-3.x86_64.rpm", "--requires")
    assert not [r for r in requires if not r.startswith(("rpmlib(", "libfoo("))]


def test_builder_epoch_scripts_modes(built):
    out, _ = built
    ep = out / "ep-2.0-1.noarch.rpm"
    assert qf(ep, "%{epoch}") == "3"
    assert "ep = 3:2.0-1" in rpmq(ep, "--provides")
    assert "libfoo >= 1.0" in rpmq(ep, "--requires")
    assert "/bin/sh" in rpmq(ep, "--requires")  # the %post interpreter
    assert "echo hi" in "\n".join(rpmq(ep, "--scripts"))
    assert rpmq(ep, "--qf", "[%{filemodes:perms} %{filenames}\n]") == ["-rwxr-xr-x /usr/bin/ep"]
    onlyx = out / "onlyx-1.0-1.x86_64.rpm"
    assert "lrwxrwxrwx /usr/bin/onlyx" in rpmq(onlyx, "--qf", "[%{filemodes:perms} %{filenames}\n]")


def test_builder_deterministic_header_fields(built):
    out, _ = built
    for name in os.listdir(out):
        fields = qf(out / name, "%{buildtime} %{buildhost} %{payloadcompressor}")
        assert fields == "1700000000 pungi-like-universe.example.com gzip", name
        mtimes = set(rpmq(out / name, "--qf", "[%{filemtimes}\n]"))
        assert mtimes <= {"1700000000"}, name


def test_builder_arch_restrictions(built):
    out, _ = built
    # rpm keeps ExcludeArch/ExclusiveArch in the SRPM header only
    assert qf(out / "exclx-1.0-1.src.rpm", "[%{excludearch} ]").strip() == "x86_64"
    assert qf(out / "onlyx-1.0-1.src.rpm", "[%{exclusivearch} ]").strip() == "x86_64"
    assert not (out / "onlyx-1.0-1.i686.rpm").exists()


def test_builder_output_read_by_createrepo_c(built):
    import createrepo_c as cr

    out, _ = built
    pkg = cr.package_from_rpm(str(out / "ep-2.0-1.noarch.rpm"))
    assert (pkg.name, pkg.epoch, pkg.version, pkg.release, pkg.arch) == ("ep", "3", "2.0", "1",
                                                                       "noarch")
    assert pkg.rpm_sourcerpm == "ep-2.0-1.src.rpm"
    lib = cr.package_from_rpm(str(out / "libfoo-1.2-3.i686.rpm"))
    assert ("libfoo.so.1", None, None, None, None, False) in lib.provides


def test_builder_reproducible(rpm_factory, tmp_path):
    pkg = Package("repro", "1.0", files={"/usr/bin/repro": "#!/bin/sh\n"},
                  subpackages=[Subpackage("repro-data", arch="noarch",
                                          files={"/usr/share/repro/d": "d"})])
    first = rpm_factory([pkg], outdir=tmp_path / "a")
    second = rpm_factory([pkg], outdir=tmp_path / "b")

    def digests(paths):
        return {os.path.basename(p): hashlib.sha256(open(p, "rb").read()).hexdigest()
                for p in paths}

    assert digests(first.rpms) == digests(second.rpms)


def test_builder_rejects_bad_paths():
    with pytest.raises(ValueError, match="invalid install path"):
        generate_spec(Package("bad", files={"relative/path": "x"}))


# ---------------------------------------------------------------------------- the demo universe

def test_universe_layout(universe):
    assert os.path.isfile(universe.comps_path)
    assert os.path.isfile(os.path.join(universe.repo_dir, "repodata", "repomd.xml"))
    info = universe.info
    assert info["rpm_count"] >= 300 and info["srpm_count"] >= 100
    files = set(os.listdir(universe.repo_dir))
    assert set(info["rpms"]) <= files and set(info["srpms"]) <= files
    # repodata is gzip so PyPI solv (no zstd) reads it; comps is in it
    md = repodata(universe.repo_dir)
    assert md["primary"].endswith(".xml.gz") and "group" in md


def test_universe_repoclosure(universe):
    import solv

    pool, repo = load_pool(universe.repo_dir)
    unresolved = []
    for s in repo.solvables:
        if s.arch in ("src", "nosrc"):
            continue
        for dep in s.lookup_deparray(solv.SOLVABLE_REQUIRES):
            if not str(dep).startswith("rpmlib(") and not pool.whatprovides(dep):
                unresolved.append(f"{s}: {dep}")
    assert unresolved == []


def test_universe_every_binary_has_its_srpm(universe):
    import createrepo_c as cr

    srpms = set(universe.info["srpms"])
    for name in universe.info["rpms"]:
        if name.startswith(("kernel-", "busybox-", "demo-", "libdemoc-")):
            pkg = cr.package_from_rpm(universe.rpm_path(name))
            assert pkg.rpm_sourcerpm in srpms, name


def _solve(pool, names):
    import solv

    jobs = [pool.select(n, solv.Selection.SELECTION_NAME | solv.Selection.SELECTION_PROVIDES)
            .jobs(solv.Job.SOLVER_INSTALL) for n in names]
    solver = pool.Solver()
    problems = solver.solve([j for js in jobs for j in js])
    assert not problems, [str(p) for p in problems]
    return {s.name: s for s in solver.transaction().newsolvables()}


def test_universe_dependency_scenarios(universe):
    pool, _ = load_pool(universe.repo_dir)
    # file dep on a path only filelists.xml knows
    got = _solve(pool, ["demo-dataviewer"])
    assert "demo-data" in got and "libgui" in got and "libdemoc" in got
    # file dep on /usr/bin (in primary), virtual provide with two providers
    got = _solve(pool, ["demo-webapp"])
    assert "demo-python" in got
    assert {"demo-httpd", "demo-lighttpd"} & set(got)
    assert len(pool.whatprovides(pool.Dep("webserver"))) == 2
    # newest of two versions wins
    got = _solve(pool, ["demo-utils-extra"])
    assert got["demo-utils"].evr == "2.1-2"
    # epochs
    got = _solve(pool, ["demo-perl-tools"])
    assert got["demo-perl"].evr == "4:5.36.0-1"
    # the base system resolves and pulls system-release from demo-release
    got = _solve(pool, ["demo-base", "demo-installer"])
    assert {"busybox", "filesystem", "setup", "demo-release", "kernel"} <= set(got)


def test_universe_devel_requires_exact_evr(universe):
    for arch, isa in (("x86_64", "x86-64"), ("i686", "x86-32")):
        path = universe.rpm_path(f"libz1-devel-1.2.13-1.{arch}.rpm")
        assert f"libz1({isa}) = 1.2.13-1" in rpmq(path, "--requires")
    perl_dbg = universe.rpm_path("demo-perl-debuginfo-5.36.0-1.x86_64.rpm")
    assert "demo-perl-debugsource(x86-64) = 4:5.36.0-1" in rpmq(perl_dbg, "--requires")


def test_universe_multilib(universe):
    cats = universe.info["categories"]
    rpms = set(universe.info["rpms"])
    for lib in cats["multilib_libs"]:
        for name in (lib, lib + "-devel", lib + "-debuginfo"):
            arches = {r.rsplit(".", 2)[1] for r in rpms if r.rsplit("-", 2)[0] == name}
            assert arches == {"x86_64", "i686"}, name
    provides32 = rpmq(universe.rpm_path("libz1-1.2.13-1.i686.rpm"), "--provides")
    provides64 = rpmq(universe.rpm_path("libz1-1.2.13-1.x86_64.rpm"), "--provides")
    assert "libz1.so.1" in provides32 and "libz1.so.1()(64bit)" in provides64
    assert "demo-compat32-1.0-1.i686.rpm" in rpms


def test_universe_debug_packages(universe):
    names = set(universe.info["binary_names"])
    assert {"srv-monitor-debuginfo", "srv-monitor-debugsource"} <= names
    assert not any(n.endswith("-debuginfo") and n[:-10] in universe.info["categories"]["noarch"]
                   for n in names)


def test_universe_arch_restrictions(universe):
    cats = universe.info["categories"]
    assert cats["exclusivearch"]["demo-firmware-tool"] == ["x86_64"]
    assert cats["excludearch"]["demo-s390-docs"] == ["x86_64"]
    srpm = universe.rpm_path("demo-s390-docs-1.0-1.src.rpm")
    assert qf(srpm, "[%{excludearch} ]").strip() == "x86_64"
    assert qf(universe.rpm_path("demo-s390-docs-1.0-1.noarch.rpm"), "%{arch}") == "noarch"


def test_universe_kernel(universe):
    kver = universe.kernel_version
    k = universe.info["kernel"]
    path = universe.rpm_path(f"kernel-{k['version']}-{k['release']}.x86_64.rpm")
    files = set(rpmq(path, "-l"))
    assert f"/boot/vmlinuz-{kver}" in files
    for mod in ("fs/isofs/isofs.ko", "fs/squashfs/squashfs.ko", "drivers/block/loop.ko",
                "drivers/cdrom/cdrom.ko", "drivers/scsi/sr_mod.ko", "drivers/scsi/scsi_mod.ko"):
        assert f"/lib/modules/{kver}/kernel/{mod}" in files, mod
    assert f"/lib/modules/{kver}/modules.dep" in files
    assert f"kernel-uname-r({kver})" in rpmq(path, "--provides")
    sizes = dict(line.split(" ", 1)[::-1] for line in
                 rpmq(path, "--qf", "[%{filesizes} %{filenames}\n]"))
    assert int(sizes[f"/boot/vmlinuz-{kver}"]) > 1_000_000


def test_universe_boot_scripts(universe, tmp_path):
    def extract(rpm, member):
        rpm2cpio = subprocess.run(["rpm2cpio", universe.rpm_path(rpm)], check=True,
                                  capture_output=True).stdout
        subprocess.run(["cpio", "-idm", "--quiet", "." + member], input=rpm2cpio, check=True,
                       cwd=tmp_path)
        return (tmp_path / member.lstrip("/")).read_text()

    init = extract("demo-base-1.0-1.x86_64.rpm", "/sbin/init")
    assert "DEMO-BOOT-OK" in init and "poweroff -f" in init and "/proc/mounts" in init
    inst = extract("demo-installer-1.0-1.x86_64.rpm", "/usr/sbin/demo-installer")
    assert "DEMO-INSTALLER-OK" in inst and "poweroff -f" in inst
    for script in ("sbin/init", "usr/sbin/demo-installer"):  # syntax check with busybox sh
        subprocess.run(["busybox", "sh", "-n", str(tmp_path / script)], check=True)
    bb = [r for r in universe.info["rpms"] if r.startswith("busybox-")][0]
    assert "/bin/sh" in rpmq(universe.rpm_path(bb), "--provides")
    listing = rpmq(universe.rpm_path(bb), "--qf", "[%{filenames} -> %{filelinktos}\n]")
    assert "/bin/sh -> busybox" in listing and "/sbin/poweroff -> ../bin/busybox" in listing
    release = universe.rpm_path("demo-release-1-1.noarch.rpm")
    assert "system-release" in rpmq(release, "--provides")
    assert "/etc/os-release" in rpmq(release, "-l")


def test_universe_comps(universe):
    import libcomps

    comps = libcomps.Comps()
    assert comps.fromxml_f(universe.comps_path) == 0
    names = set(universe.info["binary_names"])
    group_ids = {g.id for g in comps.groups}
    assert {"core", "base", "server-tools", "web-server", "workstation-apps", "development",
            "ha", "optional-extras"} == group_ids
    for group in comps.groups:
        for req in group.packages:
            assert req.name in names, f"{group.id}: {req.name}"
    envs = {e.id: [g.name for g in e.group_ids] for e in comps.environments}
    assert set(envs) == {"server-environment", "workstation-environment"}
    assert all(set(groups) <= group_ids for groups in envs.values())
    assert not list(comps.langpacks)
    # Pungi's arch attribute survives in the file (libcomps ignores it)
    text = open(universe.comps_path).read()
    assert '<packagereq type="default" arch="x86_64">kernel</packagereq>' in text


def test_universe_cache_hit_is_fast(universe):
    start = time.monotonic()
    again = ensure_universe(universe.path, quiet=True)
    assert time.monotonic() - start < 1.0
    assert again.info["hash"] == universe.info["hash"]


def test_universe_cli_reuses_cache(universe):
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "pungi_like.universe", "--out", universe.path,
                    "--quiet"], check=True)
    assert time.monotonic() - start < 5.0


def test_universe_failed_build_keeps_previous(universe, tmp_path, monkeypatch):
    import shutil

    from pungi_like.universe import build

    copy = tmp_path / "universe"
    shutil.copytree(universe.path, copy, symlinks=True)
    (tmp_path / ".universe-new-stale").mkdir()  # what a killed build leaves behind

    def boom(*args, **kwargs):
        raise RuntimeError("rpmbuild killed")

    monkeypatch.setattr(build, "build_packages", boom)
    with pytest.raises(RuntimeError):
        ensure_universe(copy, cache_dir=os.path.join(os.path.dirname(universe.path), "kernel"),
                        quiet=True, force=True)
    assert (copy / ".stamp").read_text().strip() == universe.info["hash"]
    assert (copy / "repo" / "repodata" / "repomd.xml").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".universe-")]
