"""Seed a build service with the demo universe: tags, a target, builds, optionally signatures.

``import_universe(session, universe)`` gives a hub the layout a distribution's Koji has::

    demo-1.0-base       every build (older versions of packages with several)
    demo-1.0-updates    inherits base; the newest build of packages with several versions
    demo-1.0-build      inherits updates (the build tag)
    target demo-1.0     demo-1.0-build -> demo-1.0-updates

so ``listTaggedRPMS("demo-1.0-updates", inherit=True, latest=True)`` is the universe's newest
builds. Every SRPM and RPM is uploaded and imported with ``importRPM`` (the way ``koji import``
does), builds are tagged with ``tagBuildBypass`` (no task, no builder needed), package lists are
filled. With ``sign_key`` each RPM is also signed (``sign_rpms``): a copy is signed with rpmsign,
its signature header ripped with ``koji.rip_rpm_sighdr`` and stored with ``addRPMSig`` +
``writeSignedRPM``. Everything checks before it writes, so a second call does nothing.

``GpgKey.create(directory)`` makes a throwaway signing key in a private GNUPGHOME.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field

import koji

from ..errors import HubError, ToolError
from ..rpmtools.headers import read_header

log = logging.getLogger(__name__)

GPG = shutil.which("gpg") or "/usr/bin/gpg"


@dataclass(frozen=True)
class TagChain:
    """Tag names of a seeded release."""
    base: str = "demo-1.0-base"
    updates: str = "demo-1.0-updates"
    build: str = "demo-1.0-build"
    target: str = "demo-1.0"
    arches: str = "x86_64 i686"

    @classmethod
    def for_release(cls, short, version, arches="x86_64 i686"):
        prefix = f"{short.lower()}-{version}"
        return cls(f"{prefix}-base", f"{prefix}-updates", f"{prefix}-build", prefix, arches)


DEMO_TAGS = TagChain()


@dataclass
class SeedResult:
    tags: TagChain
    builds: dict = field(default_factory=dict)    # nvr -> build id
    imported: int = 0                             # RPM files imported by this call
    tagged: int = 0                               # builds tagged by this call
    signed: int = 0                               # signatures added by this call
    event: dict = None                            # getLastEvent() after seeding


@dataclass
class GpgKey:
    """A signing key in a private GNUPGHOME: ``keyid`` (16 hex) and ``sigkey`` (Koji's 8)."""
    home: str
    keyid: str
    uid: str

    @property
    def sigkey(self):
        return self.keyid[-8:].lower()

    def env(self):
        return dict(os.environ, GNUPGHOME=self.home)

    @classmethod
    def create(cls, directory, uid="Demo Signing Key <signing@example.invalid>"):
        """A new RSA key without passphrase in ``directory`` (reused when one is there)."""
        home = os.path.abspath(directory)
        os.makedirs(home, mode=0o700, exist_ok=True)
        os.chmod(home, 0o700)
        env = dict(os.environ, GNUPGHOME=home)
        if not _list_keys(env):
            _gpg(env, "--batch", "--passphrase", "", "--quick-gen-key", uid, "rsa2048", "sign",
                 "never")
        keys = _list_keys(env)
        if not keys:
            raise ToolError(f"gpg made no key in {home}")
        return cls(home=home, keyid=keys[0][0], uid=keys[0][1])

    def export_public(self, path):
        out = _gpg(self.env(), "--armor", "--export", self.keyid)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(out)
        return path

    def stop_agent(self):
        """gpg starts an agent per GNUPGHOME; stop ours when done."""
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=self.env(),
                       capture_output=True, check=False)


def _gpg(env, *args):
    proc = subprocess.run([GPG, *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolError(f"gpg {' '.join(args[:3])} failed: {proc.stderr.strip()}")
    return proc.stdout


def _list_keys(env):
    out = _gpg(env, "--batch", "--with-colons", "--list-secret-keys")
    keys, current = [], None
    for line in out.splitlines():
        parts = line.split(":")
        if parts[0] == "sec":
            current = parts[4]
        elif parts[0] == "uid" and current:
            keys.append((current.upper(), parts[9]))
            current = None
    return keys


def rpmsign(key, paths, log_path=None):
    """Sign RPM files in place with ``key`` (rpmsign --addsign, Debian's rpm needs __gpg)."""
    if not paths:
        return
    cmd = ["rpmsign", "--define", f"_gpg_name {key.keyid}", "--define", f"__gpg {GPG}",
           "--define", f"_gpg_path {key.home}", "--addsign", *paths]
    from ..tools import run

    run(cmd, env=key.env(), log_path=log_path)


# ---- universe ---------------------------------------------------------------------------------

def _repo_dir(universe):
    path = getattr(universe, "repo_dir", None) or os.fspath(universe)
    if os.path.isdir(os.path.join(path, "repo")):
        path = os.path.join(path, "repo")
    return path


def universe_builds(universe):
    """``{srpm filename: [binary filenames]}`` of a universe (or any flat directory of RPMs)."""
    repo = _repo_dir(universe)
    builds, orphans = {}, []
    for name in sorted(os.listdir(repo)):
        if not name.endswith(".rpm"):
            continue
        h = read_header(os.path.join(repo, name))
        if h.is_source:
            builds.setdefault(name, [])
        else:
            orphans.append((h.sourcerpm, name))
    for srpm, name in orphans:
        if srpm not in builds:
            raise HubError(f"{name}: its source package {srpm} is not in {repo}")
        builds[srpm].append(name)
    return builds


def _nvr(srpm_filename):
    parsed = koji.parse_NVRA(srpm_filename[:-len(".rpm")])
    return parsed["name"], parsed["version"], parsed["release"]


def _vercmp(a, b):
    import rpm

    return rpm.labelCompare(("0", a[1], a[2]), ("0", b[1], b[2]))


def ensure_tags(session, tags=DEMO_TAGS, owner=None):
    """Create the tag chain and the target when missing; returns the number of writes."""
    writes = 0
    parents = [(tags.base, None), (tags.updates, tags.base), (tags.build, tags.updates)]
    for name, parent in parents:
        if session.getTag(name) is None:
            session.createTag(name, parent=parent, arches=tags.arches)
            writes += 1
    if session.getBuildTarget(tags.target) is None:
        session.createBuildTarget(tags.target, tags.build, tags.updates)
        writes += 1
    return writes


def _upload_dir():
    return "cli-import/%s.%s" % (time.strftime("%Y%m%d%H%M%S"), uuid.uuid4().hex[:8])


def import_universe(session, universe, tags=DEMO_TAGS, owner=None, sign_key=None,
                    workdir=None, log_path=None):
    """Import the universe's SRPMs and RPMs into ``tags`` (see the module doc); idempotent.

    ``session`` is a logged-in ``koji.ClientSession`` with admin rights (importRPM and
    tagBuildBypass are admin calls). ``sign_key`` (a :class:`GpgKey`) also signs every RPM.
    """
    owner = owner or session.getLoggedInUser()["name"]
    repo = _repo_dir(universe)
    builds = universe_builds(universe)
    result = SeedResult(tags=tags)
    ensure_tags(session, tags, owner)

    # newest build of each package goes to updates, the others to base
    by_name = {}
    for srpm in builds:
        by_name.setdefault(_nvr(srpm)[0], []).append(_nvr(srpm))
    newest = {}
    for name, nvrs in by_name.items():
        best = nvrs[0]
        for nvr in nvrs[1:]:
            if _vercmp(nvr, best) > 0:
                best = nvr
        newest[name] = best

    # package lists: every package in base (inherited by updates and build)
    listed = {p["package_name"] for p in session.listPackages(tagID=tags.base)}
    missing = sorted(set(by_name) - listed)
    if missing:
        with session.multicall(strict=True, batch=200) as m:
            for name in missing:
                m.packageListAdd(tags.base, name, owner=owner)

    # builds and their RPMs
    for srpm in sorted(builds):
        files = [srpm] + sorted(builds[srpm])
        nvrs = [f[:-len(".rpm")] for f in files]
        with session.multicall(strict=True) as m:
            found = [m.getRPM(nvra) for nvra in nvrs]
        todo = [f for f, call in zip(files, found) if not call.result]
        if todo:
            path = _upload_dir()
            for name in todo:
                session.uploadWrapper(os.path.join(repo, name), path, name=name)
            # SRPM first: it creates the build the binaries attach to
            for name in todo:
                session.importRPM(path, name)
            result.imported += len(todo)
        build = session.getBuild("%s-%s-%s" % _nvr(srpm), strict=True)
        result.builds[build["nvr"]] = build["id"]

    # tagging
    tagged = {tags.base: {b["nvr"] for b in session.listTagged(tags.base)},
              tags.updates: {b["nvr"] for b in session.listTagged(tags.updates)}}
    order = sorted(builds, key=lambda f: _nvr(f))
    for srpm in order:
        name, version, release = _nvr(srpm)
        nvr = f"{name}-{version}-{release}"
        tag = tags.updates if newest[name] == (name, version, release) and \
            len(by_name[name]) > 1 else tags.base
        if nvr not in tagged[tag]:
            session.tagBuildBypass(tag, nvr)
            result.tagged += 1

    if sign_key is not None:
        files = [os.path.join(repo, f) for srpm in builds for f in [srpm] + builds[srpm]]
        result.signed = sign_rpms(session, sign_key, files, workdir=workdir, log_path=log_path)
    result.event = session.getLastEvent()
    log.info("seeded %s: %d RPMs imported, %d builds tagged, %d signatures", tags.updates,
             result.imported, result.tagged, result.signed)
    return result


def sign_rpms(session, key, paths, workdir=None, log_path=None, batch=100):
    """Sign the hub's copies of the RPM files ``paths`` with ``key``; returns how many were new.

    Each file is copied and signed with rpmsign; the signature header goes to the hub with
    ``addRPMSig`` and ``writeSignedRPM`` writes the signed copy. Already signed RPMs are skipped.
    """
    sigkey = key.sigkey
    nvras = [os.path.basename(p)[:-len(".rpm")] for p in paths]
    with session.multicall(strict=True, batch=500) as m:
        sigs = [m.queryRPMSigs(rpm_id=nvra, sigkey=sigkey) for nvra in nvras]
        infos = [m.getRPM(nvra, strict=True) for nvra in nvras]
    todo = [(p, info.result) for p, s, info in zip(paths, sigs, infos) if not s.result]
    if not todo:
        return 0
    tmp = tempfile.mkdtemp(prefix="sign-", dir=workdir)
    try:
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            copies = []
            for path, _info in chunk:
                dest = os.path.join(tmp, os.path.basename(path))
                shutil.copyfile(path, dest)
                copies.append(dest)
            rpmsign(key, copies, log_path=log_path)
            with session.multicall(strict=True) as m:
                for copy, (_path, info) in zip(copies, chunk):
                    sighdr = koji.rip_rpm_sighdr(copy)
                    m.addRPMSig(info["id"], base64.b64encode(sighdr).decode())
                    m.writeSignedRPM(info["id"], sigkey)
            for copy in copies:
                os.unlink(copy)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(todo)
