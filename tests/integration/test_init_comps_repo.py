"""init's comps-only repos written in the process (repowrite.write_repo) are the ones
``createrepo_c --groupfile`` writes: the same files (their names carry their checksums) and
the same repomd.xml but for its time stamps."""

import os
import re

import pytest

from phases.init import write_comps_repo
from pungi_like.rpmtools import repodata

pytestmark = pytest.mark.integration

COMPS = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE comps PUBLIC "-//Red Hat, Inc.//DTD Comps info//EN" "comps.dtd">
<comps>
  <group>
    <id>core</id>
    <name>Core</name>
    <description>Smallest possible installation</description>
    <default>true</default>
    <uservisible>false</uservisible>
    <packagelist>
      <packagereq type="mandatory">bash</packagereq>
    </packagelist>
  </group>
</comps>
"""


def _repomd(repo_dir):
    with open(os.path.join(repo_dir, "repodata", "repomd.xml"), encoding="utf-8") as fh:
        return re.sub(r"<(timestamp|revision)>\d+</\1>", "", fh.read())


def test_comps_repo_as_the_command_writes_it(tmp_path):
    if repodata.repowrite.unsupported() is not None:
        pytest.skip(f"the library does not write as the command: "
                    f"{repodata.repowrite.unsupported()}")
    comps = tmp_path / "comps-Server.x86_64.xml"
    comps.write_text(COMPS, encoding="utf-8")
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    log = str(tmp_path / "log")
    write_comps_repo(str(comps), ours, "sha256", log)
    os.makedirs(theirs)
    repodata.createrepo(theirs, outputdir=theirs, groupfile=str(comps), checksum="sha256",
                        update=True, database=False, workers=1)
    assert sorted(os.listdir(os.path.join(ours, "repodata"))) \
        == sorted(os.listdir(os.path.join(theirs, "repodata")))
    assert _repomd(ours) == _repomd(theirs)
    assert "written from records: 0 packages" in open(log, encoding="utf-8").read()
    # written again over the first (a resumed compose): the same files
    write_comps_repo(str(comps), ours, "sha256", log)
    assert sorted(os.listdir(os.path.join(ours, "repodata"))) \
        == sorted(os.listdir(os.path.join(theirs, "repodata")))
