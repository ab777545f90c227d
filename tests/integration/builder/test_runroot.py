"""runroot: a command in a root populated from a repo, isolated with bubblewrap."""

import os

import pytest

from pungi_like.buildsvc.builder.runroot import RunrootError, run_in_root

pytestmark = pytest.mark.integration


def test_runroot_command_output_and_files(universe, tmp_path):
    cmd = ("cat /etc/os-release > /out.txt; ls /usr/bin/demo-* > /tools.txt 2>/dev/null; "
           "hostname; cat /proc/net/dev | grep -c : ; echo done; exit 3")
    result = run_in_root([universe.repo_dir], ["busybox", "demo-release"], cmd, arch="x86_64",
                         workdir=str(tmp_path / "w"), output_paths=["/out.txt"])
    assert result["exit_code"] == 3
    out = result["output"].split()
    assert "builder" in out and "done" in out
    assert out[out.index("builder") + 1] == "1"          # /proc/net/dev: lo only
    copied = result["outputs"]
    assert [os.path.relpath(p, tmp_path / "w" / "output") for p in copied] == ["out.txt"]
    assert "Demo" in open(copied[0]).read()
    assert {r["name"] for r in result["rpms"]} >= {"busybox", "demo-release", "filesystem"}
    assert "--unshare-net" in open(result["log"]).read()
    assert not (tmp_path / "w" / "root").exists()


def test_runroot_unknown_package(universe, tmp_path):
    with pytest.raises(RunrootError, match="no-such-package"):
        run_in_root([universe.repo_dir], ["no-such-package"], "true", arch="x86_64",
                    workdir=str(tmp_path / "w"))
