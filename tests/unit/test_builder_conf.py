"""builder.conf (kojid.conf's format) and the builder's own allowed_scms check."""

import types

import koji
import pytest

from pungi_like.buildsvc.builder.conf import parse_allowed_scms, read_builder_conf, scm_allowed
from pungi_like.errors import ConfigError

pytestmark = pytest.mark.unit


def write(tmp_path, text):
    path = tmp_path / "builder.conf"
    path.write_text(text)
    return str(path)


def test_kojid_names_map_to_the_builders_flags(tmp_path):
    values, ignored = read_builder_conf(write(tmp_path, """\
[kojid]
server = https://hub.example.com/kojihub
cert = /etc/pki/b1.pem
serverca = /etc/pki/ca.crt
MaxJobs = 4
sleeptime = 2.5
allowed_scms = git.example.com:/rpms/* !git.example.com:/rpms/secret*
arches = x86_64, i686
keep-workdirs = yes
mockdir = /var/lib/mock
smtphost = mail.example.com
"""))
    assert values == {"hub": "https://hub.example.com/kojihub", "cert": "/etc/pki/b1.pem",
                      "serverca": "/etc/pki/ca.crt", "maxjobs": 4, "poll_interval": 2.5,
                      "allowed_scms": "git.example.com:/rpms/* !git.example.com:/rpms/secret*",
                      "arches": ["x86_64", "i686"], "keep_workdirs": True}
    assert ignored == ["mockdir", "smtphost"]


@pytest.mark.parametrize("text, message", [
    ("[kojid]\nserver = x\n\nbogus = 1\n", "builder.conf:4: [kojid] bogus: unknown option"),
    ("[kojid]\nmaxjobs = many\n", "builder.conf:2: [kojid] maxjobs: expected an integer, "
                                  "got 'many'"),
    ("[kojid]\nkeep-workdirs = perhaps\n", "builder.conf:2: [kojid] keep-workdirs: expected a "
                                           "boolean"),
    ("[kojid]\nserver = x\n[builder]\nx = 1\n", "builder.conf:3: unknown section [builder]"),
    ("[other]\nx = 1\n", "builder.conf:1: unknown section [other]"),
    ("server = x\n", "not an INI file"),
    ("[kojid]\nallowed_scms = :/only/path\n", "builder.conf:2: [kojid] allowed_scms: "
                                              "':/only/path': expected host:repository"),
])
def test_bad_builder_conf_names_file_line_and_option(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        read_builder_conf(write(tmp_path, text))
    assert message in str(err.value)


def test_allowed_scms_first_match_wins_and_nothing_matching_is_refused():
    rules = parse_allowed_scms("git.example.com:/rpms/secret* !git.example.com:/rpms/sec* "
                               "git.example.com:/rpms/*:no:fedpkg,sources *.corp:/*")
    assert scm_allowed(rules, "git+https://git.example.com/rpms/bash.git#abc")
    assert scm_allowed(rules, "git+https://git.example.com/rpms/secret-tool.git#abc")
    assert not scm_allowed(rules, "git+https://git.example.com/rpms/security.git#abc")
    assert scm_allowed(rules, "git://build.corp/anything#1")
    assert not scm_allowed(rules, "git+https://evil.example.org/rpms/bash.git#abc")


def test_builder_refuses_a_checkout_its_rules_deny(tmp_path):
    from pungi_like.buildsvc.builder.handlers.build import checkout_scm

    ctx = types.SimpleNamespace(workdir=str(tmp_path),
                                allowed_scms=parse_allowed_scms("git.example.com:/rpms/*"))
    with pytest.raises(koji.BuildError) as err:
        checkout_scm(ctx, "git+https://evil.example.org/rpms/bash.git#abc",
                     str(tmp_path / "scm"))
    assert "not allowed by this builder's allowed_scms" in str(err.value)
    assert not (tmp_path / "scm").exists()  # nothing was cloned
