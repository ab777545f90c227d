"""A valid variants file read before with the same bytes, DTD, arguments and code: its variants
come from the cache (``variants._cache_key``), equal to a parse; anything else is parsed, and a
parse with errors or log messages is never kept."""

import logging
import os
import shutil
import subprocess
import sys

import pytest

from pungi_like import variants
from pungi_like.errors import ConfigError
from pungi_like.variants import all_variants, load_variants

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(os.path.dirname(os.path.dirname(HERE)), "configs", "demo", "variants.xml")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PUNGI_LIKE_CONFIG_CACHE", raising=False)
    path = tmp_path / "variants.xml"
    shutil.copy(DEMO, path)
    return path


def _dump(top):
    """Everything a parse gives, as plain values (Variant compares by identity)."""
    out = []
    for v in all_variants(top):
        fields = {k: val for k, val in vars(v).items() if k not in ("parent", "children")}
        fields["parent"] = v.parent.uid if v.parent else None
        fields["children"] = [c.uid for c in v.children]
        out.append((v.uid, repr(fields)))
    return sorted(top), out


def _no_parse(monkeypatch):
    def refuse(self):
        raise AssertionError("parsed, not taken from the cache")
    monkeypatch.setattr(variants._Parser, "parse", refuse)


def _cached(path):
    return os.listdir(os.path.join(os.environ["XDG_CACHE_HOME"], "pungi-like", "variants")) \
        if os.path.isdir(os.path.join(os.environ["XDG_CACHE_HOME"], "pungi-like", "variants")) \
        else []


def test_a_file_read_again_comes_from_the_cache_equal_to_its_parse(cache, monkeypatch):
    parsed = load_variants(str(cache), tree_arches=["x86_64"])
    assert len(_cached(cache)) == 1
    _no_parse(monkeypatch)
    again = load_variants(str(cache), tree_arches=["x86_64"])
    assert _dump(again) == _dump(parsed)
    # new objects each time: a caller may change them
    assert next(iter(again.values())) is not next(iter(parsed.values()))
    top = next(iter(again.values()))
    assert all(child.parent is top for child in top.children)


@pytest.mark.parametrize("change", ["bytes", "arches", "variants"])
def test_another_file_or_other_arguments_are_parsed(cache, change):
    load_variants(str(cache), tree_arches=["x86_64"])
    args = {"tree_arches": ["x86_64"]}
    if change == "bytes":
        cache.write_text(cache.read_text().replace("</variants>", "</variants>\n"))
    elif change == "arches":
        args["tree_arches"] = ["x86_64", "s390x"]
    else:
        args["tree_variants"] = sorted(load_variants(str(cache)))
    calls = []
    real = variants._Parser.parse

    def counted(self):
        calls.append(1)
        return real(self)
    try:
        variants._Parser.parse = counted
        load_variants(str(cache), **args)
    finally:
        variants._Parser.parse = real
    assert calls == [1]


def test_a_file_with_errors_is_never_kept(cache):
    cache.write_text(cache.read_text().replace("<arch>", "<arch> ", 1))
    for _ in range(2):
        with pytest.raises(ConfigError):
            load_variants(str(cache))
    assert _cached(cache) == []


def test_a_parse_that_logs_is_not_kept_and_logs_every_time(cache, caplog):
    first = sorted(load_variants(str(cache)))
    caplog.set_level(logging.INFO, logger="pungi_like.variants")
    for _ in range(2):
        caplog.clear()
        load_variants(str(cache), tree_variants=first[:1])
        assert any("Excluding variant" in r.getMessage() for r in caplog.records)
    assert len(_cached(cache)) == 1    # only the first, silent parse


def test_a_damaged_entry_is_parsed_again_and_the_switch_turns_it_off(cache, monkeypatch):
    parsed = load_variants(str(cache))
    (entry,) = _cached(cache)
    where = os.path.join(os.environ["XDG_CACHE_HOME"], "pungi-like", "variants", entry)
    with open(where, "wb") as fh:
        fh.write(b"not a pickle")
    assert _dump(load_variants(str(cache))) == _dump(parsed)
    monkeypatch.setenv("PUNGI_LIKE_CONFIG_CACHE", "0")
    _no_parse(monkeypatch)
    with pytest.raises(AssertionError):
        load_variants(str(cache))


def test_lxml_is_not_imported_for_a_cached_file(cache):
    load_variants(str(cache))
    code = ("import sys; from pungi_like.variants import load_variants; "
            f"load_variants({str(cache)!r}); print('lxml.etree' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ)).stdout.strip()
    assert out == "False"


def test_an_entry_is_unpickled_only_from_a_directory_private_to_the_user(cache, monkeypatch):
    # unpickling can run code: a cache directory others can write to is not read (an entry
    # put there by someone else would run as the compose's user); the file is parsed instead
    load_variants(str(cache))
    directory = os.path.join(os.environ["XDG_CACHE_HOME"], "pungi-like", "variants")
    assert os.stat(directory).st_mode & 0o777 == 0o700
    (entry,) = _cached(cache)
    os.chmod(directory, 0o777)
    parses = []
    real = variants._Parser.parse
    monkeypatch.setattr(variants._Parser, "parse",
                        lambda self: parses.append(1) or real(self))
    load_variants(str(cache))
    assert parses == [1]
    os.chmod(directory, 0o700)
    # an entry that is a symbolic link is not followed
    where = os.path.join(directory, entry)
    os.rename(where, where + ".real")
    os.symlink(where + ".real", where)
    load_variants(str(cache))
    assert parses == [1, 1]
    os.unlink(where)
    os.rename(where + ".real", where)
    load_variants(str(cache))
    assert parses == [1, 1]    # private again: taken from the cache
