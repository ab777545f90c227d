"""The hub's web pages (Koji Web's URLs) in a real headless Chromium, against an embedded build
service with realistic data (webdata.py): the demo universe subset, a build with signed RPMs, a
failed build, a livecd image build, a canceled task, names with HTML in them.

Reads go through a plain-HTTP server on the hub's own application (the browser); the write
actions go over the hub's HTTPS with client certificates (requests), as a user's browser would
with its certificate installed.
"""

import collections
import html.parser
import os
import re
import sys
import urllib.parse

import koji
import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import browser  # noqa: E402
import webdata  # noqa: E402

pytestmark = pytest.mark.integration
MAX_CRAWL = 400


@pytest.fixture(scope="module")
def site(tmp_path_factory, universe):
    tmp = tmp_path_factory.mktemp("web")
    cm, service = webdata.imgsvc.start_service(tmp, universe)
    try:
        service.data = webdata.seed(service, str(tmp))
        server, service.base = webdata.serve_plain(service.svc.app)
        service.https = service.svc.url.rsplit("/kojihub", 1)[0]
        service.tmp = tmp
        try:
            yield service
        finally:
            webdata.stop_plain(server)
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="module")
def chrome(site):
    with browser.chromium(site.tmp / "chromium-profile") as driver:
        yield driver


def _open(driver, site, page):
    driver.get("%s/koji/%s" % (site.base, page))
    assert browser.console_errors(driver) == [], page
    return driver


def _section(driver, heading):
    """The text of the first <pre> after the <h2> whose text starts with ``heading``."""
    for h in driver.find_elements("css selector", "h2"):
        if h.text.startswith(heading):
            return h.find_element("xpath", "following-sibling::pre[1]").text
    raise AssertionError("no section %r; headings: %s" % (
        heading, [h.text for h in driver.find_elements("css selector", "h2")]))


def test_taskinfo_of_a_failed_build_shows_the_failing_log_lines(site, chrome):
    d = site.data
    _open(chrome, site, "taskinfo?taskID=%d" % d.failed_task)
    assert chrome.find_element("css selector", "h1").text == "Task %d: build" % d.failed_task
    info = chrome.find_element("css selector", "table.info").text
    assert "State failed" in info and "Owner kojiadmin" in info
    assert "buildArch (%d) failed" % d.failed_child in info     # the children tree
    assert "nothing provides demo-missing >= 2" in info                # the result (fault)
    root_log = _section(chrome, "root.log of task %d" % d.failed_child)
    assert "ERROR: nothing provides demo-missing >= 2 needed by demo-needs-missing" in root_log
    # the output files link to /kojifiles, and the link serves the full log
    link = chrome.find_element("link text", "task.log").get_attribute("href")
    assert urllib.parse.urlparse(link).path.startswith("/kojifiles/work/tasks/")
    assert "task failed: nothing provides" in requests.get(link, timeout=30).text
    chrome.set_window_size(1000, 1300)
    chrome.save_screenshot(str(site.tmp / "taskinfo.png"))
    chrome.set_window_size(1000, 680)     # the top only (doc/img/taskinfo.png)
    chrome.save_screenshot(str(site.tmp / "taskinfo-top.png"))
    chrome.set_window_size(1100, 900)
    # the child's own page names its host and channel, with links
    _open(chrome, site, "taskinfo?taskID=%d" % d.failed_child)
    assert "Host embedded-builder-1" in chrome.find_element("css selector", "table.info").text
    assert chrome.find_element("link text", "embedded-builder-1").get_attribute("href") \
        .endswith("hostinfo?hostID=1")


def test_canceled_and_finished_tasks_in_lists(site, chrome):
    d = site.data
    _open(chrome, site, "taskinfo?taskID=%d" % d.canceled_task)
    assert "State canceled" in chrome.find_element("css selector", "table.info").text
    _open(chrome, site, "tasks?state=canceled&view=flat")
    ids = [r.find_elements("css selector", "td")[0].text
           for r in chrome.find_elements("css selector", "table tr")[1:]]
    assert ids == [str(d.canceled_task)]
    _open(chrome, site, "tasks?state=failed&method=build&view=toplevel")
    rows = chrome.find_elements("css selector", "table tr")[1:]
    assert [r.find_elements("css selector", "td")[0].text for r in rows] == [str(d.failed_task)]


def test_tasks_tree_view_shows_children_under_their_parents(site, chrome):
    d = site.data
    # the tree view (Koji Web's default) filters the top-level tasks and shows their subtasks
    _open(chrome, site, "tasks?state=failed&method=build")
    rows = chrome.find_elements("css selector", "table tr")[1:]
    ids = [r.find_elements("css selector", "td")[0].text for r in rows]
    top = [r.find_elements("css selector", "td")[0].text for r in rows
           if r.get_attribute("class") != "subtask"]
    assert top == [str(d.failed_task)]
    assert ids[0] == str(d.failed_task) and str(d.failed_child) in ids[1:]
    child = rows[ids.index(str(d.failed_child))]
    assert child.get_attribute("data-parent") == str(d.failed_task)
    assert "buildArch" in child.text and "failed" in child.text
    # a subtask is indented below its parent and links to its own page
    parent_cell = rows[0].find_elements("css selector", "td")[1]
    child_cell = child.find_elements("css selector", "td")[1]
    assert child_cell.find_element("css selector", "a").location["x"] > \
        parent_cell.find_element("css selector", "a").location["x"]
    assert child_cell.find_element("css selector", "a").get_attribute("href").endswith(
        "taskinfo?taskID=%d" % d.failed_child)
    # the flat and top-level views keep to the filter: the failed subtask alone, or no subtask
    _open(chrome, site, "tasks?state=failed&method=buildArch&view=flat")
    flat = [r.find_elements("css selector", "td")[0].text
            for r in chrome.find_elements("css selector", "table tr")[1:]]
    assert str(d.failed_child) in flat
    _open(chrome, site, "tasks?state=failed&view=toplevel")
    assert not chrome.find_elements("css selector", "tr.subtask")


def test_buildinfo_lists_rpms_and_signatures(site, chrome):
    d = site.data
    _open(chrome, site, "buildinfo?buildID=%d" % d.build["id"])
    assert chrome.find_element("css selector", "h1").text == "Build demo-hello-1.0-1"
    rows = {}
    rpm_table = "//h2[text()='RPMs']/following-sibling::table[1]//tr"
    for tr in chrome.find_elements("xpath", rpm_table)[1:]:
        cells = [td.text for td in tr.find_elements("css selector", "td")]
        rows[cells[0]] = cells
    assert sorted(rows) == ["demo-hello-1.0-1.noarch.rpm", "demo-hello-1.0-1.src.rpm"]
    assert all(r[2] == d.sigkey for r in rows.values()), rows
    info = chrome.find_element("css selector", "table.info").text
    assert "Tags demo-1.0-updates" in info and "Task build (%d)" % d.build_task in info
    # the download link is the signed-or-not RPM under /kojifiles, and it is served
    href = chrome.find_element("link text", "download").get_attribute("href")
    assert requests.head(href, timeout=30).status_code == 200
    _open(chrome, site, "rpminfo?rpmID=%d" % site.session.getRPM("demo-hello-1.0-1.noarch")["id"])
    assert d.sigkey in chrome.find_element("css selector", "table.info").text
    chrome.save_screenshot(str(site.tmp / "buildinfo.png"))


def test_image_build_archives(site, chrome):
    d = site.data
    _open(chrome, site, "buildinfo?buildID=%d" % d.image_build["id"])
    table = chrome.find_element("xpath", "//h2[text()='Archives']/following-sibling::table[1]")
    iso = table.find_element("link text", "demo-live-1-1.x86_64.iso")
    row = iso.find_element("xpath", "ancestor::tr").text
    (archive,) = [a for a in site.session.listArchives(buildID=d.image_build["id"])
                  if a["filename"] == "demo-live-1-1.x86_64.iso"]
    assert "iso" in row and "sha256:" + archive["checksum"] in row
    href = iso.find_element("xpath", "ancestor::tr//a[text()='download']").get_attribute("href")
    r = requests.head(href, timeout=30)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == archive["size"]
    iso.click()
    assert browser.console_errors(chrome) == []
    rpms = chrome.find_element("xpath", "//h2[text()='Component RPMs']"
                                        "/following-sibling::table[1]").text
    assert "kernel-" in rpms and "demo-base-1.0-1" in rpms
    _open(chrome, site, "taskinfo?taskID=%d" % d.image_task)
    assert "State closed" in chrome.find_element("css selector", "table.info").text


def test_taginfo_shows_inheritance_in_priority_order(site, chrome):
    s = site.session
    s.createTag("web-child")
    s.createTag("web-side", parent="demo-1.0-base")
    s.setInheritanceData("web-child", [
        {"parent_id": s.getTag("demo-1.0-updates")["id"], "priority": 30, "maxdepth": None,
         "intransitive": False, "noconfig": False, "pkg_filter": ""},
        {"parent_id": s.getTag("web-side")["id"], "priority": 10, "maxdepth": None,
         "intransitive": False, "noconfig": False, "pkg_filter": ""}])
    tag = s.getTag("web-child")
    _open(chrome, site, "taginfo?tagID=%d" % tag["id"])
    rows = [[td.text.strip() for td in tr.find_elements("css selector", "td")]
            for tr in chrome.find_elements("css selector", "#inheritance tr.parent")]
    shown = [(int(r[0]), int(r[1]), r[2]) for r in rows]
    expected = [(x["currdepth"], x["priority"], x["name"])
                for x in s.getFullInheritance(tag["id"])]
    assert shown == expected
    # direct parents in priority order (10 before 30), each followed by its own parents
    assert [name for depth, _prio, name in shown if depth == 1] == ["web-side",
                                                                    "demo-1.0-updates"]
    assert shown[1] == (2, 0, "demo-1.0-base")
    _open(chrome, site, "taginfo?tagID=%d" % site.data.tag["id"])
    assert "build tag of demo-1.0" in chrome.find_element("xpath", "//h2[text()='Targets']"
                                                          "/following-sibling::ul[1]").text
    chrome.save_screenshot(str(site.tmp / "taginfo.png"))


def test_names_with_html_render_as_text(site, chrome):
    for page in ("packages?tagID=demo-1.0-updates", "packageinfo?packageID=%d"
                 % site.data.evil_package, "taginfo?tagID=demo-1.0-updates",
                 "search?terms=evil*&type=package&match=glob"):
        _open(chrome, site, page)
        assert webdata.EVIL in chrome.find_element("tag name", "body").text, page
        assert chrome.find_elements("tag name", "script") == [], page
        assert "<script>alert" not in chrome.page_source


def test_every_link_answers_200(site):
    class Links(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.links = []

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                self.links += [v for k, v in attrs if k == "href" and v]

    http = requests.Session()
    seen, queue, failures = set(), collections.deque([site.base + "/koji/index"]), []
    pages = set()
    while queue and len(seen) < MAX_CRAWL:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        path = urllib.parse.urlparse(url).path
        if path.startswith("/kojifiles/"):
            r = http.head(url, timeout=30)
        else:
            r = http.get(url, timeout=30, allow_redirects=False)
        if r.status_code != 200:
            failures.append((r.status_code, url))
            continue
        if not path.startswith("/koji/"):
            continue
        pages.add(path.rsplit("/", 1)[-1])
        parser = Links()
        parser.feed(r.text)
        for link in parser.links:
            target = urllib.parse.urljoin(url, link).split("#")[0]
            if target.startswith(site.base) and target not in seen:
                queue.append(target)
    assert failures == []
    assert len(seen) >= 100
    # the crawl reached every kind of page
    assert {"index", "tasks", "taskinfo", "builds", "buildinfo", "packages", "packageinfo",
            "tags", "taginfo", "buildtargets", "buildtargetinfo", "hosts", "hostinfo",
            "channelinfo", "repoinfo", "users", "userinfo", "rpminfo", "archiveinfo", "search",
            "reports", "buildsbyuser", "tasksbyhost"} <= pages


def test_bad_parameters_and_missing_objects(site):
    base = site.base + "/koji/"
    r = requests.get(base + "taskinfo?taskID=999999", timeout=30)
    assert r.status_code == 404 and "No such task 999999" in r.text
    r = requests.get(base + "taskinfo?taskID=x%3Cb%3E", timeout=30)
    assert r.status_code == 400 and "taskID must be a number, not &#39;x&lt;b&gt;&#39;" in r.text
    r = requests.get(base + "builds?order=bogus", timeout=30)
    assert r.status_code == 400 and "cannot order by" in r.text
    assert requests.get(base + "nosuchpage", timeout=30).status_code == 404
    r = requests.get(site.base + "/koji", timeout=30, allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/koji/"
    r = requests.get(base + "search?type=package&match=regexp&terms=" + "a" * 201, timeout=30)
    assert r.status_code == 400 and "longer than 200" in r.text
    # pagination: start/order as Koji Web's
    r = requests.get(base + "builds?order=-nvr&start=1", timeout=30)
    nvrs = re.findall(r"buildinfo\?buildID=\d+\">([^<]+)<", r.text)
    everything = sorted((b["nvr"] for b in site.session.listBuilds()), reverse=True)
    assert nvrs == everything[1:51]


def _https(site, user=None):
    http = requests.Session()
    http.trust_env = False            # an environment CA bundle would replace our CA
    http.verify = site.svc.ca
    if user:
        site.svc.session(user).logout()          # makes the user's certificate and the user
        http.cert = os.path.join(site.svc.pki, user + ".pem")
    return http


def _token(text):
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', text).group(1)


def test_write_actions_need_a_certificate_a_token_and_the_permission(site):
    s = site.session
    task = s.makeTask("createrepo", [1, "ppc64le", None], arch="ppc64le")
    page = "%s/koji/taskinfo?taskID=%d" % (site.https, task)
    anon = _https(site)
    assert 'action="canceltask"' not in anon.get(page, timeout=30).text
    r = anon.post(site.https + "/koji/canceltask", data={"taskID": task}, timeout=30,
                  allow_redirects=False)
    assert r.status_code == 403 and "client certificate" in r.text
    admin = _https(site, "kojiadmin")
    text = admin.get(page, timeout=30).text
    assert "logged in as" in text and 'action="canceltask"' in text
    token = _token(text)
    assert admin.post(site.https + "/koji/canceltask", data={"taskID": task,
                                                             "csrf_token": "0" * 64},
                      timeout=30).status_code == 403
    assert admin.get(site.https + "/koji/canceltask?taskID=%d" % task,
                     timeout=30).status_code == 404            # a write is never a GET
    r = admin.post(site.https + "/koji/canceltask", data={"taskID": task, "csrf_token": token},
                   timeout=30, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/koji/taskinfo?taskID=%d" % task
    assert s.getTaskInfo(task)["state"] == koji.TASK_STATES["CANCELED"]
    r = admin.post(site.https + "/koji/resubmittask", data={"taskID": task,
                                                            "csrf_token": token},
                   timeout=30, allow_redirects=False)
    new = int(r.headers["Location"].rsplit("=", 1)[1])
    assert new != task and s.getTaskInfo(new)["method"] == "createrepo"
    s.cancelTask(new)
    # a user without admin: the API's check refuses, the host stays enabled
    alice = _https(site, "alice")
    host = s.getHost("embedded-builder-1")
    alice_token = _token(alice.get("%s/koji/hostinfo?hostID=%d" % (site.https, host["id"]),
                                   timeout=30).text)
    assert alice_token != token
    r = alice.post(site.https + "/koji/disablehost", data={"hostID": host["id"],
                                                           "csrf_token": alice_token},
                   timeout=30)
    assert r.status_code == 403 and "permission required (logged in as alice)" in r.text
    assert s.getHost(host["id"])["enabled"] is True
    # alice's token is hers: it does not act for kojiadmin
    assert admin.post(site.https + "/koji/disablehost", data={"hostID": host["id"],
                                                              "csrf_token": alice_token},
                      timeout=30).status_code == 403
    try:
        r = admin.post(site.https + "/koji/disablehost", data={"hostID": host["id"],
                                                               "csrf_token": token}, timeout=30)
        assert r.status_code == 200 and s.getHost(host["id"])["enabled"] is False
    finally:
        r = admin.post(site.https + "/koji/enablehost", data={"hostID": host["id"],
                                                              "csrf_token": token}, timeout=30)
    assert r.status_code == 200 and s.getHost(host["id"])["enabled"] is True


def test_cli_task_links_lead_to_the_task_page(site):
    conf = open(site.svc.koji_config_path).read()
    assert "weburl = %s/koji" % site.https in conf
    assert "topurl = %s/kojifiles" % site.https in conf
    link = "%s/koji/taskinfo?taskID=%d" % (site.https, site.data.build_task)
    assert "Task info: " + link in site.data.build_output
    r = _https(site).get(link, timeout=30)
    assert r.status_code == 200 and "Task %d: build" % site.data.build_task in r.text


def test_screenshots_of_the_main_pages(site, chrome):
    for page in ("index", "tasks?state=all", "builds", "hosts", "taginfo?tagID=demo-1.0-build"):
        _open(chrome, site, page)
        name = page.split("?")[0]
        path = site.tmp / ("%s.png" % name)
        assert chrome.save_screenshot(str(path)) and path.stat().st_size > 5000
