"""Every scenario of the Pungi 4.3.2 oracle corpus: our compose equals Pungi's, minus the entries of
doc/pungi-differences.md (how, in oracle_harness.py). Inputs are built once per session (and cached
on disk by their hash); one compose per scenario."""

import concurrent.futures
import os
import re

import pytest

from tests.oracle import oracle_harness as h

pytestmark = pytest.mark.integration

_ABSENT = f"oracle corpus not found at ../shared/oracles/pungi-4.3.2 (looked in {h.CORPUS})"
_SCENARIOS = h.scenarios() if h.corpus_available() else []
_PARAMS = _SCENARIOS or [pytest.param(None, marks=pytest.mark.skip(reason=_ABSENT))]


@pytest.fixture(scope="session")
def oracle_differences():
    """The declared deliberate differences; a malformed entry fails every scenario."""
    return h.load_differences()


@pytest.fixture(scope="session")
def oracle_inputs(request):
    """Builds the inputs of the selected scenarios once per session, in parallel (rpmbuild runs
    one spec at a time; several scenarios share one input build), then hands them out."""
    selected = sorted({item.callspec.params["scenario"] for item in request.session.items
                       if getattr(item, "callspec", None) and item.callspec.params.get("scenario")})
    by_key = {}
    for name in selected:
        by_key.setdefault(h.inputs_key(name), name)
    built = {}
    if by_key:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            futures = {key: pool.submit(h.ensure_inputs, name) for key, name in by_key.items()}
            built = {key: future.result() for key, future in futures.items()}

    def get(name):
        key = h.inputs_key(name)
        if key not in built:
            built[key] = h.ensure_inputs(name)
        return built[key]

    return get


@pytest.mark.parametrize("scenario", _PARAMS)
def test_scenario_matches_pungi(scenario, oracle_inputs, oracle_differences, tmp_path):
    data = oracle_inputs(scenario)
    conf = h.render_config(scenario, data, tmp_path / "conf")
    run = h.run_compose(conf, tmp_path / "run")
    assert run.compose_dir is not None, (
        f"the driver made no compose (rc={run.returncode}):\n{run.output[-4000:]}")
    out = h.normalise(run.compose_dir, tmp_path / "normalised")
    cmp = h.compare(scenario, h.CORPUS / scenario / "expected", out, oracle_differences)
    if not cmp.ok:
        pytest.fail(cmp.report(), pytrace=False)


def test_differences_doc_entries_are_well_formed():
    """Every entry names a known scenario (or a glob), a file, a valid pattern and a reason."""
    if not h.DIFFERENCES_DOC.exists():
        pytest.fail("doc/pungi-differences.md is missing")
    entries = h.load_differences()
    for d in entries:
        assert len(d.reason) >= 10, f"{d.describe()}: the reason must say why we differ"
        if _SCENARIOS and not any(ch in d.scenario for ch in "*?["):
            assert d.scenario in _SCENARIOS, f"{d.describe()}: no scenario {d.scenario!r} in the corpus"


def test_differences_parser_rejects_malformed_entries():
    good = "x\n```pungi-differences\n# c\nbase | rpms.txt | ^Server .*foo | why we differ here\n```\n"
    [d] = h.parse_differences(good)
    assert (d.scenario, d.file, d.pattern.pattern, d.line) == ("base", "rpms.txt", "^Server .*foo", 4)
    with pytest.raises(ValueError, match=r":3: expected 'scenario \| file"):
        h.parse_differences("```pungi-differences\n\nbase | rpms.txt | only three\n```\n")
    with pytest.raises(ValueError, match="bad line pattern"):
        h.parse_differences("```pungi-differences\nbase | rpms.txt | ([ | reason text\n```\n")
    with pytest.raises(ValueError, match="unclosed"):
        h.parse_differences("```pungi-differences\nbase | rpms.txt | a | reason text\n")


def test_compare_drops_declared_lines_and_reports_the_rest(tmp_path):
    exp, act = tmp_path / "exp", tmp_path / "act"
    (exp / "treeinfo").mkdir(parents=True)
    (act / "treeinfo").mkdir(parents=True)
    (exp / "rpms.txt").write_text("a\nb\nc\n")
    (act / "rpms.txt").write_text("a\nb\nX-extra\n")
    (exp / "treeinfo" / "t").write_text("same\n")
    (act / "treeinfo" / "t").write_text("same\n")
    (act / "only-ours.txt").write_text("z\n")
    (exp / "validate.txt").write_text("runner output, not compared\n")
    doc = ("```pungi-differences\n"
           "s1 | rpms.txt | ^X- | ours adds X packages on purpose\n"
           "s1 | tree.txt | ^never | an entry that matches nothing\n"
           "```\n")
    cmp = h.compare("s1", exp, act, h.parse_differences(doc))
    assert cmp.differing == ["only-ours.txt", "rpms.txt"]
    assert "-c" in cmp.diffs["rpms.txt"].splitlines() and "X-extra" not in cmp.diffs["rpms.txt"]
    assert [d.file for d in cmp.stale] == ["tree.txt"]
    assert re.search(r"stale entry .*tree\.txt", cmp.report())
    (act / "only-ours.txt").unlink()
    (act / "rpms.txt").write_text("a\nb\nc\nX-extra\n")
    cmp = h.compare("s1", exp, act, h.parse_differences(doc.replace("s1 | tree.txt", "s2 | tree.txt")))
    assert cmp.ok, cmp.report()


def _racing_corpus(tmp_path, races):
    """A corpus of one scenario whose inputs.sh writes rpm's directory-race error into its i686
    log in its first ``races`` builds (counted in a file beside the corpus)."""
    corpus = tmp_path / "corpus"
    (corpus / "_inputs").mkdir(parents=True)
    (corpus / "_inputs" / "make-repo.sh").write_text("# generator\n")
    (corpus / "s").mkdir()
    count = tmp_path / "builds"
    (corpus / "s" / "inputs.sh").write_text(
        "set -e\nmkdir -p \"$1\"\necho x >> " + str(count) + "\n"
        "n=$(wc -l < " + str(count) + ")\n"
        "echo 'Building for target i686' > \"$1/rpmbuild-i686.log\"\n"
        f"if [ \"$n\" -le {races} ]; then echo 'error: failed to create directory %{{_rpmdir}}: "
        "/x/rpmbuild-i686/RPMS: File exists' >> \"$1/rpmbuild-i686.log\"; fi\n"
        "echo built > \"$1/made\"\n")
    return corpus, count


def test_inputs_built_again_after_an_rpmbuild_directory_race(tmp_path, monkeypatch):
    corpus, count = _racing_corpus(tmp_path, races=1)
    monkeypatch.setattr(h, "CORPUS", corpus)
    data = h.ensure_inputs("s", tmp_path / "cache")
    assert count.read_text().count("x") == 2
    assert (data / "made").read_text() == "built\n"
    assert h.mkdir_races(data) == []
    # the stamp says done: a second call builds nothing
    h.ensure_inputs("s", tmp_path / "cache")
    assert count.read_text().count("x") == 2


def test_inputs_refused_when_every_build_races(tmp_path, monkeypatch):
    corpus, count = _racing_corpus(tmp_path, races=h.INPUT_ATTEMPTS)
    monkeypatch.setattr(h, "CORPUS", corpus)
    with pytest.raises(h.OracleError, match=r"directory race in each of 3 builds.*rpmbuild-i686.log: "
                                            r"error: failed to create directory"):
        h.ensure_inputs("s", tmp_path / "cache")
    assert count.read_text().count("x") == h.INPUT_ATTEMPTS
    assert not list((tmp_path / "cache").glob("*.done"))
