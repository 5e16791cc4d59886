"""The rendered book, checked the way a reader sees it: headless Chromium on the built HTML.

Builds the book with ``.ci/book`` (offline MathJax from npm, warnings are errors), serves
``_build/html`` on 127.0.0.1 (a free port, Python's http.server in a thread), opens every page in
Debian's ``/usr/bin/chromium`` through playwright-python (no browser download: ``playwright install``
is never run), and checks on each page:

* math is typeset: MathJax ran, every ``.math`` element became an ``mjx-container``, and no raw
  LaTeX (``$$``, ``\\frac``, ``\\begin{`` ...) is left in the visible text outside code blocks;
* every ``<img>`` loaded (``naturalWidth > 0``);
* every local link resolves to a built file, and its ``#anchor`` to an element id there;
* no cell output shows an object repr with a memory address (``<... at 0x7f...>``);
* no JavaScript errors in the console, no failed or 4xx/5xx local requests, and no request
  leaves 127.0.0.1 (the book renders without a network).

It saves a screenshot of each page to ``_build/screenshots/`` (the first screen as ``NAME.png``, the
whole page as ``NAME.full.png``).

Environment: ``CHROMIUM`` (default ``/usr/bin/chromium``); ``VAE_TEACH_BOOK_ROOT`` (default: this
repository); ``VAE_TEACH_BOOK_PREBUILT=1`` reuses an existing ``_build/html`` instead of building.
Without Chromium the tests skip with a message, except in CI (``CI`` set), where they fail.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(os.environ.get("VAE_TEACH_BOOK_ROOT", Path(__file__).resolve().parent.parent))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Raw LaTeX that must not be visible once MathJax has typeset the page.
RAW_LATEX = re.compile(r"\$\$|\\frac|\\begin\{|\\end\{|\\mathbb|\\mathcal|\\mathrm|\\log\b|\\sum|\\int\b"
                       r"|\\left|\\right|\\\(|\\\)|\\\[|\\\]|\$[^$\n]{0,80}[\\^_{}][^$\n]{0,80}\$")

# An object repr such as "<torch._C.Generator at 0x7f...>" left in a stored output.
ADDRESS = re.compile(r"<[^<>\n]{1,120} at 0x[0-9a-fA-F]{6,16}>")
REFRESH = re.compile(r"""<meta\s+http-equiv=["']refresh["']\s+content=["']\d+;\s*url=([^"'#?]+)""", re.I)

# Visible text outside code, MathJax output, scripts and the search box.
VISIBLE_TEXT_JS = """() => {
  const skip = 'PRE, CODE, SCRIPT, STYLE, TEXTAREA, NOSCRIPT, MJX-CONTAINER, .highlight, .MathJax';
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || el.closest(skip)) continue;
    if (el.checkVisibility && !el.checkVisibility()) continue;
    out.push(walker.currentNode.textContent);
  }
  return out.join(' ');
}"""

WAIT_MATHJAX_JS = """async () => {
  if (!window.MathJax) return 'no-mathjax';
  for (let i = 0; i < 200 && !(MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 50));
  if (!(MathJax.startup && MathJax.startup.promise)) return 'mathjax-not-started';
  await MathJax.startup.promise;
  return 'typeset';
}"""

IMAGES_JS = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 10000); })));
  return imgs.map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}));
}"""


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def chromium_path() -> str:
    if Path(CHROMIUM).exists():
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            if os.environ.get("CI"):
                pytest.fail("playwright (python) is not installed: pip install -r requirements.txt")
            pytest.skip("playwright (python) is not installed: pip install -r requirements.txt")
        return CHROMIUM
    msg = (f"Chromium not found at {CHROMIUM}: install Debian's package (apt-get install -y chromium) "
           "or set CHROMIUM to its path")
    if os.environ.get("CI"):
        pytest.fail(msg + " (CI is set, so the browser test must run)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def book_html() -> Path:
    html = ROOT / "_build" / "html"
    if os.environ.get("VAE_TEACH_BOOK_PREBUILT") == "1":
        assert (html / "index.html").is_file(), f"VAE_TEACH_BOOK_PREBUILT=1 but {html}/index.html is missing"
        return html
    env = {**os.environ, "BOOK_SKIP_INSTALL": "1"}
    proc = subprocess.run(["bash", str(ROOT / ".ci" / "book")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f".ci/book failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    index = Path(proc.stdout.strip().splitlines()[-1])
    assert index.is_file(), f".ci/book did not print the path of index.html: {proc.stdout[-500:]}"
    return index.parent


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


def serve(directory: Path):
    """Serve ``directory`` on 127.0.0.1 at a free port in a daemon thread; returns (server, base URL)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


# ------------------------------------------------------------------------------------- checker
def html_pages(html: Path) -> list[Path]:
    """Every built page: all .html files except Sphinx's static and source folders."""
    return sorted(p for p in html.rglob("*.html")
                  if not p.relative_to(html).parts[0].startswith(("_static", "_sources", "_images")))


@functools.lru_cache(maxsize=None)
def _ids(path: Path) -> frozenset:
    text = path.read_text(encoding="utf-8", errors="replace")
    return frozenset(re.findall(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""", text))


def _local_link_problem(html: Path, base: str, href: str) -> str | None:
    """None if the local link resolves to a built file (and anchor); otherwise what is wrong."""
    parts = urlsplit(href)
    path = unquote(parts.path)
    target = html / path.lstrip("/")
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"broken link {href} (no file {target.relative_to(html) if target.is_relative_to(html) else target})"
    if parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _ids(target):
        return f"broken anchor {href} (no id '{unquote(parts.fragment)}' in {target.relative_to(html)})"
    return None


def check_page(browser, html: Path, base: str, page_path: Path, shots: Path | None) -> dict:
    """Open one page and return what was found: problems (list of str) and a few counts."""
    rel = page_path.relative_to(html).as_posix()
    refresh = REFRESH.search(page_path.read_text(encoding="utf-8", errors="replace"))
    if refresh:  # a redirect page (index.html -> the first chapter): its target must exist
        target = (page_path.parent / refresh.group(1)).resolve()
        ok = target.is_file()
        return {"page": rel, "problems": [] if ok else [f"redirect to a missing page: {refresh.group(1)}"],
                "math": 0, "mjx": 0, "images": 0, "links": 1, "redirect": True}
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    problems: list[str] = []
    origin = base.rstrip("/")

    def route(r):
        url = r.request.url
        if url.startswith(origin) or url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        else:
            problems.append(f"request leaves the machine: {url}")
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"JavaScript error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})")
            if r.url.startswith(origin) else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    try:
        page.goto(base + rel, wait_until="load", timeout=60_000)
        state = page.evaluate(WAIT_MATHJAX_JS)
        n_math = page.locator(".math").count()
        n_mjx = page.locator("mjx-container").count()
        if n_math and state != "typeset":
            problems.append(f"page has {n_math} math elements but MathJax did not run ({state})")
        elif n_math and n_mjx < n_math:
            problems.append(f"only {n_mjx} of {n_math} math elements were typeset by MathJax")
        text = page.evaluate(VISIBLE_TEXT_JS)
        for m in list(RAW_LATEX.finditer(text))[:5]:
            problems.append(f"raw LaTeX visible: ...{text[max(0, m.start() - 40): m.end() + 40]!r}...")
        outputs = page.eval_on_selector_all(".cell_output", "els => els.map(e => e.textContent)")
        for m in list(ADDRESS.finditer(" ".join(outputs)))[:3]:
            problems.append(f"a cell output shows an object repr with a memory address: {m.group(0)!r} "
                            "(end the cell with `;` or print a rounded value)")
        images = page.evaluate(IMAGES_JS)
        problems += [f"image did not load: {i['src']}" for i in images if not i["ok"]]
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
        for href in sorted(set(hrefs)):
            if href.startswith(origin):
                p = _local_link_problem(html, base, href[len(origin):])
                if p:
                    problems.append(p)
        if shots is not None:
            name = rel.replace("/", "__").removesuffix(".html")
            page.screenshot(path=str(shots / f"{name}.png"))
            page.screenshot(path=str(shots / f"{name}.full.png"), full_page=True)
        return {"page": rel, "problems": problems, "math": n_math, "mjx": n_mjx, "images": len(images),
                "links": len(hrefs)}
    finally:
        ctx.close()


# --------------------------------------------------------------------------------------- tests
def test_book_pages_render_in_chromium(book_html, browser):
    """Every page: math typeset, images loaded, local links resolve, no console errors, offline."""
    shots = book_html.parent / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    server, base = serve(book_html)
    try:
        results = [check_page(browser, book_html, base, p, shots) for p in html_pages(book_html)]
    finally:
        server.shutdown()
        server.server_close()
    assert results, f"no pages found in {book_html}"
    chapters = [r for r in results if r["page"].startswith("book/")]
    assert chapters, "no chapter pages (book/*.html) were built"
    assert sum(r["mjx"] for r in results) > 0, "no page has typeset math: is MathJax loading at all?"
    bad = {r["page"]: r["problems"] for r in results if r["problems"]}
    report = "\n".join(f"{page}:\n  " + "\n  ".join(ps[:12]) for page, ps in bad.items())
    assert not bad, f"{len(bad)} of {len(results)} pages have problems:\n{report}"
    assert len(list(shots.glob("*.full.png"))) == len([r for r in results if not r.get("redirect")])


def test_every_toc_entry_was_built(book_html):
    """Each file listed in _toc.yml has its page in the HTML (the build did not drop a chapter)."""
    toc = (ROOT / "_toc.yml").read_text()
    files = re.findall(r"^\s*(?:-\s*)?(?:file|root):\s*(\S+)", toc, flags=re.M)
    assert files, "no files found in _toc.yml"
    missing = [f for f in files if not (book_html / f"{Path(f).with_suffix('')}.html").is_file()]
    assert not missing, f"pages missing from the build: {missing}"


def test_launch_buttons_open_each_chapter_from_the_one_project_url_and_the_setup_cell_is_absent(book_html):
    """Every chapter's Colab and Binder buttons open that notebook at vae_teach/_project.py's repository and
    revision; the setup cell (tagged remove-cell) is not on the page (the notebook the buttons give keeps it)."""
    from vae_teach import _project

    slug = _project.REPOSITORY.removeprefix("https://github.com/")
    chapters = sorted((ROOT / "book").glob("*.ipynb"))
    assert chapters
    for nb in chapters:
        page = (book_html / "book" / f"{nb.stem}.html").read_text(encoding="utf-8")
        hrefs = set(re.findall(r'href="([^"]+)"', page))
        rel = f"book/{nb.name}"
        assert f"https://colab.research.google.com/github/{slug}/blob/{_project.REVISION}/{rel}" in hrefs, nb.name
        assert f"https://mybinder.org/v2/gh/{slug}/{_project.REVISION}?urlpath=tree/{rel}" in hrefs, nb.name
        assert "VAE_TEACH_INSTALL_SOURCE" not in page and "vae-teach setup" not in page, nb.name


def test_math_is_served_from_the_book_not_a_cdn(book_html):
    """MathJax (script and fonts) comes from _static/mathjax; no page names a CDN for it."""
    mj = book_html / "_static" / "mathjax"
    assert (mj / "tex-chtml.js").is_file(), "MathJax is not bundled in _static/mathjax (run .ci/book)"
    assert list((mj / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")), "MathJax fonts missing"
    cdn = re.compile(r"""<(?:script|link)[^>]+(?:src|href)=["'](?:https?:)?//[^"']+""")
    for page in html_pages(book_html):
        found = cdn.findall(page.read_text(encoding="utf-8", errors="replace"))
        assert not found, f"{page.relative_to(book_html)} loads an external script/style: {found[:3]}"


def test_checker_catches_a_broken_page(tmp_path, browser):
    """The page checker itself: a page with raw LaTeX, a missing image, a dead link and a JS error
    must be reported on each count (so a green browser test means something)."""
    (tmp_path / "ok.html").write_text('<html><body><p id="here">fine</p></body></html>')
    (tmp_path / "bad.html").write_text(
        "<html><body><p>The bound $$\\frac{a}{b}$$ stays raw.</p>"
        '<img src="missing.png"><a href="nowhere.html">x</a><a href="ok.html#absent">y</a>'
        '<a href="ok.html#here">z</a><script>undefinedFunction();</script>'
        '<div class="cell_output"><pre>&lt;torch._C.Generator at 0x7f455e34aff0&gt;</pre></div></body></html>')
    server, base = serve(tmp_path)
    try:
        bad = check_page(browser, tmp_path, base, tmp_path / "bad.html", None)["problems"]
        ok = check_page(browser, tmp_path, base, tmp_path / "ok.html", None)["problems"]
    finally:
        server.shutdown()
        server.server_close()
    text = "\n".join(bad)
    for what in ("raw LaTeX visible", "image did not load", "broken link", "broken anchor", "JavaScript error",
                 "memory address"):
        assert what in text, f"the checker missed: {what}\n{text}"
    assert "ok.html#here" not in text
    assert ok == []
