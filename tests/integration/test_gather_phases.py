"""init -> pkgset -> gather on real RPMs (rpmbuild) and real createrepo_c/libsolv.

The compose here is a small stand-in with the attributes phases use (conf, paths, log, results,
rpms, variants); the units run in dependency order as the scheduler would run them.
"""

import json
import logging
import os
import re
import threading

import pytest

from pungi_like.paths import Paths
from pungi_like.rpmtools.depsolve import Depsolver, Repo
from pungi_like.rpmtools.gathering import gather
from pungi_like.rpmtools import repodata
from pungi_like.universe.rpmbuild import Package, Subpackage
from pungi_like.variants import Group, Variant

pytestmark = pytest.mark.integration

COMPS = """<?xml version="1.0" encoding="UTF-8"?>
<comps>
  <group><id>core</id><name>Core</name><packagelist>
    <packagereq type="mandatory">app</packagereq>
    <packagereq type="mandatory">armonly-data</packagereq>
    <packagereq type="optional">not-in-any-repo</packagereq>
  </packagelist></group>
  <group><id>ha</id><name>HA</name><packagelist>
    <packagereq>hatool</packagereq>
  </packagelist></group>
  <group arch="aarch64"><id>armstuff</id><name>Arm</name><packagelist>
    <packagereq>app</packagereq>
  </packagelist></group>
</comps>
"""


def debug_subs(name):
    return [Subpackage(f"{name}-debuginfo", files={f"/usr/lib/debug/usr/bin/{name}.debug": "d\n"}),
            Subpackage(f"{name}-debugsource", files={f"/usr/src/debug/{name}/{name}.c": "c\n"})]


PACKAGES = [
    Package("bash", files={"/usr/bin/bash": "#!/bin/false\n", "/bin/sh": "#!/bin/false\n"}),
    Package("app", arches=["x86_64", "i686"],
            requires=["libfoo.so.1{so64}", "/usr/share/cfg/base.conf", "/bin/sh"],
            files={"/usr/bin/app": "#!/bin/sh\n"},
            subpackages=[Subpackage("app-doc", arch="noarch", files={"/usr/share/doc/app/README": "r\n"})]
            + debug_subs("app")),
    Package("libfoo", version="2.0", arches=["x86_64", "i686"], provides=["libfoo.so.1{so64}"],
            files={"{libdir}/libfoo.so.1": "lib\n"},
            subpackages=[Subpackage("libfoo-devel", requires=["libfoo = 2.0-1"],
                                    files={"/usr/include/foo.h": "h\n"})] + debug_subs("libfoo")),
    Package("cfg", arch="noarch", files={"/usr/share/cfg/base.conf": "x=1\n"}),
    Package("armonly-data", arch="noarch", exclusivearch=["aarch64"],
            files={"/usr/share/armonly/data": "a\n"}),
    Package("demo-release", arch="noarch", provides=["system-release"],
            files={"/etc/demo-release": "Demo\n"}),
    Package("demo-release-server", arch="noarch", provides=["system-release"],
            files={"/etc/demo-release-server": "Demo Server\n"}),
    # libfoo-devel: built from a source Server carries, but Server has not this binary
    Package("hatool", requires=["app", "libfoo-devel"], files={"/usr/bin/hatool": "#!/bin/sh\n"}),
    Package("broken", requires=["nothing-provides-this >= 3"], files={"/usr/bin/broken": "x\n"}),
]


@pytest.fixture(scope="module")
def rpm_repo(tmp_path_factory):
    from pungi_like.universe.rpmbuild import build_packages
    base = tmp_path_factory.mktemp("rpms")
    build_packages(PACKAGES, base / "repo", workdir=base / "work")
    repodata.createrepo(str(base / "repo"), update=False, log_path=str(base / "createrepo.log"))
    return str(base / "repo")


class Conf:
    """Config stand-in: option defaults from the phases' declarations + overrides."""

    def __init__(self, config_dir, **values):
        from phases import gather as g, init as i, pkgset as p
        self.config_dir = config_dir
        for opt in i.OPTIONS + p.OPTIONS + g.OPTIONS:
            setattr(self, opt.name, opt.default_for({}))
        self.createrepo_checksum = "sha256"
        for key, value in values.items():
            setattr(self, key, value)

    def variant_arch_values(self, name, uid, arch):
        result = []
        for regex, block in getattr(self, name) or []:
            if re.match(regex, uid):
                for key, value in block.items():
                    if key == arch or (key == "*" and arch != "src"):
                        result.append(value)
        return result


class Results:
    def __init__(self):
        self.data = {}

    def put(self, key, value):
        self.data[key] = value

    def get(self, key, default=None):
        return self.data.get(key, default)


class Rpms:
    """Records what pungi_like.metadata.RpmsRecorder.add receives (same signature)."""

    def __init__(self):
        self.entries = []
        self.lock = threading.Lock()

    def add(self, variant_uid, arch, srpm_nevra, nevra, path, sigkey, category):
        with self.lock:
            self.entries.append(dict(variant=variant_uid, arch=arch, nevra=nevra,
                                     srpm_nevra=srpm_nevra, path=path, sigkey=sigkey,
                                     category=category))

    def add_many(self, variant_uid, arch, rows):
        for row in rows:
            self.add(variant_uid, arch, *row)


class FakeCompose:
    def __init__(self, topdir, conf, variants):
        self.conf = conf
        self.paths = Paths(topdir)
        self.log = logging.getLogger("test.compose")
        self.results = Results()
        self.rpms = Rpms()
        self.all_variants = variants

    def get_arches(self):
        return sorted({a for v in self.all_variants for a in v.arches})

    def variants_for_arch(self, arch):
        return [v for v in self.all_variants if arch in v.arches]

    def get_variant(self, uid):
        return next(v for v in self.all_variants if v.uid == uid)

    def adopt_source_date_epoch(self, epoch, origin):
        # the real Compose sets SOURCE_DATE_EPOCH for the whole process; tests keep theirs
        return None


def run_phases(compose):
    from phases.gather import GatherPhase
    from phases.init import InitPhase
    from phases.pkgset import PkgsetPhase
    units = {}
    for phase_cls in (InitPhase, PkgsetPhase, GatherPhase):
        phase = phase_cls(compose)
        assert phase.validate() == []
        for unit in phase.units():
            units[unit.name] = unit
    done, outputs = set(), {}
    while len(done) < len(units):
        ready = [u for name, u in sorted(units.items())
                 if name not in done and all(n in done for n in u.needs)]
        assert ready, f"unsatisfiable needs: {[(n, u.needs) for n, u in units.items() if n not in done]}"
        for unit in ready:
            outputs[unit.name] = unit.run(unit)
            done.add(unit.name)
    return outputs


@pytest.fixture(scope="module")
def composed(rpm_repo, tmp_path_factory):
    top = tmp_path_factory.mktemp("compose")
    cfgdir = tmp_path_factory.mktemp("config")
    (cfgdir / "comps.xml").write_text(COMPS)
    conf = Conf(str(cfgdir), comps_file="comps.xml", pkgset_source="repos",
                pkgset_repos={"*": [os.path.relpath(rpm_repo, cfgdir)]}, gather_method="deps",
                multilib=[("^Server$", {"x86_64": ["runtime"]})],
                filter_packages=[("^Server$", {"*": ["app-doc"]})],
                # the repos package set takes every variant's additional packages, so "broken"
                # is in it for test_broken_dependency_fails_the_unit's variant
                additional_packages=[("^Broken$", {"*": ["broken"]})])
    server = Variant(id="Server", name="Server", type="variant", arches=["x86_64"],
                     groups=[Group("core")])
    ha = Variant(id="HA", name="HA", type="addon", arches=["x86_64"], groups=[Group("ha")],
                 parent=server)
    server.children.append(ha)
    compose = FakeCompose(str(top), conf, [server, ha])
    outputs = run_phases(compose)
    return compose, outputs


def test_gather_workers_give_the_threads_result(rpm_repo, tmp_path_factory, composed,
                                                monkeypatch, caplog):
    """The same compose with the gather units in worker processes (forced: the set is small)
    links the same files and records the same entries, results and package lists. The solver
    host pkgset.global started on the package set repo it wrote is closed unused: the arch
    drops a noarch package (ExclusiveArch), so its repo is not that repo's copy."""
    from phases.gather import GatherPhase

    monkeypatch.setattr(GatherPhase, "use_worker", True)
    compose, outputs = composed
    top = tmp_path_factory.mktemp("compose-workers")
    other = FakeCompose(str(top), compose.conf, compose.all_variants)
    with caplog.at_level(logging.DEBUG):
        assert (json.dumps(run_phases(other), sort_keys=True).replace(str(top), "TOP")
                == json.dumps(outputs, sort_keys=True).replace(compose.paths.topdir, "TOP"))
    assert not [r for r in caplog.records if "solver host" in r.getMessage()]
    assert not getattr(other, "offered_hosts", {})

    def files(c):
        root = c.paths.topdir
        found = {}
        for base, _dirs, names in os.walk(root):
            for name in names:
                path = os.path.join(base, name)
                rel = os.path.relpath(path, root)
                if rel.startswith(("compose/", "work/x86_64/package_list/",
                                   "work/x86_64/gather_result/")):
                    with open(path, "rb") as fh:
                        found[rel] = fh.read().replace(root.encode(), b"TOP")
        return found

    ours, theirs = files(other), files(compose)
    assert ours == theirs and any(k.endswith(".rpm") for k in ours)
    assert other.rpms.entries == compose.rpms.entries
    for uid in ("Server", "Server-HA"):
        assert (other.results.get(("gather", uid, "x86_64")).as_json().replace(str(top), "TOP")
                == compose.results.get(("gather", uid, "x86_64")).as_json().replace(
                    compose.paths.topdir, "TOP"))


def tree_files(compose, *parts):
    root = os.path.join(compose.paths.compose_dir(), *parts)
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def test_unit_names(composed):
    _, outputs = composed
    assert set(outputs) == {"init.global", "init.x86_64", "pkgset.global", "pkgset.x86_64",
                            "gather.Server.x86_64", "gather.Server-HA.x86_64"}


def test_init_writes_filtered_comps_and_repos(composed):
    compose, _ = composed
    paths = compose.paths
    assert os.path.exists(paths.comps_global())
    arch_comps = open(paths.comps("x86_64")).read()
    assert "armstuff" not in arch_comps
    server = open(paths.comps("x86_64", "Server")).read()
    assert "<id>core</id>" in server and "<id>ha</id>" not in server
    ha = open(paths.comps("x86_64", "Server-HA")).read()
    # an addon's comps holds its own groups only (Pungi: parent groups are only allowed as
    # environment references)
    assert "<id>ha</id>" in ha and "<id>core</id>" not in ha
    assert os.path.exists(os.path.join(paths.comps_repo("x86_64", "Server"), "repodata", "repomd.xml"))


def test_pkgset_arch_subset_and_excluded_noarch(composed):
    compose, _ = composed
    pkgset = compose.results.get(("pkgset", "x86_64"))
    names = sorted(pkgset.packages)
    assert "libfoo-2.0-1.i686.rpm" in names            # multilib enabled for Server.x86_64
    assert "armonly-data-1.0-1.noarch.rpm" not in names
    assert "armonly-data-1.0-1.src.rpm" not in names
    assert "app-1.0-1.src.rpm" in names
    log = open(compose.paths.log_file("global", "excluding-arch")).read()
    assert "armonly-data-0:1.0-1.noarch" in log and "ExclusiveArch: aarch64" in log
    assert os.path.exists(os.path.join(pkgset.repo_path, "repodata", "repomd.xml"))
    assert os.path.exists(os.path.join(compose.paths.pkgset_download_dir(), "app-1.0-1.x86_64.rpm"))


def test_gather_server_tree(composed):
    compose, _ = composed
    pkgs = tree_files(compose, "Server", "x86_64", "os", "Packages")
    assert pkgs == ["app-1.0-1.x86_64.rpm", "bash-1.0-1.x86_64.rpm", "cfg-1.0-1.noarch.rpm",
                    "demo-release-server-1.0-1.noarch.rpm", "libfoo-2.0-1.i686.rpm",
                    "libfoo-2.0-1.x86_64.rpm",
                    # moved in from the addon (see test_gather_addon_drops_parent_packages)
                    "libfoo-devel-2.0-1.x86_64.rpm"]
    assert tree_files(compose, "Server", "x86_64", "debug", "tree", "Packages") == [
        "app-debuginfo-1.0-1.x86_64.rpm", "app-debugsource-1.0-1.x86_64.rpm",
        "libfoo-debuginfo-2.0-1.i686.rpm", "libfoo-debuginfo-2.0-1.x86_64.rpm",
        "libfoo-debugsource-2.0-1.i686.rpm", "libfoo-debugsource-2.0-1.x86_64.rpm"]
    assert "app-1.0-1.src.rpm" in tree_files(compose, "Server", "source", "tree", "Packages")


def test_gather_addon_drops_parent_packages(composed):
    compose, _ = composed
    # as in Pungi, an addon's packages sit directly in its directory (no Packages/ level)
    assert [f for f in tree_files(compose, "Server", "x86_64", "os", "addons", "HA")
            if f.endswith(".rpm")] == ["hatool-1.0-1.x86_64.rpm"]
    # and so are its sources (Pungi's packages("src", addon) = source/tree/addons/<id>)
    ha_sources = [f for f in tree_files(compose, "Server", "source", "tree", "addons", "HA")
                  if f.endswith(".rpm")]
    assert ha_sources == ["hatool-1.0-1.src.rpm"]
    assert not os.path.exists(os.path.join(compose.paths.compose_dir(), "Server", "source",
                                           "tree", "addons", "HA", "Packages"))
    # hatool needs libfoo-devel, built from libfoo whose source Server carries: as in Pungi, a
    # package that came into an addon only that way (not asked for) moves to the parent
    entries = {(e["variant"], e["nevra"]) for e in compose.rpms.entries}
    assert ("Server", "libfoo-devel-0:2.0-1.x86_64") in entries
    assert ("Server-HA", "libfoo-devel-0:2.0-1.x86_64") not in entries
    server = compose.results.get(("gather", "Server", "x86_64"))
    assert "fulltree-exclude" in server.binary["libfoo-devel-0:2.0-1.x86_64"].flags
    assert "libfoo-devel-0:2.0-1.x86_64" not in compose.results.get(("gather", "Server-HA", "x86_64")).binary
    log = open(compose.paths.log_file("x86_64", "gather-Server-HA")).read()
    assert "Moved to parent Server: libfoo-devel-0:2.0-1.x86_64" in log


def test_rpms_entries(composed):
    compose, _ = composed
    entries = {(e["variant"], e["nevra"]): e for e in compose.rpms.entries}
    app = entries[("Server", "app-0:1.0-1.x86_64")]
    assert app == {"variant": "Server", "arch": "x86_64", "nevra": "app-0:1.0-1.x86_64",
                   "srpm_nevra": "app-0:1.0-1.src", "sigkey": None, "category": "binary",
                   "path": "Server/x86_64/os/Packages/app-1.0-1.x86_64.rpm"}
    assert entries[("Server", "app-0:1.0-1.src")]["category"] == "source"
    assert entries[("Server", "app-debuginfo-0:1.0-1.x86_64")]["path"].startswith("Server/x86_64/debug/tree/")
    assert entries[("Server-HA", "hatool-0:1.0-1.x86_64")]["path"] == \
        "Server/x86_64/os/addons/HA/hatool-1.0-1.x86_64.rpm"


def test_gather_outputs_and_log(composed):
    compose, outputs = composed
    paths = compose.paths
    result = json.load(open(paths.gather_result("x86_64", "Server")))
    flags = {p["nevra"]: p["flags"] for p in result["rpm"]}
    assert flags["libfoo-0:2.0-1.i686"] == ["multilib"]
    assert flags["app-0:1.0-1.x86_64"] == ["input"]
    assert result["missing"] == ["armonly-data", "not-in-any-repo"]   # excluded arch, absent
    rpm_list = open(paths.gather_package_list("x86_64", "Server", "rpm")).read().split()
    # Server's own 6 plus libfoo-devel, moved in from the addon
    assert len(rpm_list) == 7 and all(p.endswith(".rpm") for p in rpm_list)
    log = open(paths.log_file("x86_64", "gather-Server")).read()
    assert "Could not find a match for not-in-any-repo in any configured repo" in log
    assert re.search(r"RPM\(multilib\): .*libfoo-2.0-1.i686.rpm", log)
    assert outputs["gather.Server.x86_64"]["rpm"] == 6
    assert compose.results.get(("gather", "Server", "x86_64")).binary


def test_broken_dependency_fails_the_unit(composed, tmp_path, caplog):
    from phases.gather import GatherPhase
    from pungi_like.errors import PhaseError
    compose, _ = composed
    conf = compose.conf
    variant = Variant(id="Broken", name="Broken", type="variant", arches=["x86_64"], groups=[])
    old = conf.additional_packages
    conf.additional_packages = [("^Broken$", {"*": ["broken"]})]
    try:
        phase = GatherPhase(compose)
        unit = phase.unit("Broken.x86_64", phase.run_unit, variant=variant, arch="x86_64")
        compose.conf.comps_file = None
        with pytest.raises(PhaseError) as exc:
            phase.run_unit(unit)
    finally:
        conf.additional_packages = old
        conf.comps_file = "comps.xml"
    # as in Pungi: one error per package in the compose log, then the failure
    assert str(exc.value) == "Unresolved dependencies detected"
    assert ("Unresolved dependencies for Broken.x86_64 in package broken.x86_64: "
            "['nothing-provides-this >= 3']") in caplog.messages
    log = open(unit.log_path).read()
    assert "Unresolvable dependency nothing-provides-this >= 3 in broken-0:1.0-1.x86_64" in log


def test_file_dep_outside_primary_resolved_from_real_repo(rpm_repo):
    # /usr/share/cfg/base.conf is only in filelists.xml, never in primary
    res = gather([Repo("r", rpm_repo)], "x86_64", packages=["app"])
    assert "cfg" in res.names()
    assert res.binary["cfg-0:1.0-1.noarch"].flags == {"dep"}
    assert os.path.exists(res.binary["cfg-0:1.0-1.noarch"].path)


def test_nodeps_on_real_repo_includes_sources_and_debug(rpm_repo):
    solver = Depsolver([Repo("r", rpm_repo)], "x86_64")
    res = gather(None, "x86_64", packages=["libfoo-devel.x86_64"], method="nodeps", solver=solver)
    assert res.filenames() == ["libfoo-devel-2.0-1.x86_64.rpm"]
    assert res.filenames("source") == ["libfoo-2.0-1.src.rpm"]
    assert res.filenames("debug") == ["libfoo-debuginfo-2.0-1.x86_64.rpm",
                                      "libfoo-debugsource-2.0-1.x86_64.rpm"]
    # without an arch every arch of the package set matches (as Pungi's nodeps does)
    res = gather(None, "x86_64", packages=["libfoo-devel"], method="nodeps", solver=solver)
    assert res.filenames() == ["libfoo-devel-2.0-1.i686.rpm", "libfoo-devel-2.0-1.x86_64.rpm"]
    assert "libfoo-debuginfo-2.0-1.i686.rpm" in res.filenames("debug")


def test_variant_as_lookaside_and_lookaside_repos(rpm_repo, tmp_path):
    cfgdir = tmp_path / "cfg"
    cfgdir.mkdir()
    (cfgdir / "comps.xml").write_text(COMPS)
    conf = Conf(str(cfgdir), comps_file="comps.xml", pkgset_source="repos",
                pkgset_repos={"*": [rpm_repo]}, gather_method="deps",
                additional_packages=[("^Extra$", {"*": ["hatool"]}),
                                     ("^Other$", {"*": ["hatool"]})],
                variant_as_lookaside=[("Extra", "Server")],
                gather_lookaside_repos=[("^Other$", {"x86_64": [rpm_repo]})])
    server = Variant(id="Server", name="Server", type="variant", arches=["x86_64"],
                     groups=[Group("core")])
    extra = Variant(id="Extra", name="Extra", type="variant", arches=["x86_64"],
                    groups=[Group("ha")])
    other = Variant(id="Other", name="Other", type="variant", arches=["x86_64"],
                    groups=[Group("ha")])
    compose = FakeCompose(str(tmp_path / "compose"), conf, [server, extra, other])
    outputs = run_phases(compose)
    assert "gather.Server.x86_64" in [n for n in outputs]
    extra_pkgs = tree_files(compose, "Extra", "x86_64", "os", "Packages")
    # app and its deps come from Server (the lookaside variant): not repeated in Extra
    assert "hatool-1.0-1.x86_64.rpm" in extra_pkgs
    assert "app-1.0-1.x86_64.rpm" not in extra_pkgs
    extra = compose.results.get(("gather", "Extra", "x86_64"))
    assert "app-0:1.0-1.x86_64" in extra.lookaside
    assert os.path.exists(os.path.join(compose.paths.work_dir("x86_64"), "Extra", "lookaside_repo",
                                       "repodata", "repomd.xml"))
    # a lookaside repo holding everything: only the inputs themselves stay out too
    other = compose.results.get(("gather", "Other", "x86_64"))
    assert other.binary == {}
    assert "hatool-0:1.0-1.x86_64" in other.lookaside


def test_require_all_comps_packages(composed):
    from phases.gather import GatherPhase
    from pungi_like.errors import PhaseError
    compose, _ = composed
    server = compose.get_variant("Server")
    compose.conf.require_all_comps_packages = True
    try:
        phase = GatherPhase(compose)
        unit = phase.unit("Server.x86_64", phase.run_unit, variant=server, arch="x86_64")
        with pytest.raises(PhaseError) as exc:
            phase.run_unit(unit)
    finally:
        compose.conf.require_all_comps_packages = False
    # "armonly-data" is excluded from x86_64, "not-in-any-repo" is nowhere
    assert str(exc.value) == ("Packages mentioned in comps do not exist for Server.x86_64: "
                              "armonly-data, not-in-any-repo")


def test_layered_product_drops_addon_packages_but_keeps_their_sources(rpm_repo, tmp_path):
    cfgdir = tmp_path / "cfg"
    cfgdir.mkdir()
    (cfgdir / "comps.xml").write_text(COMPS)
    conf = Conf(str(cfgdir), comps_file="comps.xml", pkgset_source="repos",
                pkgset_repos={"*": [rpm_repo]}, gather_method="deps")
    server = Variant(id="Server", name="Server", type="variant", arches=["x86_64"],
                     groups=[Group("core")])
    ha = Variant(id="HA", name="HA", type="addon", arches=["x86_64"], groups=[Group("ha")],
                 parent=server)
    lp = Variant(id="LP", name="LP", type="layered-product", arches=["x86_64"],
                 groups=[Group("ha")], parent=server)
    server.children += [ha, lp]
    compose = FakeCompose(str(tmp_path / "compose"), conf, [server, ha, lp])
    run_phases(compose)
    lp_result = compose.results.get(("gather", "Server-LP", "x86_64"))
    # hatool is the addon's: the layered product drops the binary, keeps its source (Pungi)
    assert "hatool" not in lp_result.names()
    assert "hatool" in lp_result.names("source")
    assert "hatool" in compose.results.get(("gather", "Server-HA", "x86_64")).names()


def test_gather_workers_take_the_host_pkgset_started(rpm_repo, tmp_path_factory, monkeypatch,
                                                     caplog):
    """When the one arch keeps every package (its package set repo a copy of the global one),
    the gathers in worker processes are forked from the solver host pkgset.global started on
    the global repo once it was written, and give the results of gathers in threads. A
    worker's links are asked for before the unit records the packages and waited for after."""
    from phases.gather import GatherPhase
    from pungi_like.rpmtools import gather_worker

    events = []
    send, receive = gather_worker.GatherWorker.send, gather_worker.GatherWorker.receive

    def sending(self, *request):
        events.append(("send", request[0]))
        return send(self, *request)

    def receiving(self):
        answer = receive(self)
        events.append(("answered", self.pending))
        return answer
    monkeypatch.setattr(gather_worker.GatherWorker, "send", sending)
    monkeypatch.setattr(gather_worker.GatherWorker, "receive", receiving)
    add_many = Rpms.add_many

    def recording(self, *args):
        events.append(("rows", None))
        return add_many(self, *args)
    monkeypatch.setattr(Rpms, "add_many", recording)
    results = {}
    for use_worker in (False, True):
        monkeypatch.setattr(GatherPhase, "use_worker", use_worker)
        top = tmp_path_factory.mktemp(f"compose-whole-{use_worker}")
        cfgdir = tmp_path_factory.mktemp("config-whole")
        (cfgdir / "comps.xml").write_text(COMPS.replace(
            '<packagereq type="mandatory">armonly-data</packagereq>', ""))
        conf = Conf(str(cfgdir), comps_file="comps.xml", pkgset_source="repos",
                    pkgset_repos={"*": [os.path.relpath(rpm_repo, cfgdir)]},
                    gather_method="deps",
                    # the closure takes every multilib package: the arch keeps them all so
                    multilib=[("^Server$", {"x86_64": ["runtime"]})])
        server = Variant(id="Server", name="Server", type="variant", arches=["x86_64"],
                         groups=[Group("core")])
        compose = FakeCompose(str(top), conf, [server])
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            outputs = run_phases(compose)
        taken = [r.getMessage() for r in caplog.records if "solver host" in r.getMessage()]
        assert taken == (["gather x86_64: the solver host pkgset started"] if use_worker else [])
        assert not getattr(compose, "offered_hosts", {})
        assert outputs["gather.Server.x86_64"]["rpm"] > 0
        results[use_worker] = (
            json.dumps(outputs, sort_keys=True).replace(str(top), "TOP"),
            compose.results.get(("gather", "Server", "x86_64")).as_json().replace(str(top), "TOP"))
    assert results[True] == results[False]
    # the link request, the rows while it runs, then its answer (the unit's last request)
    assert events[-4:] == [("answered", 0), ("send", "link"), ("rows", None), ("answered", 0)]


def test_no_solver_host_without_gathers(rpm_repo, tmp_path_factory, monkeypatch):
    """pkgset.global starts no solver host for gathers the compose does not run (its
    scheduler holds no gather unit: ``--just-phase pkgset``, ``--skip-phase gather``); with a
    gather unit it does, and pkgset.<arch> offers it."""
    import types

    from phases.gather import GatherPhase
    from phases.init import InitPhase
    from phases.pkgset import PkgsetPhase

    monkeypatch.setattr(GatherPhase, "use_worker", True)
    for names in ([], ["gather.Server.x86_64"]):
        top = tmp_path_factory.mktemp("compose-no-gathers")
        cfgdir = tmp_path_factory.mktemp("config-no-gathers")
        (cfgdir / "comps.xml").write_text(COMPS.replace(
            '<packagereq type="mandatory">armonly-data</packagereq>', ""))
        conf = Conf(str(cfgdir), comps_file="comps.xml", pkgset_source="repos",
                    pkgset_repos={"*": [os.path.relpath(rpm_repo, cfgdir)]},
                    gather_method="deps", multilib=[("^Server$", {"x86_64": ["runtime"]})])
        server = Variant(id="Server", name="Server", type="variant", arches=["x86_64"],
                         groups=[Group("core")])
        compose = FakeCompose(str(top), conf, [server])
        compose.scheduler = types.SimpleNamespace(units={name: None for name in names})
        pkgset = PkgsetPhase(compose)
        for phase in (InitPhase(compose), pkgset):
            for unit in sorted(phase.units(), key=lambda u: u.name != f"{phase.name}.global"):
                unit.run(unit)
        try:
            assert sorted(getattr(compose, "offered_hosts", {})) == (["x86_64"] if names else [])
        finally:
            pkgset.end_early()
        assert not getattr(compose, "offered_hosts", {})
