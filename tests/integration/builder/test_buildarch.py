"""buildArch: SRPM -> RPMs with a libsolv buildroot, rpmbuild without network."""

import os
import subprocess

import pytest

from pungi_like.buildsvc.builder.buildarch import BuildError, build_arch, srpm_info

pytestmark = pytest.mark.integration


def test_buildarch_gives_rpms_with_buildroot_from_repo(universe, srpm_with_buildrequires,
                                                       tmp_path):
    srpm = srpm_with_buildrequires("hello-demo", ["libdemoc", "demo-perl >= 4:5.0"])
    assert sorted(b[0] for b in srpm_info(srpm)["buildrequires"]) == ["demo-perl", "libdemoc"]
    result = build_arch(srpm, [universe.repo_dir], arch="x86_64", workdir=str(tmp_path / "w"))
    assert [os.path.basename(p) for p in result["rpms"]] == ["hello-demo-1.0-1.x86_64.rpm"]
    names = subprocess.run(["rpm", "-qp", "--qf", "%{NAME} %{ARCH}", result["rpms"][0]],
                           capture_output=True, text=True, check=True).stdout
    assert names == "hello-demo x86_64"
    # the buildroot holds exactly the BuildRequires (with their dependencies)
    assert sorted(n.rsplit("-", 2)[0] for n in result["buildroot"]) == ["demo-perl", "libdemoc"]
    build_log = open(result["logs"][0]).read()
    assert "--unshare-net" in build_log and "Wrote:" in build_log
    assert "_dbpath" in build_log          # BuildRequires checked against the buildroot
    assert "libdemoc" in open(result["logs"][1]).read()


def test_missing_buildrequires_fails_naming_it(universe, srpm_with_buildrequires, tmp_path):
    srpm = srpm_with_buildrequires("needs-missing", ["libdemoc", "demo-missing >= 2"])
    with pytest.raises(BuildError) as err:
        build_arch(srpm, [universe.repo_dir], arch="x86_64", workdir=str(tmp_path / "w"))
    assert "nothing provides demo-missing >= 2 needed by needs-missing-1.0-1.src.rpm" \
        in str(err.value)
    assert "libdemoc" not in str(err.value).split("needed by")[0]
    assert "demo-missing" in open(tmp_path / "w" / "logs" / "root.log").read()


def test_build_has_no_network(universe, tmp_path):
    from pungi_like.buildsvc.builder import sandbox
    proc = sandbox.run_on_host(["sh", "-c", "cat /proc/net/dev | tail -n +3; "
                                "touch /etc/should-fail 2>&1; id -u"],
                               writable=[str(tmp_path)], check=False)
    lines = proc.stdout.split()
    assert "lo:" in lines and "eth0:" not in lines            # only loopback
    assert "Read-only file system" in proc.stdout
