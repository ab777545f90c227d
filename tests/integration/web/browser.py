"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven with Selenium.

The flags keep Chromium off the network (no component updates, sync, QUIC or background
requests, which a closed network refuses); each browser gets a fresh profile directory. The
browser's console and network events are kept (``goog:loggingPrefs``) so tests can assert that
a page logged no errors and loaded nothing from elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import shutil

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1100,900")


def _binary(*names):
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("%s not installed; run .ci/setup (Debian's chromium and chromium-driver)"
                % " or ".join(names))


@contextlib.contextmanager
def chromium(profile_dir):
    """A Selenium WebDriver of a headless Chromium with a fresh profile in ``profile_dir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = _binary("chromium", "chromium-browser")
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument("--user-data-dir=%s" % profile_dir)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(_binary("chromedriver")), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def requested_urls(driver):
    """URLs requested since the last call (DevTools Network.requestWillBeSent), without the
    browser's own ``chrome://`` pages (its new-tab page loads some at start)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            url = msg["params"]["request"]["url"]
            if not url.startswith(("chrome://", "chrome-untrusted://", "chrome-search://")):
                urls.append(url)
    return urls
