"""The typed Config: defaults, mapping look-ups, paths, locations, validation rules."""

import os

import pytest

from pungi_like.config import load_config
from pungi_like.config.validate import check_label, check_variant_mappings
from pungi_like.errors import ConfigError

pytestmark = pytest.mark.unit

BASE = """\
release_name = "Demo Product"
release_short = "DP"
release_version = "1.0"
variants_file = "variants.xml"
pkgset_source = "repos"
pkgset_repos = {"x86_64": ["repo"]}
gather_method = "deps"
"""


@pytest.fixture
def make(tmp_path):
    def make(extra="", name="c.conf"):
        path = tmp_path / name
        path.write_text(BASE + extra)
        return load_config(str(path))
    return make


def test_defaults_are_filled(make):
    conf = make()
    assert conf.release_type == "ga"
    assert conf.createrepo_checksum == "sha256"
    assert conf.media_checksums == ["md5", "sha1", "sha256"]
    assert conf.iso_size == 4700000000
    assert conf.split_iso_reserve == 10 * 1024 * 1024
    assert conf.num_threads == (os.cpu_count() or 1)
    assert conf.createrepo_database is False
    assert conf.test_boot is False
    assert conf.buildinstall_method is None
    assert conf.compose_type is None
    assert conf.repoclosure_strictness == [[".*", {"*": "lenient"}]]
    assert conf.as_dict()["createrepo_checksum"] == "sha256"
    assert list(conf.as_dict()) == sorted(conf.as_dict())


def test_default_depending_on_other_option(make):
    assert make('gather_backend = "yum"\n').createrepo_database is True


def test_undeclared_attribute_is_an_attribute_error(make):
    with pytest.raises(AttributeError, match="no option 'no_such_option'"):
        make().no_such_option


def test_location_and_source_files(make, tmp_path):
    conf = make("createrepo_checksum = 'sha512'\n")
    assert conf.location("createrepo_checksum") == (str(tmp_path / "c.conf"), 8)
    assert conf.location("iso_size") == (None, None)
    assert conf.source_files == [str(tmp_path / "c.conf")]
    assert conf.config_dir == str(tmp_path)


def test_resolve_path(make, tmp_path):
    conf = make()
    assert conf.resolve_path("variants.xml") == str(tmp_path / "variants.xml")
    assert conf.resolve_path("../x/y") == str(tmp_path.parent / "x" / "y")
    assert conf.resolve_path("/abs/p") == "/abs/p"
    assert conf.resolve_path("https://example.invalid/r") == "https://example.invalid/r"
    assert conf.resolve_path({"scm": "file", "repo": None, "file": "v.xml"}) == \
        str(tmp_path / "v.xml")
    with pytest.raises(ConfigError):
        conf.resolve_path({"scm": "git", "repo": "https://example.invalid/r", "file": "v.xml"})


def test_variant_arch_values_semantics(make):
    conf = make("""
failable_deliverables = [
    ("^Server", {"*": ["iso"], "src": ["buildinstall"]}),
    ("^Server$", {"x86_64": ["buildinstall"]}),
]
createiso_skip = [
    ("^Server$", {"*": True}),
    ("^.*$", {"x86_64": True}),
]
""")
    # re.match: "^Server" also matches Server-optional; "*" never matches src
    assert conf.variant_arch_values("failable_deliverables", "Server", "x86_64") == \
        ["iso", "buildinstall"]
    assert conf.variant_arch_values("failable_deliverables", "Server-optional", "x86_64") == \
        ["iso"]
    assert conf.variant_arch_values("failable_deliverables", "Server", "src") == ["buildinstall"]
    assert conf.variant_arch_values("failable_deliverables", "Workstation", "x86_64") == []
    # scalars appended: two matching True blocks give [True, True], which is not "skip"
    assert conf.variant_arch_values("createiso_skip", "Server", "x86_64") == [True, True]
    assert conf.variant_arch_values("createiso_skip", "Server", "src") == []
    assert conf.variant_arch_values("createiso_skip", "Workstation", "x86_64") == [True]


def test_variant_values_semantics(make):
    conf = make('image_name_format = {"^Server": "a-{arch}.iso", "^Server-optional$": '
                '"b.iso"}\n')
    assert conf.variant_values("image_name_format", "Server-optional") == ["a-{arch}.iso",
                                                                          "b.iso"]
    assert conf.variant_values("image_name_format", "Workstation") == []


def test_lookup_results_do_not_alias_the_config(make):
    conf = make('failable_deliverables = [("^Server$", {"*": ["iso"]})]\n')
    conf.variant_arch_values("failable_deliverables", "Server", "x86_64").append("x")
    assert conf.variant_arch_values("failable_deliverables", "Server", "x86_64") == ["iso"]


def test_all_errors_in_one_config_error(tmp_path):
    path = tmp_path / "bad.conf"
    path.write_text('release_short = "DP"\ncreate_jigdo = 1\nfoo_bar = 2\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    text = "\n".join(info.value.errors)
    assert f"{path}:1: option release_name: required option is missing" in text
    assert f"{path}:2: option create_jigdo: expected a boolean, found 1" in text
    assert f"{path}:3: option foo_bar: unknown option" in text


def test_pungi_options_not_implemented_are_warnings(make, tmp_path):
    conf = make("ostree = {}\nrelease_is_layered = False\n")
    assert f"{tmp_path / 'c.conf'}:8: option ostree: not implemented by pungi_like; ignored" \
        in conf.warnings
    assert any("option release_is_layered: removed from Pungi" in w for w in conf.warnings)
    assert conf.as_dict()["ostree"] == {}


def test_conflict_only_when_other_option_differs_from_default(make):
    # pkgset_koji_inherit defaults to True: setting it to True is not a conflict
    make("pkgset_koji_inherit = True\n")
    with pytest.raises(ConfigError, match="option pkgset_koji_inherit: conflicts with "
                                          "pkgset_source='repos'"):
        make("pkgset_koji_inherit = False\n")


def test_extra_overrides(tmp_path):
    path = tmp_path / "c.conf"
    path.write_text(BASE)
    conf = load_config(str(path), extra={"release_version": "2.0"})
    assert conf.release_version == "2.0"


def test_check_variant_mappings(make, tmp_path):
    class V:
        def __init__(self, uid, children=()):
            self.uid = uid
            self.children = list(children)

    variants = {"Server": V("Server", [V("Server-optional")]), "Workstation": V("Workstation")}
    conf = make('createiso_skip = [("^Server-optional$", {"*": True}), '
                '("^Serverr$", {"*": True})]\n')
    assert check_variant_mappings(conf, variants) == [
        f"{tmp_path / 'c.conf'}:8: option createiso_skip: pattern '^Serverr$' matches no "
        "variant (variants: Server, Server-optional, Workstation)"]
    assert check_variant_mappings(conf, ["Serverr"]) != []


def test_variant_mapping_mismatch_in_include_is_a_warning(tmp_path):
    (tmp_path / "base.conf").write_text(BASE + 'createiso_skip = [("^Gone$", {"*": True})]\n')
    (tmp_path / "main.conf").write_text("from base import *\n")
    conf = load_config(str(tmp_path / "main.conf"))
    warnings = []
    assert check_variant_mappings(conf, ["Server"], warnings=warnings) == []
    assert warnings == [f"{tmp_path / 'base.conf'}:8: option createiso_skip: pattern '^Gone$' "
                        "matches no variant (variants: Server)"]


@pytest.mark.parametrize("label,ok", [("RC-1.0", True), ("Beta-1.2", True),
                                      ("SecurityFix-10.0", True), ("Beta1.0", False),
                                      ("Gamma-1.0", False), ("RC-1", False)])
def test_check_label(label, ok):
    assert (check_label(label) is None) == ok
