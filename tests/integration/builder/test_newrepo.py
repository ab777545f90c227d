"""newRepo: per-arch repodata with comps; external repos merged by priority and merge mode."""

import os

import pytest

from pungi_like.buildsvc.builder.newrepo import RepoGenError, generate_repo
from pungi_like.rpmtools.depsolve import Depsolver, Repo
from pungi_like.rpmtools.repodata import createrepo
from pungi_like.rpmtools.rootinstall import resolve_packages
from pungi_like.universe.rpmbuild import Package
from tests.httprepo import primary_records

pytestmark = pytest.mark.integration


def _pool(path):
    d = Depsolver([Repo("merged", path)], "x86_64")
    return d, {p.nevra: p for p in d.pkgs.values()}


@pytest.fixture
def tag_rpms(rpm_factory, tmp_path):
    res = rpm_factory([
        Package("libdemoc", "9.0", arch="x86_64", provides=["libdemoc.so.9()(64bit)"],
                files={"/usr/lib64/libdemoc.so.9": "x"}),
        Package("tag-tool", "1.0", arch="noarch", requires=["libdemoc"],
                files={"/usr/bin/tag-tool": "#!/bin/sh\n"}),
    ], outdir=tmp_path / "top" / "packages")
    return {"x86_64": [r for r in res.rpms if r.endswith(".x86_64.rpm")],
            "noarch": [r for r in res.rpms if r.endswith(".noarch.rpm")]}


def _external(rpm_factory, tmp_path, label, version, content):
    res = rpm_factory([Package("ext-tool", version, arch="noarch",
                               files={"/usr/bin/ext-tool": content})],
                      outdir=tmp_path / label)
    createrepo(str(tmp_path / label))
    return str(tmp_path / label)


def test_plain_repo_loads_in_libsolv_with_groups(universe, tag_rpms, tmp_path):
    out = tmp_path / "repos" / "tag-build" / "1"
    result = generate_repo(str(out), tag_rpms, arches=["x86_64"], comps_xml=universe.comps_path,
                           topdir=str(tmp_path / "top"))
    arch_dir = out / "x86_64"
    assert result["x86_64"]["packages"] == 2
    assert open(arch_dir / "pkglist").read().splitlines() == [
        "toplink/packages/libdemoc-9.0-1.x86_64.rpm", "toplink/packages/tag-tool-1.0-1.noarch.rpm"]
    assert os.readlink(arch_dir / "toplink") == str(tmp_path / "top")
    assert (out / "groups" / "comps.xml").exists()
    _, pkgs = _pool(str(arch_dir))
    assert sorted(pkgs) == ["libdemoc-0:9.0-1.x86_64", "tag-tool-0:1.0-1.noarch"]
    paths = resolve_packages(str(arch_dir), ["tag-tool"])
    assert [os.path.basename(p) for p in paths] == ["libdemoc-9.0-1.x86_64.rpm",
                                                     "tag-tool-1.0-1.noarch.rpm"]
    assert all(os.path.exists(p) for p in paths)
    from pungi_like.buildsvc.builder.root import load_repo_comps, repo_dirs
    comps = load_repo_comps(repo_dirs([str(arch_dir)]))
    assert "core" in comps.group_ids()


def test_koji_mode_first_repo_wins_by_srpm_name(universe, tag_rpms, tmp_path):
    out = tmp_path / "repo"
    result = generate_repo(str(out), tag_rpms, arches=["x86_64"],
                           external_repos=[(universe.repo_dir, 10, "koji")],
                           blocked=["demo-httpd"])
    _, pkgs = _pool(str(out / "x86_64"))
    names = {p.name for p in pkgs.values()}
    # the tag's libdemoc wins the whole libdemoc SRPM: no external libdemoc, -devel, i686 ...
    assert [n for n in pkgs if n.startswith("libdemoc-")] == ["libdemoc-0:9.0-1.x86_64"]
    assert "libdemoc-devel" not in names
    assert "demo-httpd" not in names                # blocked
    assert "libssl3" in names and "kernel" in names   # the rest of the external repo
    ext = next(p for p in pkgs.values() if p.name == "kernel")
    assert ext.path.startswith(universe.repo_dir)    # xml:base points at the external repo
    assert result["x86_64"]["dropped"][universe.repo_dir] > 0
    assert not any(p.arch == "src" for p in pkgs.values())


@pytest.fixture
def mode_repos(rpm_factory, tmp_path):
    """Two external repos served over HTTP.  ext-a: tag-tool 2.0 (newer than the tag's 1.0) and
    ext-tool 1.0; ext-b: ext-tool 1.0 (another build of the same NEVRA), ext-tool 2.0 and
    blocked-tool 1.0."""
    from tests.httprepo import serve_directory

    def build(label, pkgs):
        rpm_factory([Package(n, v, arch="noarch", files={f"/usr/bin/{n}": f"{label} {v}\n"})
                     for n, v in pkgs], outdir=tmp_path / "web" / label)
        createrepo(str(tmp_path / "web" / label))

    build("ext-a", [("tag-tool", "2.0"), ("ext-tool", "1.0")])
    build("ext-b", [("ext-tool", "1.0"), ("ext-tool", "2.0"), ("blocked-tool", "1.0")])
    with serve_directory(tmp_path / "web") as srv:
        yield srv


def test_http_external_repos_per_merge_mode(mode_repos, tag_rpms, tmp_path):
    srv = mode_repos
    a, b = srv.url + "ext-a/", srv.url + "ext-b/"

    def gen(mode, label, repos=None):
        out = tmp_path / label
        res = generate_repo(str(out), tag_rpms, arches=["x86_64"], blocked=["blocked-tool"],
                            external_repos=repos or [(b, 20, mode), (a, 10, mode)])
        return primary_records(out / "x86_64"), res["x86_64"]

    # koji: the tag wins tag-tool (the external 2.0 is dropped); ext-a (priority 10) wins the
    # whole ext-tool SRPM name over ext-b (20), whose newer 2.0 is dropped; blocked dropped
    pkgs, info = gen("koji", "k")
    assert pkgs == [("ext-tool", "1.0", a), ("libdemoc", "9.0", ""), ("tag-tool", "1.0", "")]
    assert info["dropped"] == {a: 1, b: 3} and info["merge_mode"] == "koji"
    # koji, within one repo: only the packages of its newest SRPM of a name
    pkgs, _ = gen("koji", "k1", repos=[(b, 5, "koji")])
    assert [p for p in pkgs if p[0] == "ext-tool"] == [("ext-tool", "2.0", b)]
    # simple: everything but the blocked SRPM, identical NEVRAs from two repos both kept
    pkgs, _ = gen("simple", "s")
    assert pkgs == [("ext-tool", "1.0", a), ("ext-tool", "1.0", b), ("ext-tool", "2.0", b),
                    ("libdemoc", "9.0", ""), ("tag-tool", "1.0", ""), ("tag-tool", "2.0", a)]
    # bare: first of identical NEVRAs only, other versions kept, no blocklist
    pkgs, _ = gen("bare", "b")
    assert pkgs == [("blocked-tool", "1.0", b), ("ext-tool", "1.0", a), ("ext-tool", "2.0", b),
                    ("libdemoc", "9.0", ""), ("tag-tool", "1.0", ""), ("tag-tool", "2.0", a)]
    # only repodata was fetched, never a package
    assert srv.requests and not any(r.endswith(".rpm") for r in srv.requests)
    # the merged repo records where each external package came from
    import gzip

    origin = next((tmp_path / "k" / "x86_64" / "repodata").glob("*pkgorigins.gz"))
    assert gzip.open(origin, "rt").read() == "ext-tool-1.0-1.noarch\t%s\n" % a
    with pytest.raises(RepoGenError, match="different merge modes"):
        gen(None, "x", repos=[(a, 20, "bare"), (b, 5, "koji")])


def test_http_arch_substitution_and_packages_resolve(rpm_factory, tag_rpms, tmp_path):
    from tests.httprepo import serve_directory

    rpm_factory([Package("arch-tool", "1.0", arch="x86_64", files={"/usr/bin/arch-tool": "x"})],
                outdir=tmp_path / "web" / "x86_64" / "os")
    createrepo(str(tmp_path / "web" / "x86_64" / "os"))
    with serve_directory(tmp_path / "web") as srv:
        res = generate_repo(str(tmp_path / "out"), tag_rpms, arches=["x86_64"],
                            external_repos=[(srv.url + "$arch/os/", 10, "koji")])
        assert "/x86_64/os/repodata/repomd.xml" in srv.requests
    assert res["x86_64"]["external"] == {srv.url + "x86_64/os/": 1}
    d, pkgs = _pool(str(tmp_path / "out" / "x86_64"))
    assert "arch-tool-0:1.0-1.x86_64" in pkgs


def test_unreachable_or_bad_mirror_names_the_url(mode_repos, tag_rpms, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d/repo/" % sock.getsockname()[1]
    with pytest.raises(RepoGenError, match=r"external repo %s: .*cannot connect" % dead):
        generate_repo(str(tmp_path / "d"), tag_rpms, arches=["x86_64"],
                      external_repos=[(dead, 10, "koji")])
    missing = mode_repos.url + "nothing-here/"
    with pytest.raises(RepoGenError, match=r"nothing-here/repodata/repomd.xml: HTTP 404"):
        generate_repo(str(tmp_path / "m"), tag_rpms, arches=["x86_64"],
                      external_repos=[(missing, 10, "koji")])
    # a primary that does not match repomd.xml's checksum is refused
    repodata = tmp_path / "web" / "ext-a" / "repodata"
    primary = next(repodata.glob("*primary.xml.gz"))
    primary.write_bytes(primary.read_bytes() + b"\0")
    with pytest.raises(RepoGenError, match=r"checksum mismatch for primary"):
        generate_repo(str(tmp_path / "c"), tag_rpms, arches=["x86_64"],
                      external_repos=[(mode_repos.url + "ext-a/", 10, "koji")])


def test_fetch_bounds_and_hostile_locations(mode_repos, tmp_path):
    from pungi_like.rpmtools.remoterepo import RemoteRepoError, fetch_repodata

    url = mode_repos.url + "ext-b/"
    with pytest.raises(RemoteRepoError, match=r"more than the limit of 100 bytes"):
        fetch_repodata(url, str(tmp_path / "f1"), max_file=100)
    with pytest.raises(RemoteRepoError, match=r"repomd.xml: .*limit of 10 bytes"):
        fetch_repodata(url, str(tmp_path / "f2"), max_repomd=10)
    repomd = tmp_path / "web" / "ext-b" / "repodata" / "repomd.xml"
    text = repomd.read_text()
    repomd.write_text(text.replace('href="repodata/', 'href="../../', 1))
    with pytest.raises(RemoteRepoError, match=r"is outside the repo"):
        fetch_repodata(url, str(tmp_path / "f3"))
    # a server that takes the connection and never answers: the read times out
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(RemoteRepoError, match=r"http://127.0.0.1:%d/r/repodata/repomd.xml: "
                                                  r".*within 0.5 s" % port):
            fetch_repodata("http://127.0.0.1:%d/r/" % port, str(tmp_path / "f5"), timeout=0.5)
    with pytest.raises(RemoteRepoError, match=r"not an http\(s\) URL"):
        fetch_repodata("ftp://127.0.0.1/repo/", str(tmp_path / "f4"))
    # a redirect is followed to http(s) only
    import http.server
    import threading

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", mode_repos.url + "ext-a/repodata/repomd.xml"
                             if self.path == "/ok/repodata/repomd.xml" else "ftp://127.0.0.1/x")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        with pytest.raises(RemoteRepoError, match=r"redirected to ftp://127.0.0.1/x, which is "
                                                  r"not an http\(s\) URL"):
            fetch_repodata("http://127.0.0.1:%d/bad/" % port, str(tmp_path / "f6"))
        # http -> http redirects work (repomd.xml of ext-a; its files then 302 to ftp: refused)
        with pytest.raises(RemoteRepoError, match=r"redirected to ftp"):
            fetch_repodata("http://127.0.0.1:%d/ok/" % port, str(tmp_path / "f7"))
        assert os.path.exists(tmp_path / "f7" / "repodata" / "repomd.xml")
    finally:
        server.shutdown()
        server.server_close()


def test_https_mirror_verified_against_the_system_cas(mode_repos, tag_rpms, tmp_path,
                                                      monkeypatch):
    """An https mirror is read when its CA is trusted (SSL_CERT_FILE, as the system's CAs are)
    and refused with the URL and the TLS error when it is not."""
    import functools
    import http.server
    import ssl
    import threading

    from pungi_like.buildsvc import certs

    pki = str(tmp_path / "pki")
    certs.make_ca(pki)
    certs.make_server_cert(pki, ["127.0.0.1"])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tmp_path / "web"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(os.path.join(pki, "server.crt"), os.path.join(pki, "server.key"))
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = "https://127.0.0.1:%d/ext-a/" % server.server_address[1]
    try:
        with pytest.raises(RepoGenError, match=r"external repo %s: .*CERTIFICATE_VERIFY_FAILED"
                           % url):
            generate_repo(str(tmp_path / "untrusted"), tag_rpms, arches=["x86_64"],
                          external_repos=[(url, 10, "koji")])
        monkeypatch.setenv("SSL_CERT_FILE", os.path.join(pki, "ca.crt"))
        generate_repo(str(tmp_path / "trusted"), tag_rpms, arches=["x86_64"],
                      external_repos=[(url, 10, "koji")])
        assert ("ext-tool", "1.0", url) in primary_records(tmp_path / "trusted" / "x86_64")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("b_first", [False, True], ids=["a-first", "b-first"])
@pytest.mark.parametrize("mode", ["koji", "simple", "bare"])
def test_merge_matches_mergerepo_c(mode, b_first, mode_repos, tag_rpms, tmp_path):
    """The same merge run by the real mergerepo_c, with the command line kojid builds for the
    mode (createrepo of the tag's packages first, then ``-r`` premerge, externals by priority):
    the same packages, and each external one from the same repo.  With ext-b first, koji mode
    keeps only ext-b's newest ext-tool SRPM."""
    import shutil
    import subprocess

    from pungi_like.rpmtools.repodata import createrepo_binary

    mergerepo = os.path.join(os.path.dirname(createrepo_binary()), "mergerepo_c")
    if not os.access(mergerepo, os.X_OK):
        mergerepo = shutil.which("mergerepo_c")
    assert mergerepo, "mergerepo_c (createrepo_c) is needed"
    a, b = mode_repos.url + "ext-a/", mode_repos.url + "ext-b/"
    ours = generate_repo(str(tmp_path / "ours"), tag_rpms, arches=["x86_64"],
                         blocked=["blocked-tool"],
                         external_repos=[(b, 5 if b_first else 20, mode), (a, 10, mode)])
    assert ours["x86_64"]["merge_mode"] == mode
    # kojid: the tag's own repo (premerge), then mergerepo_c over it and the externals
    premerge = tmp_path / "premerge"
    premerge.mkdir()
    for p in tag_rpms["x86_64"] + tag_rpms["noarch"]:
        shutil.copy(p, premerge)
    createrepo(str(premerge))
    blocklist = tmp_path / "blocklist"
    blocklist.write_text("blocked-tool\n")
    cmd = {"koji": [mergerepo, "--koji"], "simple": [mergerepo, "--koji", "--simple"],
           "bare": [mergerepo, "--pkgorigins", "--all"]}[mode]
    if mode != "bare":
        cmd += ["-b", str(blocklist)]
    cmd += ["-a", "x86_64", "-o", str(tmp_path / "theirs"), "--arch-expand",
            "-r", "file://%s/" % premerge] + \
        sum((["-r", url] for url in ([b, a] if b_first else [a, b])), [])
    subprocess.run(cmd, check=True, capture_output=True, cwd=str(tmp_path))

    def external(records):
        # mergerepo_c writes xml:base without the URL's trailing slash; the same directory
        return sorted((n, v, base.rstrip("/")) for n, v, base in records
                      if base.startswith("http"))

    def every(records):
        return sorted((n, v) for n, v, _ in records)

    mine = primary_records(tmp_path / "ours" / "x86_64")
    theirs = primary_records(tmp_path / "theirs")
    assert every(mine) == every(theirs)
    assert external(mine) == external(theirs)


def test_next_repo_from_the_records_this_builder_wrote(universe, tag_rpms, tmp_path):
    """The createrepo task's repodata of a tag's next repo: the previous repo's records taken
    as they are when this builder's createrepo_c wrote them (DumpedRepodata), the same
    repodata as createrepo_c --update (groups too); a file gone from the topdir leaves it to
    createrepo_c, which does not look at files it has records of (--skip-stat)."""
    import gzip
    import glob

    from pungi_like.buildsvc.builder.newrepo import DumpedRepodata

    def decompressed(arch_dir):
        out = {}
        for kind in ("primary", "filelists", "other", "comps"):
            (path,) = glob.glob(os.path.join(arch_dir, "repodata", "*-%s.xml*" % kind))
            with (gzip.open(path) if path.endswith(".gz") else open(path, "rb")) as f:
                out[kind] = f.read()
        return out

    old_time = 1_700_000_000   # built long before the repos (repowrite.written_after)
    for paths in tag_rpms.values():
        for p in paths:
            os.utime(p, (old_time, old_time))
    top = str(tmp_path / "top")
    dumped = DumpedRepodata(str(tmp_path / "cache"))
    first = tmp_path / "repos" / "1"
    generate_repo(str(first), {"noarch": tag_rpms["noarch"]}, arches=["x86_64"],
                  comps_xml=universe.comps_path, topdir=top, log_path=str(tmp_path / "1.log"),
                  dumped=dumped)
    assert dumped.knows(str(first / "x86_64"))
    runs = {}
    for label, known in (("records", dumped), ("command", None)):
        out = tmp_path / "repos" / label
        generate_repo(str(out), tag_rpms, arches=["x86_64"], comps_xml=universe.comps_path,
                      topdir=top, log_path=str(tmp_path / ("%s.log" % label)),
                      update_from={"x86_64": str(first / "x86_64")}, dumped=known)
        runs[label] = decompressed(str(out / "x86_64"))
    log = open(tmp_path / "records.log").read()
    assert "written from records: 2 packages, 1 records taken" in log, log
    assert "--update" not in log
    assert "--update" in open(tmp_path / "command.log").read()
    assert runs["records"] == runs["command"]
    assert dumped.knows(str(tmp_path / "repos" / "records" / "x86_64"))
    # a listed file gone: createrepo_c --update --skip-stat as before
    gone = tmp_path / "repos" / "gone"
    (tmp_path / "gone.rpm").write_bytes(b"")
    os.rename(tag_rpms["noarch"][0], tmp_path / "gone.rpm")
    try:
        generate_repo(str(gone), tag_rpms, arches=["x86_64"], comps_xml=universe.comps_path,
                      topdir=top, log_path=str(tmp_path / "gone.log"),
                      update_from={"x86_64": str(first / "x86_64")}, dumped=dumped)
    finally:
        os.rename(tmp_path / "gone.rpm", tag_rpms["noarch"][0])
    log = open(tmp_path / "gone.log").read()
    assert "FileNotFoundError" in log and "--update" in log, log
    assert decompressed(str(gone / "x86_64"))["primary"] == runs["command"]["primary"]
