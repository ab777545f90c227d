"""digest_prefill: the record's file digests computed by a child process, the same values as
reuse_keys.file_digest's, and file_digest waiting for a running prefill of a hard link."""

import gzip
import hashlib
import os
import threading

import pytest

from pungi_like import reuse_keys
from pungi_like.digest_prefill import Prefill, digest_file

TOP = b"/srv/composes/Peer-1.0-20261206.n.0"
CID = b"Peer-1.0-20261206.n.0"
NEEDLES = (TOP, CID)


@pytest.fixture(autouse=True)
def empty_cache():
    saved = dict(reuse_keys._digest_cache)
    running = list(reuse_keys._prefills)    # a compose's of an earlier test (needles of its own)
    reuse_keys._digest_cache.clear()
    yield
    reuse_keys._digest_cache.clear()
    reuse_keys._digest_cache.update(saved)
    # every prefill a test started is done and unregistered
    assert [p for p in reuse_keys._prefills if p not in running] == []


def _files(tmp_path):
    edge = 1 << 20     # file_digest's and the child's read size
    contents = {
        "plain.rpm": b"\xed\xab\xee\xdb" + os.urandom(5000),
        "names-top.rpm": b"x" * 100 + TOP + b"y" * 100,
        "names-id.txt": b"built in " + CID + b"\n",
        "empty.rpm": b"",
        # the compose's id across the first read's edge, and the directory inside a later read
        "big-across.rpm": b"a" * (edge - 5) + CID + b"b" * 1000,
        "big-later.rpm": b"c" * (2 * edge + 17) + TOP + b"d" * 3,
        "exactly-one-read.rpm": b"e" * edge,
    }
    paths = {}
    for name, data in contents.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths[name] = str(path)
    gz = tmp_path / "primary.xml.gz"
    gz.write_bytes(gzip.compress(b"<location xml:base=\"" + TOP + b"\"/>"))
    paths["primary.xml.gz"] = str(gz)
    return paths


def _fresh(path):
    """file_digest's own answer, read by this process."""
    with reuse_keys._digest_lock:
        saved = dict(reuse_keys._digest_cache)
        reuse_keys._digest_cache.clear()
    try:
        return reuse_keys.file_digest(path, NEEDLES)
    finally:
        with reuse_keys._digest_lock:
            reuse_keys._digest_cache.clear()
            reuse_keys._digest_cache.update(saved)


def test_the_childs_digests_are_file_digests(tmp_path):
    paths = _files(tmp_path)
    (tmp_path / "a-directory").mkdir()
    asked = list(paths.values()) + [str(tmp_path / "a-directory"), str(tmp_path / "missing.rpm")]
    prefill = Prefill(asked, NEEDLES)
    assert prefill.wait(60)
    # every regular file but the gzip one (file_digest searches that decompressed too)
    assert prefill.answered == len(paths) - 1
    for name, path in paths.items():
        key = (reuse_keys._stat_id(os.stat(path)), NEEDLES)
        if name.endswith(".gz"):
            assert key not in reuse_keys._digest_cache
            continue
        assert reuse_keys._digest_cache[key] == _fresh(path), name
    found = {name: reuse_keys._digest_cache[(reuse_keys._stat_id(os.stat(p)), NEEDLES)][1]
             for name, p in paths.items() if not name.endswith(".gz")}
    assert found["names-top.rpm"] == {TOP: True, CID: True}     # the directory holds the id
    assert found["names-id.txt"] == {TOP: False, CID: True}
    assert found["big-across.rpm"] == {TOP: False, CID: True}
    assert found["big-later.rpm"] == {TOP: True, CID: True}
    assert found["plain.rpm"] == {TOP: False, CID: False}


def test_digest_file_refuses_a_file_that_changed_while_read(tmp_path, monkeypatch):
    path = tmp_path / "growing.rpm"
    path.write_bytes(b"z" * 100)
    real_fstat = os.fstat
    calls = []

    def fstat(fd):
        st = real_fstat(fd)
        calls.append(st)
        if len(calls) == 2:     # the look after the read: another size
            with open(path, "ab") as fh:
                fh.write(b"more")
            return real_fstat(fd)
        return st
    monkeypatch.setattr(os, "fstat", fstat)
    assert digest_file(os.fsencode(path), list(NEEDLES)) is None
    monkeypatch.setattr(os, "fstat", real_fstat)
    assert digest_file(os.fsencode(path), list(NEEDLES))[1] == _fresh(str(path))[0]


class _Slow:
    """A prefill whose answer comes when file_digest waits for it (as a child's would)."""

    def __init__(self, path, value):
        self.needles = NEEDLES
        self.path, self.value = path, value
        self.waited = threading.Event()

    def wait(self, timeout=None):
        self.waited.set()
        reuse_keys.prefilled(reuse_keys._stat_id(os.stat(self.path)), NEEDLES, *self.value)
        reuse_keys.remove_prefill(self)
        return True


def test_file_digest_waits_for_a_running_prefill_of_a_hard_link(tmp_path):
    src = tmp_path / "pkg.rpm"
    src.write_bytes(b"package bytes")
    link = tmp_path / "download.rpm"
    os.link(src, link)
    # a value the file's bytes do not give: taken from the prefill, not read
    slow = _Slow(str(src), ("f" * 64, {TOP: False, CID: False}))
    reuse_keys.add_prefill(slow)
    assert reuse_keys.file_digest(str(link), NEEDLES) == ("f" * 64, {TOP: False, CID: False})
    assert slow.waited.is_set()


def test_file_digest_does_not_wait_for_a_single_link_or_other_needles(tmp_path):
    single = tmp_path / "config.conf"
    single.write_bytes(b"options")
    src = tmp_path / "pkg.rpm"
    src.write_bytes(b"package bytes")
    os.link(src, tmp_path / "download.rpm")
    slow = _Slow(str(src), ("f" * 64, {TOP: False, CID: False}))
    reuse_keys.add_prefill(slow)
    try:
        assert reuse_keys.file_digest(str(single), NEEDLES)[0] == _fresh(str(single))[0]
        assert reuse_keys.file_digest(str(src), ())[0] == hashlib.sha256(b"package bytes").hexdigest()
        assert not slow.waited.is_set()
    finally:
        reuse_keys.remove_prefill(slow)


_NICE_PROBE = """
import os, sys
sys.path.insert(0, sys.argv[1])
from pungi_like import digest_prefill as d
seen = []
real_digest, real_tags = d.digest_file, d.raw_tags
def digest_file(path, needles):
    seen.append("digest %d" % os.nice(0))
    return real_digest(path, needles)
def raw_tags(path, arch_tags):
    seen.append("tags %d" % os.nice(0))
    return None
d.digest_file, d.raw_tags = digest_file, raw_tags
code = d.child(sys.argv[2:])
sys.stderr.write("\\n".join(seen))
sys.exit(code)
"""


def _probe(tmp_path, paths, tags, env_nice=None):
    """The child (digest_prefill.child) run on ``paths``: its stdout lines and, per tags read
    and file hashed, the process's niceness then (``["tags N", "digest M", ...]``)."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env.pop("PUNGI_LIKE_HELPER_NICE", None)
    if env_nice is not None:
        env["PUNGI_LIKE_HELPER_NICE"] = env_nice
    args, fds, stdin = [], (), b"".join(os.fsencode(p) + b"\0" for p in paths)
    if tags:
        tags_out = open(tmp_path / "tags", "w+b")
        done_r, done_w = os.pipe()
        fds = (tags_out.fileno(), done_w)
        args = ["--tags", str(fds[0]), str(done_w)]
        stdin = b"".join(b"s" + os.fsencode(p) + b"\0" for p in paths)
    try:
        proc = subprocess.run([sys.executable, "-c", _NICE_PROBE, root] + args
                              + [n.hex() for n in NEEDLES], input=stdin, capture_output=True,
                              pass_fds=fds, env=env, check=True)
    finally:
        if tags:
            os.close(done_r)
            os.close(done_w)
            tags_out.close()
    return proc.stdout.splitlines(), proc.stderr.decode().split("\n")


def test_the_child_hashes_at_a_lower_priority_after_its_tags(tmp_path):
    from pungi_like.digest_prefill import HELPER_NICE

    paths = [p for name, p in _files(tmp_path).items() if name.endswith(".rpm")]
    mine = os.nice(0)
    lower = min(mine + HELPER_NICE, 19)
    answers, seen = _probe(tmp_path, paths, tags=True)
    assert len(answers) == len(paths)
    # the tags the unit waits for at the compose's priority, then every digest at the lower one
    assert seen == [f"tags {mine}"] * len(paths) + [f"digest {lower}"] * len(paths)
    answers, seen = _probe(tmp_path, paths, tags=False)
    assert len(answers) == len(paths) and seen == [f"digest {lower}"] * len(paths)
    # PUNGI_LIKE_HELPER_NICE=0: the compose's own priority throughout
    answers, seen = _probe(tmp_path, paths, tags=True, env_nice="0")
    assert len(answers) == len(paths)
    assert seen == [f"tags {mine}"] * len(paths) + [f"digest {mine}"] * len(paths)


def test_the_tags_lines_are_parsed_at_once_and_a_cut_line_ends_them(monkeypatch):
    import json

    from pungi_like.digest_prefill import parse_tags
    from pungi_like.rpmtools.headers import RawTags

    lines = [json.dumps(v).encode() for v in (
        ["abcd1234", [], []], None, [None, ["s390x"], ["x86_64", "aarch64"]], [1, [], []],
        ["caf\u00e9", [], []])]
    expected = [RawTags("abcd1234", [], []), None, RawTags(None, ["s390x"], ["x86_64", "aarch64"]),
                None, RawTags("caf\u00e9", [], [])]
    calls = []
    real = json.loads
    monkeypatch.setattr(json, "loads", lambda text: calls.append(text) or real(text))
    assert parse_tags(lines) == expected
    assert len(calls) == 1      # one parse for all the lines
    assert parse_tags([]) == []
    # a kill cut the last line short: the lines before it are taken, one by one
    for cut in range(1, len(lines[2])):
        assert parse_tags(lines[:2] + [lines[2][:cut]]) == expected[:2], cut
    # a line that is not one value ends them as well
    assert parse_tags(lines[:1] + [b"1, 2"] + lines[2:]) == expected[:1]


def test_a_file_read_whole_at_once_is_searched_without_a_window(tmp_path, monkeypatch):
    from pungi_like import digest_prefill

    paths = _files(tmp_path)
    made = []
    real = digest_prefill.NeedleSearch

    class Counting(real):
        def __init__(self, needles):
            made.append(needles)
            super().__init__(needles)

    monkeypatch.setattr(digest_prefill, "NeedleSearch", Counting)
    for name, path in paths.items():
        if name.endswith(".gz"):
            continue
        made.clear()
        answer = digest_file(os.fsencode(path), list(NEEDLES))
        assert (answer[1], dict(zip(NEEDLES, answer[2]))) == _fresh(path), name
        # a file smaller than a read, or of exactly one read: one search of its bytes
        assert len(made) == (1 if name.startswith("big-") or name == "empty.rpm" else 0), name
    # an empty file names nothing, not even an empty needle (no bytes were searched)
    assert digest_file(os.fsencode(paths["empty.rpm"]), [b"", CID])[2] == [False, False]
