"""Installs: the lock pins what the tests run against; the wheel works without the checkout.

The wheel test builds ``pungi_like-*.whl`` from this checkout, installs it with ``--no-deps`` into
a fresh venv that sees the dependencies of ``.venv`` through a plain path entry (no editable-install
finder), and runs the installed commands from a directory outside the checkout.
"""

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig

import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCK = os.path.join(ROOT, "requirements.lock")


def _lock_entries():
    text = open(LOCK, encoding="utf-8").read().replace("\\\n", " ")
    entries = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)\s+(.*)$", line)
        assert m, f"requirements.lock: not an exact pin with hashes: {line!r}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", m.group(3))
        assert hashes, f"requirements.lock: {m.group(1)} has no sha256 hash"
        entries[m.group(1).lower().replace("_", "-")] = m.group(2)
    return entries


def test_lock_pins_every_installed_dependency_with_hashes():
    entries = _lock_entries()
    # the koji client the tests drive is the locked one
    assert entries["koji"] == importlib.metadata.version("koji")
    # every direct requirement is in the lock, at the version installed here
    direct = []
    for line in open(os.path.join(ROOT, "requirements.in"), encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if line:
            direct.append(re.split(r"[\[<>=!~ ]", line, 1)[0].lower().replace("_", "-"))
    for name in direct:
        assert name in entries, f"{name} is in requirements.in but not in requirements.lock"
        assert importlib.metadata.version(name) == entries[name], \
            f"{name}: installed {importlib.metadata.version(name)}, locked {entries[name]}"


def test_ci_setup_installs_from_the_lock():
    setup = open(os.path.join(ROOT, ".ci", "setup"), encoding="utf-8").read()
    assert "--require-hashes -r requirements.lock" in setup
    # no unpinned install of a PyPI package besides the project itself
    for m in re.finditer(r"pip_install ([^\n]*)", setup):
        args = m.group(1)
        if "-r requirements.lock" in args or args.strip().endswith("-e ."):
            continue
        if args.startswith("()"):
            continue  # the function definition
        pytest.fail(f".ci/setup installs outside the lock: pip_install {args}")


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
                    ROOT], check=True, capture_output=True, cwd=str(tmp))
    wheels = list(dist.glob("pungi_like-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig;print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # dependencies from the test venv, as a plain path: its editable pungi_like finder is a .pth
    # file that a plain path entry does not run
    with open(os.path.join(site, "deps.pth"), "w") as fh:
        fh.write(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                    "--no-deps", str(wheels[0])], check=True, capture_output=True)
    return venv, tmp


def test_wheel_installs_working_commands_with_their_data(wheel_venv):
    venv, tmp = wheel_venv
    outside = tmp / "elsewhere"
    outside.mkdir()
    env = dict(os.environ, PYTHONPATH="")
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import os, pungi_like, pungi_like.resources as r, pungi_like.variants as v;"
         "from pungi_like.media import templates;"
         "print(pungi_like.__file__); print(r.share_dir());"
         "print(os.path.isfile(v.DTD_PATH));"
         "print(sorted(os.listdir(templates.TEMPLATE_DIR)))"],
        capture_output=True, text=True, cwd=str(outside), env=env)
    assert probe.returncode == 0, probe.stderr
    module_file, share, dtd_ok, templates = probe.stdout.splitlines()
    assert module_file.startswith(str(venv)), module_file  # not the checkout
    assert share.startswith(str(venv)) and share.endswith(os.path.join("pungi_like", "_share"))
    assert dtd_ok == "True"
    assert "grub.cfg.j2" in templates and "isolinux.cfg.j2" in templates

    # the installed validator reads a real config and its variants file (DTD) from the wheel
    conf = os.path.join(ROOT, "configs", "demo", "demo-repos.conf")
    val = subprocess.run([str(venv / "bin" / "pungi-like-config-validate"), conf],
                         capture_output=True, text=True, cwd=str(outside), env=env)
    assert val.returncode == 0, val.stdout + val.stderr
    for cmd in ("pungi-like-koji", "pungi-like-hub", "pungi-like-builder",
                "pungi-like-compose-diff"):
        res = subprocess.run([str(venv / "bin" / cmd), "--help"], capture_output=True, text=True,
                             cwd=str(outside), env=env)
        assert res.returncode == 0, (cmd, res.stderr)
        assert "usage:" in res.stdout


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_deployment_sequence(wheel_venv, tmp_path):
    """doc/deployment.md's sequence with the wheel's commands: certs, hub.conf (Koji's DB*
    options, PostgreSQL), init, install-units, the hub and builder started with the units'
    ExecStart lines as written, the real koji CLI adding the host and getting a repo made by the
    builder, and `check` finding nothing to report."""
    import shlex
    import shutil
    import signal
    import time
    import uuid

    import psycopg

    from pungi_like.universe.rpmbuild import Package, build_packages

    venv, _ = wheel_venv
    bindir = str(venv / "bin")
    koji = [os.path.join(os.path.dirname(sys.executable), "koji"), "-c",
            str(tmp_path / "koji.conf"), "-p", "site"]
    port = _free_port()
    url = "https://127.0.0.1:%d/kojihub" % port
    conf, top, logs, pki = (tmp_path / d for d in ("conf", "top", "log", "pki"))
    for d in (conf, logs):
        d.mkdir()
    env = dict(os.environ, PYTHONPATH="")

    def run(*cmd, check=True):
        proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env,
                              cwd=str(tmp_path), timeout=300)
        if check:
            assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)
        return proc

    run(os.path.join(bindir, "pungi-like-hub"), "certs", "--dir", str(pki), "--user",
        "kojiadmin", "--user", "builder1", "--user", "alice", "--user", "bob",
        "--koji-config", str(tmp_path / "koji.conf"), "--profile", "site", "--url", url,
        "--topdir", str(top))
    dbname = "pl_deploy_%s" % uuid.uuid4().hex[:10]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as c:
        c.execute("CREATE DATABASE %s" % dbname)
    (conf / "hub.conf").write_text(
        "[hub]\nKojiDir = %s\nDBName = %s\nDBHost = 127.0.0.1\nDBUser = postgres\n\n"
        "[pungi-like]\nlisten = 127.0.0.1:%d\ntls-cert = %s\ntls-key = %s\nclient-ca = %s\n"
        % (top, dbname, port, pki / "server.crt", pki / "server.key", pki / "ca.crt"))
    (conf / "builder.conf").write_text(
        "[kojid]\nserver = %s\ncert = %s\nserverca = %s\ntopdir = %s\nworkdir = %s\n"
        "maxjobs = 2\nsleeptime = 0.3\nmockdir = /var/lib/mock\n"
        % (url, pki / "builder1.pem", pki / "ca.crt", top, tmp_path / "work"))
    procs = []
    try:
        run(os.path.join(bindir, "pungi-like-hub"), "init", "--config", str(conf / "hub.conf"),
            "--admin", "kojiadmin")
        out = run(os.path.join(bindir, "pungi-like-hub"), "install-units", "--dest",
                  str(tmp_path / "units"), "--logrotate-dest", str(tmp_path / "logrotate"),
                  "--bindir", bindir, "--confdir", str(conf), "--topdir", str(top),
                  "--logdir", str(logs), "--user", "nobody").stdout
        assert "wrote %s" % (tmp_path / "units" / "pungi-like-hub.service") in out
        if shutil.which("systemd-analyze"):
            for unit in ("pungi-like-hub.service", "pungi-like-builder.service"):
                res = run("systemd-analyze", "verify", str(tmp_path / "units" / unit),
                          check=False)
                assert res.returncode == 0, res.stdout + res.stderr
        from pungi_like.buildsvc.units import exec_start

        def start(unit, log):
            line = exec_start(str(tmp_path / "units" / unit))
            assert line.startswith(bindir + "/")  # the wheel's command, not the checkout's
            with open(logs / log, "ab") as fh:  # StandardOutput=append:LOGDIR/...
                procs.append(subprocess.Popen(shlex.split(line), stdout=fh,
                                              stderr=subprocess.STDOUT, env=env,
                                              cwd=str(tmp_path)))

        # the testbed workflow below runs before the builder starts: the hub runs its tagBuild
        # tasks itself (as a site without builders would set it)
        from pungi_like.buildsvc.hub.scheduler import write_settings

        write_settings(str(top), tag_tasks_in_hub=True)
        start("pungi-like-hub.service", "hub.log")
        deadline = time.monotonic() + 60
        while run(*koji, "hello", check=False).returncode != 0:
            assert procs[0].poll() is None, (logs / "hub.log").read_text()
            assert time.monotonic() < deadline, (logs / "hub.log").read_text()
            time.sleep(0.3)
        # the testbed workflow of Koji's users, with the real koji CLI, on this deployment
        # (before the builder starts: it expects build tags without repos)
        from pungi_like.buildsvc.certs import write_koji_profile
        from tests.integration.hub.conftest import Hub
        from tests.integration.hub.test_testbed import test_testbed_workflow

        profiles = str(tmp_path / "profiles.conf")
        for user in ("kojiadmin", "alice", "bob"):
            write_koji_profile(profiles, user, url, str(pki / (user + ".pem")),
                               str(pki / "ca.crt"), topurl=url.replace("kojihub", "kojifiles"),
                               topdir=str(top))
        test_testbed_workflow(Hub(str(top), url, profiles, procs[0], None), None)

        run(*koji, "add-host", "builder1", "x86_64")
        run(*koji, "add-host-to-channel", "builder1", "createrepo")
        start("pungi-like-builder.service", "builder.log")

        rpms = build_packages([Package("deploy-demo", arch="noarch",
                                       files={"/usr/share/deploy-demo/README": "hi\n"})],
                              tmp_path / "rpms", workdir=tmp_path / "rpmbuild")
        run(*koji, "add-tag", "site-build", "--arches", "x86_64")
        run(*koji, "add-pkg", "--owner", "kojiadmin", "site-build", "deploy-demo")
        run(*koji, "import", *rpms.all)
        run(*koji, "call", "tagBuildBypass", "site-build", "deploy-demo-1.0-1")
        res = run(*koji, "regen-repo", "--wait", "site-build")
        assert "Got repo" in res.stdout, res.stdout + (logs / "builder.log").read_text()
        listed = run(*koji, "list-tagged", "site-build").stdout
        assert "deploy-demo-1.0-1" in listed
        check = run(os.path.join(bindir, "pungi-like-hub"), "check", "--config",
                    str(conf / "hub.conf"), "--quiet", "--min-free", "0", check=False)
        assert check.returncode == 0 and check.stdout == "", check.stdout + check.stderr
        assert "kojid options not used by this builder: mockdir" in \
            (logs / "builder.log").read_text()

    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % dbname)
