"""The compose report and the target directory's index, opened in a real headless browser.

The compose is test_driver.py's failable-failure compose (the demo universe, a phase added for
the test whose Workstation units fail with an injected error), so the report shows a real
timeline, real package metadata and a failed failable deliverable with its log.
"""

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import browser  # noqa: E402
from test_driver import failing_phase, make_config, only_compose, run_driver  # noqa: E402,F401

pytestmark = pytest.mark.integration


@pytest.fixture
def incomplete_compose(tmp_path, universe, failing_phase):  # noqa: F811
    conf = make_config(tmp_path, universe,
                       'failable_deliverables = [("^Workstation$", {"*": ["iso"]})]')
    target = tmp_path / "composes"
    assert run_driver(["--config", conf, "--target-dir", str(target), "--test"]) == 4
    # a second compose: the index lists both, newest first, and the report diffs against it
    assert run_driver(["--config", conf, "--target-dir", str(target), "--test",
                       "--no-latest-link"]) == 4
    return str(target)


def test_report_and_index_in_the_browser(incomplete_compose, tmp_path):
    target = incomplete_compose
    ids = sorted(d for d in os.listdir(target) if d.startswith("Demo-")
                 and not os.path.islink(os.path.join(target, d)))
    assert len(ids) == 2
    newest = os.path.join(target, ids[-1])
    report = os.path.join(newest, "logs", "global", "report.html")
    timeline = json.load(open(os.path.join(newest, "logs", "global", "timeline.json")))
    text = open(report, encoding="utf-8").read()
    # self-contained: nothing fetched from elsewhere, no scripts
    assert "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text
    with browser.chromium(tmp_path / "profile") as driver:
        driver.get("about:blank")
        browser.requested_urls(driver)
        driver.get("file://" + report)
        assert driver.title == "%s: FINISHED_INCOMPLETE" % ids[-1]
        assert browser.console_errors(driver) == []
        assert browser.requested_urls(driver) == ["file://" + report]
        bars = driver.find_elements("css selector", "svg.gantt rect.unit-bar")
        assert sorted(b.get_attribute("data-unit") for b in bars) == \
            sorted(u["unit"] for u in timeline["units"])
        failed = [b for b in bars if "result-failed-failable" in b.get_attribute("class")]
        assert [b.get_attribute("data-unit") for b in failed] == ["failing.Workstation.x86_64"]
        failure = driver.find_element("css selector", ".failure")
        assert "iso Workstation.x86_64 (failable)" in failure.text
        assert "No space left on device (injected)" in failure.text
        # the log tail is shown, and its link leads to the full log
        href = failure.find_element("css selector", "a").get_attribute("href")
        assert href.startswith("file://") and os.path.isfile(href[len("file://"):]), href
        tail = failure.find_element("css selector", "pre.log").text
        assert "No space left on device" in tail or "failing.Workstation.x86_64" in tail
        packages = driver.find_element("id", "packages").find_element(
            "xpath", "following-sibling::table").text
        rpms = json.load(open(os.path.join(newest, "compose", "metadata", "rpms.json")))
        for variant, arches in rpms["payload"]["rpms"].items():
            for arch, srpms in arches.items():
                binaries = {n.rsplit("-", 2)[0] for s in srpms.values()
                            for n, m in s.items() if m["category"] != "source"}
                assert "%s.%s %d" % (variant, arch, len(binaries)) in packages
        assert "Added since %s" % ids[0] in packages
        driver.save_screenshot(str(tmp_path / "compose-report.png"))

        driver.get("file://" + os.path.join(target, "index.html"))
        assert browser.console_errors(driver) == []
        rows = driver.find_elements("css selector", "table tr")[1:]
        assert [r.find_element("css selector", "td").text for r in rows] == ids[::-1]
        assert all("FINISHED_INCOMPLETE" in r.text for r in rows)
        driver.save_screenshot(str(tmp_path / "compose-index.png"))
        rows[0].find_element("link text", "report").click()
        assert driver.title.startswith(ids[-1])
