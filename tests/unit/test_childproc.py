"""Python children that run a module of this package (builders, the record parse, the gather
workers) do not import from the working directory: a release's config directory holding a
``json.py``, a ``solv.py`` or a ``pungi_like`` folder does not stand in for the library, and
the children still run this very pungi_like."""

import os
import subprocess
import sys

import pytest

from pungi_like import childproc
from pungi_like.rpmtools.gather_worker import GatherWorker
from pungi_like.rpmtools.recordparse import Parsing


@pytest.fixture
def hostile_cwd(tmp_path, monkeypatch):
    """A working directory whose modules would end a child that imported them (exit 99)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for name in ("json", "pickle", "socket", "solv", "koji", "argparse"):
        (cwd / f"{name}.py").write_text("raise SystemExit(99)\n")
    (cwd / "pungi_like").mkdir()
    (cwd / "pungi_like" / "__init__.py").write_text("raise SystemExit(99)\n")
    monkeypatch.chdir(cwd)
    return cwd


def test_the_command_leaves_the_working_directory_off_the_path():
    assert childproc.module_command("pungi_like.x", "a") == [sys.executable, "-P", "-m",
                                                             "pungi_like.x", "a"]


def test_the_environment_puts_this_package_first_once():
    env = childproc.module_env({"PYTHONPATH": os.pathsep.join(["/elsewhere", childproc.ROOT]),
                                "KEEP": "1"})
    assert env["PYTHONPATH"].split(os.pathsep) == [childproc.ROOT, "/elsewhere"]
    assert env["KEEP"] == "1"
    assert childproc.module_env({})["PYTHONPATH"] == childproc.ROOT


def test_a_module_child_imports_this_package_not_the_working_directorys(hostile_cwd):
    probe = ("import json, pungi_like, sys; "
             "print(json.dumps([pungi_like.__file__, sys.path[0]]))")
    # the module form the children use, with a probe in place of their module
    cmd = childproc.module_command("json.tool", "--help")
    assert subprocess.run(cmd, env=childproc.module_env(), capture_output=True).returncode == 0
    out = subprocess.run([sys.executable, "-P", "-c", probe], env=childproc.module_env(),
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().startswith('["' + os.path.join(childproc.ROOT, "pungi_like"))
    # without -P the same child took the working directory's module (what the fix is for)
    assert subprocess.run([sys.executable, "-m", "json.tool", "--help"],
                          env=childproc.module_env(), capture_output=True).returncode == 99


def test_a_builder_starts_from_a_hostile_working_directory(hostile_cwd):
    done = subprocess.run(childproc.module_command("pungi_like.cli.builder", "--help"),
                          env=childproc.module_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "pungi-like-builder" in done.stdout


def test_a_gather_worker_answers_from_a_hostile_working_directory(hostile_cwd, tmp_path):
    src = tmp_path / "a.rpm"
    src.write_bytes(b"rpm")
    with GatherWorker.spawn() as worker:
        worker.call("link", [(str(src), str(tmp_path / "t" / "a.rpm"))], "hardlink-or-copy")
    assert os.path.samefile(src, tmp_path / "t" / "a.rpm")


def test_the_record_parse_child_runs_from_a_hostile_working_directory(hostile_cwd, tmp_path):
    parsing = Parsing([str(tmp_path / "no-such-repo")])
    parsing.proc.wait(timeout=60)
    parsing.reader.join(timeout=60)
    # the child ran our module: it answered for the missing repo (an error entry) and exited
    # with its own status for a failed repo, not 99 from the working directory's json.py
    assert parsing.proc.returncode == 3, parsing.stderr
    assert [entry[0] for entry in parsing.found] == [str(tmp_path / "no-such-repo")]
