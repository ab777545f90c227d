"""Reading RPM headers: NEVRA, source RPM, arch restrictions and the signing key ID."""

import os
import re
from dataclasses import dataclass, field

_ts = None


def _transaction_set():
    global _ts
    if _ts is None:
        import rpm
        _ts = rpm.TransactionSet()
        # Headers of unsigned or foreign-signed packages must still be readable.
        _ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    return _ts


def _s(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [_s(v) for v in value]
    return [_s(value)]


_KEYID_RE = re.compile(r"Key ID ([0-9a-fA-F]+)")


@dataclass
class RpmHeader:
    path: str
    name: str
    epoch: int
    version: str
    release: str
    arch: str            # "src" for source packages
    sourcerpm: str       # file name of the SRPM ("" for SRPMs themselves)
    sigkey: str = None   # short (8 hex digits) lower-case key ID, None when unsigned
    excludearch: list = field(default_factory=list)
    exclusivearch: list = field(default_factory=list)
    buildtime: int = 0   # seconds since the epoch (RPMTAG_BUILDTIME)

    @property
    def is_source(self):
        return self.arch in ("src", "nosrc")

    @property
    def nevra(self):
        return f"{self.name}-{self.epoch or 0}:{self.version}-{self.release}.{self.arch}"

    @property
    def srpm_nevra(self):
        if self.is_source:
            return self.nevra
        return srpm_nevra_from_filename(self.sourcerpm, self.epoch)


def srpm_nevra_from_filename(filename, epoch=0):
    """``foo-1.0-1.src.rpm`` -> ``foo-<epoch>:1.0-1.src`` (the binary's epoch, as Pungi guesses)."""
    base = filename[:-len(".rpm")] if filename.endswith(".rpm") else filename
    nvr, _, arch = base.rpartition(".")
    name_ver, _, release = nvr.rpartition("-")
    name, _, version = name_ver.rpartition("-")
    return f"{name}-{epoch or 0}:{version}-{release}.{arch}"


def read_header(path):
    """Read the header of the RPM at ``path``."""
    import rpm
    ts = _transaction_set()
    fd = os.open(path, os.O_RDONLY)
    try:
        hdr = ts.hdrFromFdno(fd)
    finally:
        os.close(fd)
    is_source = not hdr[rpm.RPMTAG_SOURCERPM]
    arch = "src" if is_source else _s(hdr[rpm.RPMTAG_ARCH])
    if is_source and hdr[rpm.RPMTAG_NOSOURCE]:
        arch = "nosrc"
    sigkey = None
    for tag in ("RSAHEADER", "DSAHEADER", "SIGPGP", "SIGGPG"):
        text = hdr.sprintf("%{" + tag + ":pgpsig}")
        match = _KEYID_RE.search(text or "")
        if match:
            sigkey = match.group(1)[-8:].lower()
            break
    return RpmHeader(
        path=path, name=_s(hdr[rpm.RPMTAG_NAME]), epoch=hdr[rpm.RPMTAG_EPOCH] or 0,
        version=_s(hdr[rpm.RPMTAG_VERSION]), release=_s(hdr[rpm.RPMTAG_RELEASE]), arch=arch,
        sourcerpm=_s(hdr[rpm.RPMTAG_SOURCERPM]) or "", sigkey=sigkey,
        excludearch=_list(hdr[rpm.RPMTAG_EXCLUDEARCH]),
        exclusivearch=_list(hdr[rpm.RPMTAG_EXCLUSIVEARCH]),
        buildtime=int(hdr[rpm.RPMTAG_BUILDTIME] or 0))


def is_debug_name(name):
    """Debug packages are recognised by name, as Pungi does."""
    return name.endswith("-debugsource") or name.endswith("-debuginfo") or "-debuginfo-" in name
