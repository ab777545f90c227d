"""The compose driver of ``pungi-like-koji`` (its entry point is
:mod:`pungi_like.cli.compose_driver`, which starts the reuse precheck's child before this module
and its imports are loaded; the exit codes are listed there).
"""

import argparse
import gc
import importlib
import json
import logging
import os
import shutil
import signal
import sys
import time
import traceback

import pungi_like
from pungi_like.errors import ConfigError, PungiLikeError
from pungi_like.fileutil import write_atomic, write_json_atomic
from pungi_like.lazyimport import lazy_module
from pungi_like.notifier import Notifier
from pungi_like.tools import kill_children

# imported where first used: the reuse precheck's child starts before them (start_precheck)
metadata = lazy_module("pungi_like.metadata", globals(), "metadata")

EXIT_FINISHED = 0
EXIT_DOOMED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_INCOMPLETE = 4
EXIT_TERMINATED = 5

COMPOSE_TYPES = ("production", "nightly", "test", "ci", "development")

log = logging.getLogger("pungi_like.driver")


class Terminated(BaseException):
    """Raised in the main thread by the SIGINT/SIGTERM handler."""

    def __init__(self, signum):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


def build_parser():
    p = argparse.ArgumentParser(
        prog="pungi-like-koji",
        description="Compose a release: package sets, repos, images and productmd manifests.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--target-dir", metavar="PATH",
                       help="directory in which a new compose directory is allocated")
    where.add_argument("--compose-dir", metavar="PATH",
                       help="use this exact compose directory (reuses its identity if present)")
    where.add_argument("--resume", metavar="COMPOSE_DIR",
                       help="continue a compose that was killed, with the arguments it was "
                            "started with: finished units whose files verify are kept")
    p.add_argument("--config", metavar="FILE", help="release config file")
    p.add_argument("--old-composes", action="append", default=[], metavar="DIR",
                   help="a directory of old composes (or one compose) whose finished units "
                        "may be reused; repeatable. The target directory is always searched")
    p.add_argument("--no-reuse", action="store_true",
                   help="run every unit: reuse nothing from old composes")
    p.add_argument("--label", help="compose label, e.g. RC-1.0 (required for production)")
    p.add_argument("--no-label", action="store_true",
                   help="make a production compose without a label")
    p.add_argument("--supported", action="store_true", help="mark the compose as supported")
    types = p.add_mutually_exclusive_group()
    for t in COMPOSE_TYPES:
        types.add_argument(f"--{t}", dest="compose_type", action="store_const", const=t,
                           help=f"make a {t} compose")
    p.add_argument("--skip-phase", action="append", default=[], metavar="PHASE")
    p.add_argument("--just-phase", action="append", default=[], metavar="PHASE")
    p.add_argument("--notification-script", action="append", default=[], metavar="CMD")
    p.add_argument("--no-latest-link", action="store_true")
    p.add_argument("--latest-link-status", action="append", default=[], metavar="STATUS")
    p.add_argument("--latest-link-components", type=int, default=-1, metavar="N")
    p.add_argument("--koji-event", metavar="ID", help="pin the build service event")
    p.add_argument("--print-output-dir", action="store_true")
    p.add_argument("--incomplete-ok", action="store_true",
                   help="exit 0 for FINISHED_INCOMPLETE, as Pungi does")
    p.add_argument("--quiet", action="store_true", help="print only warnings, errors and the result")
    p.add_argument("--debug", action="store_true", help="verbose logging on stderr")
    p.add_argument("--version", action="version", version=f"pungi-like {pungi_like.__version__}")
    return p


# ---- phases -------------------------------------------------------------------------------

def load_phase_classes():
    """The phase classes in run order, from the modules listed in ``phases.PHASE_MODULES``."""
    import phases
    from phases.base import PhaseBase

    classes = []
    for modname in phases.PHASE_MODULES:
        module = importlib.import_module(f"phases.{modname}")
        found = [obj for obj in vars(module).values()
                 if isinstance(obj, type) and issubclass(obj, PhaseBase)
                 and obj is not PhaseBase and obj.name == modname]
        if not found:
            raise PungiLikeError(f"phases/{modname}.py defines no phase class named {modname!r}")
        classes.append(found[0])
    return classes


def select_phases(classes, skip, just, conf_skip):
    """Names of the phases to skip; raises ConfigError for unknown names or broken dependencies."""
    names = {}
    for cls in classes:
        names[cls.name] = cls
        for alias in cls.aliases:
            names[alias] = cls
    errors = []

    def canon(phase):
        if phase not in names:
            errors.append(f"unknown phase {phase!r}; phases are: "
                          + ", ".join(c.name for c in classes))
            return None
        return names[phase].name

    skipped = {canon(p) for p in list(skip) + list(conf_skip or [])} - {None}
    if just:
        wanted = {canon(p) for p in just} - {None}
        skipped |= {c.name for c in classes if c.name not in wanted}
    for cls in classes:
        if cls.never_skip and cls.name in skipped:
            if cls.name in set(map(canon, skip)) | set(map(canon, conf_skip or [])):
                log.warning("phase %s can not be skipped", cls.name)
            skipped.discard(cls.name)
    for needed, needer in (("pkgset", "gather"), ("gather", "createrepo")):
        if needed in skipped and needer not in skipped:
            errors.append(f"{needed} phase is skipped but it's needed by {needer} phase")
    if errors:
        raise ConfigError(errors)
    return skipped


# ---- console ------------------------------------------------------------------------------

def setup_console(args):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    if args.debug:
        handler.setLevel(logging.DEBUG)
    else:
        handler.setLevel(logging.WARNING)
    root = logging.getLogger("pungi_like")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    return handler


def fail_to_start(notifier, args, argv, detail, errors=None):
    body = {"workdir": os.getcwd(), "command": argv, "target_dir": args.target_dir,
            "config": args.config, "detail": detail}
    if errors:
        body["errors"] = errors
    notifier.send("fail-to-start", body)


# ---- latest link --------------------------------------------------------------------------

def latest_link_name(conf, components):
    version = conf.release_version
    parts = version.split(".")
    if components == 0:
        name = f"latest-{conf.release_short}"
    else:
        if components > 0:
            parts = parts[:components]
        elif components < 0:
            parts = parts[:max(1, len(parts) + components)]
        name = f"latest-{conf.release_short}-{'.'.join(parts)}"
    if conf.base_product_short:
        name += f"-{conf.base_product_short}-{conf.base_product_version}"
    return name


def update_latest_link(compose, args):
    if args.no_latest_link or (args.compose_dir and not getattr(args, "resume", None)):
        return
    wanted = {s.upper() for s in args.latest_link_status}
    if wanted and compose.status not in wanted:
        return
    parent = os.path.dirname(compose.topdir)
    link = os.path.join(parent, latest_link_name(compose.conf, args.latest_link_components))
    tmp = link + ".tmp-" + str(os.getpid())
    # symlink + rename: the link is replaced atomically, never missing for a moment
    os.symlink(os.path.basename(compose.topdir), tmp)
    os.replace(tmp, link)
    compose.log.info("latest link: %s -> %s", link, os.path.basename(compose.topdir))


# ---- the run ------------------------------------------------------------------------------

def copy_config(compose, conf, variants_file):
    dest = compose.paths.config_copy_dir()
    for path in conf.source_files:
        shutil.copy2(path, os.path.join(dest, os.path.basename(path)))
    write_atomic(compose.paths.config_dump_file(),
                 json.dumps(conf.as_dict(), indent=4, sort_keys=True) + "\n", fsync=False)
    shutil.copy2(variants_file, compose.paths.work_variants_file())


def payload_ahead(compose):
    """A thread making what the driver takes of rpms.json after the units - its nested payload
    (``RpmsRecorder.payload``, kept) and the report's package names of it
    (``report.names_ahead``) - while metadata.write copies an old compose's payload (a no-op
    re-run): the kernel's copy and the hashes of its megabytes leave the interpreter lock
    free, and these ~10 ms of Python (10,000 RPMs) came after the units, on one core."""
    import threading

    def make():
        try:
            from pungi_like import report

            report.names_ahead(compose.rpms.payload())
        except Exception as exc:  # noqa: B902 - made again after the units
            log.debug("rpms.json's payload not made ahead: %s", exc)

    thread = threading.Thread(target=make, name="payload-ahead", daemon=True)
    thread.start()
    return thread


def rpms_ahead(compose, old=()):
    """When the gathers ended (the units that add rpms.json's entries) and some entry came
    from a unit that ran here (so metadata.write writes the payload rather than copying an
    old compose's: ``metadata.payload_source``), rpms.json's payload bytes made in a thread
    beside the units after the gathers (``RpmsRecorder.encode_ahead``), not after the last
    unit: a changed re-run's or a cold compose's end. With ``old`` (the composes the diff
    is made against): the diff's imports made in that thread afterwards
    (``composediff.preload``): packages may differ from the old compose's."""
    rpms = compose.rpms
    if rpms.replayed_from() is None and rpms.entries_count():
        then = None
        if old:
            from pungi_like import composediff

            then = composediff.preload
        rpms.encode_ahead(compose.compose_info(), then=then)
    if getattr(compose, "report_helper", None) is not None and rpms.replayed_from() is None:
        # a unit ran (the precheck's child, the report's helper, was stopped when its
        # first unit did: ``ReusePool._differs``): the driver renders the report
        # (``report_by_helper``), its templates read now beside the units, as
        # ``read_ahead`` reads them without a helper
        import threading

        threading.Thread(target=_warm_report, name="report-ahead", daemon=True).start()


def _warm_report():
    try:
        from pungi_like import report

        report.warm_up(None)
    except Exception as exc:  # noqa: B902 - read when the report is made
        log.debug("report not warmed up: %s", exc)


def report_helper(compose):
    """The reuse precheck's child that renders this compose's report pages
    (``reuse_precheck.serve_report``), told to get ready (``Precheck.prepare``), or None
    (the driver renders them): the pool's child, serving them, when the compose uses no
    build service (whose tasks the report asks about; the child is then released)."""
    pool = getattr(compose, "reuse_pool", None)
    helper = getattr(pool, "precheck", None)
    if helper is None or not getattr(helper, "serves", False):
        return None
    if compose.koji is not None:
        helper.release()
        return None
    helper.prepare()
    return helper


def report_by_helper(compose, reason):
    """``write_report``'s pages made here and rendered by ``compose.report_helper`` - or here
    when it cannot (ended: a unit ran, its answers were not needed) - True; False, nothing
    done, without a helper or when the pages cannot be made (``write_report`` says why)."""
    helper = getattr(compose, "report_helper", None)
    if helper is None or compose.koji is not None:
        return False
    from pungi_like import report

    try:
        pages = [report.report_page(compose.topdir, reason=reason)]
        pages.append(report.index_page(os.path.dirname(compose.topdir), [pages[0][0]]))
    except Exception:  # noqa: B902 - write_report makes them again and says what failed
        return False
    try:
        if not helper.report(pages):
            for page in pages:
                report.write_page(*page)
    except Exception:  # noqa: B902 - a report must not change the compose's result
        log.exception("cannot write the compose report of %s", compose.topdir)
        return True
    compose.log.info("Compose report: %s", pages[0][0])
    return True


def metadata_unit(compose, after_phases):
    """Writes composeinfo.json, rpms.json, modules.json and images.json once the trees and images
    exist."""

    def run(unit):
        conf = compose.conf
        release = metadata.ReleaseInfo(
            name=conf.release_name, short=conf.release_short, version=conf.release_version,
            type=conf.release_type, internal=bool(conf.release_internal),
            is_layered=bool(conf.base_product_short))
        base = None
        if conf.base_product_short:
            base = metadata.BaseProductInfo(
                name=conf.base_product_name, short=conf.base_product_short,
                version=conf.base_product_version, type=conf.base_product_type)
        info = compose.compose_info()
        # durable before STATUS says FINISHED (Compose.write_status), not before the test units
        # read them
        sync = compose.syncer
        # a no-op re-run: the payload of the old compose whose units it took, copied
        rpms_path = compose.paths.metadata_file("rpms.json", create=True)
        # its record entry made as it is written (``reuse.WrittenEntry``): the record read it
        # back (3.5 MB at 10,000 RPMs) to hash it twice and normalise it, on the path of a
        # no-op re-run's end
        from pungi_like.reuse import Names

        source = metadata.payload_source(compose)
        ahead = payload_ahead(compose) if source else None
        try:
            compose.rpms.write(rpms_path, info, sync, payload_from=source,
                               names=Names(compose.topdir, compose.compose_id))
        finally:
            if ahead is not None:
                ahead.join()
        if compose.rpms.written_entry is not None:
            unit.written_entries = {os.path.abspath(rpms_path): compose.rpms.written_entry}
        if compose.rpms.copied_from:
            compose.log.info("[metadata.write] rpms.json's packages copied from %s (its units "
                             "that add them taken)", compose.rpms.copied_from)
        metadata.write_modules(compose.paths.metadata_file("modules.json", create=True), info,
                               sync)
        metadata.write_composeinfo(
            compose.paths.metadata_file("composeinfo.json", create=True),
            compose_info=info, release=release, base_product=base,
            variants=compose.all_variants, paths=compose.paths, fsync=sync)
        if compose.images.has_images() or compose.images_expected:
            compose.images.write(compose.paths.metadata_file("images.json", create=True), info,
                                 sync)
        return {"metadata": sorted(os.listdir(compose.paths.metadata_dir()))}

    from pungi_like.scheduler import Unit

    after = [f"{p}.*" for p in after_phases]
    return Unit(name="metadata.write", run=run, after=after, phase="metadata",
                log_path=compose.paths.global_log())


def run_compose(compose, phase_objects, skipped, args, old=()):
    """The phases' units run by the scheduler; ``old``: the composes the diff after them is
    made against."""
    conf = compose.conf
    compose.skipped_phases = skipped  # phases ask it (is the DVD bootable?) while planning
    units = []
    active = []
    for phase in phase_objects:
        if phase.name in skipped:
            compose.log.info("[SKIP ] ---------- PHASE: %s ---------- (skipped on request)",
                             phase.name.upper())
            continue
        reason = phase.skip_reason()
        if reason:
            compose.log.info("[SKIP ] ---------- PHASE: %s ---------- %s", phase.name.upper(),
                             reason)
            skipped.add(phase.name)
            continue
        active.append(phase)
        units.extend(phase.units())
    from phases import IMAGE_PHASES

    compose.images_expected = bool(set(IMAGE_PHASES) & {p.name for p in active})
    before_meta = [p.name for p in active if p.name != "test"]
    units.append(metadata_unit(compose, before_meta))
    workers = conf.num_threads or os.cpu_count() or 1
    progress = sys.stderr.isatty() and not args.quiet and not args.debug
    from pungi_like.scheduler import Scheduler

    scheduler = Scheduler(units, compose, workers, skipped_phases=skipped, progress=progress)
    scheduler.reuse_pool = getattr(compose, "reuse_pool", None)
    compose.scheduler = scheduler
    scheduler.phase_end_hooks.setdefault("gather", []).append(lambda: rpms_ahead(compose, old))
    try:
        for phase in active:
            phase.start_early()
        return scheduler.run()
    finally:
        for phase in active:
            phase.end_early()


# ---- reuse and resume ---------------------------------------------------------------------

ARGS_FILE = os.path.join("work", "global", "driver-args.json")


def save_arguments(compose, argv):
    """The command line in ``work/global/driver-args.json``, with the config file's path made
    absolute, for ``--resume``."""
    saved, it = [], iter(argv)
    for arg in it:
        if arg == "--config":
            saved += [arg, os.path.abspath(next(it, ""))]
        elif arg.startswith("--config="):
            saved.append("--config=" + os.path.abspath(arg.split("=", 1)[1]))
        else:
            saved.append(arg)
    write_json_atomic(os.path.join(compose.topdir, ARGS_FILE), {"argv": saved},
                      fsync=compose.syncer)


def resume_arguments(parser, compose_dir):
    """(args, argv) of the compose to resume: its saved command line aimed at its directory,
    or (None, message) when there is nothing to resume."""
    from pungi_like.reuse import compose_identity

    topdir = os.path.abspath(compose_dir)
    cid, status = compose_identity(topdir)
    if cid is None:
        parser.error(f"--resume {compose_dir}: not a compose directory (no COMPOSE_ID/STATUS)")
    if status in ("FINISHED", "FINISHED_INCOMPLETE"):
        return None, f"Compose {cid} is {status} already: nothing to resume"
    from pungi_like import stale

    busy = stale.live_driver(topdir)
    if busy:
        parser.error(f"--resume {compose_dir}: compose {cid} is not resumed: {busy}")
    try:
        with open(os.path.join(topdir, ARGS_FILE), encoding="utf-8") as fh:
            saved = json.load(fh)["argv"]
    except (OSError, ValueError, KeyError):
        parser.error(f"--resume {compose_dir}: the compose did not save its command line "
                     f"({ARGS_FILE}); run it again with --compose-dir and --config")
    argv, it = [], iter(saved)
    for arg in it:
        if arg in ("--target-dir", "--compose-dir", "--resume"):
            next(it, None)
        elif arg.split("=", 1)[0] in ("--target-dir", "--compose-dir", "--resume"):
            continue
        else:
            argv.append(arg)
    argv += ["--compose-dir", topdir]
    args = parser.parse_args(argv)
    args.resume = topdir
    return args, argv


def clean_for_resume(compose, pool):
    """Files under compose/ that no finished unit's record claims with these bytes were left by
    units the kill interrupted: they go, so the resumed compose holds what an uninterrupted one
    holds."""
    claimed = set()
    for olds in pool.by_unit.values():
        for old in olds:
            if os.path.abspath(old.topdir) != compose.topdir:
                continue
            try:
                files = old.data["files"]
            except (OSError, ValueError):
                continue
            for rel in files:
                claimed.add(os.path.join(compose.topdir, old.names.expand(rel)))
    removed = 0
    for base, _dirs, files in os.walk(compose.paths.compose_dir()):
        for name in files:
            path = os.path.join(base, name)
            if path not in claimed:
                os.unlink(path)
                removed += 1
    compose.log.info("Resume: %d file(s) of interrupted units removed from compose/", removed)


def old_compose_dirs(args, topdir=None):
    """The directories searched for old composes (``--old-composes`` and the target
    directory), or None with --no-reuse."""
    if args.no_reuse:
        return None
    dirs = list(args.old_composes)
    if args.target_dir or topdir:
        dirs.append(args.target_dir or os.path.dirname(topdir))
    return dirs


def start_precheck(args, early=None):
    """The child checking the files of the newest compose in the directories of old composes
    (``reuse_precheck``), started first thing, while the driver imports its modules, reads
    the config and writes the compose's first files; None with --no-reuse or no such
    directory (``setup_reuse`` gives it to the pool when its compose is the newest old one
    of the release, and stops it otherwise). ``early``: the child the entry point started
    from the command line before this module was imported (``compose_driver``), taken when
    it checks the very directories these ``args`` name, else stopped."""
    dirs = old_compose_dirs(args, args.compose_dir)
    dirs = [d for d in dirs or () if os.path.isdir(d)]
    if not dirs or os.environ.get("PUNGI_LIKE_REUSE_VERIFY") == "full":
        if early is not None:
            early.close()
        return None
    from pungi_like.reuse_precheck import Precheck, find_args

    if early is not None:
        if early.args == find_args(dirs, args.compose_dir):
            return early
        early.close()
    try:
        return Precheck(dirs=dirs, skip=args.compose_dir)
    except OSError as exc:
        log.debug("Reuse: no precheck: %s", exc)
        return None


def setup_reuse(compose, args, precheck=None):
    """The ReusePool of this compose (None with --no-reuse and no resume); logs what it uses.
    ``precheck``: ``start_precheck``'s child, closed when it checks another compose than the
    newest old one."""
    from pungi_like import reuse

    conf = compose.conf
    resume = bool(getattr(args, "resume", None))
    if args.no_reuse and not resume:
        compose.log.info("Reuse: off (--no-reuse)")
        return None, []
    disabled = {phase for phase, option in reuse.ALLOW_REUSE_OPTIONS.items()
                if getattr(conf, option, True) is False}
    old = []
    if not args.no_reuse:
        dirs = old_compose_dirs(args, compose.topdir)
        for path in args.old_composes:
            if not os.path.isdir(path):
                raise ConfigError([f"--old-composes {path}: no such directory"])
        old = reuse.find_old_composes(conf, dirs, skip=compose.topdir)
    pool = reuse.ReusePool(compose, old, resume=resume, disabled_phases=disabled)
    if precheck is not None:
        if old and precheck.compose == (os.path.abspath(old[0][1]), old[0][0]):
            pool.precheck = precheck
        else:
            precheck.close()
    for cid, path, count in pool.sources:
        compose.log.info("Reuse: %s (%s)%s", cid, "unit records read if needed" if count is None
                         else f"{count} unit records",
                         " - this compose, resumed" if path == compose.topdir else "")
    if disabled:
        compose.log.info("Reuse: off for %s (*_allow_reuse = False)", ", ".join(sorted(disabled)))
    if resume:
        clean_for_resume(compose, pool)
    return pool, old


def read_ahead(compose, old, report=True):
    """While the units run, in a thread: what the steps after them read of finished composes
    and load once (the compiled templates for the report, the newest old compose's
    images.json for the diff); a future of its ``productmd.images.Images`` (False: it has
    none; None: read it later), for :func:`old_compose_read`. ``report``: False when the
    reuse precheck's child renders the report (``report_helper``): Jinja is not imported
    here then."""
    import concurrent.futures

    def read():
        try:
            if report:
                _warm_report()
            if not old:
                return None
            path = os.path.join(old[0][1], "compose", "metadata", "images.json")
            if not os.path.isfile(path):
                return False
            import productmd.images

            images = productmd.images.Images()
            images.load(path)
            return images
        except Exception as exc:  # noqa: B902 - only read later instead
            compose.log.debug("read ahead: %s", exc)
            return None

    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="read-ahead")
    try:
        return pool.submit(read)
    finally:
        pool.shutdown(wait=False)


def old_compose_read(compose, old, images, payload):
    """The newest old compose as the diff and the report read it (None: read it then, or
    there is none), its rpms.json trees preloaded for the report. Its rpms.json payload is
    this compose's ``payload`` itself when the file holds the very text this compose's
    rpms.json was written with after its ``"rpms"`` key (a no-op re-run: the 3.5 MB of JSON
    of 10,000 RPMs not parsed); else it is read. ``images``: ``read_ahead``'s."""
    if not old or images is None:
        return None
    from pungi_like import report
    from pungi_like.composediff import compose_in_memory, load_compose

    cid, path = old[0]
    try:
        if metadata.same_rpms_payload(os.path.join(path, "compose", "metadata", "rpms.json"),
                                      compose.rpms.written_payload):
            loaded = compose_in_memory(path, cid, payload, images or None)
        else:
            loaded = load_compose(path)
        # its rpms.json trees for the report as well: productmd keeps a 1.x rpms.json's
        # payload as the file's JSON (parsed once, not twice; a 0.x one, which no compose of
        # ours writes, productmd converts, and the report lists its packages instead of none)
        report.preload_rpms(path, loaded.rpms.rpms)
        return loaded
    except Exception as exc:  # noqa: B902 - read again by the diff, which says what failed
        compose.log.debug("old compose not read ahead: %s", exc)
        return None


def write_compose_diff(compose, old, old_read=None, rpms_payload=None):
    """The diff against the newest old compose of the release, into logs/global/
    (``old_read``: that compose as ``read_ahead`` loaded it; ``rpms_payload``: this compose's
    rpms.json payload, ``RpmsRecorder.payload``, taken with its images from memory instead of
    reading its manifests back)."""
    from pungi_like.composediff import compose_in_memory, diff_composes, format_text

    if not old:
        return
    cid, path = old[0]
    try:
        new = compose.topdir
        if rpms_payload is not None:
            images = compose.images.to_productmd(compose.compose_info()) \
                if compose.images.has_images() or compose.images_expected else None
            new = compose_in_memory(compose.topdir, compose.compose_id, rpms_payload, images)
        diff = diff_composes(old_read or path, new)
    except Exception as exc:  # noqa: B902 - the diff is a report; the compose stands
        compose.log.warning("Compose diff against %s failed: %s", cid, exc)
        return
    # reports (``pungi-like-compose-diff`` makes them again): no fsync, each forces a journal
    # commit on the path of the compose's end
    write_atomic(os.path.join(compose.paths.log_dir(), "compose-diff.txt"), format_text(diff),
                 fsync=False)
    write_json_atomic(os.path.join(compose.paths.log_dir(), "compose-diff.json"), diff,
                      fsync=False)
    compose.log.info("Compose diff against %s: logs/global/compose-diff.txt", cid)


def write_report(compose, reason):
    """logs/global/report.html and the target directory's index.html (pungi_like.report), and
    the compose's record on the build service it used."""
    from pungi_like.report import write_for_compose

    write_for_compose(compose, reason)
    if compose.koji is not None:
        compose.koji.publish_compose(compose.status)


def main(argv=None, precheck=None, gc_paused=False):
    """The command (``argv`` None: ``sys.argv``; the process then ends in :func:`exit_now`
    once the compose is done) or an in-process call with ``argv`` (returns the exit code).
    ``precheck``: the reuse precheck's child started by the entry point (``start_precheck``
    takes it or stops it); ``gc_paused``: the entry point disabled the cyclic GC for the
    start, enabled again once what the start made is frozen (``_main``) or the run ends."""
    if argv is None:
        exit_now(_run_main(list(sys.argv[1:]), precheck, gc_paused))
    return _run_main(list(argv), precheck, gc_paused)


def exit_now(code):
    """End the process with ``code`` without the interpreter's teardown: the compose's
    threads have ended and its files and logs are closed; freeing the objects it built one by
    one (the package set, rpms.json entries, unit records: over 100,000 objects at 10,000
    RPMs) took 0.1 s of CPU at the end of every run, longer than a reused unit."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
    finally:
        os._exit(code if isinstance(code, int) else 1)


def _run_main(argv, early=None, gc_paused=False):
    os.environ.setdefault("LC_ALL", "C.UTF-8")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.resume and early is not None:
            early.close()   # compose_driver starts none for --resume; the saved args decide
            early = None
        if args.resume:
            resumed, resumed_argv = resume_arguments(parser, args.resume)
            if resumed is None:
                print(resumed_argv)
                return EXIT_FINISHED
            args, argv = resumed, resumed_argv
        elif not args.config:
            parser.error("the following arguments are required: --config")
    except BaseException:
        if early is not None:
            early.close()   # a bad command line (SystemExit): its answers are not read
        raise
    precheck = start_precheck(args, early)
    console = setup_console(args)
    # the compose may adopt its inputs' time as SOURCE_DATE_EPOCH (Compose.adopt_source_date_epoch)
    saved_epoch = os.environ.get("SOURCE_DATE_EPOCH")
    try:
        return _main(argv, args, parser, precheck, gc_paused)
    finally:
        if precheck is not None:
            precheck.close()
        # in-process callers (tests, wrappers) must not keep a handler on a stream they close,
        # nor the last compose's time stamp, nor its objects out of the GC's reach (_main)
        gc.unfreeze()
        if gc_paused:
            gc.enable()
        logging.getLogger("pungi_like").removeHandler(console)
        if saved_epoch is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved_epoch


def _main(argv, args, parser, precheck=None, gc_paused=False):
    notifier = Notifier(args.notification_script, cwd=args.target_dir or args.compose_dir)

    # -- everything that can be wrong before a compose exists: exit 2 or 3, nothing created
    try:
        from pungi_like.config import load_config
        from pungi_like.config.validate import check_variant_mappings
        from pungi_like.variants import all_variants, load_variants

        conf = load_config(args.config)
        for warning in getattr(conf, "warnings", []):
            log.warning("%s", warning)
        compose_type = args.compose_type or conf.compose_type or "production"
        label = args.label
        if label:
            metadata.parse_label(label)
        if compose_type == "production" and not label and not args.no_label:
            parser.error("a production compose needs --label or --no-label")
        supported = args.supported or (label and metadata.is_supported_label(label))
        variants_file = conf.resolve_path(conf.variants_file)
        top = load_variants(variants_file, tree_arches=conf.tree_arches,
                            tree_variants=conf.tree_variants)
        flat = all_variants(top)
        errors = check_variant_mappings(conf, [v.uid for v in flat])
        if errors:
            raise ConfigError(errors)
        classes = load_phase_classes()
        skipped = select_phases(classes, args.skip_phase, args.just_phase, conf.skip_phases)
    except ConfigError as exc:
        for message in exc.errors:
            print(f"ERROR: {message}", file=sys.stderr)
        print("Configuration is not valid; no compose was started.", file=sys.stderr)
        fail_to_start(notifier, args, argv, "config", exc.errors)
        return EXIT_CONFIG
    except PungiLikeError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        fail_to_start(notifier, args, argv, str(exc))
        return EXIT_CONFIG

    from pungi_like.compose import Compose

    compose = Compose.create(conf, target_dir=args.target_dir, compose_dir=args.compose_dir,
                             compose_type=compose_type, label=label, supported=supported,
                             notifier=notifier)
    # --koji-event wins over the config's koji_event, as in Pungi
    compose.koji_event = args.koji_event or getattr(conf, "koji_event", None)
    compose.set_variants(top, flat)
    notifier.set_compose(compose)
    compose.setup_logging(debug=args.debug)
    from pungi_like import stale

    # durable before STATUS leaves STARTED (Compose.write_status), as the compose's identity
    stale.record_driver(compose.topdir, fsync=compose.syncer)
    if not getattr(args, "resume", None):
        save_arguments(compose, argv)
    for name, reason in stale.stale_composes(os.path.dirname(compose.topdir),
                                             skip=compose.topdir):
        compose.log.warning("Compose %s stayed STARTED and will not finish: %s; its files are "
                            "incomplete", name, reason)
    if args.print_output_dir:
        print(f"Compose dir: {compose.topdir}")

    def on_signal(signum, frame):
        if compose.scheduler is not None:
            compose.scheduler.stop.set()  # never wait for running units: they are being killed
        raise Terminated(signum)

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    started = time.monotonic()
    try:
        compose.write_status("STARTED")
        compose.log.info("Host: %s; pungi-like %s; user %s; cwd %s", os.uname().nodename,
                         pungi_like.__version__, os.environ.get("USER", "?"), os.getcwd())
        compose.log.info("Command line: pungi-like-koji %s", " ".join(argv))
        compose.log.info("Compose top directory: %s", compose.topdir)
        compose.log.info("COMPOSE_ID=%s", compose.compose_id)
        copy_config(compose, conf, variants_file)
        phase_objects = [cls(compose) for cls in classes]
        problems = []
        for phase in phase_objects:
            if phase.name in skipped:
                continue
            problems += [f"{phase.name.upper()}: {m}" for m in phase.validate()]
        if problems:
            raise ConfigError(problems)
        from pungi_like.kojiclient import KojiWrapper  # the build service, when configured
        compose.koji = KojiWrapper.for_compose(compose)
        compose.started_ts = time.time()
        if compose.koji is not None:
            compose.koji.publish_compose("STARTED")
        compose.reuse_pool, old_composes = setup_reuse(compose, args, precheck)
        compose.report_helper = report_helper(compose)
        # what exists now (modules, classes, the config, the compose) lives until the end:
        # kept out of the cyclic GC's full collections, which walked it all again (one took
        # 30 ms of a no-op re-run's 1.1 s of CPU); the same for the run's results after it
        gc.freeze()
        if gc_paused:
            gc.enable()   # paused by the entry point for the start (compose_driver.main)
        ahead = read_ahead(compose, old_composes, report=compose.report_helper is None)
        run_compose(compose, phase_objects, skipped, args, old_composes)
        gc.freeze()
        # what the manifests were written from, for the diff and the report
        payload = compose.rpms.payload()
        write_compose_diff(compose, old_composes,
                           old_compose_read(compose, old_composes, ahead.result(), payload),
                           payload)
        status = "FINISHED_INCOMPLETE" if compose.failed_deliverables else "FINISHED"
        compose.write_status(status)
        update_latest_link(compose, args)
        from pungi_like import report

        report.preload_rpms(compose.topdir, payload)
        reason = "%d failable deliverable(s) failed" % len(
            compose.failed_deliverables) if compose.failed_deliverables else None
        if not report_by_helper(compose, reason):
            write_report(compose, reason)
    except Terminated as exc:
        compose.log.error("Compose terminated by %s", exc)
        if compose.koji is not None:
            compose.koji.cancel_all()  # tasks the compose started on the build service
        kill_children()
        compose.write_status("TERMINATED")
        write_report(compose, f"terminated by {exc}")
        print(f"Compose {compose.compose_id} TERMINATED by {exc}: {compose.topdir}",
              file=sys.stderr)
        compose.close_logging()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_TERMINATED)  # running threads cannot be joined: their children are gone
    except (PungiLikeError, Exception) as exc:  # noqa: B902 - every failure DOOMs the compose
        compose.log.error("Compose run failed: %s", exc)
        tb = traceback.format_exc()
        compose.write_traceback(None, tb)
        compose.log.error("Compose failed: %s", compose.topdir)
        compose.write_status("DOOMED")
        write_report(compose, str(exc))
        if isinstance(exc, ConfigError):
            for message in exc.errors:
                print(f"ERROR: {message}", file=sys.stderr)
        elif isinstance(exc, PungiLikeError):
            print(f"ERROR: {exc}", file=sys.stderr)
        else:
            print(f"ERROR: internal error: {exc!r}\n{tb}", file=sys.stderr)
        print(f"Compose {compose.compose_id} DOOMED: {compose.topdir}", file=sys.stderr)
        compose.close_logging()
        return EXIT_DOOMED
    finally:
        if precheck is not None:
            precheck.close()   # its answers are not needed once the units ran
        if compose.koji is not None:
            compose.koji.close()
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
    elapsed = time.monotonic() - started
    compose.log.info("Compose finished in %.1f s", elapsed)
    print(f"Compose {compose.compose_id} {compose.status} in {elapsed:.0f} s: {compose.topdir}")
    for failed in compose.failed_deliverables:
        print(f"  failed deliverable: {failed['kind']} {failed['variant']}.{failed['arch']}: "
              f"{failed['error']}", file=sys.stderr)
    compose.close_logging()
    if compose.status == "FINISHED_INCOMPLETE":
        return EXIT_FINISHED if args.incomplete_ok else EXIT_INCOMPLETE
    return EXIT_FINISHED


if __name__ == "__main__":
    sys.exit(main())
