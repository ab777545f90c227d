"""pungi-like-koji: the compose driver.

Exit codes (doc/operations.md):
  0  FINISHED
  1  DOOMED (a non-failable part failed; the cause is on stderr and in logs/global)
  2  bad command line
  3  invalid config or variants file (nothing was created)
  4  FINISHED_INCOMPLETE (only failable deliverables failed; 0 with --incomplete-ok)
  5  TERMINATED (SIGINT/SIGTERM)

This module is the command's entry point only: it starts the reuse precheck's child
(``reuse_precheck``: the newest old compose's files stated while the driver starts) from the
command line as it is, then imports the driver, :mod:`pungi_like.cli.compose_run`, and runs it.
Started after the driver's imports (logging, shutil, tempfile, the package's helpers) and its
argument parser, the child answered later than the units of a no-op re-run asked: the package
set waited for its first answer, the gathers for theirs. The driver takes the child when it
checks the very directories its parsed arguments name (``compose_run.start_precheck``), and
stops it otherwise; a command line read here otherwise than ``argparse`` reads it costs only
the child's work. That child is a fork of this process (``reuse_precheck._Forked``: no
interpreter of its own to start, no ``subprocess`` imported first), made while it runs no
other thread. The driver's other names are read through this module as before.
"""

import gc
import os
import sys

#: options of the driver that take a value (``compose_run.build_parser``); any other option
#: with a value, or one spelled otherwise than in full, and no child is started here
_VALUE_OPTIONS = {"--target-dir", "--compose-dir", "--resume", "--config", "--old-composes",
                  "--label", "--skip-phase", "--just-phase", "--notification-script",
                  "--latest-link-status", "--latest-link-components", "--koji-event"}
_FLAGS = {"--no-reuse", "--no-label", "--supported", "--production", "--nightly", "--test",
          "--ci", "--development", "--no-latest-link", "--print-output-dir", "--incomplete-ok",
          "--quiet", "--debug"}


def early_precheck_dirs(argv):
    """(directories of old composes, compose directory left out) as the driver would search
    them (``compose_run.old_compose_dirs``) for the command line ``argv``, read without
    ``argparse``; None when it names no such directory, asks for no reuse or a resume, or
    holds anything this reading does not know."""
    values = {}
    old = []
    it = iter(argv)
    for arg in it:
        name, eq, value = arg.partition("=")
        if name in _VALUE_OPTIONS:
            if not eq:
                value = next(it, None)
                if value is None:
                    return None
            if name == "--old-composes":
                old.append(value)
            else:
                values[name] = value
        elif arg in _FLAGS:
            if arg == "--no-reuse":
                return None
        else:
            return None   # -h, --version, an abbreviation, a positional argument
    if "--resume" in values or "--config" not in values \
            or ("--target-dir" in values) == ("--compose-dir" in values):
        return None
    compose_dir = values.get("--compose-dir")
    dirs = old + [values.get("--target-dir") or os.path.dirname(compose_dir)]
    return [d for d in dirs if os.path.isdir(d)], compose_dir


def start_early_precheck(argv):
    """The reuse precheck's child for ``argv`` (``early_precheck_dirs``), or None."""
    if os.environ.get("PUNGI_LIKE_REUSE_VERIFY") == "full":
        return None
    found = early_precheck_dirs(argv)
    if not found or not found[0]:
        return None
    from pungi_like.reuse_precheck import Precheck

    try:
        return Precheck(dirs=found[0], skip=found[1], fork=True, report=True)
    except OSError:
        return None


def main(argv=None):
    """The command (``argv`` None: ``sys.argv``; the process ends when the compose is done)
    or an in-process call with ``argv`` (returns the exit code): ``compose_run.main``."""
    # the cyclic GC paused while the driver starts: what the start makes (its modules, the
    # config, the compose) lives to the end and is frozen before the units run
    # (``compose_run._main``), so a collection before then only traversed it (47 in the
    # imports alone, 4 % of their instructions). The few cycles the start leaves as garbage
    # (some 370 objects at 10,000 RPMs) are frozen with the rest until ``gc.unfreeze``.
    paused = gc.isenabled()
    gc.disable()
    try:
        precheck = start_early_precheck(sys.argv[1:] if argv is None else list(argv))
        try:
            from pungi_like.cli import compose_run

            return compose_run.main(argv, precheck=precheck, gc_paused=paused)
        finally:
            if precheck is not None:
                precheck.close()
    finally:
        if paused:
            gc.enable()


def __getattr__(name):
    """The driver's names (``build_parser``, ``read_ahead`` ...), from ``compose_run``."""
    if name.startswith("__"):
        raise AttributeError(name)
    from pungi_like.cli import compose_run

    return getattr(compose_run, name)


if __name__ == "__main__":
    sys.exit(main())
