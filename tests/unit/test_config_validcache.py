"""A valid config's validation is taken from the cache when nothing it depends on changed:
the same warnings, without validate_raw; any change in the values, the files read or the
option declarations validates again; an invalid config is never cached."""

import os

import pytest

import pungi_like.config.validate as validate
from pungi_like.config import ConfigError, load_config, validcache

pytestmark = pytest.mark.unit

BASE = """release_name = "T"
release_short = "T"
release_version = "1"
variants_file = "variants.xml"
sigkeys = [None]
pkgset_source = "repos"
pkgset_repos = {"x86_64": ["/repo"]}
gather_method = "deps"
createrepo_checksum = "sha256"
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PUNGI_LIKE_CONFIG_CACHE", raising=False)
    calls = []
    real = validate.validate_raw

    def counting(raw, registry=None):
        calls.append(raw.main_file)
        return real(raw, registry)

    monkeypatch.setattr(validate, "validate_raw", counting)
    return tmp_path, calls


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_a_valid_config_is_validated_once(cache):
    tmp, calls = cache
    # a warning (an option removed from Pungi) comes back from the cache too
    conf = _write(tmp / "a.conf", BASE + "release_is_layered = False\n")
    first = load_config(conf)
    assert calls and first.warnings and "release_is_layered" in first.warnings[0]
    again = load_config(conf)
    assert len(calls) == 1 and again.warnings == first.warnings
    assert again.as_dict() == first.as_dict()
    assert len(os.listdir(tmp / "cache" / "pungi-like" / "config-valid")) == 1
    _write(tmp / "a.conf", BASE.replace('"1"', '"2"') + "release_is_layered = False\n")
    assert load_config(conf).release_version == "2" and len(calls) == 2


def test_an_invalid_config_is_validated_every_time_and_not_kept(cache):
    tmp, calls = cache
    conf = _write(tmp / "bad.conf", BASE + "createrepo_c = False\n")
    for _ in range(2):
        with pytest.raises(ConfigError, match="createrepo_c"):
            load_config(conf)
    assert len(calls) == 2 and not (tmp / "cache" / "pungi-like").exists()


def test_the_declarations_are_part_of_the_key(cache):
    from pungi_like.config.loader import read_config
    from pungi_like.config.registry import build_registry

    tmp, _calls = cache
    raw = read_config(_write(tmp / "a.conf", BASE))
    registry = build_registry()
    before = validcache.key(raw, registry)
    assert validcache.key(raw, build_registry()) == before
    name = next(iter(registry.options))
    registry.options[name] = registry.options[name].__class__(
        **dict(vars(registry.options[name]), schema={"type": "integer"}))
    assert validcache.key(raw, registry) != before


def test_it_can_be_turned_off(cache, monkeypatch):
    tmp, calls = cache
    monkeypatch.setenv("PUNGI_LIKE_CONFIG_CACHE", "0")
    conf = _write(tmp / "a.conf", BASE)
    load_config(conf)
    load_config(conf)
    assert len(calls) == 2 and not (tmp / "cache" / "pungi-like").exists()


def _compiled(source, name):
    scope = {}
    exec(compile(source, "<default>", "exec"), scope)
    return scope[name]


def test_a_callable_defaults_key_is_the_same_while_a_profiler_holds_its_code():
    """A profiler (cProfile) keeps a reference to each code object it saw, a comprehension's
    too: the key (here the default's part of it) stays the same, so a profiled run hits the
    cache as an unprofiled one does (marshal's bytes changed, and the run validated again)."""
    default = _compiled("def d(raw):\n    return [x for x in raw.get('a', ()) if x in {'p', 'q'}]\n",
                        "d")
    before = validcache._default(default)
    held = [c for c in default.__code__.co_consts if hasattr(c, "co_code")]
    assert held    # the comprehension's code object
    assert validcache._default(default) == before


def test_a_callable_defaults_key_follows_its_code_not_its_place():
    source = "def d(raw):\n    return raw.get('x', {'a', 'b'})\n"
    first = validcache._default(_compiled(source, "d"))
    assert validcache._default(_compiled("\n\n" + source, "d")) == first     # moved
    assert validcache._default(_compiled(source.replace("'x'", "'y'"), "d")) != first
    assert validcache._default(_compiled(source.replace("'b'", "'c'"), "d")) != first
