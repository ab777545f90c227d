"""Key IDs from OpenPGP signature packets as RPM signature headers carry them (v3 and v4
packets, old and new packet formats), read without librpm."""

from pungi_like.rpmtools.headers import pgp_signature_keyid

KEYID = bytes.fromhex("0123456789abcdef")


def v4_body(hashed=b"", unhashed=b""):
    return (b"\x04\x00\x01\x08" + len(hashed).to_bytes(2, "big") + hashed
            + len(unhashed).to_bytes(2, "big") + unhashed + b"\xaa\xbb" + b"\x00" * 8)


def test_v4_issuer_in_unhashed_subpackets_new_and_old_format():
    created = b"\x05\x02" + b"\x60\x00\x00\x00"
    body = v4_body(hashed=created, unhashed=b"\x09\x10" + KEYID)
    assert pgp_signature_keyid(bytes([0xc2, len(body)]) + body) == KEYID.hex()
    assert pgp_signature_keyid(bytes([0x88, len(body)]) + body) == KEYID.hex()
    # two-octet old-format length
    assert pgp_signature_keyid(b"\x89" + len(body).to_bytes(2, "big") + body) == KEYID.hex()


def test_v4_issuer_fingerprint_when_no_issuer_subpacket():
    fingerprint = bytes(12) + KEYID
    body = v4_body(hashed=bytes([22, 33, 4]) + fingerprint)
    assert pgp_signature_keyid(bytes([0xc2, len(body)]) + body) == KEYID.hex()


def test_v3_signature():
    body = b"\x03\x05\x00" + b"\x60\x00\x00\x00" + KEYID + b"\x01\x08\xaa\xbb" + bytes(8)
    assert pgp_signature_keyid(bytes([0x88, len(body)]) + body) == KEYID.hex()


def test_not_a_signature_or_empty():
    assert pgp_signature_keyid(b"") is None
    body = v4_body(unhashed=b"\x09\x10" + KEYID)
    assert pgp_signature_keyid(bytes([0xc6, len(body)]) + body) is None   # tag 6: public key
    assert pgp_signature_keyid(bytes([0xc2, 3]) + b"\x02\x00\x00") is None  # unknown version
