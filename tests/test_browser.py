"""The built HTML book in a real browser: every page loaded in headless Chromium over http.

The Node script ``tests/browser/check.mjs`` (playwright-core driving the system's Chromium, and
axe-core, both pinned in ``tests/browser/package-lock.json`` and installed here with ``npm ci``)
loads each page and reports console and page errors, failed requests, requests to other hosts,
broken images, broken internal links and anchors, tables without header cells, sideways
scrolling at 320 px, and axe-core accessibility violations.  These tests fail on any of those,
except axe violations of moderate or minor impact, which are listed but do not fail.

Skipped, with the reason, where Chromium or npm is not installed (``.ci/run`` installs Debian's
``chromium`` when it runs as root); ``CINREPORT_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections import Counter
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
FAILING_IMPACTS = ("serious", "critical")
CHECKS = {  # JSON key -> what it means, for the failure message
    "page_errors": "uncaught error",
    "console_errors": "console error",
    "failed_requests": "failed request",
    "external_requests": "request to another host (the book must be self-contained)",
    "broken_images": "broken image",
    "broken_links": "broken link",
    "tables_without_headers": "table without header cells",
    "reflow_320": "makes the page scroll sideways at 320 px",
    "tables_scroll_wide": "has a table that scrolls sideways on a desktop screen",
    "blank_band": "has a blank band above its text",
}


def find_chromium() -> str | None:
    configured = os.environ.get("CINREPORT_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if not path:
        pytest.skip("no Chromium found (looked for $CINREPORT_CHROMIUM and "
                    + ", ".join(CHROMIUM_NAMES) + " on PATH); install Debian's `chromium` package "
                    "(.ci/run does so when it runs as root)")
    return path


@pytest.fixture(scope="session")
def node() -> str:
    """node, with tests/browser/node_modules installed from the lock file by `npm ci`."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        pytest.skip("npm/node not found on PATH: the browser check needs Node.js 20+ and npm to "
                    "install playwright-core and axe-core from tests/browser/package-lock.json")
    lock = (BROWSER_DIR / "package-lock.json").read_bytes()
    stamp = BROWSER_DIR / "node_modules" / ".cinreport-lock-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    if not (stamp.is_file() and stamp.read_text() == digest):
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BROWSER_DIR,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"npm ci in {BROWSER_DIR} failed:\n{proc.stdout}\n{proc.stderr}"
        stamp.write_text(digest)
    return node


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class Server:
    """A folder served over http on 127.0.0.1 (a free port) while the context is open."""

    def __init__(self, folder: Path):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def run_check(node: str, chromium: str, folder: Path, pages: list[str], screenshots: Path) -> dict:
    with Server(folder) as server:
        proc = subprocess.run(
            [node, str(BROWSER_DIR / "check.mjs"), "--base", server.url, "--screenshots", str(screenshots),
             "--chromium", chromium, *pages],
            capture_output=True, text=True, timeout=900,
        )
    assert proc.returncode == 0, f"check.mjs could not run ({proc.returncode}):\n{proc.stderr[-4000:]}"
    result = json.loads(proc.stdout)
    assert [p["page"] for p in result["pages"]] == pages
    return result


def problems(result: dict) -> list[str]:
    """One readable line per problem that fails the test."""
    lines = []
    for page in result["pages"]:
        name = page["page"]
        if page["status"] != 200:
            lines.append(f"{name}: answered HTTP {page['status']}")
        for key, what in CHECKS.items():
            for item in page.get(key, []):
                if isinstance(item, dict) and "href" in item:
                    item = f"{item['href']} ({item['reason']}; link text {item['text']!r})"
                elif isinstance(item, dict):
                    item = f"{item.get('src')} (alt {item.get('alt')!r})"
                lines.append(f"{name}: {what}: {item}")
        for violation in page["axe"]:
            if violation["impact"] in FAILING_IMPACTS:
                for node in violation["nodes"]:
                    lines.append(f"{name}: axe {violation['id']} ({violation['impact']}): {node['target']}: "
                                 f"{violation['help']}")
    return lines


def axe_counts(result: dict) -> Counter:
    return Counter((v["id"], v["impact"]) for p in result["pages"] for v in p["axe"] for _ in v["nodes"])


def test_every_book_page_works_in_a_browser(built_project, chromium, node, capsys):
    book = built_project / "_book"
    pages = sorted(p.relative_to(book).as_posix() for p in book.rglob("*.html"))
    assert "index.html" in pages and len(pages) >= 10
    screenshots = built_project / "build" / "screenshots"
    result = run_check(node, chromium, book, pages, screenshots)

    for page in result["pages"]:
        assert page["screenshot"] and Path(page["screenshot"]).is_file(), f"{page['page']}: no screenshot"
        assert page["links"] > 0, f"{page['page']}: no links (no navigation?)"
    minor = axe_counts(result)
    with capsys.disabled():
        print(f"\n[browser] {len(pages)} pages checked in Chromium {result['chromium']} with axe-core "
              f"{result['axe_core']}; screenshots in {screenshots}")
        for (rule, impact), n in sorted(minor.items()):
            print(f"[browser]   axe {rule} ({impact}): {n} element(s)")
    found = problems(result)
    assert not found, f"{len(found)} problem(s) in the HTML book:\n  " + "\n  ".join(found)


BROKEN_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Broken</title></head>
<body>
<main>
<h1>Broken page</h1>
<p style="color:#bbb;background:#fff">Faint text that fails the contrast rule.</p>
<img src="missing.png" alt="A missing chart">
<img src="https://example.invalid/remote.png" alt="A remote image">
<a href="other.html#no-such-id">to a missing anchor</a>
<a href="gone.html">to a missing page</a>
<a href="other.html#present">to a present anchor</a>
<table><tr><td>1</td><td>2</td></tr></table>
<div style="width:1500px">wide</div>
<div class="table-wrap" aria-label="A table wider than a desktop screen" style="overflow-x:auto;max-width:100%">
<table><tr><th style="min-width:3000px">very wide header</th></tr></table></div>
<script>console.error("logged error"); throw new Error("thrown error");</script>
</main>
</body></html>
"""


def test_checker_reports_each_kind_of_problem(tmp_path, chromium, node):
    """The check cannot pass vacuously: on a page with one of each fault, it names each one."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(BROKEN_PAGE, encoding="utf-8")
    (site / "other.html").write_text('<!DOCTYPE html><html lang="en"><head><title>Other</title></head>'
                                     '<body><main><h1 id="present">Other</h1></main></body></html>',
                                     encoding="utf-8")
    (site / "band.html").write_text('<!DOCTYPE html><html lang="en"><head><title>Band</title></head><body>'
                                    '<header class="book-header">Book</header><main style="margin-top:400px">'
                                    '<h1>Text far below the header</h1></main></body></html>', encoding="utf-8")
    result = run_check(node, chromium, site, ["index.html", "other.html", "band.html"], tmp_path / "shots")
    page = result["pages"][0]
    assert any("logged error" in e for e in page["console_errors"])
    assert any("thrown error" in e for e in page["page_errors"])
    assert any("missing.png" in r and "404" in r for r in page["failed_requests"])
    assert any("example.invalid" in r for r in page["external_requests"])
    assert {i["src"] for i in page["broken_images"]} >= {"missing.png"}
    reasons = {link["href"]: link["reason"] for link in page["broken_links"]}
    assert "no element with id" in reasons["other.html#no-such-id"]
    assert "404" in reasons["gone.html"]
    assert "other.html#present" not in reasons
    assert page["tables_without_headers"] and page["reflow_320"]
    assert any("A table wider than a desktop screen" in t and "at 1280 px" in t for t in page["tables_scroll_wide"])
    assert not page["blank_band"] and not result["pages"][1]["blank_band"]
    assert any("at 1280 px" in b for b in result["pages"][2]["blank_band"])
    rules = {v["id"]: v["impact"] for v in page["axe"]}
    assert rules.get("color-contrast") == "serious" and rules.get("html-has-lang") == "serious"
    found = problems(result)
    assert any(line.startswith("index.html: axe color-contrast (serious)") for line in found)
    assert not [line for line in found if line.startswith("other.html")], found
