"""boot.iso from the demo universe boots in QEMU (TCG) into the installer runtime, via BIOS and
UEFI from a CD.  Each boot runs once (~8 s BIOS, ~14 s UEFI here); the transcripts are kept in
the test's tmp dir."""

import pytest

from pungi_like.media import installer, qemu

pytestmark = pytest.mark.e2e
MARKER = "DEMO-INSTALLER-OK"


@pytest.fixture(scope="module")
def installer_tree(universe, tmp_path_factory):
    out = tmp_path_factory.mktemp("buildinstall")
    return installer.build_installer_tree(
        universe.repo_dir, str(out / "os"), product="Demo Linux", version="1", release="1",
        variant="Server", volid="Demo-1 Server.x86_64", source_date_epoch=1700000000,
        log_dir=str(out / "logs"))


@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_boot_iso_boots_to_the_installer(installer_tree, firmware, tmp_path):
    log = tmp_path / f"boot-{firmware}.log"
    result = qemu.boot(installer_tree["boot_iso"], firmware=firmware, media="cdrom",
                       marker=MARKER, timeout=180, log_path=str(log))
    assert result.ok, f"no {MARKER} on the console ({firmware}); last lines:\n{result.tail()}"
    # the runtime root is the squashfs from the medium found by its label, under an overlay
    line = next(l for l in result.transcript.splitlines() if MARKER in l)
    assert "on / type overlay" in line
    assert "found 'Demo-1 Server.x86_64' on /dev/sr0" in result.transcript
    assert not result.timed_out and log.read_text().startswith("$ qemu-system-x86_64")
