"""Draft builds on our builder, driven by the real koji 1.36.1 CLI (issue 11): ``koji build
--draft`` makes a COMPLETE build with the release ``<release>,draft_<id>`` whose RPMs keep their
own release and are drafts; ``listBuilds(draft=...)`` tells them apart; ``koji promote-build``
is refused by the draft_promotion policy for a user who neither owns the build nor holds
``draft-promoter``, and turns the draft into the regular build for its owner, moving its files
(a symlink stays at the draft's place)."""

from __future__ import annotations

import glob
import os
import subprocess

import koji
import pytest

pytestmark = pytest.mark.integration

SPEC = """\
Name: {name}
Version: 1.0
Release: 1
Summary: {name} test package
License: MIT
BuildArch: noarch
{extra}
%description
{name} test package.

%prep
%build
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {name} > %{{buildroot}}/usr/share/{name}/data

%files
/usr/share/{name}/data
"""


def _rpmbuild(name, workdir, binary=False, extra=""):
    os.makedirs(workdir, exist_ok=True)
    spec = os.path.join(workdir, "pkg.spec")
    with open(spec, "w", encoding="utf-8") as fh:
        fh.write(SPEC.format(name=name, extra=extra))
    subprocess.run(["rpmbuild", "-ba" if binary else "-bs", "--nodeps", "--quiet",
                    "--define", "_topdir %s" % os.path.join(workdir, "top"), spec],
                   check=True, capture_output=True)
    return sorted(glob.glob(os.path.join(workdir, "top", "SRPMS", "*.rpm"))
                  + glob.glob(os.path.join(workdir, "top", "RPMS", "*", "*.rpm")))


def test_draft_build_and_promotion(patient_qhub, tmp_path):
    hub = patient_qhub
    k = hub.koji
    k("add-tag", "dist")
    k("add-tag", "dist-build", "--arches", "x86_64")
    k("add-target", "dist-t", "dist-build", "dist")
    k("add-pkg", "--owner", "kojiadmin", "dist-build", "brdep")
    k("add-pkg", "--owner", "kojiadmin", "dist", "draftpkg")
    k("import", *_rpmbuild("brdep", str(tmp_path / "brdep"), binary=True))
    k("tag-build", "dist-build", "brdep-1.0-1")
    hub.add_builder_hosts(names=("b1",), channels=("createrepo",))
    hub.start_builder("b1", capacity=8.0)
    k("regen-repo", "--wait", "dist-build", timeout=300)

    srpm = _rpmbuild("draftpkg", str(tmp_path / "draft"), extra="BuildRequires: brdep\n")[0]
    k("build", "--draft", "--wait", "dist-t", srpm, timeout=600)
    s = hub.session()
    drafts = s.listBuilds(draft=True)
    assert len(drafts) == 1, drafts
    draft = drafts[0]
    assert draft["release"] == "1,draft_%d" % draft["id"], draft
    assert draft["nvr"] == "draftpkg-1.0-1,draft_%d" % draft["id"]
    assert draft["draft"] is True and draft["state"] == koji.BUILD_STATES["COMPLETE"]
    assert [b["nvr"] for b in s.listBuilds(draft=False)] == ["brdep-1.0-1"]
    assert s.getBuild("draftpkg-1.0-1") is None          # the regular NVR stays free
    rpms = s.listRPMs(buildID=draft["id"])
    assert sorted((r["release"], r["arch"], r["draft"]) for r in rpms) == \
        [("1", "noarch", True), ("1", "src", True)], rpms
    draft_dir = os.path.join(hub.topdir, "packages", "draftpkg", "1.0", draft["release"])
    assert os.path.isfile(os.path.join(draft_dir, "noarch", "draftpkg-1.0-1.noarch.rpm"))
    # as Koji, drafts do not count for the next release
    assert s.getNextRelease({"name": "draftpkg", "version": "1.0"}) == "1"
    # the draft was tagged like any build
    assert [b["nvr"] for b in s.listTagged("dist")] == [draft["nvr"]]

    # promotion: the policy refuses a user who neither owns it nor is a draft-promoter
    proc = k("promote-build", draft["nvr"], user="alice", check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "ActionNotAllowed: policy violation (draft_promotion): Only draft-promoter and build "
        "owner can do this via default policy"), proc.stderr
    proc = k("promote-build", "--force", draft["nvr"], user="alice", check=False)
    assert proc.returncode != 0 and "--force requires admin privilege" in proc.stderr
    out = k("promote-build", draft["nvr"]).stdout       # kojiadmin owns it (its task)
    assert out.strip() == "%s has been promoted to draftpkg-1.0-1" % draft["nvr"], out
    build = s.getBuild("draftpkg-1.0-1", strict=True)
    assert build["id"] == draft["id"] and build["draft"] is False
    assert build["promoter_name"] == "kojiadmin" and build["promotion_ts"]
    assert [r["draft"] for r in s.listRPMs(buildID=build["id"])] == [False, False]
    assert [b["nvr"] for b in s.listBuilds(draft=True)] == []
    assert s.getNextRelease({"name": "draftpkg", "version": "1.0"}) == "2"
    new_dir = os.path.join(hub.topdir, "packages", "draftpkg", "1.0", "1")
    assert os.path.isfile(os.path.join(new_dir, "noarch", "draftpkg-1.0-1.noarch.rpm"))
    assert os.path.islink(draft_dir) and \
        os.path.isfile(os.path.join(draft_dir, "noarch", "draftpkg-1.0-1.noarch.rpm"))
    proc = k("call", "promoteBuild", build["id"], check=False)
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "GenericError: Cannot promote build draftpkg-1.0-1. Reason: Not a draft build"), \
        proc.stderr
