"""The page in a real browser: Playwright for Python driving Debian's chromium.

It loads the page, streams a text continuation, generates names, keeps two, reloads and
finds them still kept, downloads the shortlist, scores a name, and saves a screenshot.
The same code makes the README's screenshot:

    python tests/test_web_browser.py docs/web-page.png
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from webserver import CHROMIUM_FLAGS, chromium_path, serve_process  # noqa: E402

VIEWPORT = {"width": 1200, "height": 860}


def _requirements() -> str:
    """Why the browser test cannot run here ('' if it can)."""
    try:
        import playwright  # noqa: F401
        import starlette  # noqa: F401
    except ModuleNotFoundError as e:
        return f"{e.name} is not installed (pip install -e '.[test,web]')"
    if chromium_path() is None:
        return "no chromium binary on PATH (apt-get install chromium, or set CHARSMITH_CHROMIUM)"
    return ""


@contextlib.contextmanager
def browser_page() -> Iterator:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), headless=True, args=list(CHROMIUM_FLAGS), viewport=VIEWPORT,
            accept_downloads=True)  # fmt: skip
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def _api(url: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)


def drive(page, url: str, screenshot: Path) -> None:  # noqa: ANN001 (a playwright Page)
    """The whole scenario, asserting as it goes; ends with a screenshot."""
    from playwright.sync_api import expect

    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("pageerror", lambda e: failed.append(f"page error: {e}"))
    page.goto(url)
    expect(page.locator("body[data-ready='1']")).to_have_count(1)
    assert page.locator("#model option").all_inner_texts()[:5] == ["base", "dinosaurs", "languages", "names",
                                                                   "shakespeare (text)"]

    # A text model: its continuation streams in (several appends), the name controls hide.
    page.select_option("#model", "shakespeare")
    expect(page.locator("#generate")).to_be_hidden()
    expect(page.locator("#continue")).to_be_visible()
    page.evaluate("""() => { window.appends = 0;
        new MutationObserver((ms) => { window.appends += ms.length; })
          .observe(document.getElementById('completion'), {characterData: true, subtree: true}); }""")
    page.fill("#length", "600")
    page.fill("#c-seed", "3")
    page.click("#complete-btn")
    expect(page.locator("#status")).to_have_text("600 characters written", timeout=30_000)
    text = page.inner_text("#completion")
    assert text.startswith("ROMEO:") and len(text) >= 600, text[:80]
    assert page.evaluate("window.appends") >= 2, "the continuation arrived in one piece, not streamed"
    page.fill("#prompt", "ROMEO:\n")
    page.fill("#length", "60")
    page.fill("#c-pattern", "[A-Z][a-z]+ ")  # the continuation begins with a capitalised word
    page.click("#complete-btn")
    expect(page.locator("#status")).to_have_text("60 characters written", timeout=30_000)
    assert re.match("[A-Z][a-z]+ ", page.inner_text("#completion")[len("ROMEO:\n"):]), page.inner_text("#completion")
    page.fill("#c-pattern", "")

    expect(page.locator("#score-title")).to_have_text("Score a line")

    # A model with categories: a style, a blend, and which style a name is.
    page.select_option("#model", "languages")
    expect(page.locator("#category")).to_be_visible()
    expect(page.locator("#classify-box")).to_be_visible()
    page.select_option("#category", "Japanese")
    page.fill("#n", "6")
    page.fill("#seed", "5")
    page.click("#generate-btn")
    expect(page.locator("#results button.pick")).to_have_count(6)
    shown = page.locator("#results button.pick").evaluate_all("bs => bs.map(b => b.dataset.name)")
    body = {"model": "languages", "n": 6, "seed": 5, "temperature": 1.0, "top_p": 1.0, "prefix": "",
            "allow_known": False, "category": "Japanese"}
    assert shown == [r["item"] for r in _api(url, "api/sample", body)["items"]]
    page.fill("#blend", "Japanese=0.5,Italian=0.5")
    page.click("#generate-btn")
    expect(page.locator("#results button.pick")).to_have_count(6)
    page.fill("#blend", "")
    page.fill("#classify-input", "Nakamura")
    page.click("#classify-btn")
    expect(page.locator("#classes li").first).to_contain_text("Japanese")
    expect(page.locator("#classify-note")).to_be_hidden()
    page.fill("#classify-input", "Nakamura☃")  # a character the model never saw: classified by the others
    page.click("#classify-btn")
    expect(page.locator("#classify-note")).to_contain_text("1 character the model never saw")
    expect(page.locator("#classes li").first).to_contain_text("Japanese")
    page.fill("#n", "10")
    page.fill("#seed", "")

    # A names model: generate, keep two, reload, still kept.
    page.select_option("#model", "dinosaurs")
    expect(page.locator("#continue")).to_be_hidden()
    expect(page.locator("#score-title")).to_have_text("Score a name")
    page.fill("#n", "12")
    page.fill("#seed", "11")
    page.click("#generate-btn")
    names = page.locator("#results button.pick")
    expect(names).to_have_count(12)
    first = names.nth(0).locator(".meta").inner_text()
    assert "bits/char" in first and "new" in first, first
    kept = [names.nth(i).get_attribute("data-name") for i in (2, 5)]
    names.nth(2).click()
    names.nth(5).click()
    expect(page.locator("#results button.kept")).to_have_count(2)
    expect(page.locator("#shortlist .name")).to_have_text(kept)

    page.reload()
    expect(page.locator("body[data-ready='1']")).to_have_count(1)
    expect(page.locator("#model")).to_have_value("dinosaurs")
    expect(page.locator("#shortlist .name")).to_have_text(kept)
    with page.expect_download() as download:
        page.click("#download-txt")
    assert Path(download.value.path()).read_text(encoding="utf-8").split() == kept
    with page.expect_download() as download:
        page.click("#download-csv")
    rows = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert rows[0] == "name,model,bits_per_char" and [r.split(",")[0] for r in rows[1:]] == kept

    page.fill("#n", "12")
    page.fill("#seed", "11")
    page.click("#generate-btn")  # the same names again: the kept ones show as kept
    expect(page.locator("#results button.kept")).to_have_count(2)

    # Constraints: every name ends as asked; an impossible one is reported.
    expect(page.locator("#suffix")).to_be_visible()
    page.fill("#suffix", "raptor")
    page.click("#generate-btn")
    expect(page.locator("#status")).to_contain_text("12 names")
    ends = names.evaluate_all("bs => bs.map(b => b.dataset.name)")
    assert len(ends) == 12 and all(s.endswith("raptor") for s in ends), ends
    page.fill("#suffix", "9")
    page.click("#generate-btn")
    expect(page.locator("#status")).to_contain_text("never saw")
    page.fill("#suffix", "")
    page.click("#generate-btn")
    expect(page.locator("#results button.kept")).to_have_count(2)

    # No repeats: the switch asks the API for distinct names.
    page.check("#unique")
    page.fill("#n", "40")
    page.fill("#temperature", "0.5")
    page.click("#generate-btn")
    expect(names).to_have_count(40)
    drawn = names.evaluate_all("bs => bs.map(b => b.dataset.name)")
    assert len(set(drawn)) == 40, drawn
    page.uncheck("#unique")
    page.fill("#temperature", "1")
    page.fill("#n", "12")

    # Score: a character the model never saw is scored as the unknown class (charsmith.openvocab);
    # a name is coloured character by character.
    page.fill("#score-input", "rex9")
    page.click("#score-btn")
    expect(page.locator("#scored span")).to_have_count(len("rex9") + 1)
    unseen = float(page.locator("#scored span").nth(3).get_attribute("data-bits") or "nan")
    assert unseen > 16  # log2(65,536 / u), u the unknown class's mass
    expect(page.locator("#score-summary")).to_contain_text("1 character the model never saw")
    page.fill("#score-input", "qwertosaurus")
    page.click("#score-btn")
    letters = page.locator("#scored span")
    expect(letters).to_have_count(len("qwertosaurus") + 1)
    shown = [float(b) for b in letters.evaluate_all("spans => spans.map(s => s.dataset.bits)")]
    truth = _api(url, "api/score", {"model": "dinosaurs", "items": ["qwertosaurus"]})["items"][0]["surprisal_bits"]
    assert shown == pytest.approx(truth, abs=0.006)
    colours = set(letters.evaluate_all("spans => spans.map(s => getComputedStyle(s).backgroundColor)"))
    assert len(colours) >= 4, colours  # surprisal shows as different colours
    expect(page.locator("#status")).to_have_text("")

    assert not failed, failed  # nothing failed to load: the page needs nothing from elsewhere
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)


def test_the_page_in_a_real_browser(tmp_path: Path) -> None:
    reason = _requirements()
    if reason:
        print(f"skipping the browser test: {reason}", file=sys.stderr)
        pytest.skip(reason)
    shot = tmp_path / "page.png"
    with serve_process() as url, browser_page() as page:
        drive(page, url, shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "page.png")
    problem = _requirements()
    if problem:
        sys.exit(f"cannot make the screenshot: {problem}")
    with serve_process() as url, browser_page() as page:
        drive(page, url, out)
    print(f"wrote {out}")
