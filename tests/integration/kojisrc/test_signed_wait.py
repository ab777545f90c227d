"""koji_event from the config, and waiting for signed copies (signed_packages_retries/_wait).

A build is imported unsigned and tagged into a tag of its own; the compose asks for signed
copies only. With retries, the compose looks again after each wait; a helper thread imports the
signature (the real koji CLI's import-sig, as a signing robot would) as soon as the compose logs
that it waits, so the next look finds the signed copies. Without the signature the compose
fails after its looks, naming the RPMs.
"""

import glob
import os
import shutil
import threading
import time

import pytest

from kojisrc_helpers import demo_config, run_compose, status

pytestmark = pytest.mark.integration

TAG = "demo-1.0-updates"
SIGWAIT_TAG = "sigwait-test"


def picked(compose_dir, tag=TAG):
    """``{N-V-R.A: sigkey or 'unsigned'}`` of the package set's log."""
    log = os.path.join(compose_dir, "logs", "global", f"arch_repo.{tag}.global.log")
    out = {}
    for line in open(log):
        parts = line.split()
        if len(parts) == 3 and parts[2].startswith("/"):
            out[parts[0]] = parts[1]
    return out


@pytest.fixture(scope="module")
def unsigned_build(seeded):
    """A new noarch build, imported unsigned and tagged; ``rpms`` are its local files."""
    from pungi_like.universe.rpmbuild import Package, build_packages

    out = seeded.base / "sigwait"
    res = build_packages([Package("extra-sigwait", "1.0", "1", arch="noarch",
                                  files={"/usr/share/sigwait/README": "signed later\n"})],
                         out / "rpms", workdir=out / "work")
    seeded.hub.koji("import", *(res.srpms + res.rpms))
    seeded.hub.koji("add-tag", SIGWAIT_TAG, "--arches", "x86_64")
    seeded.hub.koji("add-pkg", "--owner", "kojiadmin", SIGWAIT_TAG, "extra-sigwait")
    seeded.hub.koji("call", "tagBuildBypass", SIGWAIT_TAG, "extra-sigwait-1.0-1")
    event = seeded.session.getLastEvent()["id"]
    assert seeded.session.listTagged(SIGWAIT_TAG, event=event)
    return {"rpms": res.srpms + res.rpms, "event": event, "dir": out,
            "nvras": sorted(os.path.basename(p)[:-4] for p in res.srpms + res.rpms)}


def test_config_koji_event_pins_and_the_command_line_wins(seeded, koji_home, universe, tmp_path,
                                                          newer_build):
    conf = demo_config(tmp_path, universe, extra=f"koji_event = {newer_build.event_before}")
    rc, pinned = run_compose(conf, tmp_path / "pinned", "--just-phase", "pkgset")
    assert rc == 0
    assert newer_build.nvr + ".noarch" not in picked(pinned)
    assert newer_build.old_nvr + ".noarch" in picked(pinned)
    later = seeded.session.getLastEvent()["id"]
    rc, overridden = run_compose(conf, tmp_path / "cli", "--just-phase", "pkgset",
                                 "--koji-event", str(later))
    assert rc == 0
    assert newer_build.nvr + ".noarch" in picked(overridden)


def test_signed_copies_that_never_come_fail_after_every_look(seeded, koji_home, universe,
                                                             tmp_path, unsigned_build, capsys):
    key = seeded.key.sigkey
    conf = demo_config(tmp_path, universe, extra=(
        f"sigkeys = ['{key}']\nkoji_event = {unsigned_build['event']}\n"
        "signed_packages_retries = 2\nsigned_packages_wait = 0\n"
        f"pkgset_koji_tag = '{SIGWAIT_TAG}'\npkgset_koji_inherit = False"))
    rc, compose_dir = run_compose(conf, tmp_path / "c", "--just-phase", "pkgset")
    assert rc == 1 and status(compose_dir) == "DOOMED"
    log = open(os.path.join(compose_dir, "logs", "global",
                            f"arch_repo.{SIGWAIT_TAG}.global.log")).read()
    assert log.count("waiting 0 s for signed copies") == 2
    assert "(look 3 of 3)" in log
    err = capsys.readouterr().err
    assert "Unsigned packages:\n" + "\n".join(unsigned_build["nvras"]) in err


def test_signed_copies_that_appear_while_waiting_are_used(seeded, koji_home, universe, tmp_path,
                                                          unsigned_build):
    from pungi_like.buildsvc.seed import rpmsign

    key = seeded.key.sigkey
    conf = demo_config(tmp_path, universe, extra=(
        f"sigkeys = ['{key}']\nkoji_event = {unsigned_build['event']}\n"
        "signed_packages_retries = 120\nsigned_packages_wait = 1\n"
        f"pkgset_koji_tag = '{SIGWAIT_TAG}'\npkgset_koji_inherit = False"))
    target = tmp_path / "c"
    signer_done = threading.Event()
    errors = []

    def signer():
        # sign once the compose says it waits: the first look must have missed them
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                logs = glob.glob(str(target / "*" / "logs" / "global" / "arch_repo.*.log"))
                if logs and "waiting 1 s for signed copies" in open(logs[0]).read():
                    break
                time.sleep(0.2)
            copies = []
            for path in unsigned_build["rpms"]:
                copy = os.path.join(str(tmp_path), os.path.basename(path))
                shutil.copyfile(path, copy)
                copies.append(copy)
            rpmsign(seeded.key, copies)
            for copy in copies:
                seeded.hub.out("import-sig", copy)
        except Exception as exc:  # reported by the test below
            errors.append(exc)
        finally:
            signer_done.set()

    thread = threading.Thread(target=signer, daemon=True)
    thread.start()
    rc, compose_dir = run_compose(conf, target, "--just-phase", "pkgset")
    signer_done.wait(60)
    assert not errors
    assert rc == 0 and status(compose_dir) == "FINISHED"
    got = picked(compose_dir, SIGWAIT_TAG)
    for nvra in unsigned_build["nvras"]:
        assert got[nvra] == key
    log = open(os.path.join(compose_dir, "logs", "global",
                            f"arch_repo.{SIGWAIT_TAG}.global.log")).read()
    assert "waiting 1 s for signed copies of 2 RPM(s) (look 2 of 121)" in log
