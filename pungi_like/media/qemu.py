"""Boot an image in QEMU (TCG) and wait for a marker line on the serial console.

Always ``-accel tcg``: this kind of machine has no usable KVM (reference/toolchain.md §2).  The
console goes to a pipe we read; the guest is expected to power off after printing the marker
(``-no-reboot`` turns a kernel panic into an exit too).  On timeout, or once the marker is seen
and the guest does not power off within ``grace`` seconds, QEMU is killed: no QEMU outlives
:func:`boot`.  UEFI boots use OVMF with a private copy of the VARS file.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

from ..errors import PungiLikeError

QEMU = "qemu-system-x86_64"
OVMF_PAIRS = (("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
              ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
              ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"))


@dataclass
class BootResult:
    ok: bool                 # the marker was seen
    seconds: float           # from start to QEMU's exit
    transcript: str          # everything the console printed
    returncode: int | None
    timed_out: bool
    marker_seconds: float | None = None
    cmd: list = field(default_factory=list)

    def tail(self, lines=30):
        return "\n".join(self.transcript.splitlines()[-lines:])


def ovmf_files():
    for code, vars_ in OVMF_PAIRS:
        if os.path.exists(code) and os.path.exists(vars_):
            return code, vars_
    raise PungiLikeError("OVMF firmware not found (install the ovmf package: .ci/setup)")


def qemu_cmd(image, *, firmware="bios", media="cdrom", memory=1024, vars_copy=None,
             extra_args=(), disk_format="raw"):
    if firmware not in ("bios", "uefi"):
        raise PungiLikeError(f"qemu: firmware {firmware!r} is not bios or uefi")
    if media not in ("cdrom", "disk"):
        raise PungiLikeError(f"qemu: media {media!r} is not cdrom or disk")
    cmd = [QEMU, "-accel", "tcg", "-m", str(memory), "-display", "none", "-serial", "stdio",
           "-monitor", "none", "-no-reboot", "-nodefaults", "-vga", "none"]
    if firmware == "uefi":
        code, _vars = ovmf_files()
        cmd += ["-drive", f"if=pflash,format=raw,readonly=on,file={code}",
                "-drive", f"if=pflash,format=raw,file={vars_copy}"]
    if media == "cdrom":
        cmd += ["-drive", f"file={image},media=cdrom,readonly=on,if=ide,index=1",
                "-boot", "order=d"]
    elif disk_format == "qcow2":
        # snapshot: the guest may write to the disk, the image stays as it was
        cmd += ["-drive", f"file={image},format=qcow2,if=virtio,snapshot=on",
                "-boot", "order=c"]
    elif disk_format == "raw":
        cmd += ["-drive", f"file={image},format=raw,if=ide,index=0,snapshot=on",
                "-boot", "order=c"]
    else:
        raise PungiLikeError(f"qemu: disk format {disk_format!r} is not raw or qcow2")
    return cmd + list(extra_args)


def boot(image, *, firmware="bios", media="cdrom", marker, timeout=300, log_path=None,
         memory=1024, grace=15, extra_args=(), disk_format="raw") -> BootResult:
    """Boot ``image`` and report whether ``marker`` appeared on the console within ``timeout``
    seconds.  The console transcript goes to ``log_path`` (with the command line first).
    A ``media="disk"`` image is a raw disk (IDE) or, with ``disk_format="qcow2"``, a qcow2
    (virtio)."""
    if not os.path.exists(image):
        raise PungiLikeError(f"qemu: {image} does not exist")
    if shutil.which(QEMU) is None:
        raise PungiLikeError(f"{QEMU} not found (install qemu-system-x86: .ci/setup)")
    tmp = tempfile.mkdtemp(prefix="qemu-boot-")
    vars_copy = None
    if firmware == "uefi":
        vars_copy = os.path.join(tmp, "OVMF_VARS.fd")
        shutil.copyfile(ovmf_files()[1], vars_copy)
    cmd = qemu_cmd(os.path.abspath(image), firmware=firmware, media=media, memory=memory,
                   disk_format=disk_format,
                   vars_copy=vars_copy, extra_args=extra_args)
    chunks = []
    seen = threading.Event()
    marker_at = [None]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)

    def reader():
        tail = b""
        needle = marker.encode()
        for chunk in iter(lambda: proc.stdout.read1(4096), b""):
            chunks.append(chunk)
            tail = (tail + chunk)[-(len(needle) + 4096):]
            if not seen.is_set() and needle in tail:
                marker_at[0] = time.monotonic() - start
                seen.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    timed_out = False
    try:
        deadline = start + timeout
        while proc.poll() is None:
            now = time.monotonic()
            if seen.is_set() and now > start + marker_at[0] + grace:
                break
            if now > deadline:
                timed_out = True
                break
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            _kill(proc)
        thread.join(timeout=5)
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.monotonic() - start
    transcript = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(f"$ {shlex.join(cmd)}\n{transcript}\n# exit code {proc.returncode}, "
                     f"{seconds:.1f} s, marker {'seen' if seen.is_set() else 'NOT seen'}"
                     f"{', timed out' if timed_out else ''}\n")
    return BootResult(ok=seen.is_set(), seconds=round(seconds, 2), transcript=transcript,
                      returncode=proc.returncode, timed_out=timed_out,
                      marker_seconds=round(marker_at[0], 2) if marker_at[0] else None, cmd=cmd)


def _kill(proc):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue
