"""The html export in Chromium, opened from disk (file://) with every network request refused.

Names: seeded names equal the spec's Python reference; a style and a blend; the known set;
keep two on the shortlist and download it; a bad prefix is reported on the page. Text: a
continuation equal to the reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_web_browser import _requirements, browser_page  # noqa: E402

import charsmith  # noqa: E402
from charsmith.export import export  # noqa: E402
from charsmith.export._spec import Generator, fnv1a32  # noqa: E402


def _skip_unless_browser() -> None:
    reason = _requirements()
    if reason:
        print(f"skipping the html export test: {reason}", file=sys.stderr)
        pytest.skip(reason)


def _open(page, path: Path) -> list[str]:  # noqa: ANN001 (a playwright Page)
    """Open ``path`` with every non-file request refused; the list collects what was tried."""
    tried: list[str] = []

    def refuse(route) -> None:  # noqa: ANN001
        tried.append(route.request.url)
        route.abort()

    page.route(lambda url: not url.startswith("file:") and not url.startswith("blob:"), refuse)
    page.on("pageerror", lambda e: tried.append(f"page error: {e}"))
    page.goto(path.as_uri())
    return tried


def _shown(page) -> list[str]:  # noqa: ANN001
    return page.locator("#results li").all_inner_texts()


def test_names_page_from_disk(tmp_path: Path) -> None:
    _skip_unless_browser()
    from playwright.sync_api import expect

    m = charsmith.load("languages")
    known = ["Abe", "Abukara", "Adachi"]  # items of the data set (Japanese)
    assert all(m.is_known(known))
    path = export(m, tmp_path / "languages.html", format="html", known=known)[0]
    ref = Generator(m, known=np.unique([fnv1a32(s) for s in known]).astype(np.uint32))
    with browser_page() as page:
        tried = _open(page, path)
        expect(page.locator("#category")).to_be_visible()
        assert page.evaluate("generator.info.engine") == "webassembly"
        expect(page.locator("#complete-form")).to_be_hidden()
        expect(page.locator("#about")).to_contain_text("skips the 3 names")
        page.fill("#n", "8")
        page.fill("#seed", "5")
        page.select_option("#category", "Japanese")
        page.click("#generate")
        expect(page.locator("#results li")).to_have_count(8)
        assert _shown(page) == ref.sample(8, seed=5, category="Japanese")
        page.fill("#blend", "Japanese=0.5, Italian=0.5")
        page.fill("#temperature", "0.7")
        page.click("#generate")
        expect(page.locator("#results li")).to_have_count(8)
        assert _shown(page) == ref.sample(8, seed=5, temperature=0.7, category={"Japanese": 0.5, "Italian": 0.5})
        page.fill("#blend", "")
        page.fill("#prefix", "Ka")
        page.fill("#min-len", "5")
        page.fill("#max-len", "7")
        page.click("#generate")
        expect(page.locator("#results li")).to_have_count(8)
        names = _shown(page)
        assert all(s.startswith("Ka") and 5 <= len(s) <= 7 for s in names), names
        page.locator("#results li").nth(1).click()
        page.locator("#results li").nth(4).click()
        expect(page.locator("#shortlist li")).to_have_text([names[1], names[4]])
        with page.expect_download() as download:
            page.click("#download")
        assert Path(download.value.path()).read_text(encoding="utf-8").split() == [names[1], names[4]]
        page.fill("#prefix", "K9")
        page.click("#generate")
        expect(page.locator("#error")).to_contain_text("never saw")
        assert not tried, tried


def test_text_page_from_disk(tmp_path: Path) -> None:
    _skip_unless_browser()
    from playwright.sync_api import expect

    m = charsmith.load("shakespeare")
    path = export(m, tmp_path / "shakespeare.html", format="html", dtype="float16")[0]
    with browser_page() as page:
        tried = _open(page, path)
        expect(page.locator("#sample-form")).to_be_hidden()
        page.fill("#prompt", "ROMEO:")
        page.fill("#length", "60")
        page.fill("#c-seed", "2")
        page.click("#continue")
        expect(page.locator("#completion")).to_contain_text("ROMEO:")
        want = Generator(m, dtype="float16").complete("ROMEO:", 60, seed=2, temperature=0.8)
        assert page.inner_text("#completion") == want
        assert not tried, tried
