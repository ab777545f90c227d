"""Another createrepo_c's records, parsed and dumped again by this library in a process of its own.

A cold package set from ``pkgset_repos`` has no repo this library wrote to take records from:
the records of ``pkgset_repos`` (written by any createrepo_c) must be parsed and dumped again
(:func:`pungi_like.rpmtools.repowrite._parsed_index`), which holds one interpreter lock for
0.6 s at 10,000 RPMs. That work needs only the repos, not the package set, so pkgset.global
starts it in a child process (:class:`Parsing`) as it begins: the closure, the links and the
header reads run in the compose's process meanwhile, and the package set repo is then written
from the records (:func:`~pungi_like.rpmtools.repowrite.write_repo`) instead of by createrepo_c
reading every file again.

The child's answer on its stdout, per repo: one JSON line (the repo, its repomd.xml's
``(size, mtime_ns)`` when it was read, the lengths of what follows, the start its primary's
``<location>`` lines share (``repowrite._Store.location``, latin-1), or ``error``), the three
dumped texts (primary, filelists, other), the start and end offsets of each entry in them
(native unsigned 64-bit arrays) and a JSON list ``[[file name, entry, mtime, size, checksum
type], ...]`` (the index's own order: the last record of a name wins, as in createrepo_c).

    python -m pungi_like.rpmtools.recordparse REPO_DIR...
"""

import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
from array import array

from .. import childproc
from . import repowrite


def _dump(out, repo_dir):
    stat = repowrite._repomd_stat(repo_dir)
    try:
        index = repowrite._parsed_index(repo_dir)
    except Exception as exc:  # noqa: B902 - the parent falls back to createrepo_c and says why
        out.write(json.dumps({"repo": repo_dir, "error": f"{type(exc).__name__}: {exc}"}).encode()
                  + b"\n")
        return False
    store = index.records and next(iter(index.records.values())).store
    texts = store.texts if store else (b"", b"", b"")
    offsets = [bytes(a) for a in (store.starts + store.ends)] if store else [b""] * 6
    records = json.dumps([[name, r.i, r.mtime, r.size, r.checksum_type]
                          for name, r in index.records.items()]).encode()
    head = {"repo": repo_dir, "stat": list(stat) if stat else None,
            "texts": [len(t) for t in texts], "offsets": [len(o) for o in offsets],
            "records": len(records),
            # latin-1: the bytes as they are, through JSON
            "location": None if not store or getattr(store, "location", None) is None
            else store.location.decode("latin-1")}
    out.write(json.dumps(head).encode() + b"\n")
    for piece in (*texts, *offsets, records):
        out.write(piece)
    return True


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    out = sys.stdout.buffer
    ok = True
    for repo_dir in argv:
        ok = _dump(out, repo_dir) and ok
    out.flush()
    return 0 if ok else 3


def _read_exactly(fh, size):
    data = fh.read(size)
    if len(data) != size:
        raise EOFError("the record parser's answer ended early")
    return data


def _load(fh):
    """``[(repo, stat, RecordIndex or None, error or None)]`` from a child's answer."""
    found = []
    while True:
        line = fh.readline()
        if not line:
            return found
        head = json.loads(line)
        if "error" in head:
            found.append((head["repo"], None, None, head["error"]))
            continue
        texts = tuple(_read_exactly(fh, n) for n in head["texts"])
        offsets = []
        for n in head["offsets"]:
            values = array("Q")
            values.frombytes(_read_exactly(fh, n))
            offsets.append(values)
        records = json.loads(_read_exactly(fh, head["records"]))
        store = repowrite._Store.__new__(repowrite._Store)
        store.texts, store.starts, store.ends = texts, tuple(offsets[:3]), tuple(offsets[3:])
        location = head.get("location")
        store.location = location.encode("latin-1") if location is not None else None
        index = repowrite.RecordIndex(verbatim=False)
        for name, i, mtime, size, checksum in records:
            index.records[name] = repowrite.Record(store, i, mtime=mtime, size=size,
                                                   checksum_type=checksum)
        found.append((head["repo"], tuple(head["stat"]) if head["stat"] else None, index, None))


class Parsing:
    """The records of ``repo_dirs`` being parsed in a child process (started at once; its
    answer read by a thread of this process once it ended). :meth:`adopt` waits for it and hands
    the indexes to :mod:`~pungi_like.rpmtools.repowrite`, whose ``record_index`` takes them
    instead of parsing again."""

    def __init__(self, repo_dirs):
        self.repo_dirs = list(repo_dirs)
        # the answer (20 MB at 10,000 RPMs) goes to an anonymous file, read once the child
        # ended: through a 64 KiB pipe the reader thread took it in 300+ reads, each giving
        # the interpreter lock up and waiting to take it back behind the closure's thread
        self._out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            childproc.module_command("pungi_like.rpmtools.recordparse", *self.repo_dirs),
            stdout=self._out, stderr=subprocess.PIPE, env=childproc.module_env())
        self.found, self.failure, self.stderr = [], None, b""
        self.reader = threading.Thread(target=self._read, name="recordparse", daemon=True)
        self.reader.start()

    def _read(self):
        try:
            self.stderr = self.proc.stderr.read()   # to its end: the child ended or closed it
            self.proc.wait()
            self._out.seek(0)
            self.found = _load(self._out)
        except Exception as exc:  # noqa: B902 - reported by adopt()
            self.failure = f"{type(exc).__name__}: {exc}"
        finally:
            self._out.close()

    def adopt(self):
        """Wait for the child; None when every repo's records were handed to repowrite, else
        why not (nothing is handed over then)."""
        self.reader.join()
        code = self.proc.wait()
        if self.failure:
            return f"the record parser's answer: {self.failure}"
        errors = [f"{repo}: {error}" for repo, _stat, _index, error in self.found if error]
        if errors:
            return "the record parser: " + "; ".join(errors)
        if code != 0:
            tail = self.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            return f"the record parser exited with {code}" + (f": {tail[0]}" if tail else "")
        if sorted(repo for repo, *_rest in self.found) != sorted(self.repo_dirs):
            return "the record parser did not answer for every repo"
        for repo, stat, index, _error in self.found:
            if stat is None or repowrite._repomd_stat(repo) != stat:
                self.discard()
                return f"{repo} changed while its records were parsed"
            repowrite.adopt_parsed(repo, stat, index)
        self.found = []
        return None

    def discard(self):
        """Drop whatever was parsed (a repo's adopted records too) and end the child."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.reader.join()
        self.proc.wait()
        self.found = []
        for repo in self.repo_dirs:
            repowrite.discard_adopted(repo)


if __name__ == "__main__":
    # the child: no cyclic GC. The parse makes some 30,000 package objects that the
    # collections walked again and again (0.02-0.03 s of its 0.45-0.5 s of CPU at 10,000
    # RPMs, while pkgset.global waits for its answer); it makes no cycles worth collecting
    # before it ends
    gc.disable()
    raise SystemExit(main())
