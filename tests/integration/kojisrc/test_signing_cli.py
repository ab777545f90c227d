"""RPM signatures on the hub with the real koji CLI: import-sig, write-signed-rpm, deleteRPMSig.

A second throwaway key signs a copy of one RPM of the seeded hub (the seeding key is left alone
for the compose tests).
"""

import base64
import os
import shutil
import subprocess

import koji
import pytest

pytestmark = pytest.mark.integration

NVRA = "demo-utils-2.1-2.x86_64"
OTHER = "demo-base-1.0-1.x86_64"


@pytest.fixture(scope="module")
def key2(tmp_path_factory):
    from pungi_like.buildsvc.seed import GpgKey

    key = GpgKey.create(str(tmp_path_factory.mktemp("gnupg2") / "home"),
                        uid="Second Key <second@example.invalid>")
    yield key
    key.stop_agent()


def signed_copy(universe, key, directory, nvra=NVRA):
    from pungi_like.buildsvc.seed import rpmsign

    copy = os.path.join(directory, nvra + ".rpm")
    shutil.copyfile(universe.rpm_path(nvra + ".rpm"), copy)
    rpmsign(key, [copy])
    return copy


def hub_signed_path(hub, key, nvra=NVRA):
    r = koji.parse_NVRA(nvra)
    return os.path.join(hub.topdir, "packages", r["name"], r["version"], r["release"], "data",
                        "signed", key, r["arch"], nvra + ".rpm")


def test_import_sig_and_write_signed_rpm_with_the_koji_cli(seeded, universe, key2, tmp_path):
    hub = seeded.hub
    copy = signed_copy(universe, key2, str(tmp_path))
    assert koji.get_sighdr_key(koji.rip_rpm_sighdr(copy)) == key2.sigkey

    out = hub.out("import-sig", copy)
    assert f"Importing signature [key {key2.sigkey}] from {copy}..." in out
    assert "Writing signed copy" in out
    signed = hub_signed_path(hub, key2.sigkey)
    # signature header of the signed copy + header and payload of the hub's RPM = what
    # rpmsign wrote, byte for byte
    with open(signed, "rb") as a, open(copy, "rb") as b:
        assert a.read() == b.read()
    subprocess.run(["rpm", "-K", "--nosignature", signed], check=True, capture_output=True)
    assert oct(os.stat(signed).st_mode & 0o777) == "0o644"

    # the CLI notices the signature is there
    assert "Signature already imported" in hub.out("import-sig", copy)
    sigs = seeded.session.queryRPMSigs(rpm_id=NVRA)
    assert {s["sigkey"] for s in sigs} >= {"", seeded.key.sigkey, key2.sigkey}
    assert seeded.session.queryRPMSigs(rpm_id="no-such-1-1.x86_64") == []
    assert seeded.session.queryRPMSigs(sigkey=key2.sigkey.upper(),
                                       queryOpts={"countOnly": True}) == 1

    # write-signed-rpm rewrites a missing signed copy from the stored header
    os.unlink(signed)
    hub.out("write-signed-rpm", key2.sigkey.upper(), NVRA)
    with open(signed, "rb") as a, open(copy, "rb") as b:
        assert a.read() == b.read()
    # ... and leaves an existing one alone unless forced
    before = os.stat(signed).st_ino
    hub.out("write-signed-rpm", key2.sigkey, NVRA)
    assert os.stat(signed).st_ino == before


def test_signature_of_another_rpm_and_missing_permission_are_refused(seeded, universe, key2,
                                                                     tmp_path):
    hub = seeded.hub
    other = signed_copy(universe, key2, str(tmp_path), nvra=OTHER)
    data = base64.b64encode(koji.rip_rpm_sighdr(other)).decode()
    with pytest.raises(koji.GenericError, match=f"wrong md5 for {NVRA}"):
        seeded.session.addRPMSig(NVRA, data)
    rc, _out, err = hub.koji("import-sig", other, user="alice", check=False)
    assert rc != 0 and "ActionNotAllowed" in err and "sign permission required" in err
    with pytest.raises(koji.GenericError, match="No cached signature for package"):
        seeded.session.writeSignedRPM(OTHER, "0badc0de")


def test_delete_rpm_sig_removes_the_signed_copy_and_keeps_the_header(seeded, universe, tmp_path):
    from pungi_like.buildsvc.seed import GpgKey

    key3 = GpgKey.create(str(tmp_path / "gnupg3"), uid="Third Key <third@example.invalid>")
    try:
        copy = signed_copy(universe, key3, str(tmp_path), nvra=OTHER)
        seeded.hub.out("import-sig", copy)
        signed = hub_signed_path(seeded.hub, key3.sigkey, OTHER)
        assert os.path.exists(signed)
        # --python: a random key id such as 41707e63 would otherwise be read as a float
        rc, _o, err = seeded.hub.koji("call", "--python", "deleteRPMSig", repr(OTHER),
                                      f"sigkey={key3.sigkey!r}", user="alice", check=False)
        assert rc != 0 and "admin" in err
        seeded.hub.out("call", "--python", "deleteRPMSig", repr(OTHER), f"sigkey={key3.sigkey!r}")
        assert not os.path.exists(signed)
        assert seeded.session.queryRPMSigs(rpm_id=OTHER, sigkey=key3.sigkey) == []
        cache = os.path.dirname(signed.replace("/data/signed/", "/data/sigcache/"))
        assert [f for f in os.listdir(cache) if f.endswith(".save")]
        # a new signature with the same key can be imported again
        assert "Writing signed copy" in seeded.hub.out("import-sig", copy)
    finally:
        key3.stop_agent()
