"""liveimages on the embedded build service: a failing livecd task of a failable block.

The compose takes its package set from the universe's repo (fast) but its live image from a
livecd task on the embedded hub (seeded with the demo universe, as the demo compose does); the
kickstart asks for a package no repo has, so the task fails on the builder.
"""

import json
import os
import re
import sys

import pytest

from tests.integration.test_driver import ROOT, make_config, only_compose

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


def test_failing_livecd_task_on_a_failable_block_gives_finished_incomplete(tmp_path, universe,
                                                                           capsys):
    from pungi_like.cli.compose_driver import main

    ks = tmp_path / "bad.ks"
    ks.write_text(BAD_KS)
    service = os.path.join(ROOT, ".cache", "buildsvc")
    conf = make_config(tmp_path, universe, f"""
buildservice = {{"embedded": True, "topdir": {service!r}, "builders": 1,
                "seed_universe": {universe.path!r}}}
live_images = [("^Server$", {{"x86_64": {{"kickstart": {str(ks)!r}, "name": "Broken-Live",
    "target": "demo-1.0", "version": "1.0", "repo": ["Server"], "failable": True}}}})]
""")
    target = tmp_path / "composes"
    code = main(["--config", conf, "--target-dir", str(target), "--test"])
    err = capsys.readouterr().err
    assert code == 4, err
    topdir = only_compose(str(target))
    assert open(os.path.join(topdir, "STATUS")).read() == "FINISHED_INCOMPLETE\n"
    deliverables = json.load(open(os.path.join(topdir, "logs/global/deliverables.json")))
    assert deliverables["failed"] == {"live": [["Server", "x86_64", "Server"]]}
    (detail,) = deliverables["failed_details"]
    task_id = re.search(r"Live task failed: (\d+)\.", detail["error"]).group(1)
    assert "no-such-package-anywhere" in detail["error"]
    # the task is recorded as one the compose started
    assert os.path.exists(os.path.join(topdir, "logs/global/koji-tasks", task_id))
    # the compose report lists it with its state; the embedded service's port is gone once the
    # compose ends, so the row has no link and the report says how to serve the task pages
    text = open(os.path.join(topdir, "logs/global/report.html"), encoding="utf-8").read()
    assert re.search(r'<tr><td>%s</td><td>\w+</td><td>FAILED</td></tr>' % task_id, text), text
    assert "taskID=%s" % task_id not in text
    assert "pungi-like-hub serve --topdir" in text
    # everything else was made: repos and manifests
    assert os.path.exists(os.path.join(topdir, "compose/metadata/rpms.json"))
