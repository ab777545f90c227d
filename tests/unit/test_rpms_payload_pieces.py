"""``RpmsRecorder.write`` writes and hashes rpms.json's payload in pieces (64 KiB encoded one
after another): a payload of many pieces must be productmd's own dump byte for byte, and its
``written_payload`` the length and sha256 of the file's bytes from the ``"rpms"`` key on, which
``same_rpms_payload`` finds in the file."""

import hashlib

from pungi_like import metadata as md
from pungi_like.metadata import ComposeInfo


def _info():
    return ComposeInfo(id="Fedora-40-20240101.n.0", date="20240101", respin=0,
                       type="nightly", label=None, final=False)


def test_a_payload_of_many_pieces_is_productmds_dump_and_its_digest(tmp_path):
    rec = md.RpmsRecorder()
    for n in range(1500):   # about 0.5 MB of payload: several pieces of 64 KiB
        name = f"p{n:04d}" + ("-\u00e9" if n % 97 == 0 else "")
        rec.add("Server", "x86_64", f"{name}-1.0-1.src", f"{name}-1.0-1.x86_64",
                f"Server/x86_64/os/Packages/{name}.rpm", None, "binary")
    out = tmp_path / "rpms.json"
    rec.write(out, _info(), fsync=False)
    data = out.read_bytes()
    assert data.decode("utf-8") == md._dump(rec.to_productmd(_info()))
    at = data.find(b'"rpms": ', data.find(b'"payload": {'))
    assert len(data) - at > 4 * (1 << 16)
    assert rec.written_payload == (len(data) - at, hashlib.sha256(data[at:]).digest())
    assert md.same_rpms_payload(str(out), rec.written_payload)
    assert not md.same_rpms_payload(str(out), (len(data) - at, hashlib.sha256(b"x").digest()))


def test_same_rpms_payload_answers_again_only_for_the_same_file(tmp_path):
    """Its answer is kept for the file's identity (a no-op re-run's test.manifests and the
    driver ask about the same old rpms.json): the same file answers from it, a file written
    again at the same path (another payload of the same length) is hashed again."""
    rec = md.RpmsRecorder()
    rec.add("Server", "x86_64", "a-1.0-1.src", "a-1.0-1.x86_64", "Server/x86_64/os/a.rpm",
            None, "binary")
    out = tmp_path / "rpms.json"
    rec.write(out, _info(), fsync=False)
    assert md.same_rpms_payload(str(out), rec.written_payload)
    assert md.same_rpms_payload(str(out), rec.written_payload)
    data = out.read_bytes()
    other = tmp_path / "other.json"
    other.write_bytes(data.replace(b"Server/x86_64/os/a.rpm", b"Server/x86_64/os/b.rpm"))
    other.replace(out)
    assert not md.same_rpms_payload(str(out), rec.written_payload)
    rec.write(out, _info(), fsync=False)
    assert md.same_rpms_payload(str(out), rec.written_payload)


def test_the_nested_payload_of_entries_in_any_order():
    """``_nested`` looks a tree's and a source package's dicts up again only when they change
    from one entry to the next: the same payload, in the same order, as one lookup an entry -
    with trees and source packages interleaved, and equal source names as other objects."""
    import random

    def one_by_one(resolved):
        nested = {}
        for (variant, arch, srpm, rpm), (path, sigkey, category) in resolved.items():
            nested.setdefault(variant, {}).setdefault(arch, {}).setdefault(srpm, {})[rpm] = {
                "category": category, "path": path, "sigkey": sigkey}
        return nested

    rng = random.Random(7)
    keys = [(v, a, "s%d-1-1.src" % s, "r%d-%d-1-1.x86_64" % (s, r))
            for v in ("Server", "Client") for a in ("x86_64", "ppc64le")
            for s in range(6) for r in range(3)]
    for _ in range(20):
        rng.shuffle(keys)
        resolved = {(v, a, "".join(list(s)), r): ("p/" + r, None, "binary")
                    for v, a, s, r in keys}
        got, want = md._nested(resolved), one_by_one(resolved)
        assert got == want
        assert [list(t) for t in got.values()] == [list(t) for t in want.values()]
        assert [list(s) for t in got.values() for s in t.values()] == \
            [list(s) for t in want.values() for s in t.values()]
        assert [list(r) for t in got.values() for s in t.values() for r in s.values()] == \
            [list(r) for t in want.values() for s in t.values() for r in s.values()]
