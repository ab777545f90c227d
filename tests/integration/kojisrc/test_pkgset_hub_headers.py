"""pkgset from a tag describes each RPM from the hub's answers, not by reading its header.

For every RPM of the seeded tag (signed copies and the unsigned originals), what
``phases.pkgset.header_from_hub`` makes of listTaggedRPMS's rows must equal librpm's reading of
the same file: NEVRA, source RPM name, build time, signing key, and for source RPMs
ExcludeArch/ExclusiveArch.
"""

import dataclasses

import koji
import pytest

from phases.pkgset import header_from_hub
from pungi_like.rpmtools.headers import read_header

pytestmark = pytest.mark.integration

TAG = "demo-1.0-updates"


def test_headers_from_hub_results_equal_librpm(seeded):
    rpms, builds = seeded.session.listTaggedRPMS(TAG, event=seeded.event, inherit=True,
                                                 latest=True)
    by_id = {b["id"]: b for b in builds}
    pathinfo = koji.PathInfo(topdir=seeded.hub.topdir)
    key = seeded.key.sigkey
    arches, checked = set(), 0
    for rpm in rpms:
        build = by_id[rpm["build_id"]]
        base = pathinfo.build(build)
        source = rpm["arch"] in ("src", "nosrc")
        for sigkey, path in ((key, "%s/%s" % (base, pathinfo.signed(rpm, key))),
                             (None, "%s/%s" % (base, pathinfo.rpm(rpm)))):
            got = header_from_hub(rpm, build, sigkey, path, arch_tags=source)
            assert dataclasses.asdict(got) == dataclasses.asdict(read_header(path)), path
            checked += 1
        arches.add(rpm["arch"])
    assert {"src", "noarch", "x86_64"} <= arches and checked == 2 * len(rpms) > 100
    # the demo universe has source packages with ExcludeArch and ExclusiveArch
    srcs = [header_from_hub(r, by_id[r["build_id"]], key,
                            "%s/%s" % (pathinfo.build(by_id[r["build_id"]]),
                                       pathinfo.signed(r, key)), arch_tags=True)
            for r in rpms if r["arch"] == "src"]
    assert any(h.excludearch for h in srcs) and any(h.exclusivearch for h in srcs)
