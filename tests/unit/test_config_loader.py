"""Reading configs: kobo syntax quirks, includes, locations, JSON equivalence."""

import json
import os

import pytest

from pungi_like.config import load_config
from pungi_like.config.loader import read_config
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


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_include_chain_is_relative_to_the_including_file(tmp_path):
    write(tmp_path / "a" / "main.conf", "from sub/mid import *\nrelease_version = '2.0'\n")
    write(tmp_path / "a" / "sub" / "mid.conf", "from deeper/base import *\nrelease_type = 'updates'\n")
    write(tmp_path / "a" / "sub" / "deeper" / "base.conf", BASE)
    raw = read_config(str(tmp_path / "a" / "main.conf"))
    assert raw.values["release_version"] == "2.0"
    assert raw.values["release_type"] == "updates"
    assert raw.values["release_short"] == "DP"
    names = [os.path.relpath(p, tmp_path) for p in raw.source_files]
    assert names == ["a/main.conf", "a/sub/mid.conf", "a/sub/deeper/base.conf"]
    assert os.path.relpath(raw.locations["release_short"][0], tmp_path) == \
        "a/sub/deeper/base.conf"
    assert raw.locations["release_short"][1] == 2
    assert raw.locations["release_type"][1] == 2
    assert raw.locations["release_version"] == (str(tmp_path / "a" / "main.conf"), 2)


def test_later_assignment_wins_and_is_the_reported_location(tmp_path):
    write(tmp_path / "base.conf", BASE + "greedy_method = 'all'\n")
    main = write(tmp_path / "main.conf",
                 "greedy_method = 'build'\nfrom base import *\n\n\ngreedy_method = 'none'\n")
    raw = read_config(main)
    assert raw.values["greedy_method"] == "none"
    assert raw.locations["greedy_method"] == (main, 5)


def test_assignment_before_import_is_overridden_by_the_include(tmp_path):
    base = write(tmp_path / "base.conf", BASE)
    main = write(tmp_path / "main.conf", "release_short = 'XX'\nfrom base import *\n")
    raw = read_config(main)
    assert raw.values["release_short"] == "DP"
    assert raw.locations["release_short"] == (base, 2)


def test_import_of_selected_names(tmp_path):
    write(tmp_path / "base.conf", BASE)
    main = write(tmp_path / "main.conf", "from base import release_name, release_short\n")
    raw = read_config(main)
    assert sorted(raw.values) == ["release_name", "release_short"]


def test_dash_in_include_name(tmp_path):
    write(tmp_path / "my-base.conf", BASE)
    raw = read_config(write(tmp_path / "main.conf", "from my-base import *\n"))
    assert raw.values["release_short"] == "DP"


def test_missing_commas_and_no_string_concatenation(tmp_path):
    main = write(tmp_path / "main.conf", BASE + """
volume_id_substitutions = {
    'Pantheon': 'Pt'
    'GNOME': 'G'
}
lorax_options = [
    ("^.*$", {
        "x86_64": {"nomacboot": False}
        "*": {"noupgrade": True}
    })
]
tree_arches = ["x86_64" "aarch64"]
""")
    raw = read_config(main)
    assert raw.values["volume_id_substitutions"] == {"Pantheon": "Pt", "GNOME": "G"}
    assert raw.values["lorax_options"] == [["^.*$", {"x86_64": {"nomacboot": False},
                                                      "*": {"noupgrade": True}}]]
    assert raw.values["tree_arches"] == ["x86_64", "aarch64"]
    assert raw.locations["lorax_options"] == (main, 13)


def test_percent_formatting_and_variables(tmp_path):
    main = write(tmp_path / "main.conf", BASE + """
major = "40"
release_version = "%s.%s" % (major, 1)
release_name = "Fedora %(v)s" % {"v": major}
koji_profile = major
""")
    raw = read_config(main)
    assert raw.values["release_version"] == "40.1"
    assert raw.values["release_name"] == "Fedora 40"
    assert raw.values["koji_profile"] == "40"


def test_missing_include_names_the_from_line(tmp_path):
    main = write(tmp_path / "main.conf", BASE + "from nowhere import *\n")
    with pytest.raises(ConfigError) as info:
        read_config(main)
    assert str(info.value).startswith(f"{main}:8: cannot read ")
    assert "nowhere.conf" in str(info.value)


def test_missing_include_of_an_include(tmp_path):
    mid = write(tmp_path / "mid.conf", "\n\nfrom gone import *\n")
    main = write(tmp_path / "main.conf", "from mid import *\n")
    with pytest.raises(ConfigError) as info:
        read_config(main)
    assert str(info.value).startswith(f"{mid}:3: cannot read ")


def test_syntax_error_in_include_names_the_include(tmp_path):
    inc = write(tmp_path / "inc.conf", "a_b = 1\n\nfoo = = 2\n")
    main = write(tmp_path / "main.conf", "from inc import *\n")
    with pytest.raises(ConfigError) as info:
        read_config(main)
    assert str(info.value).startswith(f"{inc}:3: invalid syntax")


def test_duplicate_dict_key_is_an_error(tmp_path):
    main = write(tmp_path / "main.conf", "x = {\n  'a': 1,\n  'a': 2,\n}\n")
    with pytest.raises(ConfigError) as info:
        read_config(main)
    assert str(info.value) == f"{main}:3: duplicate dict key 'a'"


def test_json_locations_and_duplicates(tmp_path):
    path = write(tmp_path / "c.json", '{\n  "a": {"x": 1},\n\n  "b": [1, 2]\n}\n')
    raw = read_config(path)
    assert raw.locations == {"a": (path, 2), "b": (path, 4)}
    dup = write(tmp_path / "d.json", '{\n  "a": {"x": 1,\n        "x": 2}\n}\n')
    with pytest.raises(ConfigError) as info:
        read_config(dup)
    assert str(info.value) == f"{dup}:3: duplicate dict key 'x'"


def test_same_config_as_conf_and_json_gives_identical_effective_config(tmp_path):
    conf_text = BASE + """
createiso_skip = [
    ("^Server$", {"src": True}),
    ("^Workstation$", {"*": True}),
]
translate_paths = [("/mnt/koji", "https://kojipkgs.example/")]
image_volid_formats = ["{release_short} {arch}"]
"""
    conf = load_config(write(tmp_path / "c.conf", conf_text))
    values = read_config(str(tmp_path / "c.conf")).values
    as_json = load_config(write(tmp_path / "c.json", json.dumps(values, indent=2)))
    assert conf.as_dict() == as_json.as_dict()
    assert conf.createiso_skip == [["^Server$", {"src": True}], ["^Workstation$", {"*": True}]]
