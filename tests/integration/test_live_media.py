"""live_media on the embedded build service: a livemedia task per block, as Pungi's live_media.

The compose takes its package set from the universe's repo (fast) and submits the demo live
kickstart as a ``livemedia`` task (spin-livemedia) whose install tree is the compose's own Server
tree; the builder makes a live ISO per arch. A second compose gives a kickstart that cannot be
satisfied, on a block whose arches are all failable: FINISHED_INCOMPLETE, with the task id.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.integration.test_driver import DEMO_DIR, ROOT, make_config, only_compose

pytestmark = pytest.mark.integration

BAD_KS = """\
lang en_US.UTF-8
part / --size 64 --fstype ext4
bootloader --location=none
%packages
kernel
busybox
demo-base
no-such-package-anywhere
%end
"""


def _service_conf(universe, block):
    service = os.path.join(ROOT, ".cache", "buildsvc")
    return f"""
buildservice = {{"embedded": True, "topdir": {service!r}, "builders": 1,
                "seed_universe": {universe.path!r}}}
live_media = {{"^Server$": [{block}]}}
"""


@pytest.fixture(scope="module")
def media_compose(tmp_path_factory, universe):
    from pungi_like.cli.compose_driver import main

    tmp = tmp_path_factory.mktemp("livemedia")
    ks = os.path.join(DEMO_DIR, "live.ks")
    conf = make_config(tmp, universe, _service_conf(universe, f"""{{
        "name": "Demo-Media", "kickstart": {ks!r}, "subvariant": "Media",
        "target": "demo-1.0", "version": "1.0", "release": "7", "arches": ["x86_64"],
        "install_tree_from": "Server", "scratch": True}}"""))
    target = tmp / "composes"
    code = main(["--config", conf, "--target-dir", str(target), "--test", "--quiet"])
    return code, only_compose(str(target))


def test_live_media_block_gives_a_live_iso_from_a_livemedia_task(media_compose):
    code, topdir = media_compose
    assert code == 0, open(os.path.join(topdir, "logs/global/pungi.global.log")).read()[-3000:]
    images = json.load(open(os.path.join(topdir, "compose/metadata/images.json")))
    (live,) = [i for i in images["payload"]["images"]["Server"]["x86_64"] if i["type"] == "live"]
    # kojid's file name, kept by the compose as Pungi keeps it
    assert live["path"] == "Server/x86_64/iso/Demo-Media-x86_64-1.0-7.iso"
    assert live["format"] == "iso" and live["bootable"] and live["subvariant"] == "Media"
    assert (live["disc_number"], live["disc_count"]) == (1, 1)
    assert live["volume_id"] == "Demo-Media-1.0-7"
    path = os.path.join(topdir, "compose", live["path"])
    # a regular file of the compose, not a link into the build service
    assert os.path.isfile(path) and not os.path.islink(path)
    assert os.path.getsize(path) == live["size"]
    check = subprocess.run(["checkisomd5", path], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # the task was a livemedia parent with one createLiveMedia child, its install tree the
    # compose's own Server tree
    log = open(os.path.join(topdir, "logs/x86_64/livemedia-Server-Media.x86_64.log")).read()
    assert "'livemedia'" in log and "'install_tree_url': 'file://" in log
    assert "/compose/Server/$basearch/os'" in log
    task_id = re.search(r"livemedia task (\d+)", open(os.path.join(
        topdir, "logs/global/pungi.global.log")).read()).group(1)
    assert os.path.exists(os.path.join(topdir, "logs/global/koji-tasks", task_id))


def test_failing_livemedia_task_of_failable_arches_gives_finished_incomplete(tmp_path, universe):
    from pungi_like.cli.compose_driver import main

    ks = tmp_path / "bad.ks"
    ks.write_text(BAD_KS)
    conf = make_config(tmp_path, universe, _service_conf(universe, f"""{{
        "name": "Broken-Media", "kickstart": {str(ks)!r}, "subvariant": "Broken",
        "target": "demo-1.0", "version": "1.0", "failable": ["*"], "scratch": True}}"""))
    target = tmp_path / "composes"
    code = main(["--config", conf, "--target-dir", str(target), "--test", "--quiet"])
    topdir = only_compose(str(target))
    assert code == 4
    assert open(os.path.join(topdir, "STATUS")).read() == "FINISHED_INCOMPLETE\n"
    deliverables = json.load(open(os.path.join(topdir, "logs/global/deliverables.json")))
    assert deliverables["failed"] == {"live-media": [["Server", "*", "Broken"]]}
    (detail,) = deliverables["failed_details"]
    assert re.search(r"Live media task failed: \d+\.", detail["error"]), detail
    assert "no-such-package-anywhere" in detail["error"]


def test_live_media_config_errors_name_the_block(tmp_path, universe, capsys):
    from pungi_like.cli.compose_driver import main

    conf = make_config(tmp_path, universe, """
live_media = {"^Server$": [{"name": "X", "kickstart": "x.ks", "install_tree_from": "Nope",
                            "arches": ["s390x"]}]}
""")
    code = main(["--config", conf, "--target-dir", str(tmp_path / "composes"), "--test"])
    err = capsys.readouterr().err
    assert code == 1, err  # phase checks run when the compose starts: DOOMED, nothing built
    assert "LIVE_MEDIA: live_media needs a build service" in err
    assert "live_media block X of Server has no target" in err
    assert "install_tree_from names Nope, which is no variant of this compose" in err
    assert "none of its arches ['s390x'] is an arch of the variant (x86_64)" in err


def test_the_build_service_lists_the_compose_with_its_task(media_compose):
    """The compose recorded itself on the service (start and end); the service's web page
    /koji/composes lists it, FINISHED, with a link to its livemedia task."""
    import io
    import wsgiref.util

    from pungi_like.buildsvc.hub.server import HubApp, HubConfig

    code, topdir = media_compose
    assert code == 0
    cid = os.path.basename(topdir)
    task_id = re.search(r"livemedia task (\d+)", open(os.path.join(
        topdir, "logs/global/pungi.global.log")).read()).group(1)
    app = HubApp(HubConfig.load(os.path.join(ROOT, ".cache", "buildsvc")))
    environ = {"PATH_INFO": "/koji/composes", "QUERY_STRING": "order=-updated",
               "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(b"")}
    wsgiref.util.setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    app.db.dispose()
    page = body.decode("utf-8")
    assert status == ["200 OK"], page[:2000]
    row = [r for r in page.split("<tr>") if topdir in r]
    assert len(row) == 1, page[:3000]
    assert cid in row[0] and "FINISHED" in row[0] and "kojiadmin" in row[0]
    assert 'href="taskinfo?taskID=%s"' % task_id in row[0]
