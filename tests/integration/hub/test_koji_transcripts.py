"""The Koji transcript comparison (issue 11): the 259 koji CLI commands of the corpus in
``../shared/oracles/koji-1.36/`` run against a fresh hub of ours, compared with real Koji's outputs.

The corpus's own tools run from the corpus (never copied): ``make-rpms.sh`` builds the test RPMs
once per session, ``sequence.sh`` runs the commands against a fresh hub in the state its README
asks for (only kojiadmin, SSL logins for kojiadmin and alice with LoginCreatesUser, no automatic
tasks, a builder daemon as host builder1 from after command 101), and ``compare.py`` normalises
and compares, with ``--rebuilt-rpms``, the corpus's ``allow-equivalent.txt`` and the differences
we declare in ``doc/koji-differences.md`` (fenced block ``koji-differences``, one
``NNN-name | backends | reason`` a line; backends: ``all``, ``sqlite`` or ``postgres``).

The test fails when a command differs (or is missing) without being declared, and when a
declared difference has become identical on a backend it names (a stale list).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, start_hub, stop_hub

CORPUS = Path(REPO_ROOT).parent / "shared" / "oracles" / "koji-1.36"
DIFFERENCES_DOC = Path(REPO_ROOT) / "doc" / "koji-differences.md"
KOJI = os.path.join(os.path.dirname(sys.executable), "koji")
BUILDER = [sys.executable, "-m", "pungi_like.cli.builder"]
USERS = ("kojiadmin", "alice", "builder1")
BACKENDS = ("sqlite", "postgres")
_FENCE_OPEN = re.compile(r"^```koji-differences\s*$")

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(),
                                reason="the Koji transcript corpus (../shared/oracles/koji-1.36) "
                                       "is absent")


def parse_differences(text):
    """``{backend: {command: reason}}`` from the ``koji-differences`` fenced block(s)."""
    found = {b: {} for b in BACKENDS}
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if not inside:
            inside = bool(_FENCE_OPEN.match(line))
            continue
        if line.strip() == "```":
            inside = False
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(" | ")]
        if len(parts) != 3 or not re.match(r"^\d{3}-\S+$", parts[0]) or not parts[2]:
            raise ValueError("doc/koji-differences.md:%d: expected 'NNN-name | backends | "
                             "reason', got %r" % (number, line))
        backends = BACKENDS if parts[1] == "all" else tuple(
            b.strip() for b in parts[1].split(","))
        for b in backends:
            if b not in BACKENDS:
                raise ValueError("doc/koji-differences.md:%d: unknown backend %r" % (number, b))
            found[b][parts[0]] = parts[2]
    if inside:
        raise ValueError("doc/koji-differences.md: unclosed ```koji-differences block")
    return found


def test_parse_differences():
    text = ("x\n```koji-differences\n# comment\n001-a | all | why\n002-b | postgres | order\n"
            "```\n")
    got = parse_differences(text)
    assert got == {"sqlite": {"001-a": "why"}, "postgres": {"001-a": "why", "002-b": "order"}}
    with pytest.raises(ValueError, match=":3:"):
        parse_differences("```koji-differences\n001-a | all | ok\nbad line\n```\n")
    with pytest.raises(ValueError, match="unknown backend"):
        parse_differences("```koji-differences\n001-a | mysql | x\n```\n")
    with pytest.raises(ValueError, match="unclosed"):
        parse_differences("```koji-differences\n001-a | all | x\n")


def _corpus_normalise():
    """The corpus's own ``compare.normalise`` (read from the corpus, not copied)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("koji_corpus_compare", CORPUS / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.normalise


def rpm_digests(rpms_dir):
    """The digests of the built RPMs that Koji's answers show: each header's SIGMD5 (Koji's
    ``payloadhash``) and each file's MD5 and SHA-256, in hex."""
    found = []
    for path in sorted(Path(rpms_dir).rglob("*.rpm")):
        proc = subprocess.run(["rpm", "-qp", "--nosignature", "--qf", "%{SIGMD5}", str(path)],
                              capture_output=True, text=True, check=True)
        data = path.read_bytes()
        found += [proc.stdout.strip(), hashlib.md5(data).hexdigest(),
                  hashlib.sha256(data).hexdigest()]
    return found


def mangled_digests(digests, normalise):
    """The digests that the corpus's normaliser would change: it takes a run of ten digits
    starting with 1 for a Unix time stamp, also inside a hex digest."""
    return [d for d in digests if normalise(d) != d]


def test_a_digest_with_a_time_stamp_like_run_is_found():
    normalise = _corpus_normalise()
    assert mangled_digests(["cdb9f5912f4b2fbeb1734567890c3def", "cdb9f5912f4b2fbebaaa"],
                           normalise) == ["cdb9f5912f4b2fbeb1734567890c3def"]


@pytest.fixture(scope="session")
def transcript_rpms(tmp_path_factory):
    # the rebuilt RPMs have other digests each build (their build time is in their headers);
    # the corpus's normaliser rewrites a digest holding a run of ten digits that reads as a
    # Unix time stamp (the payload hashes alone: about 1 build in 35), and then compare.py
    # reports the answers that show it as unlike Koji's: such a build is made again
    normalise = _corpus_normalise()
    for attempt in range(5):
        d = tmp_path_factory.mktemp("transcript-rpms")
        proc = subprocess.run(["bash", str(CORPUS / "make-rpms.sh"), str(d)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        mangled = mangled_digests(rpm_digests(d / "RPMS") + rpm_digests(d / "SRPMS"), normalise)
        if not mangled:
            return d
        time.sleep(1)   # another build time, other digests
    pytest.fail("every build of the test RPMs had a digest the corpus's normaliser rewrites: "
                "%s" % mangled)


@pytest.fixture(scope="session")
def transcript_pki(tmp_path_factory):
    from pungi_like.buildsvc import certs

    d = tmp_path_factory.mktemp("transcript-pki")
    certs.make_ca(str(d))
    certs.make_server_cert(str(d), ["127.0.0.1", "localhost"])
    for user in USERS + ("bob",):
        certs.make_user_cert(str(d), user)
    return d


def _koji_conf(path, hub, pki):
    """One profile per user with koji's defaults otherwise (poll_interval 6, fast upload): the
    ``--wait`` outputs depend on them."""
    lines = []
    for user in ("kojiadmin", "alice"):
        lines += ["[%s]" % user, "server = %s" % hub.url,
                  "weburl = %s" % hub.url.replace("/kojihub", "/koji"),
                  "topdir = %s" % hub.topdir, "topurl = file://%s" % hub.topdir,
                  "authtype = ssl", "cert = %s" % (pki / (user + ".pem")),
                  "serverca = %s" % (pki / "ca.crt"), ""]
    path.write_text("\n".join(lines))
    return path


def _stop_pid(pid):
    """SIGTERM the builder (if sequence.sh did not stop it), SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        for _ in range(wait * 10):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def run_transcripts(tmp_path, pki, rpms, backend):
    """Run sequence.sh against a fresh hub; returns (compare.py stdout, hub, out dir)."""
    from pungi_like.buildsvc.hub.scheduler import write_settings

    def prepare(topdir, db_url):
        # Koji's RunInterval = 1 and no kojira: the only tasks are those the commands make
        write_settings(topdir, run_interval=1.0, auto_repos=False)
        for sub in ("packages", "repos", "work", "scratch"):
            os.makedirs(os.path.join(topdir, sub), exist_ok=True)

    hub = start_hub(tmp_path, pki, backend, prepare=prepare)
    out = tmp_path / "out"
    pidfile = tmp_path / "builder.pid"
    builder_cmd = BUILDER + ["--hub", hub.url, "--cert", str(pki / "builder1.pem"),
                             "--serverca", str(pki / "ca.crt"), "--topdir", hub.topdir,
                             "--workdir", str(tmp_path / "builder1.work"),
                             "--poll-interval", "1"]
    # exec: the recorded pid is the builder's own, not that of a shell around it
    start = "cd %s && exec %s >%s 2>&1 & echo $! > %s" % (
        shlex.quote(REPO_ROOT), " ".join(map(shlex.quote, builder_cmd)),
        shlex.quote(str(tmp_path / "builder1.log")), shlex.quote(str(pidfile)))
    stop = "kill $(cat %s)" % shlex.quote(str(pidfile))
    try:
        conf = _koji_conf(tmp_path / "koji.conf", hub, pki)
        env = dict(os.environ, KOJI=KOJI, KOJI_CONF=str(conf), PROFILE_KOJIADMIN="kojiadmin",
                   PROFILE_ALICE="alice", BUILDER_START=start, BUILDER_STOP=stop)
        seq = subprocess.run(["bash", str(CORPUS / "sequence.sh"), str(rpms), str(out)],
                             env=env, capture_output=True, text=True, timeout=1800)
        assert seq.returncode == 0, seq.stderr[-3000:]
    finally:
        if pidfile.exists():
            _stop_pid(int(pidfile.read_text().strip()))
        stop_hub(hub)
    return out


def compare(out, declared, tmp_path):
    allow = tmp_path / "declared-differences.txt"
    allow.write_text("".join("%s %s\n" % kv for kv in sorted(declared.items())))
    proc = subprocess.run(
        [sys.executable, str(CORPUS / "compare.py"), str(out), "--rebuilt-rpms",
         "--allow", str(CORPUS / "allow-equivalent.txt"), "--allow", str(allow),
         "--diff-dir", str(tmp_path / "diffs")],
        capture_output=True, text=True)
    status = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(\d{3}-\S+)\s+(identical|allowed|DIFFERENT|missing)\b", line)
        if m:
            status[m.group(1)] = m.group(2)
    assert len(status) == 259, proc.stdout + proc.stderr
    return status, proc.stdout


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                             marks=pytest.mark.postgres)])
def test_koji_transcripts(backend, tmp_path, transcript_pki, transcript_rpms, koji_available):
    declared = parse_differences(DIFFERENCES_DOC.read_text())[backend]
    out = run_transcripts(tmp_path, transcript_pki, transcript_rpms, backend)
    status, report = compare(out, declared, tmp_path)
    summary = [l for l in report.splitlines() if l.startswith("summary:")]
    print("\n".join(summary))
    undeclared = sorted(n for n, st in status.items() if st in ("DIFFERENT", "missing"))
    diffs = "".join((tmp_path / "diffs" / (n + ".diff")).read_text()
                    for n in undeclared if (tmp_path / "diffs" / (n + ".diff")).exists())
    assert not undeclared, ("commands answered unlike Koji and not declared in "
                            "doc/koji-differences.md (%s): %s\n%s" % (backend, undeclared, diffs))
    stale = sorted(n for n in declared if status.get(n) == "identical")
    assert not stale, ("declared in doc/koji-differences.md for %s but now identical to Koji "
                       "(remove them): %s" % (backend, stale))
