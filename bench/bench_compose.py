#!/usr/bin/env python3
"""A Pungi-format compose of the oracle corpus's synthetic universe against its floor.

    .venv/bin/python bench/bench_compose.py [--rpms 10000] [--runs 3] [--keep DIR]
    .venv/bin/python bench/bench_compose.py --rpms 60000 --variants 3 --no-images \
        --generator fast    # not in CI

Input: the corpus generator (``../shared/oracles/pungi-4.3.2/_inputs/make-repo.sh DIR N 20``,
N = rpms / 20 specs of 20 binary RPMs each), built once and cached under
``.cache/bench-universe/<key>`` (the key hashes the generator's files and its arguments; never in
git). 10,000 RPMs take ~15 minutes of rpmbuild on 2 cores the first time.

Ours: ``pungi-like-koji --nightly`` on the corpus's ``base`` scenario config (Pungi's format,
unchanged: 2 variants, x86_64, gather deps, createrepo_c, createiso, md5/sha1/sha256 checksums,
repoclosure; no buildinstall, no live media) pointed at that universe.

Floor: the tools the compose drives, run directly and one after another on the same inputs
(taken from the finished compose):
  * libsolv: one solve per variant.arch on the universe repo (primary + filelists loaded for
    each), the job being the names the compose put in that tree;
  * createrepo_c: one bare run per tree (os, debug, source of each variant) on a hard-linked copy
    of the tree's Packages (the program the createrepo_c wheel ships, as the compose runs it);
  * ``xorriso -as mkisofs -R -J`` on each tree an ISO of ours was made of, with xorriso's
    end-of-write check at 0.1 s as the compose's writer sets it (``XORRISO_FLOOR``; the
    plain command, with its 0-1 s wait per image, is timed too and printed beside);
  * sha256 of each of those ISOs (one read).
The pungi_like and phases packages are byte-compiled first (``--no-compile``: not), as
installed. It prints the medians over ``--runs`` of ours (wall and CPU, the tools it ran
included), of each part of the floor and of their sum, the ratio, the createrepo phase's summed
unit time against the bare createrepo_c runs (goal <= 1.2), the same comparison for the
createrepo units' work alone (``make_repodata`` on the same hard-linked copies, one tree after
another, nothing else running: the units in the compose share the cores with other units and
wait for one another, so their summed time is not their work's), with the CPU seconds of both,
the time during which pkgset, gather, createrepo or metadata ran (the Fedora-sized goal: <= 30
s), the peak RSS of the largest process, and the phase spans of our compose from
``logs/global/timeline.json`` (wall span of the phase, and the summed time of its units in
brackets).

``--variants 3`` adds an ``Everything`` variant (every comps group) to the base scenario's two;
``--no-images`` skips createiso (and the floor's xorriso and hashing): the Fedora-sized case.
"""

import argparse
import fcntl
import glob
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import solv  # noqa: E402

from pungi_like.rpmtools.repodata import repomd_locations  # noqa: E402

CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "oracles", "pungi-4.3.2")
GENERATOR = os.path.join(CORPUS, "_inputs")
SCENARIO = os.path.join(CORPUS, "base")
SUBPKGS = 20
#: the phases of the Fedora-sized goal (pkgset + gather + createrepo + metadata <= 30 s)
CORE_PHASES = ("pkgset", "gather", "createrepo", "metadata")


def universe_key(specs, subpkgs, generator="rpmbuild"):
    """Hash of the generator's files and its arguments (and of fast_universe.py for the fast
    generator)."""
    h = hashlib.sha256(f"{specs} {subpkgs}\0".encode())
    if generator == "fast":
        with open(os.path.join(ROOT, "bench", "fast_universe.py"), "rb") as fh:
            h.update(b"fast\0" + fh.read() + b"\0")
    for dirpath, dirnames, filenames in os.walk(GENERATOR):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            with open(path, "rb") as fh:
                h.update(os.path.relpath(path, GENERATOR).encode() + b"\0" + fh.read() + b"\0")
    return h.hexdigest()[:16]


def ensure_universe(specs, subpkgs=SUBPKGS, generator="rpmbuild"):
    """The generator's output dir for ``specs`` x ``subpkgs``, built once under a lock:
    ``make-repo.sh`` (rpmbuild) or ``bench/fast_universe.py`` (the same specs, RPMs written
    without rpmbuild: seconds instead of an hour for 60,000 RPMs)."""
    cache = os.path.join(ROOT, ".cache", "bench-universe")
    os.makedirs(cache, exist_ok=True)
    key = universe_key(specs, subpkgs, generator)
    data, stamp = os.path.join(cache, key), os.path.join(cache, key + ".done")
    with open(os.path.join(cache, key + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(stamp) and os.path.isdir(data):
            return data
        print(f"building the {specs * subpkgs}-RPM universe into {data} (once, {generator})",
              file=sys.stderr)
        if generator == "fast":
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            from fast_universe import make_universe
            make_universe(data, specs, subpkgs, GENERATOR)
        else:
            env = dict(os.environ, GEN=GENERATOR)
            subprocess.run(["bash", os.path.join(GENERATOR, "make-repo.sh"), data, str(specs),
                            str(subpkgs)], env=env, check=True, stdout=subprocess.DEVNULL)
        with open(stamp, "w") as fh:
            fh.write(f"{specs} {subpkgs}\n")
    return data


#: the third variant of ``--variants 3``: every group of the generator's comps
THIRD_VARIANT = b"""  <variant id="Everything" name="Everything" type="variant">
    <arches>
      <arch>x86_64</arch>
    </arches>
    <groups>
      <group default="true">peer-core</group>
      <group default="true">peer-server</group>
      <group default="true">peer-desktop</group>
    </groups>
  </variant>
</variants>"""


def render_config(data, conf_dir, variants=2):
    """The base scenario's config dir with ``@DATA@`` -> the universe (as the corpus does);
    ``variants=3`` adds an ``Everything`` variant holding every comps group."""
    os.makedirs(conf_dir, exist_ok=True)
    for name in ("pungi.conf", "variants.xml"):
        with open(os.path.join(SCENARIO, name), "rb") as fh:
            text = fh.read().replace(b"@DATA@", data.encode()).replace(b"@CONF@", conf_dir.encode())
        if name == "variants.xml" and variants == 3:
            text = text.replace(b"</variants>", THIRD_VARIANT)
        with open(os.path.join(conf_dir, name), "wb") as fh:
            fh.write(text)
    return os.path.join(conf_dir, "pungi.conf")


def byte_compile():
    """Byte-compile the pungi_like and phases packages the composes import (those on
    ``PYTHONPATH`` when it points at an export), as an installation has them: with
    PYTHONDONTWRITEBYTECODE set and no ``__pycache__`` every compose compiled ~70 modules
    again (0.1-0.15 s of CPU in each run; bench_reuse does the same)."""
    where = subprocess.run([sys.executable, "-c", "import os, pungi_like, phases; print("
                            "os.path.dirname(pungi_like.__file__)); print(os.path.dirname("
                            "phases.__file__))"], check=True, capture_output=True, text=True,
                           cwd=tempfile.gettempdir()).stdout.split()
    subprocess.run([sys.executable, "-m", "compileall", "-q"] + where, check=True,
                   stdout=subprocess.DEVNULL)


def run_compose(config, target, no_images=False):
    """(wall s, CPU s of the compose and every tool it ran, compose dir)."""
    exe = os.path.join(os.path.dirname(sys.executable), "pungi-like-koji")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "pungi_like.cli.compose_driver"]
    extra = ["--skip-phase", "createiso"] if no_images else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(cmd + ["--config", config, "--target-dir", target, "--nightly", "--quiet",
                          "--no-latest-link"] + extra, check=True, stdout=subprocess.DEVNULL,
                   cwd=os.path.dirname(config))
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, glob.glob(os.path.join(target, "*", "compose"))[0]


def peak_rss_mib():
    """The largest resident set of any process waited for so far (the compose's own process,
    createrepo_c, xorriso...), MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def phase_spans(topdir):
    """``{phase: (wall span, summed unit time)}`` from timeline.json."""
    with open(os.path.join(topdir, "logs", "global", "timeline.json")) as fh:
        units = json.load(fh)["units"]
    spans = {}
    for unit in units:
        if unit.get("start") is None or unit.get("end") is None:
            continue
        first, last, total = spans.get(unit["phase"], (unit["start"], unit["end"], 0.0))
        spans[unit["phase"]] = (min(first, unit["start"]), max(last, unit["end"]),
                                total + unit["end"] - unit["start"])
    return {phase: (last - first, total) for phase, (first, last, total) in spans.items()}


def busy_time(topdir, phases):
    """Seconds during which some unit of ``phases`` ran (the union of their spans: a createrepo
    unit running beside a gather unit counts once)."""
    with open(os.path.join(topdir, "logs", "global", "timeline.json")) as fh:
        spans = sorted((u["start"], u["end"]) for u in json.load(fh)["units"]
                       if u.get("phase") in phases and u.get("start") is not None
                       and u.get("end") is not None)
    total, current = 0.0, None
    for start, end in spans:
        if current and start <= current[1]:
            current[1] = max(current[1], end)
            continue
        if current:
            total += current[1] - current[0]
        current = [start, end]
    return total + (current[1] - current[0] if current else 0.0)


def critical_path(topdir):
    """The chain of units that ended the compose, walked back from the unit that ended last: each
    unit's predecessor is the unit that ended last before it started (what released it, as far
    as the timeline tells). ``(path, seconds from the first start to the last end)``; ``path``
    is ``[(unit, start, end)]`` relative to the first start."""
    with open(os.path.join(topdir, "logs", "global", "timeline.json")) as fh:
        units = [u for u in json.load(fh)["units"]
                 if u.get("start") is not None and u.get("end") is not None]
    if not units:
        return [], 0.0
    first = min(u["start"] for u in units)
    chain = [max(units, key=lambda u: (u["end"], u["unit"]))]
    while True:
        # a predecessor also started strictly earlier: two units that started and ended at the
        # same instant would otherwise be each other's predecessor, and the walk never ended
        before = [u for u in units if u["end"] <= chain[-1]["start"] + 1e-3
                  and u["start"] < chain[-1]["start"]]
        if not before:
            break
        chain.append(max(before, key=lambda u: (u["end"], u["unit"])))
    chain.reverse()
    return ([(u["unit"], u["start"] - first, u["end"] - first) for u in chain],
            chain[-1]["end"] - first)


def solve_directly(repo_dir, jobs_by_tree):
    """One libsolv solve per variant.arch on the universe, as testsolv would."""
    start = time.monotonic()
    loc = repomd_locations(repo_dir)
    for names in jobs_by_tree.values():
        pool = solv.Pool()
        pool.setarch("x86_64")
        repo = pool.add_repo("pkgset")
        for kind, flags in (("primary", 0), ("filelists", solv.Repo.REPO_EXTEND_SOLVABLES)):
            fh = solv.xfopen(loc[kind])
            repo.add_rpmmd(fh, None, flags)
            fh.close()
        pool.addfileprovides()
        pool.createwhatprovides()
        jobs = []
        for name in names:
            sel = pool.select(name, solv.Selection.SELECTION_NAME | solv.Selection.SELECTION_DOTARCH)
            if not sel.isempty():
                jobs += sel.jobs(solv.Job.SOLVER_INSTALL)
        solver = pool.Solver()
        solver.set_flag(solv.Solver.SOLVER_FLAG_ALLOW_UNINSTALL, 1)
        solver.solve(jobs)
    return time.monotonic() - start


def trees_of(compose):
    """Every tree of the compose (a directory holding repodata/), sorted."""
    return sorted(os.path.dirname(d) for d in glob.glob(os.path.join(compose, "**", "repodata"),
                                                         recursive=True))


def createrepo_program():
    """createrepo_c's own program: the one the createrepo_c wheel ships (``_BIN_DIR``), which the
    compose runs too; the venv's ``createrepo_c`` is a Python script that starts an interpreter
    and imports the library only to run that program (0.08 s more per run)."""
    import createrepo_c
    bin_dir = getattr(createrepo_c, "_BIN_DIR", None)
    if bin_dir and os.access(os.path.join(bin_dir, "createrepo_c"), os.X_OK):
        return os.path.join(bin_dir, "createrepo_c")
    return os.path.join(os.path.dirname(sys.executable), "createrepo_c")


def createrepo_directly(trees, scratch):
    """Bare createrepo_c on a hard-linked copy of every tree's packages, one tree after another:
    ``(copies, wall s, CPU s)`` (CPU: user + system of the createrepo_c processes)."""
    copies = []
    for i, tree in enumerate(trees):
        dest = os.path.join(scratch, f"tree{i}")
        os.makedirs(dest)
        packages = os.path.join(tree, "Packages")
        if os.path.isdir(packages):
            # the packages only: an addon's tree (os/addons/<id>) is a tree of its own
            shutil.copytree(packages, os.path.join(dest, "Packages"), copy_function=os.link)
        copies.append(dest)
    createrepo = createrepo_program()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    for dest in copies:
        subprocess.run([createrepo, dest, "--general-compress-type", "gz", "--no-database",
                        "--workers", "3", "--quiet"], check=True)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return copies, seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


#: run in a child process by :func:`createrepo_ours_alone` (its imports come from PYTHONPATH, as
#: the compose's do, and are loaded before the clock starts, as in the compose's process)
OURS_ALONE = r"""
import json, os, resource, sys, time
from phases.createrepo import make_repodata, package_list
spec = json.loads(sys.argv[1])
def usage():
    return resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
def cpu(a, b):
    return sum(y.ru_utime - x.ru_utime + y.ru_stime - x.ru_stime for x, y in zip(a, b))
before, start = usage(), time.monotonic()
for tree in spec["trees"]:
    pkgs = package_list(tree["dir"])
    listfile = os.path.join(tree["dir"], "pkglist")
    with open(listfile, "w") as fh:
        fh.write("".join(p + "\n" for p in pkgs))
    make_repodata(tree["dir"], tree["dir"], listfile, pkgs, spec["log"], sources=tree["sources"],
                  checksum="sha256", workers=3, groupfile=tree["groupfile"])
print(json.dumps([time.monotonic() - start, cpu(before, usage())]))
"""


def createrepo_ours_alone(compose, trees, copies, scratch):
    """What the compose's createrepo units do for each tree (``phases.createrepo.make_repodata``:
    the repodata from the package set repo's records, or createrepo_c where they do not do),
    on the same hard-linked copies as :func:`createrepo_directly`, one tree after another and
    nothing else running in the bench: ``(wall s, CPU s)``. The units in the compose are timed
    while other units share the cores and while they wait for one another (createrepo_num_threads
    slots, the one read of the package set repo's records), so their summed time is not the work's
    time; this is, measured as the bare runs are. The package set repos and comps files are the
    compose's own (``work/<arch>/...``); each ``os`` tree gets its comps file as in the compose."""
    topdir = os.path.dirname(compose)
    sources = sorted(os.path.dirname(d) for d in glob.glob(
        os.path.join(topdir, "work", "*", "repo", "*", "repodata"))
        if os.path.relpath(d, topdir).split(os.sep)[1] != "global")
    spec = {"log": os.path.join(scratch, "ours-alone.log"), "trees": []}
    for tree, dest in zip(trees, copies):
        parts = os.path.relpath(tree, compose).split(os.sep)
        groupfile = None
        if len(parts) == 3 and parts[2] == "os":
            candidate = os.path.join(topdir, "work", parts[1], "comps",
                                     f"comps-{parts[0]}.{parts[1]}.xml")
            groupfile = candidate if os.path.exists(candidate) else None
        spec["trees"].append({"dir": dest, "sources": sources, "groupfile": groupfile})
    done = subprocess.run([sys.executable, "-c", OURS_ALONE, json.dumps(spec)], check=True,
                          cwd=scratch, stdout=subprocess.PIPE, text=True)
    seconds, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, cpu


def iso_trees(compose):
    """The trees our ISOs were made of (images.json: dvd images of x86_64 and source)."""
    with open(os.path.join(compose, "metadata", "images.json")) as fh:
        images = json.load(fh)["payload"]["images"]
    trees = []
    for variant, arches in sorted(images.items()):
        for arch, entries in sorted(arches.items()):
            for image in entries:
                if image["type"] == "dvd":
                    kind = "source/tree" if image["arch"] == "src" else f"{arch}/os"
                    trees.append(os.path.join(compose, variant, kind))
    return trees


#: xorriso looks whether its write has ended once per pacifier interval, by default once a
#: wall-clock second: 0-1 s of waiting per image after its bytes are written, 0.5 s on average.
#: The compose's writer sets the interval to 0.1 s (media/iso_xorriso.py); the floor does the
#: same, so that it counts the tool's work and not a random share of a second per ISO. (Before
#: the floor ran xorriso as typed and moved by up to a second per image between runs: 0.77 and
#: 1.87 s for the same two trees in two quiet runs.) The plain command is still timed, and
#: printed beside, for comparison with the figures measured that way.
XORRISO_FLOOR = ["xorriso", "-pacifier", "interval=0.1"]


def iso_and_hash_directly(trees, scratch):
    """``xorriso -as mkisofs`` on each tree (with the 0.1 s pacifier, then again as typed),
    then sha256 of each image; (iso s, iso as typed s, hash s)."""
    def write_all(prefix, tag):
        made = []
        start = time.monotonic()
        for i, tree in enumerate(trees):
            out = os.path.join(scratch, f"image{i}{tag}.iso")
            subprocess.run(prefix + ["-as", "mkisofs", "-quiet", "-R", "-J", "-joliet-long",
                                     "-V", f"BENCH{i}", "-o", out, tree], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            made.append(out)
        return made, time.monotonic() - start

    isos, iso_seconds = write_all(XORRISO_FLOOR, "")
    plain, plain_seconds = write_all(["xorriso"], "-plain")
    for path in plain:
        os.unlink(path)
    start = time.monotonic()
    for path in isos:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return iso_seconds, plain_seconds, time.monotonic() - start


def tree_jobs(compose):
    """``{(variant, arch): [name.arch, ...]}`` of the binary packages the compose chose."""
    with open(os.path.join(compose, "metadata", "rpms.json")) as fh:
        rpms = json.load(fh)["payload"]["rpms"]
    jobs = {}
    for variant, arches in rpms.items():
        for arch, srpms in arches.items():
            jobs[(variant, arch)] = sorted(
                {n.rsplit("-", 2)[0] + "." + n.rsplit(".", 1)[1]
                 for s in srpms.values() for n, e in s.items() if e["category"] == "binary"})
    return jobs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpms", type=int, default=10000,
                        help="binary RPMs of the universe (a multiple of 20)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", type=int, choices=(2, 3), default=2,
                        help="2: the base scenario's variants; 3: plus an Everything variant "
                             "holding every comps group")
    parser.add_argument("--no-images", action="store_true",
                        help="skip createiso (and so the images' checksums): the package set, "
                             "gather, createrepo and metadata part of a compose")
    parser.add_argument("--generator", choices=("rpmbuild", "fast"), default="rpmbuild",
                        help="how the universe's RPMs are made: make-repo.sh's rpmbuild, or "
                             "bench/fast_universe.py (same specs, written directly; use it for "
                             "--rpms 60000)")
    parser.add_argument("--keep", help="keep the last compose under this directory")
    parser.add_argument("--no-compile", action="store_true",
                        help="do not byte-compile pungi_like first (the figures then include "
                             "compiling its modules in every compose when no __pycache__ "
                             "is there, as with PYTHONDONTWRITEBYTECODE)")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(GENERATOR, "make-repo.sh")):
        sys.exit(f"the oracle corpus's generator is not at {GENERATOR}")
    if args.rpms % SUBPKGS or args.rpms <= 0:
        sys.exit(f"--rpms must be a positive multiple of {SUBPKGS}")
    data = ensure_universe(args.rpms // SUBPKGS, generator=args.generator)
    if not args.no_compile:
        byte_compile()
    repo_dir = os.path.join(data, "repo", "x86_64", "os")
    figures = {k: [] for k in ("ours", "cpu", "core", "solve", "createrepo", "iso", "iso_plain",
                               "sha256",
                               "createrepo_cpu", "alone", "alone_cpu")}
    spans = {}
    path = []
    with tempfile.TemporaryDirectory(prefix="bench-compose-") as tmp:
        config = render_config(data, os.path.join(tmp, "conf"), variants=args.variants)
        for run in range(args.runs):
            target = os.path.join(tmp, f"composes{run}")
            seconds, cpu, compose = run_compose(config, target, no_images=args.no_images)
            figures["ours"].append(seconds)
            figures["cpu"].append(cpu)
            for phase, span in phase_spans(os.path.dirname(compose)).items():
                spans.setdefault(phase, []).append(span)
            figures["core"].append(busy_time(os.path.dirname(compose), CORE_PHASES))
            path, length = critical_path(os.path.dirname(compose))
            figures["solve"].append(solve_directly(repo_dir, tree_jobs(compose)))
            scratch = os.path.join(tmp, f"scratch{run}")
            os.makedirs(scratch)
            trees = trees_of(compose)
            copies, bare_s, bare_cpu = createrepo_directly(trees, scratch)
            figures["createrepo"].append(bare_s)
            figures["createrepo_cpu"].append(bare_cpu)
            alone_s, alone_cpu = createrepo_ours_alone(compose, trees, copies, scratch)
            figures["alone"].append(alone_s)
            figures["alone_cpu"].append(alone_cpu)
            if args.no_images:
                iso_s = plain_s = hash_s = 0.0
            else:
                iso_s, plain_s, hash_s = iso_and_hash_directly(iso_trees(compose), scratch)
            figures["iso"].append(iso_s)
            figures["iso_plain"].append(plain_s)
            figures["sha256"].append(hash_s)
            shutil.rmtree(scratch)
            if args.keep and run == args.runs - 1:
                shutil.rmtree(args.keep, ignore_errors=True)
                shutil.copytree(os.path.dirname(compose), args.keep, symlinks=True)
            shutil.rmtree(target)
    med = {k: statistics.median(v) for k, v in figures.items()}
    floor = med["solve"] + med["createrepo"] + med["iso"] + med["sha256"]
    span = {phase: (statistics.median(v[0] for v in values),
                    statistics.median(v[1] for v in values)) for phase, values in spans.items()}
    shape = (f"{args.variants} variants" + (", no images" if args.no_images else "")
             + f", {args.generator} universe")
    print(f"{args.rpms} RPMs, base scenario config ({shape}); medians of {args.runs} runs")
    print(f"{'what':48} {'seconds':>8}")
    print(f"{'ours: pungi-like-koji (whole compose)':48} {med['ours']:8.2f}")
    print(f"{'ours: CPU (user+system, tools included)':48} {med['cpu']:8.2f}")
    print(f"{'floor: libsolv solves (one per variant.arch)':48} {med['solve']:8.2f}")
    print(f"{'floor: createrepo_c (one per tree)':48} {med['createrepo']:8.2f}")
    if not args.no_images:
        print(f"{'floor: xorriso -as mkisofs (one per ISO)':48} {med['iso']:8.2f}")
        print(f"{'floor: sha256 of the ISOs':48} {med['sha256']:8.2f}")
    print(f"{'floor total':48} {floor:8.2f}")
    print(f"{'ratio ours / floor (goal <= 1.3)':48} {med['ours'] / floor:8.2f}")
    if not args.no_images:
        # the floor as measured before: xorriso as typed, its end-of-write wait included
        plain = floor - med["iso"] + med["iso_plain"]
        print(f"{'  xorriso as typed (its 0-1 s wait per ISO)':48} {med['iso_plain']:8.2f}")
        print(f"{'  floor total with it':48} {plain:8.2f}")
        print(f"{'  ratio ours / that floor':48} {med['ours'] / plain:8.2f}")
    if "createrepo" in span and med["createrepo"]:
        # the createrepo phase's units one after another against the bare runs on the same
        # package lists, also one after another. The units' time counts what else ran on the
        # cores beside them and their waits for one another (see createrepo_ours_alone)
        print(f"{'createrepo phase, summed unit time':48} {span['createrepo'][1]:8.2f}")
        print(f"{'  ratio to bare createrepo_c (goal <= 1.2)':48} "
              f"{span['createrepo'][1] / med['createrepo']:8.2f}")
        # the same work alone, as the bare runs are measured: what the goal compares
        print(f"{'createrepo work alone, wall (one per tree)':48} {med['alone']:8.2f}")
        print(f"{'  ratio to bare createrepo_c (goal <= 1.2)':48} "
              f"{med['alone'] / med['createrepo']:8.2f}")
        print(f"{'createrepo work alone, CPU':48} {med['alone_cpu']:8.2f}")
        print(f"{'bare createrepo_c, CPU':48} {med['createrepo_cpu']:8.2f}")
        if med["createrepo_cpu"]:
            print(f"{'  CPU ratio, alone / bare':48} "
                  f"{med['alone_cpu'] / med['createrepo_cpu']:8.2f}")
    print(f"{'pkgset+gather+createrepo+metadata (union)':48} {med['core']:8.2f}")
    print(f"{'peak RSS of the largest process (MiB)':48} {peak_rss_mib():8.0f}")
    print("phase spans of ours (median s; summed unit time in brackets):")
    for phase, (wall, total) in sorted(span.items(), key=lambda kv: -kv[1][0]):
        print(f"  {phase:14} {wall:6.2f} ({total:.2f})")
    if path:
        # where the last run's wall time went: the units one after another that ended it, and
        # the time between them (the scheduler's own, or a wait for a worker)
        busy = sum(end - start for _, start, end in path)
        print(f"critical path of the last run ({length:.2f} s: units {busy:.2f} s, "
              f"between them {length - busy:.2f} s):")
        for name, start, end in path:
            print(f"  {start:6.2f} {end:6.2f} {end - start:6.2f}  {name}")


if __name__ == "__main__":
    main()
