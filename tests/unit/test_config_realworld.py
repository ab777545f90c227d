"""Real Pungi configs from the shared acceptance inputs load (with warnings for what we ignore).

They are read in place from ../shared (never copied into the repository).
"""

import os
import subprocess
import sys

import pytest

from pungi_like.config import load_config
from pungi_like.config.loader import read_config

pytestmark = pytest.mark.unit

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "realworld", "pungi-configs")
VALIDATOR = os.path.join(REPO, "bin", "pungi-like-config-validate")

needs_shared = pytest.mark.skipif(not os.path.isdir(SHARED),
                                  reason="../shared/realworld/pungi-configs is not present")

# config -> number of options after includes (as counted with kobo in NOTES.md)
CONFIGS = {
    "pungi-doc-examples/fedora-rawhide-2019.conf": 59,
    "pungi-doc-examples/rcmtools-rhel-7.conf": 25,
    "ultramarine/um36.conf": 50,
    "ultramarine/um35.conf": 48,
    "ultramarine/um36-updates.conf": 35,
    "fedora-offline-gateway/gateway.pungi.conf": 33,
    "foreman/pungi.conf": 18,
    "pungi-4.3.6-testdata/tests/data/dummy-pungi.conf": 23,
    "pungi-4.3.6-testdata/tests/data/server.conf": 24,
    "pungi-4.3.6-testdata/tests/data/client.conf": 24,
    "pungi-4.3.6-testdata/tests/data/resilient-storage.conf": 25,
}


@needs_shared
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_real_config_loads(name):
    path = os.path.join(SHARED, name)
    raw = read_config(path)
    assert len(raw.values) == CONFIGS[name]
    assert set(raw.locations) == set(raw.values)
    conf = load_config(path)
    assert conf.release_short
    for warning in conf.warnings:
        assert "not implemented by pungi_like" in warning or "removed from Pungi" in warning \
            or "legacy method" in warning, warning


@needs_shared
def test_later_assignment_after_import_wins():
    path = os.path.join(SHARED, "ultramarine", "um36-updates.conf")
    conf = load_config(path)
    common = read_config(os.path.join(SHARED, "ultramarine", "common.conf")).values
    assert conf.greedy_method != common["greedy_method"]
    assert conf.location("greedy_method")[0] == path
    assert conf.location("comps_file")[0].endswith("common.conf")


@needs_shared
def test_missing_commas_as_kobo_reads_them():
    conf = load_config(os.path.join(SHARED, "ultramarine", "um36.conf"))
    assert conf.volume_id_substitutions == {"Flagship": "Fl", "Cutefish": "Cf",
                                            "Everything": "Ev", "Pantheon": "Pt", "GNOME": "G",
                                            "Lapis": "LP"}


@needs_shared
@pytest.mark.parametrize("name,code", [
    ("ultramarine/um36.conf", 0),
    ("foreman/pungi.conf", 0),
    ("pungi-4.3.6-testdata/tests/data/server.conf", 0),
    # real leftovers: createiso_skip names Fedora variants that its variants file lacks
    ("fedora-offline-gateway/gateway.pungi.conf", 1),
])
def test_validator_on_real_configs(name, code):
    result = subprocess.run([sys.executable, VALIDATOR, name], cwd=SHARED, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    if code:
        assert ("gateway.pungi.conf:257: option createiso_skip: pattern '^Workstation$' "
                "matches no variant (variants: Gateway)") in result.stderr


IMPLEMENTED_SINCE_ISSUE_10 = ("extra_files", "extra_isos", "koji_event", "signed_packages_wait",
                              "signed_packages_retries", "image_build", "image_build_ksurl",
                              "image_build_target", "image_build_release",
                              "image_build_version")


@needs_shared
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_real_configs_get_no_not_implemented_warning_for_implemented_options(name):
    conf = load_config(os.path.join(SHARED, name))
    for warning in conf.warnings:
        for option in IMPLEMENTED_SINCE_ISSUE_10:
            assert f"option {option}:" not in warning and f"option {option} " not in warning, \
                warning


@needs_shared
def test_real_extra_isos_configs_validate_and_load_typed():
    """The Pungi test data's extra_isos (one with a missing comma kobo reads as a subscript)."""
    server = load_config(os.path.join(SHARED, "pungi-4.3.6-testdata/tests/data/server.conf"))
    assert server.extra_isos == {}
    dummy = read_config(os.path.join(SHARED, "pungi-4.3.6-testdata/tests/data/dummy-pungi.conf"))
    assert "extra_isos" in dummy.values


@needs_shared
def test_fedora_image_build_block_loads_typed():
    conf = load_config(os.path.join(SHARED, "pungi-doc-examples/fedora-rawhide-2019.conf"))
    (block,) = conf.image_build["^Container$"]
    assert block["image-build"]["format"] == [["docker", "tar.xz"]]
    assert block["image-build"]["failable"] == ["*"]
    assert block["factory-parameters"]["dockerversion"] == "1.10.1"
