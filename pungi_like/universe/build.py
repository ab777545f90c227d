"""Builds the demo universe into a directory, once: ``ensure_universe(out_dir) -> Universe``.

Layout of ``out_dir``::

    repo/            every binary and source RPM, flat, with repodata (gzip, comps included)
    comps.xml        the groups and environments
    universe.json    what is where (categories of packages, groups, kernel version, timings)
    .stamp           sha256 of every generated spec, the comps and the inputs

A call whose hash equals the stamp returns at once. A build goes to a temp directory next to
``out_dir`` and is swapped in by rename, so a killed build never leaves half a universe; a lock
file keeps two processes from building the same universe at the same time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

from ..errors import ToolError
from ..fileutil import write_atomic, write_json_atomic
from . import demo
from .comps import comps_xml
from .inputs import KernelInput, ensure_kernel, find_busybox
from .rpmbuild import SOURCE_DATE_EPOCH, Package, build_packages, generate_spec

#: Bump when the layout or the content rules change without the specs changing.
FORMAT_VERSION = 2
STAMP = ".stamp"


@dataclass
class Universe:
    """A built universe: ``repo_dir`` (RPMs + repodata), ``comps_path`` and ``info`` (universe.json)."""

    path: str
    repo_dir: str
    comps_path: str
    info: dict

    @property
    def kernel_version(self) -> str:
        return self.info["kernel"]["kver"]

    def rpm_path(self, filename: str) -> str:
        return os.path.join(self.repo_dir, filename)


def _createrepo_c() -> str:
    """Prefer the venv's createrepo_c (PyPI, next to this Python) over Debian's."""
    local = os.path.join(os.path.dirname(sys.executable), "createrepo_c")
    if os.access(local, os.X_OK):
        return local
    found = shutil.which("createrepo_c")
    if not found:
        raise ToolError("createrepo_c not found; run .ci/setup")
    return found


def _hash_inputs(packages: list[Package], comps: str, kernel: KernelInput, busybox) -> str:
    h = hashlib.sha256()
    h.update(f"format {FORMAT_VERSION}\nkernel {kernel.deb_package} {kernel.deb_version} "
             f"{' '.join(kernel.modules)}\nbusybox {busybox.deb_version}\n".encode())
    for pkg in packages:
        h.update(generate_spec(pkg).encode())
        for part in [pkg] + list(pkg.subpackages):
            for path in sorted(part.files):
                content = part.files[path]
                h.update(path.encode() + b"\0")
                h.update(content.encode() if isinstance(content, str) else content)
            for path in sorted(part.symlinks):
                h.update(f"{path}->{part.symlinks[path]}\0".encode())
            for path in sorted(part.binary_files):
                h.update(f"{path}<{os.path.basename(part.binary_files[path])}\0".encode())
    h.update(comps.encode())
    return h.hexdigest()


def _info(packages, groups, envs, kernel, busybox, result, digest, seconds) -> dict:
    rpm_names = {}
    for path in result.rpms:
        fname = os.path.basename(path)
        name = fname.rsplit("-", 2)[0]
        rpm_names.setdefault(name, []).append(fname)
    by_name = {p.name: p for p in packages}
    libs = [n for n, *_ in demo._LIBRARIES]
    return {
        "format": FORMAT_VERSION,
        "hash": digest,
        "build_seconds": round(seconds, 1),
        "rpm_count": len(result.rpms),
        "srpm_count": len(result.srpms),
        "rpmbuild_seconds_per_spec": {
            "median": round(statistics.median(result.timings.values()), 3),
            "max": round(max(result.timings.values()), 3)},
        "rpms": sorted(os.path.basename(p) for p in result.rpms),
        "srpms": sorted(os.path.basename(p) for p in result.srpms),
        "binary_names": sorted(rpm_names),
        "source_packages": {p.name + "-" + p.evr: {
            "name": p.name, "epoch": p.epoch, "version": p.version, "release": p.release,
            "arches": p.build_arches(),
            "subpackages": [s.name for s in p.subpackages]} for p in packages},
        "kernel": {"kver": kernel.kver, "deb_package": kernel.deb_package,
                   "deb_version": kernel.deb_version, "version": kernel.rpm_version[0],
                   "release": kernel.rpm_version[1], "modules": kernel.modules,
                   "load_order": kernel.load_order,
                   "vmlinuz": f"/boot/vmlinuz-{kernel.kver}"},
        "busybox": {"deb_version": busybox.deb_version, "version": busybox.rpm_version[0]},
        "groups": {g.id: {"mandatory": g.mandatory, "default": g.default,
                          "optional": g.optional, "arch": g.arch} for g in groups},
        "environments": {e.id: {"groups": e.groups, "options": e.options} for e in envs},
        "categories": {
            "multilib_libs": libs,
            "multilib_devel": [f"{n}-devel" for n in libs],
            "i686_only": ["demo-compat32"],
            "noarch": sorted({p.name for p in packages if p.arch == "noarch"}),
            "debuginfo": sorted(n for n in rpm_names if n.endswith("-debuginfo")),
            "debugsource": sorted(n for n in rpm_names if n.endswith("-debugsource")),
            "exclusivearch": {p.name: p.exclusivearch for p in packages if p.exclusivearch},
            "excludearch": {p.name: p.excludearch for p in packages if p.excludearch},
            "epochs": {p.name: p.epoch for p in packages if p.epoch is not None},
            "two_versions": {"demo-utils": sorted(p.evr for p in packages
                                                  if p.name == "demo-utils")},
            "virtual_provides": {"webserver": ["demo-httpd", "demo-lighttpd"],
                                 "MTA": ["demo-mta-a", "demo-mta-b"],
                                 "system-release": ["demo-release"]},
            "file_deps": {"/usr/bin/demo-python": "demo-python",
                          "/usr/share/demo-data/dataset.db": "demo-data"},
            "filelists_only_file_deps": ["/usr/share/demo-data/dataset.db"],
            "obsoletes": {"demo-newtool": ["demo-oldtool < 3.0"]},
            "conflicts": {"demo-mta-a": ["demo-mta-b"], "demo-mta-b": ["demo-mta-a"]},
            "boot": ["kernel", "busybox", "filesystem", "setup", "demo-base", "demo-release"],
            "installer": ["demo-installer"],
            "system_release": "demo-release",
        },
        "summaries": {p.name: p.summary for p in by_name.values()},
    }


def _load(out_dir: str) -> Universe:
    with open(os.path.join(out_dir, "universe.json"), encoding="utf-8") as fh:
        info = json.load(fh)
    return Universe(out_dir, os.path.join(out_dir, "repo"), os.path.join(out_dir, "comps.xml"), info)


def _stamp_matches(out_dir: str, digest: str) -> bool:
    try:
        with open(os.path.join(out_dir, STAMP), encoding="utf-8") as fh:
            return fh.read().strip() == digest and os.path.exists(
                os.path.join(out_dir, "repo", "repodata", "repomd.xml"))
    except FileNotFoundError:
        return False


def ensure_universe(out_dir, cache_dir=None, quiet=None, force=False) -> Universe:
    """The demo universe in ``out_dir``, built unless an up-to-date one is already there.

    ``cache_dir`` keeps the downloaded Debian kernel (default: ``kernel/`` next to ``out_dir``).
    Progress goes to stderr when it is a TTY and ``quiet`` is not set.
    """
    out_dir = os.path.abspath(os.fspath(out_dir))
    parent = os.path.dirname(out_dir)
    cache_dir = os.path.abspath(cache_dir or os.path.join(parent, "kernel"))
    if quiet is None:
        quiet = not sys.stderr.isatty()
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))

    kernel = ensure_kernel(cache_dir, log=say)
    busybox = find_busybox()
    packages = demo.demo_packages(kernel, busybox)
    groups, envs = demo.demo_groups()
    comps = comps_xml(groups, envs)
    digest = _hash_inputs(packages, comps, kernel, busybox)
    if not force and _stamp_matches(out_dir, digest):
        return _load(out_dir)

    os.makedirs(parent, exist_ok=True)
    with open(out_dir + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _stamp_matches(out_dir, digest):  # built by another process meanwhile
            return _load(out_dir)
        return _build(out_dir, packages, groups, envs, comps, kernel, busybox, digest, say, quiet)


def _remove_leftovers(parent: str) -> None:
    """Temp trees of builds that were killed (a finished or failed build removes its own)."""
    for name in os.listdir(parent):
        if name.startswith((".universe-new-", ".universe-work-", ".universe-old-")):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _build(out_dir, packages, groups, envs, comps, kernel, busybox, digest, say, quiet):
    parent = os.path.dirname(out_dir)
    _remove_leftovers(parent)  # we hold the lock, so no other build is using them
    start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix=".universe-new-", dir=parent)
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the universe is read by other users and qemu
    work = tempfile.mkdtemp(prefix=".universe-work-", dir=parent)
    try:
        repo = os.path.join(tmp, "repo")
        say(f"universe: building {len(packages)} source packages into {out_dir}")
        tty = not quiet and sys.stderr.isatty()

        def progress(done, total, name):
            if tty:
                print(f"\r  rpmbuild [{done}/{total}] {name:<40}", end="", file=sys.stderr,
                      flush=True)

        result = build_packages(packages, repo, workdir=work,
                                log=os.path.join(tmp, "rpmbuild.log"), progress=progress)
        if tty:
            print(file=sys.stderr)
        write_atomic(os.path.join(tmp, "comps.xml"), comps)
        say("universe: createrepo_c")
        from ..tools import run
        run([_createrepo_c(), "--quiet", "--general-compress-type", "gz", "--workers", "2",
             "--groupfile", os.path.join(tmp, "comps.xml"), "--revision", str(SOURCE_DATE_EPOCH),
             "--set-timestamp-to-revision", repo],
            log_path=os.path.join(tmp, "createrepo.log"))
        seconds = time.monotonic() - start
        info = _info(packages, groups, envs, kernel, busybox, result, digest, seconds)
        write_json_atomic(os.path.join(tmp, "universe.json"), info)
        write_atomic(os.path.join(tmp, STAMP), digest + "\n")
        old = None
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix=".universe-old-", dir=parent)
            os.rename(out_dir, os.path.join(old, "u"))
        os.rename(tmp, out_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)
        say(f"universe: {len(result.rpms)} RPMs + {len(result.srpms)} SRPMs in {seconds:.1f} s")
        return _load(out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
