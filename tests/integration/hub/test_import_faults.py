"""`koji import` of real RPMs made by rpmbuild, and Koji-style faults that leave the hub serving."""

from __future__ import annotations

import json
import os

import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real_rpms(tmp_path_factory):
    """An SRPM plus binary RPMs (x86_64 with a noarch subpackage, and a noarch-only package)."""
    from pungi_like.universe.rpmbuild import Package, Subpackage, build_packages

    out = tmp_path_factory.mktemp("rpms")
    packages = [
        Package(name="hello", version="2.1", release="3", arch="x86_64",
                files={"/usr/bin/hello": "#!/bin/sh\necho hello\n"},
                subpackages=[Subpackage(name="hello-doc", arch="noarch",
                                        files={"/usr/share/doc/hello/README": "hi\n"})]),
        Package(name="noarchy", version="0.5", release="1", arch="noarch",
                files={"/usr/share/noarchy/data": "data\n"}),
    ]
    result = build_packages(packages, out, workdir=tmp_path_factory.mktemp("rpmbuild"))
    return sorted(result.srpms), sorted(result.rpms)


def test_import_real_rpms(hub, real_rpms, koji_available):
    srpms, rpms = real_rpms
    hub.koji("add-tag", "dist", "--arches", "x86_64")
    hub.koji("add-pkg", "--owner", "kojiadmin", "dist", "hello", "noarchy")
    _rc, out, _err = hub.koji("import", *(srpms + rpms))
    assert out.count("importing ") == len(srpms) + len(rpms) and "Error" not in out, out

    # Files sit under packages/<name>/<version>/<release>/<arch>/.
    for path in srpms + rpms:
        base = os.path.basename(path)
        name, version, rest = base.rsplit("-", 2)
        release, arch, _ = rest.rsplit(".", 2)
        dest = os.path.join(hub.topdir, "packages", name if name != "hello-doc" else "hello",
                            version, release, arch, base)
        assert os.path.isfile(dest), dest
        with open(dest, "rb") as a, open(path, "rb") as b:
            assert a.read() == b.read()

    # A second import of the same files is recognised by its digest and skipped.
    _rc, again, _err = hub.koji("import", rpms[0])
    assert "RPM already imported" in again

    hub.koji("tag-build", "--nowait", "dist", "hello-2.1-3", "noarchy-0.5-1")
    listed = hub.out("list-tagged", "--rpms", "dist", noauth=True).split()
    assert listed == sorted(["hello-2.1-3.src", "hello-2.1-3.x86_64", "hello-doc-2.1-3.noarch",
                             "noarchy-0.5-1.noarch", "noarchy-0.5-1.src"]), listed
    arch_only = hub.out("list-tagged", "--rpms", "--arch", "x86_64", "dist", noauth=True).split()
    assert arch_only == ["hello-2.1-3.x86_64"]
    build = json.loads(hub.out("call", "--json-output", "getBuild", "hello-2.1-3", noauth=True))
    assert build["state"] == 1 and build["owner_name"] == "kojiadmin"
    rpm = json.loads(hub.out("call", "--json-output", "getRPM", "hello-2.1-3.x86_64",
                             noauth=True))
    assert rpm["build_id"] == build["id"] and rpm["size"] == os.path.getsize(
        [p for p in rpms if p.endswith("hello-2.1-3.x86_64.rpm")][0])
    # the file is served read-only under /kojifiles
    url = hub.url.replace("/kojihub", "/kojifiles") + \
        "/packages/hello/2.1/3/x86_64/hello-2.1-3.x86_64.rpm"
    resp = requests.get(url, verify=hub.ca, timeout=30)
    assert resp.status_code == 200 and resp.content[:4] == b"\xed\xab\xee\xdb"


def _fault_of(err):
    return err.strip().splitlines()[-1].split("koji: ", 1)[-1]


def test_faults_keep_hub_serving(hub, koji_available):
    # anonymous writes
    rc, _o, err = hub.koji("--noauth", "call", "createTag", "x", check=False)
    assert rc == 1 and _fault_of(err).startswith("ActionNotAllowed:"), err
    # a logged-in user without the needed permission
    rc, _o, err = hub.koji("add-tag", "nope", user="alice", check=False)
    assert rc != 0 and "This action requires tag or admin privileges" in err, err
    rc, _o, err = hub.koji("call", "createTag", "nope", user="alice", check=False)
    assert _fault_of(err) == ("ActionNotAllowed: tag permission required (logged in as alice)")
    rc, _o, err = hub.koji("call", "createUser", "mallory", user="alice", check=False)
    assert _fault_of(err).startswith("ActionNotAllowed: admin permission required")
    # once granted, the same user may
    hub.koji("grant-permission", "tag", "alice")
    hub.koji("add-tag", "alice-tag", user="alice")
    # unknown methods
    rc, _o, err = hub.koji("call", "noSuchMethod", noauth=True, check=False)
    assert rc == 1 and _fault_of(err) == "GenericError: Invalid method: noSuchMethod"
    # wrong argument types and counts
    rc, _o, err = hub.koji("call", "--python", "getTag", "[1, 2]", noauth=True, check=False)
    assert rc == 1 and _fault_of(err).startswith("ParameterError: Invalid type for tagInfo"), err
    rc, _o, err = hub.koji("call", "getTag", "a", "b", "c", "d", "e", noauth=True, check=False)
    assert _fault_of(err).startswith("ParameterError: getTag() takes from 1 to 4 positional")
    rc, _o, err = hub.koji("call", "getTag", "a", "bogus=1", noauth=True, check=False)
    assert _fault_of(err) == ("ParameterError: getTag() got an unexpected keyword argument "
                              "'bogus'")
    # malformed XML-RPC straight over HTTPS: a fault document, not a crash
    session = requests.Session()
    for body in (b"<methodCall><methodName>getTag", b"not xml at all", b""):
        resp = session.post(hub.url, data=body, headers={"Content-Type": "text/xml"},
                            verify=hub.ca, timeout=30)
        assert resp.status_code == 200 and b"<fault>" in resp.content
        assert resp.headers["Koji-Version"] == "1.36.1"
    assert session.get(hub.url, verify=hub.ca, timeout=30).status_code == 405
    # a multicall with one bad entry: the others still commit
    import koji

    cs = koji.ClientSession(hub.url, {"serverca": hub.ca})
    cs.multicall = True
    cs.getTag("alice-tag")
    cs.noSuchMethod()
    res = cs.multiCall()
    assert res[0][0]["name"] == "alice-tag"
    assert res[1]["faultCode"] == 1000 and "Invalid method" in res[1]["faultString"]
    # still serving
    assert "alice-tag" in hub.out("list-tags", noauth=True).split()
    assert hub.proc.poll() is None
