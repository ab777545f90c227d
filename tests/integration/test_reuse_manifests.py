"""test.manifests in a re-run: rpms.json's package payload is not parsed again when an old
compose's test.manifests reloaded the very same bytes (issue 12: 3.5 MB of JSON at 10,000
RPMs, on the no-op's last path); the rest of the file is still loaded by productmd, and the
unit's result is the same."""

import json
import os

import pytest

from tests.integration.test_reuse import compose, identity, make_release

pytestmark = pytest.mark.integration

NOT_PARSED = "[test.manifests] rpms.json's packages not parsed again: the bytes %s's"


def record(topdir, unit):
    with open(os.path.join(topdir, "work", "global", "units", unit + ".json")) as fh:
        return json.load(fh)


def log(topdir):
    with open(os.path.join(topdir, "logs", "global", "pungi.global.log")) as fh:
        return fh.read()


def test_the_payload_an_old_compose_reloaded_is_not_parsed_again(tmp_path):
    conf = make_release(tmp_path)
    target = tmp_path / "composes"
    proc, cold = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    assert "rpms.json's packages not parsed again" not in log(cold)
    proc, warm = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    assert NOT_PARSED % identity(cold)[0] in log(warm)
    counted = record(cold, "test.manifests")["outputs"]
    assert counted["rpms"] > 0
    assert record(warm, "test.manifests")["outputs"] == counted
    # an old rpms.json written again after its compose's reload (here: only its time) proves
    # nothing: the file is parsed, to the same count
    for top in (cold, warm):
        path = os.path.join(top, "compose", "metadata", "rpms.json")
        end = record(top, "test.manifests")["end"]
        os.utime(path, (end + 10, end + 10))
    proc, third = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    assert "rpms.json's packages not parsed again" not in log(third)
    assert record(third, "test.manifests")["outputs"] == counted


def test_a_changed_payload_is_parsed(tmp_path):
    """An old rpms.json whose payload differs (here: an old compose's own file, its packages
    changed by hand after its reload - same length and time) is not the proof: this
    compose's own rpms.json is parsed."""
    conf = make_release(tmp_path)
    target = tmp_path / "composes"
    proc, cold = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    path = os.path.join(cold, "compose", "metadata", "rpms.json")
    st = os.stat(path)
    with open(path, "rb") as fh:
        data = fh.read()
    at = data.index(b'"sigkey": ', data.index(b'"rpms": '))
    os.unlink(path)   # a hard link of the file may be another compose's
    with open(path, "wb") as fh:
        fh.write(data[:at] + data[at:].replace(b'"category": "binary"', b'"category": "debug" ', 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    proc, warm = compose(conf, target)
    assert proc.returncode == 0, proc.stderr
    assert "rpms.json's packages not parsed again" not in log(warm)
    assert record(warm, "test.manifests")["outputs"] == record(cold, "test.manifests")["outputs"]
