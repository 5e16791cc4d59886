"""Small Sphinx fixes for the rendered book (loaded from _config.yml as a local extension).

* One copy of each inline script. sphinx-thebe adds its configuration as an inline script
  (``const THEBE_JS_URL = ...``); with Sphinx 7.4 it reaches a page twice, and the second copy throws
  "Identifier 'THEBE_JS_URL' has already been declared" in every reader's console (the browser test,
  tests/test_browser.py, fails on console errors). Scripts with a file are de-duplicated by Sphinx
  already; this does the same for inline ones, keeping the first.
"""
from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        filename = getattr(js, "filename", js) or ""  # inline scripts come as None or ""
        body = getattr(js, "attributes", {}).get("body") if not isinstance(js, str) else None
        key = (str(filename), body)
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
