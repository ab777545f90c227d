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
