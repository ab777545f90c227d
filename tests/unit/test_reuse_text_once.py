"""``reuse.describe_files`` of a text that names its compose (a compose's rpms.json, 3.5 MB at
10,000 RPMs): read once beyond its digest for both facts the record keeps - that it is text
(UTF-8 without NUL) and its normalised digest - with the same entries as before."""

import builtins
import hashlib

from pungi_like import reuse


def _entry(tmp_path, name, data, monkeypatch):
    top = tmp_path / "T-1-20260104.n.0"
    names = reuse.Names(str(top), top.name)
    path = top / "compose" / "metadata" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.replace(b"@ID@", top.name.encode()).replace(b"@TOP@",
                                                                      str(top).encode()))
    opened = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if str(file) == str(path):
            opened.append(file)
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", counting_open)
    try:
        files = reuse.describe_files([str(path)], names)
    finally:
        monkeypatch.setattr(builtins, "open", real_open)
    return files[f"compose/metadata/{name}"], opened, path.read_bytes(), names


def test_a_text_naming_the_compose_is_read_once_for_its_facts(tmp_path, monkeypatch):
    entry, opened, data, names = _entry(
        tmp_path, "rpms.json", b'{"id": "@ID@", "path": "@TOP@/x", "name": "\xc3\xa9"}\n',
        monkeypatch)
    assert entry["names_compose"] == "text"
    assert len(opened) == 1
    want = data.replace(names.topdir.encode(), reuse.TOPDIR.encode()).replace(
        names.compose_id.encode(), reuse.COMPOSE_ID.encode())
    assert entry["content"] == hashlib.sha256(want).hexdigest()
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_bytes_that_are_not_text_are_binary(tmp_path, monkeypatch):
    for name, data in (("nul.bin", b"@ID@\0"), ("latin1.bin", b"@ID@ caf\xe9")):
        entry, _opened, _data, _names = _entry(tmp_path, name, data, monkeypatch)
        assert entry["names_compose"] == "binary" and "content" not in entry
