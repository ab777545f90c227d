"""fileutil.Syncer: files written and renamed at once, fsynced by threads while the compose goes
on (its identity and driver files at its start, the manifests metadata.write writes), and
durable before STATUS says anything but STARTED: a failed fsync keeps a compose from saying
FINISHED."""

import types

import pytest

from pungi_like.compose import Compose
from pungi_like.fileutil import Syncer, write_atomic


def test_a_file_is_there_at_once_and_waited_for(tmp_path):
    syncer = Syncer()
    path = tmp_path / "metadata" / "rpms.json"
    write_atomic(str(path), '{"payload": {}}\n', fsync=syncer)
    assert path.read_text() == '{"payload": {}}\n'
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]
    syncer.wait()
    syncer.wait()   # nothing pending


def test_an_fsync_that_failed_is_raised_once_and_a_removed_file_is_none(tmp_path):
    syncer = Syncer()
    write_atomic(str(tmp_path / "a.json"), "{}\n", fsync=syncer)
    syncer.add(str(tmp_path / "a.json" / "x"))   # cannot be opened: it cannot be made durable
    with pytest.raises(NotADirectoryError):
        syncer.wait()
    syncer.wait()
    write_atomic(str(tmp_path / "stage.json"), "{}\n", fsync=syncer)
    (tmp_path / "stage.json").unlink()           # removed before its fsync: nothing to keep
    syncer.wait()


def _compose(tmp_path):
    conf = types.SimpleNamespace(release_short="T", release_version="1", release_type="ga",
                                 base_product_short=None, base_product_version=None,
                                 base_product_type=None)
    return Compose.create(conf, target_dir=str(tmp_path), compose_type="nightly")


def test_status_is_not_finished_while_a_manifest_is_not_durable(tmp_path):
    compose = _compose(tmp_path)
    compose.syncer.wait()   # its identity (COMPOSE_ID, composeinfo-base.json)
    compose.syncer.add(compose.paths.compose_id_file() + "/x")   # an fsync that fails
    compose.write_status("STARTED")   # vouches for nothing: waits for nothing
    with pytest.raises(NotADirectoryError):
        compose.syncer.wait()
    rpms = compose.paths.metadata_file("rpms.json", create=True)
    write_atomic(rpms, "{}\n", fsync=compose.syncer)
    compose.syncer.add(rpms + "/x")   # an fsync that fails
    with pytest.raises(NotADirectoryError):
        compose.write_status("FINISHED")
    with open(compose.paths.status_file()) as fh:
        assert fh.read() == "STARTED\n"
    compose.write_status("DOOMED")
    with open(compose.paths.status_file()) as fh:
        assert fh.read() == "DOOMED\n"
