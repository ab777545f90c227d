"""Package builds from SRPMs on our builder, driven with the real koji 1.36.1 CLI (issue 11's
"wrong today" list): buildroots recorded per buildArch (list-buildroot, rpminfo, getBuildroot,
listBuildroots, save-failed-tree's look-up), auto-tagging recorded as done by the task owner,
``epoch: None`` for RPMs without an Epoch, kojid's ``failany`` (a failed buildArch cancels its
siblings and fails the build at once), ``koji cancel`` of a build task giving a CANCELED build,
set-task-priority on open tasks, and ``chain-build``.

The build tags hold one real RPM (``brdep``) that every SRPM here BuildRequires, so each
buildroot has a component to list. ``dist-build2`` also has the arch i686, which no builder
here has: its i686 buildArch tasks stay FREE, which is what makes ``failany`` and the
cancellation deterministic (no timing involved).
"""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import sys
import time

import koji
import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
HUB = [sys.executable, "-m", "pungi_like.cli.hub"]
KOJI = os.path.join(os.path.dirname(sys.executable), "koji")

SPEC = """\
Name: {name}
Version: {version}
Release: 1
Summary: {name} test package
License: MIT
{extra}
%description
{name} test package.

%prep
%build
{build}
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {name} > %{{buildroot}}/usr/share/{name}/data

%files
/usr/share/{name}/data
"""


def make_spec(name, version="1.0", buildrequires=(), noarch=True, exclusivearch=None,
              build=""):
    extra = "".join("BuildRequires: %s\n" % br for br in buildrequires)
    if noarch:
        extra += "BuildArch: noarch\n"
    if exclusivearch:
        extra += "ExclusiveArch: %s\n" % exclusivearch
    return SPEC.format(name=name, version=version, extra=extra, build=build)


def rpmbuild(spec_text, workdir, binary=False):
    """SRPM (and with ``binary`` the noarch RPM) of a spec; returns their paths."""
    os.makedirs(workdir, exist_ok=True)
    spec = os.path.join(workdir, "pkg.spec")
    with open(spec, "w", encoding="utf-8") as fh:
        fh.write(spec_text)
    subprocess.run(["rpmbuild", "-ba" if binary else "-bs", "--nodeps", "--quiet",
                    "--define", "_topdir %s" % os.path.join(workdir, "top"), spec],
                   check=True, capture_output=True)
    return sorted(glob.glob(os.path.join(workdir, "top", "SRPMS", "*.rpm"))
                  + glob.glob(os.path.join(workdir, "top", "RPMS", "*", "*.rpm")))


def task_id_of(out):
    return int(out.split("Created task:")[1].split()[0])


def wait_for(what, func, timeout=300):
    """Poll ``func`` until it returns a true value (an upper bound, not a measured time)."""
    end = time.monotonic() + timeout
    while True:
        value = func()
        if value:
            return value
        assert time.monotonic() < end, "gave up waiting for " + what
        time.sleep(0.3)


@pytest.fixture
def build_hub(patient_qhub, tmp_path):
    """``patient_qhub`` with tags, targets, the brdep RPM in the build tags, repos, and builder
    b1 (x86_64; channels default and createrepo)."""
    hub = patient_qhub
    k = hub.koji
    k("add-tag", "dist")
    k("add-tag", "dist-build", "--arches", "x86_64")
    k("add-tag", "dist-build2", "--arches", "x86_64 i686")
    k("add-tag-inheritance", "dist-build2", "dist-build")
    k("add-target", "dist-t", "dist-build", "dist")
    k("add-target", "dist-fa", "dist-build2", "dist")
    k("add-pkg", "--owner", "kojiadmin", "dist-build", "brdep")
    k("add-pkg", "--owner", "kojiadmin", "dist", "goodpkg", "failpkg", "waitpkg", "chaina",
      "chainb")
    k("import", *rpmbuild(make_spec("brdep"), str(tmp_path / "brdep"), binary=True))
    k("tag-build", "dist-build", "brdep-1.0-1")
    hub.add_builder_hosts(names=("b1",), channels=("createrepo",))
    hub.start_builder("b1", capacity=8.0)
    for tag in ("dist-build", "dist-build2"):
        k("regen-repo", "--wait", tag, timeout=300)
    return hub


def test_build_records_buildroots_owner_and_epoch(build_hub, tmp_path):
    hub = build_hub
    s = hub.session()
    srpm = rpmbuild(make_spec("goodpkg", buildrequires=["brdep"]), str(tmp_path / "good"))[0]
    out = hub.koji("build", "dist-t", srpm, "--wait", timeout=600).stdout
    task_id = task_id_of(out)
    build = s.getBuild("goodpkg-1.0-1", strict=True)
    assert build["state"] == koji.BUILD_STATES["COMPLETE"]
    assert build["epoch"] is None                      # the spec has no Epoch
    assert build["task_id"] == task_id

    # one buildroot per buildArch: host, arch, tag, repo, its installed components
    child = [t for t in s.getTaskChildren(task_id) if t["method"] == "buildArch"]
    assert len(child) == 1
    brs = s.listBuildroots(taskID=child[0]["id"])
    assert len(brs) == 1, brs
    br = brs[0]
    repo = s.getRepo("dist-build")
    assert (br["host_name"], br["arch"], br["tag_name"], br["repo_id"]) == \
        ("b1", "x86_64", "dist-build", repo["id"])
    assert br["state"] == koji.BR_STATES["EXPIRED"] and br["br_type"] == 0
    assert s.getBuildroot(br["id"])["task_id"] == child[0]["id"]
    components = hub.koji("list-buildroot", br["id"]).stdout.splitlines()
    assert components == ["Component RPMs:", "brdep-1.0-1.noarch"], components
    built = hub.koji("list-buildroot", "--built", br["id"]).stdout.splitlines()
    assert built == ["Built RPMs:", "goodpkg-1.0-1.noarch", "goodpkg-1.0-1.src"], built
    info = hub.koji("rpminfo", "goodpkg-1.0-1.noarch").stdout
    assert "Buildroot: %d (tag dist-build, arch x86_64, repo %d)" % (br["id"], repo["id"]) \
        in info, info
    assert "Build Host: b1" in info and "Build Task: %d" % child[0]["id"] in info, info
    brdep = s.getRPM("brdep-1.0-1.noarch")
    assert [b["id"] for b in s.listBuildroots(rpmID=brdep["id"])] == [br["id"]]
    used = hub.koji("rpminfo", "--buildroots", "brdep-1.0-1.noarch").stdout.splitlines()
    assert "Used in 1 buildroots:" in used, used
    assert used[-1].split() == [str(br["id"]), "dist-build", "x86_64", "b1"], used
    assert s.getRPM("goodpkg-1.0-1.src")["buildroot_id"] == br["id"]
    # save-failed-tree finds the buildroot of the task (the hub has no save plugin)
    proc = hub.koji("save-failed-tree", child[0]["id"], check=False)
    assert "No buildroots for task" not in proc.stdout, proc.stdout
    assert "saveFailedTree is not supported by this hub" in proc.stderr, proc.stderr

    # the auto-tagging is the task owner's in history, not the builder host's
    hist = hub.koji("list-history", "--build", "goodpkg-1.0-1").stdout
    tagged = [ln for ln in hist.splitlines() if "tagged into dist " in ln]
    assert len(tagged) == 1 and "goodpkg-1.0-1 tagged into dist by kojiadmin" in tagged[0], hist
    assert " by b1" not in hist, hist
    rows = s.queryHistory(tables=["tag_listing"], build="goodpkg-1.0-1")["tag_listing"]
    assert [r["creator_name"] for r in rows] == ["kojiadmin"], rows


def test_failany_and_cancel_of_build_tasks(build_hub, tmp_path):
    hub = build_hub
    s = hub.session()
    # failany: the x86_64 buildArch fails in %build; the i686 one (no i686 builder) would
    # wait for ever: kojid cancels it and fails the parent at once
    srpm = rpmbuild(make_spec("failpkg", buildrequires=["brdep"], noarch=False,
                              build="echo failing on purpose; exit 1"),
                    str(tmp_path / "fail"))[0]
    proc = hub.koji("build", "dist-fa", srpm, "--wait", check=False, timeout=600)
    assert proc.returncode != 0, proc.stdout
    task_id = task_id_of(proc.stdout)
    parent = s.getTaskInfo(task_id)
    assert parent["state"] == koji.TASK_STATES["FAILED"]
    kids = {t["label"]: t for t in s.getTaskChildren(task_id) if t["method"] == "buildArch"}
    assert sorted(kids) == ["i386", "x86_64"], kids
    assert kids["x86_64"]["state"] == koji.TASK_STATES["FAILED"]
    assert kids["i386"]["state"] == koji.TASK_STATES["CANCELED"]
    assert s.getBuild("failpkg-1.0-1")["state"] == koji.BUILD_STATES["FAILED"]
    # the failed buildArch's buildroot is there for save-failed-tree to find
    assert len(s.listBuildroots(taskID=kids["x86_64"]["id"])) == 1

    # cancel: an i686-only package waits in BUILDING (its buildArch has no host)
    srpm = rpmbuild(make_spec("waitpkg", buildrequires=["brdep"], noarch=False,
                              exclusivearch="%{ix86}"), str(tmp_path / "wait"))[0]
    task_id = task_id_of(hub.koji("build", "dist-fa", srpm, "--nowait").stdout)

    def building():
        assert s.getTaskInfo(task_id)["state"] not in (koji.TASK_STATES["FAILED"],
                                                       koji.TASK_STATES["CLOSED"])
        return (s.getBuild("waitpkg-1.0-1") or {}).get("state") == \
            koji.BUILD_STATES["BUILDING"] and s.getTaskChildren(task_id)

    wait_for("the build of waitpkg", building)
    # set-task-priority works on the open parent and the free child (not "closed task")
    proc = hub.koji("set-task-priority", "--priority", "9", "--recurse", task_id)
    assert "closed task" not in proc.stderr, proc.stderr
    assert s.getTaskInfo(task_id)["priority"] == 9
    assert {t["priority"] for t in s.getTaskChildren(task_id)} == {9}
    hub.koji("cancel", task_id)
    build = s.getBuild("waitpkg-1.0-1")
    assert build["state"] == koji.BUILD_STATES["CANCELED"] == 4
    assert build["completion_ts"] is not None
    assert s.getTaskInfo(task_id)["state"] == koji.TASK_STATES["CANCELED"]
    assert {t["state"] for t in s.getTaskChildren(task_id)} == {koji.TASK_STATES["CANCELED"]}
    info = hub.koji("buildinfo", "waitpkg-1.0-1").stdout
    assert "State: CANCELED" in info, info


def _git_repo(path, files):
    """A git repository of ``files`` ({relative path: text}); returns its commit."""
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(path, rel)), exist_ok=True)
        with open(os.path.join(path, rel), "w", encoding="utf-8") as fh:
            fh.write(text)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "x"]):
        subprocess.run(cmd, cwd=path, check=True, env=env, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True,
                          capture_output=True, text=True).stdout.strip()


def _restart_hub(hub, allowed_scms, files_port):
    """Restart the hub (same database and top directory) with ``allowed_scms`` and a plain-HTTP
    /kojifiles listener on ``files_port``; the builders are restarted after it."""
    from pungi_like.buildsvc.hub.server import HubConfig

    hub.stop_builders()
    hub.proc.terminate()
    hub.proc.wait(timeout=30)
    config = HubConfig.load(hub.topdir)
    config.allowed_scms = list(allowed_scms)
    config.save()
    port = int(hub.url.split(":")[2].split("/")[0])
    log = open(os.path.join(hub.tmp, "hub2.log"), "w")
    hub.proc = subprocess.Popen(
        HUB + ["serve", "--topdir", hub.topdir, "--listen", "127.0.0.1:%d" % port,
               "--tls-cert", os.path.join(hub.pki, "server.crt"),
               "--tls-key", os.path.join(hub.pki, "server.key"),
               "--client-ca", os.path.join(hub.pki, "ca.crt"), "--threads", "12",
               "--files-listen", "127.0.0.1:%d" % files_port, "--log-level", "WARNING"],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    for p in (port, files_port):
        wait_for("the hub on port %d" % p, lambda p=p: _connects(p), timeout=60)
    hub.start_builder("b1", capacity=8.0)


def _connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_chain_build_and_downloads_with_the_certs_profile(build_hub, tmp_path):
    import shutil

    hub = build_hub
    gitdir = tmp_path / "git"
    commit = _git_repo(str(gitdir / "pkgs"), {
        "chaina/chaina.spec": make_spec("chaina", buildrequires=["brdep"]),
        # chainb needs chaina: it builds only once chaina is in the build tag's repo
        "chainb/chainb.spec": make_spec("chainb", buildrequires=["chaina"])})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        files_port = sock.getsockname()[1]
    _restart_hub(hub, [":%s/*" % gitdir], files_port)
    k = hub.koji
    k("add-tag", "chain-build", "--arches", "x86_64")
    k("add-tag-inheritance", "--priority", "0", "chain-build", "dist")
    k("add-tag-inheritance", "--priority", "10", "chain-build", "dist-build")
    k("add-target", "chain-t", "chain-build", "dist")
    url = "git+file://%s/pkgs?%%s#%s" % (gitdir, commit)
    proc = k("chain-build", "chain-t", url % "chaina", ":", url % "chainb", "--wait",
             timeout=900)
    task_id = task_id_of(proc.stdout)
    s = hub.session()
    assert s.getTaskInfo(task_id)["state"] == koji.TASK_STATES["CLOSED"]
    kids = {t["label"]: t for t in s.getTaskChildren(task_id)}
    assert sorted(kids) == ["build 0,0", "build 1,0", "wait 1"], kids
    assert kids["wait 1"]["method"] == "waitrepo"
    assert kids["wait 1"]["state"] == koji.TASK_STATES["CLOSED"]
    a = s.getBuild("chaina-1.0-1", strict=True)
    b = s.getBuild("chainb-1.0-1", strict=True)
    assert a["state"] == b["state"] == koji.BUILD_STATES["COMPLETE"]
    assert a["source"] == url % "chaina"
    assert [t["name"] for t in s.listTagged("dist", package="chainb")] == ["chainb"]
    # chainb's buildroot had chaina from the repo the chain waited for
    rpm_b = s.getRPM("chainb-1.0-1.noarch", strict=True)
    assert "chaina-1.0-1.noarch" in k("list-buildroot", rpm_b["buildroot_id"]).stdout

    # list-builds --source is a glob on the build's source
    out = k("list-builds", "--source", "git+file://*", "--quiet").stdout.split()
    assert {x for x in out if x.startswith("chain")} == {"chaina-1.0-1", "chainb-1.0-1"}, out
    assert "goodpkg-1.0-1" not in out and "brdep-1.0-1" not in out
    assert k("list-builds", "--source", "*nothing-like-this*", "--quiet").stdout.strip() == ""

    # downloads with the profile `pungi-like-hub certs` writes (--files-url: plain HTTP)
    pki = tmp_path / "pki"
    pki.mkdir()
    for name in ("ca.crt", "ca.key"):
        shutil.copy(os.path.join(hub.pki, name), pki / name)
    conf = tmp_path / "dl.conf"
    files_url = "http://127.0.0.1:%d/kojifiles" % files_port
    for profile, extra in (("dl", ["--files-url", files_url]), ("dl-https", [])):
        proc = subprocess.run(HUB + ["certs", "--dir", str(pki), "--user", "kojiadmin",
                                     "--koji-config", str(conf), "--profile", profile,
                                     "--url", hub.url, "--topdir", hub.topdir] + extra,
                              capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert "topurl = %s" % files_url in conf.read_text()
    # without --files-url the CLI's downloads cannot verify the private CA: certs says so
    assert "--files-url" in proc.stderr, proc.stderr
    koji_cli = [KOJI, "-c", str(conf)]
    dl = tmp_path / "dl"
    dl.mkdir()
    proc = subprocess.run(koji_cli + ["-p", "dl", "download-build", "chaina-1.0-1"], cwd=dl,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stored = os.path.join(hub.topdir, "packages", "chaina", "1.0", "1", "noarch",
                          "chaina-1.0-1.noarch.rpm")
    with open(stored, "rb") as f1, open(dl / "chaina-1.0-1.noarch.rpm", "rb") as f2:
        assert f1.read() == f2.read()
    arch_task = [t for t in s.getTaskChildren(kids["build 1,0"]["id"])
                 if t["method"] == "buildArch"][0]
    proc = subprocess.run(koji_cli + ["-p", "dl", "download-task", "--logs",
                                      str(arch_task["id"])], cwd=dl,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert os.path.getsize(dl / "chainb-1.0-1.noarch.rpm") == rpm_b["size"]
    assert (dl / "build.noarch.log").exists() or list(dl.glob("build*.log")), os.listdir(dl)
    # the HTTPS topurl, as a check of why: the CLI's download does not use serverca
    https_dir = tmp_path / "dl-https"
    https_dir.mkdir()
    proc = subprocess.run(koji_cli + ["-p", "dl-https", "download-build", "chaina-1.0-1"],
                          cwd=https_dir, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in proc.stderr, proc.stderr
    # the plain listener serves /kojifiles only
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(files_url.replace("/kojifiles", "/kojihub"), timeout=10)
    assert exc.value.code == 404
