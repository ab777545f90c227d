"""Helpers of the kojisrc tests (a uniquely named module: test modules import it by name,
which a second ``conftest`` module on sys.path would shadow)."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
DEMO_DIR = os.path.join(ROOT, "configs", "demo")

NEWER_NAME, NEWER_OLD, NEWER_VERSION = "extra-figlet", "extra-figlet-2.2-1", "2.9"


def demo_config(tmp_path, universe, extra="", source="koji"):
    """The demo compose's variants, groups and gather settings (``demo_base.conf``) without
    bootable media and test boots, with absolute paths; its package set from the seeded tags
    (``source = "koji"``) or the universe's repo."""
    text = open(os.path.join(DEMO_DIR, "demo_base.conf")).read()
    text = text.split("# bootable media")[0].split("# the test phase boots")[0]
    text = text.replace("../../.cache/universe/comps.xml", universe.comps_path)
    text = text.replace('"variants.xml"', repr(os.path.join(DEMO_DIR, "variants.xml")))
    if source == "koji":
        text += ('\npkgset_source = "koji"\npkgset_koji_tag = "demo-1.0-updates"\n'
                 'koji_profile = "kojiadmin"\nsigkeys = [None]\n')
    else:
        text += (f'\npkgset_source = "repos"\npkgset_repos = {{"x86_64": [{universe.repo_dir!r}]}}\n'
                 'sigkeys = [None]\n')
    path = tmp_path / f"{source}.conf"
    path.write_text(text + "\n" + extra + "\n")
    return str(path)


def run_compose(config, target, *extra):
    """The compose driver in-process; returns (exit code, compose dir)."""
    from pungi_like.cli.compose_driver import main

    os.makedirs(target, exist_ok=True)
    rc = main(["--config", config, "--target-dir", str(target), "--nightly", "--quiet",
               "--no-latest-link", *extra])
    found = [os.path.join(target, d) for d in os.listdir(target) if d.startswith("Demo-")]
    assert len(found) == 1, found
    return rc, found[0]


def rpms_json(compose_dir):
    import json

    with open(os.path.join(compose_dir, "compose", "metadata", "rpms.json")) as fh:
        return json.load(fh)["payload"]["rpms"]


def status(compose_dir):
    with open(os.path.join(compose_dir, "STATUS")) as fh:
        return fh.read().strip()
