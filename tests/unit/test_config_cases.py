"""Broken configs in config_cases/ run through pungi-like-config-validate as a subprocess.

A ``.conf`` case says what it expects in header comments: ``# expect: TEXT`` (a substring of the
output), ``# at-line: N`` or a ``# <-- error`` marker on the offending line, and ``# at-file:
NAME`` when the marker is in an included file. A ``.json`` case has a ``NAME.expect`` file
(``at: LINE``, ``expect: TEXT``). Files starting with ``_`` are includes, not cases.
"""

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "config_cases")
REPO = os.path.dirname(os.path.dirname(HERE))
VALIDATOR = os.path.join(REPO, "bin", "pungi-like-config-validate")


def _case_files():
    return sorted(f for f in os.listdir(CASES)
                  if f.endswith((".conf", ".json")) and not f.startswith("_"))


def _marker_line(path):
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            if "# <-- error" in line:
                return number
    return None


def _expectations(name):
    path = os.path.join(CASES, name)
    if name.endswith(".json"):
        with open(os.path.join(CASES, name[:-len(".json")] + ".expect")) as handle:
            header = handle.read().splitlines()
        at_file, at_line = name, None
        expects = []
        for line in header:
            key, _, value = line.partition(": ")
            if key == "at":
                at_line = int(value)
            elif key == "expect":
                expects.append(value)
        return at_file, at_line, expects
    with open(path) as handle:
        header = [line for line in handle.read().splitlines() if line.startswith("# ")]
    at_file = name
    at_line = None
    expects = []
    for line in header:
        match = re.match(r"# (expect|at-line|at-file): (.*)$", line)
        if not match:
            continue
        key, value = match.groups()
        if key == "expect":
            expects.append(value)
        elif key == "at-line":
            at_line = int(value)
        else:
            at_file = value
    if at_line is None:
        at_line = _marker_line(os.path.join(CASES, at_file))
    return at_file, at_line, expects


def run_validator(*args, cwd=CASES):
    return subprocess.run([sys.executable, VALIDATOR, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_there_are_enough_cases():
    assert len(_case_files()) >= 25


@pytest.mark.parametrize("name", _case_files())
def test_broken_config(name):
    at_file, at_line, expects = _expectations(name)
    assert at_line, f"{name}: no '# <-- error' marker or at-line header"
    assert expects, f"{name}: no expectations"
    result = run_validator(name)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in result.stderr, result.stderr
    located = [line for line in output.splitlines() if line.startswith(f"{at_file}:{at_line}: ")]
    assert located, f"no message at {at_file}:{at_line}:\n{output}"
    for text in expects:
        assert any(text in line for line in located), \
            f"expected {text!r} at {at_file}:{at_line}, got:\n{output}"


def test_valid_base_config_passes():
    result = run_validator("_base.conf")
    assert result.returncode == 0, result.stderr
    assert "config is valid" in result.stderr


def test_dump_prints_effective_config_with_defaults():
    import json

    result = run_validator("_base.conf", "--dump")
    assert result.returncode == 0, result.stderr
    dumped = json.loads(result.stdout)
    assert dumped["release_short"] == "DP"
    assert dumped["createrepo_checksum"] == "sha256"
    assert dumped["repoclosure_strictness"] == [[".*", {"*": "lenient"}]]
    assert list(dumped) == sorted(dumped)
    assert result.stdout.startswith('{\n    "')


def test_schema_flag_prints_schema():
    import json

    result = run_validator("--schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert "release_short" in schema["properties"]


def test_bad_label_on_command_line():
    result = run_validator("_base.conf", "--label", "Beta1.0")
    assert result.returncode == 1
    assert "label 'Beta1.0' is not in the format <Milestone>-<X>.<Y>" in result.stderr
    assert run_validator("_base.conf", "--label", "RC-1.0").returncode == 0


def test_missing_config_file():
    result = run_validator("no-such.conf")
    assert result.returncode == 1
    assert "no-such.conf: config file does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_error_is_reported_not_only_the_first(tmp_path):
    conf = tmp_path / "many.conf"
    conf.write_text('from _base import *\ncreate_jigdo = "yes"\ncreaterepo_checksum = "md4"\n'
                    'iso_size = -1\n')
    (tmp_path / "_base.conf").write_text(open(os.path.join(CASES, "_base.conf")).read())
    (tmp_path / "variants.xml").write_text(open(os.path.join(CASES, "variants.xml")).read())
    result = run_validator("many.conf", cwd=tmp_path)
    assert result.returncode == 1
    for line in (2, 3, 4):
        assert f"many.conf:{line}: " in result.stderr
