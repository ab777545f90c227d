"""Run one (or every) scenario of the Pungi 4.3.2 oracle corpus and print how we differ.

usage: .venv/bin/python tests/oracle/run_scenario.py NAME|all OUTDIR

For each scenario: builds its inputs once (cached in .cache/oracle-inputs), renders its config into
OUTDIR/NAME/conf, runs pungi-like-koji into OUTDIR/NAME/run, normalises with the corpus's
_tools/normalise.py into OUTDIR/NAME/normalised and prints the unified diff of every file that
differs from the corpus's expected/ (minus doc/pungi-differences.md). Exit status 1 when any
scenario differs. The same steps as tests/oracle/test_pungi_oracle.py (see oracle_harness.py).
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.oracle import oracle_harness as h  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if not h.corpus_available():
        print(f"oracle corpus not found at {h.CORPUS}", file=sys.stderr)
        return 2
    names = h.scenarios() if argv[0] == "all" else [argv[0]]
    unknown = [n for n in names if n not in h.scenarios()]
    if unknown:
        print(f"unknown scenario(s) {unknown}; known: {' '.join(h.scenarios())}", file=sys.stderr)
        return 2
    differences = h.load_differences()
    failed = []
    for name in names:
        started = time.monotonic()
        run, cmp = h.run_scenario(name, Path(argv[1]).resolve() / name, differences)
        took = time.monotonic() - started
        if cmp.ok:
            print(f"{name}: same as Pungi 4.3.2 ({took:.1f} s, driver rc={run.returncode})")
        else:
            failed.append(name)
            print(f"{name}: DIFFERS ({took:.1f} s, driver rc={run.returncode})")
            print(cmp.report(max_files=len(cmp.differing), max_lines=10 ** 6))
    if len(names) > 1:
        print(f"{len(names) - len(failed)}/{len(names)} scenarios same as Pungi; differ: "
              f"{' '.join(failed) or '-'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
