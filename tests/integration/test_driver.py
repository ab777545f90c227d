"""The driver's failure model, signals, notifications and command line on real composes.

Each test composes the demo universe with a config derived from configs/demo/demo.conf (paths made
absolute), so the composes are real; failures are either real (a missing package set) or come
from a phase module added for the test whose unit raises, which is how a broken image tool would
fail a deliverable.
"""

import json
import os
import re
import subprocess
import sys
import time
import types

import pytest

from phases.base import PhaseBase

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_DIR = os.path.join(ROOT, "configs", "demo")
DRIVER = [sys.executable, os.path.join(ROOT, "bin", "pungi-like-koji")]


def make_config(tmp_path, universe, extra=""):
    """The demo config with absolute paths and without its bootable media (these tests are
    about the driver; the e2e tests make and boot the media), plus ``extra`` lines."""
    text = open(os.path.join(DEMO_DIR, "demo_base.conf")).read()
    text = text.split("# bootable media")[0].split("# the test phase boots")[0]
    repos = open(os.path.join(DEMO_DIR, "demo-repos.conf")).read()
    text += repos.replace("from demo_base import *", "")
    text = text.replace("../../.cache/universe/repo", universe.repo_dir)
    text = text.replace("../../.cache/universe/comps.xml", universe.comps_path)
    text = text.replace('"variants.xml"', repr(os.path.join(DEMO_DIR, "variants.xml")))
    path = tmp_path / "release.conf"
    path.write_text(text + "\n" + extra + "\n")
    return str(path)


def only_compose(target):
    found = [os.path.join(target, d) for d in os.listdir(target)
             if d.startswith("Demo-") and not os.path.islink(os.path.join(target, d))]
    assert len(found) == 1, found
    return found[0]


# ---- a phase whose units fail, added for the test ------------------------------------------

class FailingPhase(PhaseBase):
    name = "failing"

    def units(self):
        return [self.unit(f"{v.uid}.{a}", self._run, variant=v, arch=a,
                          deliverable=("iso", v.uid, a, None), needs=[f"createrepo.{v.uid}.{a}"])
                for v in self.compose.all_variants if v.uid == "Workstation" for a in v.arches]

    def _run(self, unit):
        raise RuntimeError("mkisofs: No space left on device (injected)")


@pytest.fixture
def failing_phase(monkeypatch):
    import phases

    module = types.ModuleType("phases.failing")
    module.OPTIONS = []
    module.FailingPhase = FailingPhase
    FailingPhase.__module__ = "phases.failing"
    monkeypatch.setitem(sys.modules, "phases.failing", module)
    monkeypatch.setattr(phases, "PHASE_MODULES", list(phases.PHASE_MODULES) + ["failing"])


def run_driver(args):
    from pungi_like.cli.compose_driver import main

    return main(args)


def test_failable_deliverable_gives_finished_incomplete(tmp_path, universe, failing_phase,
                                                        capsys):
    conf = make_config(tmp_path, universe,
                       'failable_deliverables = [("^Workstation$", {"*": ["iso"]})]')
    target = tmp_path / "composes"
    code = run_driver(["--config", conf, "--target-dir", str(target), "--test"])
    err = capsys.readouterr().err
    assert code == 4
    topdir = only_compose(str(target))
    assert open(os.path.join(topdir, "STATUS")).read() == "FINISHED_INCOMPLETE\n"
    deliverables = json.load(open(os.path.join(topdir, "logs/global/deliverables.json")))
    assert deliverables["failed"] == {"iso": [["Workstation", "x86_64", None]]}
    assert "No space left on device" in deliverables["failed_details"][0]["error"]
    assert ["Workstation", "x86_64", None] in deliverables["attempted"]["iso"]
    assert "failed deliverable: iso Workstation.x86_64" in err
    # the rest of the compose is complete, and the latest link moved
    assert os.path.exists(os.path.join(topdir, "compose/metadata/rpms.json"))
    assert os.path.islink(os.path.join(target, "latest-Demo-1"))
    # --incomplete-ok restores Pungi's exit code
    code = run_driver(["--config", conf, "--target-dir", str(target), "--test",
                       "--incomplete-ok", "--no-latest-link"])
    assert code == 0


def test_non_failable_failure_dooms_the_compose(tmp_path, universe, failing_phase, capsys):
    conf = make_config(tmp_path, universe)
    target = tmp_path / "composes"
    code = run_driver(["--config", conf, "--target-dir", str(target), "--test"])
    err = capsys.readouterr().err
    assert code == 1
    topdir = only_compose(str(target))
    assert open(os.path.join(topdir, "STATUS")).read() == "DOOMED\n"
    assert "failing.Workstation.x86_64 failed" in err
    assert "No space left on device" in err
    assert "Traceback" not in err
    assert not os.path.exists(os.path.join(target, "latest-Demo-1"))
    tb = os.path.join(topdir, "logs/global/traceback-failing-Workstation-x86_64.global.log")
    assert "RuntimeError" in open(tb).read()
    timeline = json.load(open(os.path.join(topdir, "logs/global/timeline.json")))
    results = {u["unit"]: u["result"] for u in timeline["units"]}
    assert results["failing.Workstation.x86_64"] == "failed"
    # nothing that needed the failed unit (or came after the failure) started
    assert "metadata.write" not in results


def test_real_failure_missing_package_set(tmp_path, universe):
    conf = make_config(tmp_path, universe)
    text = open(conf).read().replace(universe.repo_dir, str(tmp_path / "no-such-repo"))
    open(conf, "w").write(text)
    target = tmp_path / "composes"
    proc = subprocess.run(DRIVER + ["--config", conf, "--target-dir", str(target), "--nightly"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "no-such-repo" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(r"Compose Demo-1\.0-\d{8}\.n\.0 DOOMED", proc.stderr)
    assert open(os.path.join(only_compose(str(target)), "STATUS")).read() == "DOOMED\n"


def test_sigterm_terminates_and_leaves_no_children(tmp_path, universe):
    conf = make_config(tmp_path, universe)
    marker = tmp_path / "script-started"
    token = "987.654321"
    script = tmp_path / "notify.sh"
    script.write_text(f"#!/bin/sh\ncat >/dev/null\nif [ \"$1\" = phase-start ]; then\n"
                      f"  touch {marker}\n  exec sleep {token}\nfi\n")
    script.chmod(0o755)
    target = tmp_path / "composes"
    proc = subprocess.Popen(DRIVER + ["--config", conf, "--target-dir", str(target), "--test",
                                      "--notification-script", str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the notification script never started"
        time.sleep(0.1)
    proc.terminate()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, err
    topdir = only_compose(str(target))
    assert open(os.path.join(topdir, "STATUS")).read() == "TERMINATED\n"
    assert "TERMINATED by SIGTERM" in err
    stray = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            except OSError:
                continue
            if token in cmdline:
                stray.append(pid)
    assert stray == []


def test_notifications_sequence_and_a_failing_script(tmp_path, universe):
    conf = make_config(tmp_path, universe)
    record = tmp_path / "messages.jsonl"
    script = tmp_path / "record.py"
    script.write_text("import json, sys\n"
                      f"open({str(record)!r}, 'a').write(json.dumps([sys.argv[1], "
                      "json.load(sys.stdin)]) + '\\n')\n")
    target = tmp_path / "composes"
    proc = subprocess.run(
        DRIVER + ["--config", conf, "--target-dir", str(target), "--test",
                  "--notification-script", f"{sys.executable} {script}",
                  "--notification-script", "/bin/false"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    messages = [json.loads(line) for line in record.read_text().splitlines()]
    names = [m[0] for m in messages]
    assert names[0] == "status-change" and messages[0][1]["status"] == "STARTED"
    assert names[-1] == "status-change" and messages[-1][1]["status"] == "FINISHED"
    started = [m[1]["phase_name"] for m in messages if m[0] == "phase-start"]
    stopped = [m[1]["phase_name"] for m in messages if m[0] == "phase-stop"]
    assert {"init", "pkgset", "gather", "createrepo", "test"} <= set(started)
    assert sorted(started) == sorted(stopped)
    # gather needs init's comps: init stopped before gather started
    events = [(m[0], m[1].get("phase_name")) for m in messages]
    assert events.index(("phase-stop", "init")) < events.index(("phase-start", "gather"))
    body = messages[0][1]
    for key in ["compose_id", "compose_date", "compose_type", "compose_respin", "compose_label",
                "compose_path", "location", "release_short", "release_name", "release_version",
                "release_type", "release_is_layered"]:
        assert key in body, key
    assert body["compose_type"] == "test" and body["release_short"] == "Demo"
    # the failing script was logged, not fatal
    assert "Failed to invoke notification script /bin/false" in proc.stderr


def test_respins_skip_phase_and_latest_link_status(tmp_path, universe):
    conf = make_config(tmp_path, universe)
    target = tmp_path / "composes"
    common = DRIVER + ["--config", conf, "--target-dir", str(target), "--test", "--quiet"]
    first = subprocess.run(common + ["--skip-phase", "test"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stderr.strip() == "" or "WARNING" in first.stderr
    second = subprocess.run(common + ["--latest-link-status", "DOOMED", "--just-phase", "init"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr
    ids = sorted(d for d in os.listdir(target) if d.startswith("Demo-1.0-"))
    assert [i[-4:] for i in ids] == [".t.0", ".t.1"]
    # the second compose was FINISHED but not DOOMED, so the link stayed on the first
    assert os.readlink(os.path.join(target, "latest-Demo-1")) == ids[0]
    timeline = json.load(open(os.path.join(target, ids[1], "logs/global/timeline.json")))
    assert {u["phase"] for u in timeline["units"]} <= {"init", "imagechecksum", "metadata"}


@pytest.mark.parametrize("args, message", [
    (["--production"], "needs --label or --no-label"),
    (["--test", "--label", "Beta"], "Label in unknown format"),
    (["--test", "--skip-phase", "pkgset"], "pkgset phase is skipped but it's needed by gather"),
    (["--test", "--skip-phase", "nosuchphase"], "unknown phase 'nosuchphase'"),
])
def test_command_line_errors(tmp_path, universe, args, message):
    conf = make_config(tmp_path, universe)
    target = tmp_path / "composes"
    proc = subprocess.run(DRIVER + ["--config", conf, "--target-dir", str(target)] + args,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode in (2, 3)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not target.exists() or not os.listdir(target)


def test_tty_shows_progress_and_non_tty_stays_quiet(tmp_path, universe):
    import pty

    conf = make_config(tmp_path, universe)
    phases = ["--test", "--just-phase", "init", "--just-phase", "pkgset"]
    args = DRIVER + ["--config", conf, "--target-dir", str(tmp_path / "tty")] + phases
    pid, fd = pty.fork()
    if pid == 0:  # child: the driver with a terminal on stdin/stdout/stderr
        os.execv(args[0], args)
    output = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert re.search(r"\[\d+/\d+\] (init|pkgset)\.", text), text
    # the same run without a terminal prints only the result line
    proc = subprocess.run(DRIVER + ["--config", conf, "--target-dir", str(tmp_path / "cron")]
                          + phases,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert re.fullmatch(r"Compose Demo-1\.0-\d{8}\.t\.0 FINISHED in \d+ s: \S+\n", proc.stdout)


def test_non_bootable_dvd_larger_than_iso_size_is_split_with_per_disc_repodata(tmp_path,
                                                                                universe):
    import productmd.compose

    from pungi_like.media.iso import iso_manifest

    conf = make_config(tmp_path, universe, """
iso_size = "11M"
split_iso_reserve = "256k"
createiso_skip = [(".*", {"*": True, "src": True}), ("^Everything$", {"*": False})]
""")
    target = tmp_path / "composes"
    proc = subprocess.run(DRIVER + ["--config", conf, "--target-dir", str(target), "--test"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    topdir = only_compose(str(target))
    images = productmd.compose.Compose(os.path.join(topdir, "compose")).images
    dvds = sorted(images["Everything"]["x86_64"], key=lambda i: i.disc_number)
    assert len(dvds) >= 2
    assert [d.disc_number for d in dvds] == list(range(1, len(dvds) + 1))
    assert {d.disc_count for d in dvds} == {len(dvds)}
    seen = set()
    for dvd in dvds:
        path = os.path.join(topdir, "compose", dvd.path)
        assert os.path.getsize(path) <= 11 * 1024 * 1024
        files = iso_manifest(path)
        assert "/media.repo" in files and "/repodata/repomd.xml" in files  # sticky, per disc
        packages = {f for f in files if f.endswith(".rpm")}
        assert packages and not packages & seen  # every package on exactly one disc
        seen |= packages
        assert not dvd.bootable
    tree = os.path.join(topdir, "compose", "Everything", "x86_64", "os")
    in_tree = {"/" + os.path.relpath(os.path.join(d, f), tree)
               for d, _, fs in os.walk(os.path.join(tree, "Packages")) for f in fs}
    assert seen == in_tree
