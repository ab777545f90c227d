"""Shared set-up of the image/build task tests: an embedded build service (hub + builder on
loopback, TLS, the real koji CLI) seeded with the part of the demo universe the demo kickstarts
need, the demo kickstarts, a git repository of kickstarts for ``--ksurl``, and a QEMU lock.

Seeding only the closure of ``SEED_NAMES`` (not all 344 packages) keeps set-up to seconds.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "builder"))
from builder_testdata import DEMO_BASE_KS, DEMO_LIVE_KS  # noqa: E402

KOJI = os.path.join(os.path.dirname(sys.executable), "koji")
QEMU_LOCK = os.path.join(REPO_ROOT, ".cache", "qemu.lock")
MARKER = "DEMO-BOOT-OK"
#: What the demo kickstarts, runroot and the test builds need from the universe.
SEED_NAMES = ("kernel", "busybox", "demo-base", "filesystem", "/bin/sh")
IMAGE_PACKAGES = ("demo-live", "demo-disk", "demo-appliance", "demo-live-scratch")

#: DEMO_LIVE_KS with its %include expanded: what a user uploads without --ksurl.
SELF_CONTAINED_KS = DEMO_LIVE_KS.replace("%include parts/demo-base.ks\n", DEMO_BASE_KS)


def subset_universe(universe, names, dest):
    """A directory of symlinks to the SRPMs and RPMs of the builds whose binaries an install of
    ``names`` needs (libsolv closure over the universe repo)."""
    from pungi_like.buildsvc.seed import universe_builds
    from pungi_like.rpmtools.headers import read_header
    from pungi_like.rpmtools.rootinstall import resolve_packages

    repo = universe.repo_dir
    paths = resolve_packages(repo, list(names), arch="x86_64")
    srpms = {read_header(p).sourcerpm for p in paths}
    builds = universe_builds(universe)
    os.makedirs(dest, exist_ok=True)
    for srpm in sorted(srpms):
        for f in [srpm] + builds[srpm]:
            os.symlink(os.path.join(repo, f), os.path.join(dest, f))
    return dest


def git_repo(path, files):
    """A git repository at ``path`` with ``files`` ({relative path: text}); returns the commit."""
    os.makedirs(path, exist_ok=True)
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(path, rel)), exist_ok=True)
        with open(os.path.join(path, rel), "w", encoding="utf-8") as fh:
            fh.write(text)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "ks"]):
        subprocess.run(cmd, cwd=path, check=True, env=env, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True,
                          capture_output=True, text=True).stdout.strip()


class Service:
    """An EmbeddedService plus the koji CLI against it."""

    def __init__(self, svc):
        self.svc = svc
        self.topdir = svc.topdir
        self.session = svc.admin_session()

    def koji(self, *args, check=True, timeout=600):
        cmd = [KOJI, "-c", self.svc.koji_config_path, "-p", self.svc.profile] + \
            [str(a) for a in args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError("koji %s failed (%d):\n%s\n%s" % (
                " ".join(map(str, args)), proc.returncode, proc.stdout, proc.stderr))
        return proc

    def wait_repo(self, tag, build=None, timeout=300):
        args = ["wait-repo", tag, "--timeout", str(max(1, timeout // 60))]
        if build:
            args += ["--build", build]
        return self.koji(*args, timeout=timeout + 30)

    def task_children(self, task_id, method=None):
        kids = self.session.getTaskChildren(task_id, request=True)
        return [k for k in kids if method is None or k["method"] == method]


def start_service(tmp_path, universe, allowed_scms=()):
    """Start an embedded service in ``tmp_path`` and seed it; returns (context manager, Service)."""
    from pungi_like.buildsvc.embedded import ADMIN, EmbeddedService
    from pungi_like.buildsvc.hub.server import HubConfig
    from pungi_like.buildsvc.instance import init_hub
    from pungi_like.buildsvc.seed import TagChain, import_universe

    topdir = str(tmp_path / "top")
    config = init_hub(topdir, ADMIN)
    config.allowed_scms = list(allowed_scms)
    config.save()
    assert HubConfig.load(topdir).allowed_scms == list(allowed_scms)
    cm = EmbeddedService(topdir)
    svc = cm.__enter__()
    try:
        service = Service(svc)
        t0 = time.monotonic()
        subset = subset_universe(universe, SEED_NAMES, str(tmp_path / "subset"))
        # the builders are x86_64 hosts: an i686 tag arch would wait for an i686 createrepo
        import_universe(service.session, subset, tags=TagChain(arches="x86_64"))
        for pkg in IMAGE_PACKAGES + ("demo-hello", "demo-needs-missing", "demo-scm"):
            service.session.packageListAdd("demo-1.0-updates", pkg, owner="kojiadmin")
        # a repo of the build tag with everything seeded (an automatic one may predate it)
        service.koji("regen-repo", "demo-1.0-build", "--wait", timeout=300)
        service.seconds = round(time.monotonic() - t0, 1)
    except BaseException:
        cm.__exit__(None, None, None)
        raise
    return cm, service


def boot(image, log_path, **kw):
    """qemu.boot under the tree's QEMU lock (one QEMU at a time)."""
    from pungi_like.media import qemu

    os.makedirs(os.path.dirname(QEMU_LOCK), exist_ok=True)
    with open(QEMU_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return qemu.boot(image, marker=MARKER, timeout=240, log_path=log_path, **kw)


def boot_qcow2_uefi(image, log_path, monkeypatch):
    """qemu.boot attaches disks as raw IDE; a qcow2 goes in as a virtio disk (test-side only)."""
    from pungi_like.media import qemu

    plain = qemu.qemu_cmd

    def qcow2_cmd(*args, **kwargs):
        return [a.replace("format=raw,if=ide", "format=qcow2,if=virtio")
                if a.startswith("file=") else a for a in plain(*args, **kwargs)]

    monkeypatch.setattr(qemu, "qemu_cmd", qcow2_cmd)
    return boot(image, log_path, firmware="uefi", media="disk")
