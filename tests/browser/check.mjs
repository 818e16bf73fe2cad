// Load pages of the built book in headless Chromium and report what a reader would hit.
//
//   node check.mjs --base http://127.0.0.1:PORT/ --screenshots DIR [--chromium PATH] page.html ...
//
// For every page: console errors, uncaught page errors, failed requests (network errors and
// HTTP status >= 400), requests to any host other than the local server (aborted: the book must
// be self-contained), broken images (naturalWidth 0), internal links whose target page is missing
// or whose #fragment names no element on the target page, tables without header cells, content
// that makes the page scroll sideways at 320 CSS pixels (reflow), and axe-core violations (WCAG
// 2.0-2.2 A/AA and best-practice rules; every impact is reported, tests/test_browser.py decides
// what fails).  A full-page screenshot of each page goes to DIR/<page>.png.  Prints one JSON object on
// stdout; exits 0 when the check ran, whatever it found, and 2 when it could not run.
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve("axe-core/axe.min.js");
const AXE_VERSION = require("axe-core/package.json").version;
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"];
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

function parseArgs(argv) {
  const opts = { base: null, screenshots: null, chromium: "/usr/bin/chromium", pages: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--base") opts.base = argv[++i];
    else if (arg === "--screenshots") opts.screenshots = argv[++i];
    else if (arg === "--chromium") opts.chromium = argv[++i];
    else opts.pages.push(arg);
  }
  if (!opts.base || !opts.screenshots || opts.pages.length === 0) {
    throw new Error("usage: node check.mjs --base URL --screenshots DIR [--chromium PATH] page.html ...");
  }
  if (!opts.base.endsWith("/")) opts.base += "/";
  return opts;
}

const isLocal = (url) => {
  const u = new URL(url);
  if (u.protocol === "data:" || u.protocol === "blob:" || u.protocol === "about:") return true;
  return ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);
};

async function checkPage(context, opts, page) {
  const url = new URL(page, opts.base).href;
  const result = {
    page, url, status: null, title: null,
    console_errors: [], page_errors: [], failed_requests: [], external_requests: [],
    broken_images: [], links: [], ids: [], axe: [], tables_without_headers: [], reflow_320: [], screenshot: null,
    tables_scroll_wide: [], blank_band: [],
  };
  const tab = await context.newPage();
  tab.on("console", (msg) => {
    if (msg.type() === "error") {
      const loc = msg.location();
      result.console_errors.push(`${msg.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ""}`);
    }
  });
  tab.on("pageerror", (err) => result.page_errors.push(String(err && err.stack ? err.stack : err)));
  tab.on("requestfailed", (req) => {
    if (isLocal(req.url())) {
      result.failed_requests.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText ?? "failed"}`);
    }
  });
  tab.on("response", (resp) => {
    if (resp.status() >= 400) result.failed_requests.push(`${resp.request().method()} ${resp.url()}: HTTP ${resp.status()}`);
  });
  try {
    const response = await tab.goto(url, { waitUntil: "load", timeout: 30000 });
    result.status = response ? response.status() : null;
    result.title = await tab.title();
    // Images: loaded lazily ones count too, so wait until every <img> has settled.
    await tab.evaluate(() => Promise.all([...document.images].map((img) =>
      img.complete ? null : new Promise((r) => { img.onload = img.onerror = r; }))));
    result.broken_images = await tab.evaluate(() => [...document.images]
      .filter((img) => img.naturalWidth === 0)
      .map((img) => ({ src: img.getAttribute("src"), alt: img.getAttribute("alt") })));
    result.links = await tab.evaluate(() => [...document.querySelectorAll("a[href]")]
      .map((a) => ({ href: a.getAttribute("href"), resolved: a.href, text: a.textContent.trim().slice(0, 80) })));
    result.ids = await tab.evaluate(() => [...document.querySelectorAll("[id], a[name]")]
      .map((el) => el.id || el.getAttribute("name")));
    await tab.addScriptTag({ path: AXE_PATH });
    const axe = await tab.evaluate(async (tags) => {
      // eslint-disable-next-line no-undef
      const res = await window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
      return res.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({ target: n.target.join(" "), impact: n.impact, summary: n.failureSummary })),
      }));
    }, AXE_TAGS);
    result.axe = axe;
    result.tables_without_headers = await tab.evaluate(() => [...document.querySelectorAll("table")]
      .filter((t) => !t.querySelector("th"))
      .map((t) => t.id ? `table#${t.id}` : `table ${[...document.querySelectorAll("table")].indexOf(t) + 1}`));
    const shot = join(opts.screenshots, page.replace(/\.html$/, "") + ".png");
    mkdirSync(dirname(shot), { recursive: true });
    await tab.screenshot({ path: shot, fullPage: true });
    result.screenshot = shot;
    // On a desktop screen (1280 and 1600 px) every table fits the page: none scrolls sideways inside
    // its region; and no blank band sits between the page header (or contents box) and the text.
    for (const width of [1280, 1600]) {
      await tab.setViewportSize({ width, height: 900 });
      const found = await tab.evaluate((w) => [...document.querySelectorAll("table")]
        .map((t) => t.closest(".table-wrap") || t.parentElement)
        .filter((box) => box.scrollWidth > box.clientWidth + 1)
        .map((box) => `at ${w} px: ${(box.getAttribute("aria-label") || box.querySelector("caption")?.textContent || "table").slice(0, 80)} (${box.scrollWidth} px in ${box.clientWidth} px)`), width);
      result.tables_scroll_wide.push(...found);
      const band = await tab.evaluate((w) => {
        const main = document.querySelector("main");
        const header = document.querySelector(".book-header");
        if (!main || !header) return null;
        const toc = document.querySelector(".page-toc");
        const above = toc && toc.getBoundingClientRect().bottom <= main.getBoundingClientRect().top
          ? toc.getBoundingClientRect().bottom : header.getBoundingClientRect().bottom;
        const first = [...main.children].find((el) => el.getBoundingClientRect().height > 0);
        const gap = (first || main).getBoundingClientRect().top - above;
        return gap > 120 ? `at ${w} px: ${Math.round(gap)} px of blank space above the text` : null;
      }, width);
      if (band) result.blank_band.push(band);
    }
    // Reflow (WCAG 1.4.10): at 320 CSS pixels wide nothing may make the page scroll sideways;
    // wide tables scroll inside their own region instead.
    await tab.setViewportSize({ width: 320, height: 800 });
    result.reflow_320 = await tab.evaluate(() => {
      const root = document.documentElement;
      if (root.scrollWidth <= root.clientWidth + 1) return [];
      const wide = [...document.body.querySelectorAll("*")].filter((el) => el.getBoundingClientRect().right > root.clientWidth + 1);
      const outermost = wide.filter((el) => !wide.includes(el.parentElement));
      return outermost.slice(0, 5).map((el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : ""} (${Math.round(el.getBoundingClientRect().right)}px wide)`);
    });
  } catch (err) {
    result.page_errors.push(`could not check the page: ${err && err.message ? err.message : err}`);
  } finally {
    await tab.close();
  }
  return result;
}

// Internal links: the target must exist; a #fragment must name an element on the target page.
async function checkLinks(results, opts) {
  const byUrl = new Map(results.map((r) => [new URL(r.url).href, r]));
  const statusCache = new Map();
  const fetchStatus = async (target) => {
    if (!statusCache.has(target)) {
      try {
        const resp = await fetch(target, { method: "GET", redirect: "follow" });
        const type = resp.headers.get("content-type") || "";
        await resp.arrayBuffer();
        statusCache.set(target, { status: resp.status, type });
      } catch (err) {
        statusCache.set(target, { status: 0, type: "", error: String(err) });
      }
    }
    return statusCache.get(target);
  };
  for (const r of results) {
    r.broken_links = [];
    for (const link of r.links) {
      let target;
      try { target = new URL(link.resolved); } catch { r.broken_links.push({ ...link, reason: "not a valid URL" }); continue; }
      if (!["http:", "https:"].includes(target.protocol)) continue; // mailto: and the like
      if (!isLocal(target.href)) { r.broken_links.push({ ...link, reason: "links outside the book" }); continue; }
      const fragment = decodeURIComponent(target.hash.replace(/^#/, ""));
      target.hash = "";
      const pageUrl = target.href.endsWith("/") ? target.href + "index.html" : target.href;
      const visited = byUrl.get(pageUrl);
      if (!visited) {
        const { status, type } = await fetchStatus(target.href);
        if (status !== 200) { r.broken_links.push({ ...link, reason: `target answers HTTP ${status}` }); continue; }
        if (fragment) r.broken_links.push({ ...link, reason: `#${fragment} on a page not checked (${type})` });
        continue;
      }
      if (visited.status !== 200) { r.broken_links.push({ ...link, reason: `target answers HTTP ${visited.status}` }); continue; }
      if (fragment && !visited.ids.includes(fragment)) {
        r.broken_links.push({ ...link, reason: `no element with id "${fragment}" on ${visited.page}` });
      }
    }
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const profile = mkdtempSync(join(tmpdir(), "cinreport-chromium-"));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: opts.chromium,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
      locale: "en-GB",
    });
    const browserVersion = context.browser()?.version() ?? null;
    const external = [];
    await context.route("**/*", (route) => {
      const u = route.request().url();
      if (isLocal(u)) return route.continue();
      external.push(u);
      return route.abort("blockedbyclient");
    });
    const results = [];
    for (const page of opts.pages) {
      const before = external.length;
      const r = await checkPage(context, opts, page);
      r.external_requests = external.slice(before);
      results.push(r);
    }
    await checkLinks(results, opts);
    for (const r of results) { delete r.ids; r.links = r.links.length; }
    process.stdout.write(JSON.stringify({ chromium: browserVersion, axe_core: AXE_VERSION, axe_tags: AXE_TAGS, pages: results }, null, 1) + "\n");
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`check.mjs could not run: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
