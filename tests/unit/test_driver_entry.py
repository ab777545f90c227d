"""The driver's entry point (``compose_driver``) starts the reuse precheck's child from the
command line before the driver (``compose_run``) is imported; the driver takes that child only
when it checks the very directories the parsed arguments name, and stops it otherwise."""

import os

import pytest

from pungi_like import reuse_precheck
from pungi_like.cli import compose_driver, compose_run


@pytest.fixture
def dirs(tmp_path):
    made = {}
    for name in ("target", "old1", "old2"):
        made[name] = str(tmp_path / name)
        os.mkdir(made[name])
    return made


def _argv_cases(d):
    target, old1, old2 = d["target"], d["old1"], d["old2"]
    compose_dir = os.path.join(target, "T-1-20260101.n.0")
    return [
        ["--config", "c.conf", "--target-dir", target, "--nightly", "--quiet"],
        ["--config=c.conf", "--target-dir=" + target, "--no-latest-link"],
        ["--config", "c.conf", "--old-composes", old1, "--target-dir", target,
         "--old-composes=" + old2, "--label", "RC-1.0", "--skip-phase", "createiso"],
        ["--config", "c.conf", "--compose-dir", compose_dir, "--old-composes", old1],
        ["--config", "c.conf", "--target-dir", target, "--old-composes",
         os.path.join(target, "missing")],
    ]


def test_the_command_line_is_read_as_the_driver_reads_it(dirs):
    parser = compose_run.build_parser()
    for argv in _argv_cases(dirs):
        args = parser.parse_args(argv)
        wanted = [d for d in compose_run.old_compose_dirs(args, args.compose_dir)
                  if os.path.isdir(d)]
        assert compose_driver.early_precheck_dirs(argv) == (wanted, args.compose_dir), argv
        assert reuse_precheck.find_args(*compose_driver.early_precheck_dirs(argv)) \
            == reuse_precheck.find_args(wanted, args.compose_dir)


@pytest.mark.parametrize("extra", [
    ["--no-reuse"],                 # nothing to check
    ["--targ", "x"],                # an abbreviation argparse accepts: not read here
    ["-h"], ["--version"],
    ["--config"],                   # a value missing
    ["--quiet=1"],                  # a flag with a value
    ["positional"],
    ["--future-option"],            # an option this module does not know
])
def test_no_child_for_what_it_does_not_read(dirs, extra):
    argv = ["--config", "c.conf", "--target-dir", dirs["target"]] + extra
    assert compose_driver.early_precheck_dirs(argv) is None


def test_no_child_for_a_resume_nor_without_a_config_or_a_place(dirs):
    assert compose_driver.early_precheck_dirs(["--resume", dirs["target"]]) is None
    assert compose_driver.early_precheck_dirs(["--target-dir", dirs["target"]]) is None
    assert compose_driver.early_precheck_dirs(["--config", "c.conf"]) is None
    assert compose_driver.early_precheck_dirs(
        ["--config", "c", "--target-dir", dirs["target"], "--compose-dir", dirs["old1"]]) is None


def test_no_child_with_full_verification(dirs, monkeypatch):
    monkeypatch.setenv("PUNGI_LIKE_REUSE_VERIFY", "full")
    assert compose_driver.start_early_precheck(
        ["--config", "c.conf", "--target-dir", dirs["target"]]) is None


def test_the_driver_takes_the_early_child_when_it_checks_the_same_directories(dirs):
    argv = ["--config", "c.conf", "--target-dir", dirs["target"], "--old-composes", dirs["old1"]]
    early = compose_driver.start_early_precheck(argv)
    assert early is not None
    try:
        args = compose_run.build_parser().parse_args(argv)
        assert compose_run.start_precheck(args, early) is early
        assert early.proc.poll() is None or early.proc.returncode == 0   # not stopped
    finally:
        early.close()


def test_the_driver_stops_an_early_child_of_other_directories(dirs):
    early = compose_driver.start_early_precheck(
        ["--config", "c.conf", "--target-dir", dirs["old2"]])
    args = compose_run.build_parser().parse_args(
        ["--config", "c.conf", "--target-dir", dirs["target"]])
    started = compose_run.start_precheck(args, early)
    try:
        assert started is not early and started is not None
        assert started.args == reuse_precheck.find_args([dirs["target"]])
        assert early.proc.returncode is not None    # stopped and waited for
    finally:
        started.close()
    args = compose_run.build_parser().parse_args(
        ["--config", "c.conf", "--target-dir", dirs["target"], "--no-reuse"])
    early = compose_driver.start_early_precheck(
        ["--config", "c.conf", "--target-dir", dirs["target"]])
    assert compose_run.start_precheck(args, early) is None
    assert early.proc.returncode is not None


def test_a_bad_command_line_stops_the_early_child(dirs):
    early = compose_driver.start_early_precheck(
        ["--config", "c.conf", "--target-dir", dirs["target"]])
    with pytest.raises(SystemExit):
        compose_run.main(["--config", "c.conf", "--target-dir", dirs["target"],
                          "--label", "not a label", "--production", "--bogus"],
                         precheck=early)
    assert early.proc.returncode is not None


def test_the_driver_names_are_read_through_the_entry_point():
    assert compose_driver.build_parser is compose_run.build_parser
    assert compose_driver.EXIT_CONFIG == 3
    with pytest.raises(AttributeError):
        compose_driver.no_such_name   # noqa: B018


@pytest.mark.parametrize("enabled", [True, False])
def test_the_cyclic_gc_is_paused_for_the_start_and_given_back(dirs, monkeypatch, enabled):
    """The entry point disables the cyclic GC before the driver's imports and tells the
    driver to enable it again (``gc_paused``) only when it was enabled; after the run the
    caller's GC state is the one it had."""
    import gc

    seen = []

    def fake_main(argv, precheck=None, gc_paused=False):
        seen.append((gc.isenabled(), gc_paused))
        return 0

    monkeypatch.setattr(compose_run, "main", fake_main)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        assert compose_driver.main(["--config", "c.conf", "--no-reuse",
                                    "--target-dir", dirs["target"]]) == 0
        assert seen == [(False, enabled)]
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_a_run_that_fails_to_start_enables_the_paused_gc(tmp_path):
    """A config that cannot be read ends the run before the start's objects are frozen: the
    GC the entry point paused is enabled again all the same (``_run_main``)."""
    import gc

    was = gc.isenabled()
    try:
        gc.disable()
        code = compose_run.main(["--config", str(tmp_path / "missing.conf"), "--no-reuse",
                                 "--target-dir", str(tmp_path)], gc_paused=True)
        assert code == compose_run.EXIT_CONFIG
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
