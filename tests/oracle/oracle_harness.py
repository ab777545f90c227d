"""Run one scenario of the Pungi 4.3.2 oracle corpus with our driver and compare with Pungi's output.

The corpus lives outside the repository, in ``../shared/oracles/pungi-4.3.2`` next to the repo root
(its README says how it was made). For a scenario NAME this module does what the corpus's
``_tools/run-scenario.sh`` does, with our driver in place of Pungi:

1. build the scenario's input repos with ``NAME/inputs.sh`` and the corpus generator, once: the
   result is cached under ``.cache/oracle-inputs/<key>`` where the key hashes ``inputs.sh`` and
   every generator file (scenarios with the same inputs share one build);
2. render the config dir: every file of NAME/ except ``expected/``, ``NOTES.md`` and ``inputs.sh``,
   with ``@DATA@`` -> the input dir and ``@CONF@`` -> the rendered dir (sub-directories copied as
   they are);
3. run ``pungi-like-koji --config pungi.conf --target-dir RUN --nightly --no-latest-link`` from the
   rendered dir;
4. normalise the compose with the corpus's own ``_tools/normalise.py`` (run from the corpus, never
   copied);
5. compare the normalised output with ``NAME/expected/`` file by file, minus the deliberate
   differences declared in ``doc/pungi-differences.md``.

Deliberate differences are a fenced block (language ``pungi-differences``) in that document, one
entry a line: ``scenario | file | line pattern | reason``. ``scenario`` and ``file`` are shell
globs (``*`` = every scenario; files are paths inside the normalised output, e.g. ``rpms.txt`` or
``treeinfo/*``); ``line pattern`` is a Python regular expression searched in each line (it must not
contain `` | ``, a pipe with spaces around it); ``reason`` says why we differ on purpose. Lines
matching an entry are dropped from both sides before the comparison; a file missing on one side
compares as empty. An entry naming one scenario exactly that matches no line of that scenario is
stale and fails the comparison, so the list stays true.
"""

from __future__ import annotations

import dataclasses
import difflib
import fcntl
import fnmatch
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "oracles" / "pungi-4.3.2"
DIFFERENCES_DOC = REPO_ROOT / "doc" / "pungi-differences.md"
INPUTS_CACHE = REPO_ROOT / ".cache" / "oracle-inputs"

# written by the corpus's run-scenario.sh beside normalise.py's output; they describe Pungi's run
# (its exit code, pungi-config-validate's output), not the compose
RUNNER_FILES = frozenset({"pungi-rc.txt", "validate.txt"})
# scenario folder entries that are not part of the rendered config
NOT_CONFIG = frozenset({"expected", "NOTES.md", "inputs.sh"})

_FENCE_OPEN = re.compile(r"^```pungi-differences\s*$")
_FENCE_CLOSE = re.compile(r"^```\s*$")


class OracleError(Exception):
    """A scenario could not be prepared or run (inputs, config rendering, driver, normaliser)."""


def corpus_available() -> bool:
    return (CORPUS / "_tools" / "normalise.py").is_file()


def scenarios() -> list[str]:
    """Every scenario of the corpus: the folders with an ``expected/`` and an ``inputs.sh``."""
    if not CORPUS.is_dir():
        return []
    return sorted(p.name for p in CORPUS.iterdir()
                  if (p / "expected").is_dir() and (p / "inputs.sh").is_file())


# ---------------------------------------------------------------------------------------------
# inputs

def inputs_key(name: str) -> str:
    """Hash of what the scenario's inputs are made from: its inputs.sh and the generator files."""
    h = hashlib.sha256()
    h.update((CORPUS / name / "inputs.sh").read_bytes())
    gen = CORPUS / "_inputs"
    for p in sorted(gen.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(gen)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def ensure_inputs(name: str, cache_root: Path = INPUTS_CACHE) -> Path:
    """Build (or reuse) the scenario's input repos; returns the DATA dir.

    Built in place under a lock and marked done with a stamp file, so a killed build is redone and
    two processes (a test run and run_scenario.py) never build the same inputs at once.
    """
    key = inputs_key(name)
    cache_root.mkdir(parents=True, exist_ok=True)
    data = cache_root / key
    stamp = cache_root / f"{key}.done"
    with open(cache_root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and data.is_dir():
            return data
        env = dict(os.environ, GEN=str(CORPUS / "_inputs"))
        for attempt in range(1, INPUT_ATTEMPTS + 1):
            if data.exists():
                shutil.rmtree(data)
            proc = subprocess.run(["bash", str(CORPUS / name / "inputs.sh"), str(data)], env=env,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise OracleError(f"inputs of scenario {name!r} failed to build "
                                  f"(rc={proc.returncode}):\n{proc.stdout[-3000:]}\n"
                                  f"{proc.stderr[-3000:]}")
            raced = mkdir_races(data)
            if not raced:
                break
        else:
            raise OracleError(f"inputs of scenario {name!r}: rpmbuild lost a directory race in "
                              f"each of {INPUT_ATTEMPTS} builds, the last time: {raced[0]}")
        stamp.write_text(name + "\n")
    return data


# The corpus's make-repo.sh runs rpmbuild in parallel and ignores the failures of its i686 pass
# (specs that refuse the arch fail there on purpose). rpm makes the top directory's folders with
# a check-then-mkdir, so two builds starting together can both see a folder missing and the
# second fails with "File exists": a spec built for i686 on Pungi's machine is then missing from
# ours (seen in CI: peer-acorn's i686 packages of the multilib scenario). That error is never a
# spec's doing, so a build whose logs hold it is made again.
INPUT_ATTEMPTS = 3
_MKDIR_RACE = re.compile(r"^error: failed to create directory .*: File exists$", re.M)


def mkdir_races(data: Path) -> list[str]:
    """The rpmbuild directory-race errors in the build logs an input build left in ``data``."""
    found = []
    for log in sorted(data.glob("rpmbuild*.log")):
        found += [f"{log.name}: {m.group(0)}" for m in _MKDIR_RACE.finditer(log.read_text(errors="replace"))]
    return found


# ---------------------------------------------------------------------------------------------
# config, compose, normalisation

def render_config(name: str, data: Path, conf: Path) -> Path:
    """Render the scenario's config dir into ``conf`` (as run-scenario.sh does); returns it."""
    if conf.exists():
        shutil.rmtree(conf)
    conf.mkdir(parents=True)
    for src in sorted((CORPUS / name).iterdir()):
        if src.name in NOT_CONFIG:
            continue
        if src.is_dir():
            shutil.copytree(src, conf / src.name)
        else:
            text = src.read_bytes().replace(b"@DATA@", str(data).encode())
            (conf / src.name).write_bytes(text.replace(b"@CONF@", str(conf).encode()))
    return conf


def driver_command() -> list[str]:
    exe = Path(sys.executable).parent / "pungi-like-koji"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "pungi_like.cli.compose_driver"]


@dataclasses.dataclass
class ComposeRun:
    returncode: int
    output: str
    compose_dir: Path | None


def run_compose(conf: Path, run: Path, timeout: int = 900) -> ComposeRun:
    """Run our driver on the rendered config from the config dir; the compose lands in ``run``."""
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    cmd = driver_command() + ["--config", "pungi.conf", "--target-dir", str(run), "--nightly",
                              "--no-latest-link"]
    proc = subprocess.run(cmd, cwd=conf, capture_output=True, text=True, timeout=timeout)
    composes = sorted(p for p in run.iterdir() if (p / "STATUS").is_file())
    return ComposeRun(proc.returncode, proc.stdout + proc.stderr, composes[0] if composes else None)


def normalise(compose_dir: Path, out: Path) -> Path:
    """Normalise a compose with the corpus's own normalise.py into ``out``."""
    proc = subprocess.run([sys.executable, str(CORPUS / "_tools" / "normalise.py"), str(compose_dir),
                           str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise OracleError(f"normalise.py failed on {compose_dir} (rc={proc.returncode}):\n"
                          f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return out


# ---------------------------------------------------------------------------------------------
# declared differences

@dataclasses.dataclass(frozen=True)
class Difference:
    scenario: str
    file: str
    pattern: re.Pattern
    reason: str
    line: int  # line number in doc/pungi-differences.md

    def applies(self, scenario: str, file: str) -> bool:
        return fnmatch.fnmatchcase(scenario, self.scenario) and fnmatch.fnmatchcase(file, self.file)

    def describe(self) -> str:
        return (f"doc/pungi-differences.md:{self.line}: {self.scenario} | {self.file} | "
                f"{self.pattern.pattern}")


def parse_differences(text: str) -> list[Difference]:
    """The entries of the ``pungi-differences`` fenced block(s); bad entries raise ValueError."""
    entries: list[Difference] = []
    inside = False
    for number, raw in enumerate(text.splitlines(), 1):
        if not inside:
            inside = bool(_FENCE_OPEN.match(raw))
            continue
        if _FENCE_CLOSE.match(raw):
            inside = False
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(" | ")]
        if len(fields) != 4 or not all(fields):
            raise ValueError(f"doc/pungi-differences.md:{number}: expected 'scenario | file | "
                             f"line pattern | reason' (4 non-empty fields), got {raw!r}")
        scenario, file, pattern, reason = fields
        try:
            compiled = re.compile(pattern)
        except re.error as e:
            raise ValueError(f"doc/pungi-differences.md:{number}: bad line pattern {pattern!r}: {e}")
        entries.append(Difference(scenario, file, compiled, reason, number))
    if inside:
        raise ValueError("doc/pungi-differences.md: unclosed ```pungi-differences block")
    return entries


def load_differences(path: Path = DIFFERENCES_DOC) -> list[Difference]:
    return parse_differences(path.read_text()) if path.exists() else []


# ---------------------------------------------------------------------------------------------
# comparison

@dataclasses.dataclass
class Comparison:
    scenario: str
    differing: list[str]  # files (relative to the normalised dirs) that differ
    diffs: dict[str, str]  # file -> unified diff
    stale: list[Difference]

    @property
    def ok(self) -> bool:
        return not self.differing and not self.stale

    def report(self, max_files: int = 3, max_lines: int = 80) -> str:
        out = []
        if self.differing:
            out.append(f"scenario {self.scenario}: {len(self.differing)} file(s) differ from Pungi "
                       f"4.3.2 (not covered by doc/pungi-differences.md): "
                       + ", ".join(self.differing))
            for f in self.differing[:max_files]:
                lines = self.diffs[f].splitlines()
                if len(lines) > max_lines:
                    lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more diff lines)"]
                out.append("\n".join(lines))
        for d in self.stale:
            out.append(f"stale entry (matches nothing in scenario {self.scenario}): {d.describe()}")
        return "\n".join(out)


def _files(root: Path) -> set[str]:
    if not root.is_dir():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _lines(path: Path) -> list[str] | None:
    """The file's lines; a binary file is one line naming its size and digest."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    try:
        if b"\0" in data:
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return [f"<binary file: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}>"]


def compare(scenario: str, expected: Path, actual: Path,
            differences: list[Difference] | None = None) -> Comparison:
    """Compare a normalised compose with Pungi's, file by file, minus the declared differences."""
    if differences is None:
        differences = load_differences()
    used: set[int] = set()
    differing, diffs = [], {}
    for rel in sorted((_files(expected) - RUNNER_FILES) | _files(actual)):
        applicable = [d for d in differences if d.applies(scenario, rel)]
        want, got = _lines(expected / rel), _lines(actual / rel)

        def keep(lines):
            kept = []
            for line in lines or []:
                hits = [d for d in applicable if d.pattern.search(line)]
                used.update(id(d) for d in hits)
                if not hits:
                    kept.append(line)
            return kept

        want_kept, got_kept = keep(want), keep(got)
        presence_differs = (want is None) != (got is None)
        if want_kept != got_kept or (presence_differs and not applicable):
            differing.append(rel)
            diffs[rel] = "\n".join(difflib.unified_diff(
                want_kept, got_kept, fromfile=f"pungi-4.3.2/{scenario}/expected/{rel}"
                + (" (absent)" if want is None else ""),
                tofile=f"ours/{rel}" + (" (absent)" if got is None else ""), lineterm=""))
    stale = [d for d in differences if d.scenario == scenario and id(d) not in used]
    return Comparison(scenario, differing, diffs, stale)


def run_scenario(name: str, workdir: Path, differences: list[Difference] | None = None,
                 cache_root: Path = INPUTS_CACHE) -> tuple[ComposeRun, Comparison]:
    """Inputs, config, compose, normalisation and comparison of one scenario under ``workdir``."""
    data = ensure_inputs(name, cache_root)
    conf = render_config(name, data, workdir / "conf")
    run = run_compose(conf, workdir / "run")
    if run.compose_dir is None:
        raise OracleError(f"scenario {name}: the driver made no compose (rc={run.returncode}):\n"
                          f"{run.output[-4000:]}")
    out = normalise(run.compose_dir, workdir / "normalised")
    return run, compare(name, CORPUS / name / "expected", out, differences)
