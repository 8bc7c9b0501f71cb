"""Curation at 10,000 variants in a real browser: filters on meaning, a bulk reject that changes what
its count said and keeps hand decisions, undone as one; decisions shown at once and confirmed, a
failed write shown; the review by source sequence. The app is served on a workspace
made beforehand (tests.fixtures.make_curation_workspace)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.app_server import serve_app
from tests.fixtures import make_curation_workspace
from tests.test_app_browser import CHROMIUM, _shot, sync_api

expect = sync_api.expect
N_VARIANTS = 10_000
LATENCY_JS = (Path(__file__).parent / "curation_latency.js").read_text()


@pytest.fixture()
def curation_app(tmp_path):
    ws = tmp_path / "ws"
    ds = make_curation_workspace(ws, N_VARIANTS)
    with serve_app(ws, tmp_path / "app.log") as url:
        yield url, ws, ds


def _db(ws: Path):
    return sqlite3.connect(ws / "catalog.sqlite")


def _status(ws, vid) -> tuple[str, int]:
    with _db(ws) as c:
        return tuple(c.execute("SELECT status, by_hand FROM variants WHERE id=?", (vid,)).fetchone())


def _counts(ws) -> dict[str, int]:
    with _db(ws) as c:
        return dict(c.execute("SELECT status, COUNT(*) FROM variants GROUP BY status").fetchall())


def _pick(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def _selected_vid(page) -> int:
    return int(page.locator("#variant-state .hg-vstate").get_attribute("data-vid"))


def launch_browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                             "--disable-background-networking"])


def open_curation(page, url: str, total: int) -> None:
    """The Augment & Curate step with the workspace's converted dataset chosen and counted."""
    page.goto(url)
    page.get_by_role("tab", name="3 · Augment & Curate").click()
    expect(page.locator("#augment-counts")).to_contain_text(f"total {total}", timeout=30_000)
    expect(page.locator("#variant-gallery button.thumbnail-item").first).to_be_visible(timeout=30_000)


def press_and_measure(page, key: str, want: str) -> dict:
    """Press ``key`` with the latency probe armed; {panel, confirmed} in ms (see curation_latency.js)."""
    page.evaluate(f"hgArm({want!r})")
    page.keyboard.press(key)
    return page.evaluate("window.hgResult")


def test_curation_at_ten_thousand_variants(curation_app):
    url, ws, ds = curation_app
    with sync_api.sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.add_init_script(f"({LATENCY_JS})()")
            open_curation(page, url, N_VARIANTS)
            expect(page.locator("#page-info")).to_contain_text(f"{N_VARIANTS} variant(s) match")
            # Nothing selected: the badge says so, and the accept button does nothing but say why.
            expect(page.locator("#variant-state")).to_contain_text("nothing selected")

            # Search means the words: every model-free recipe names a coat colour, only coats say "coat".
            page.locator("#filter-text textarea, #filter-text input").first.fill("coat")
            page.locator("#filter-text textarea, #filter-text input").first.press("Enter")
            with _db(ws) as c:
                coats = c.execute("SELECT COUNT(*) FROM variants WHERE description LIKE '%coat%'").fetchone()[0]
            expect(page.locator("#page-info")).to_contain_text(f"{coats} variant(s) match", timeout=30_000)
            assert 0 < coats < N_VARIANTS // 2
            captions = page.locator("#variant-gallery .caption-label").all_inner_texts()
            assert captions and all("coat" in c for c in captions), captions[:5]

            # One decision by hand, shown at once and confirmed; the store agrees.
            page.locator("#variant-gallery button.thumbnail-item").first.click()
            expect(page.locator("#variant-desc")).to_contain_text("Variant #", timeout=30_000)
            hand = _selected_vid(page)
            page.locator("#variant-desc").click()
            t = press_and_measure(page, "a", "accepted")
            assert t["panel"] is not None and t["confirmed"] is not None, t
            expect(page.locator("#variant-state")).to_contain_text("saved")
            expect(page.locator("#variant-gallery button.thumbnail-item.selected")).to_contain_text("✓")
            assert _status(ws, hand) == ("accepted", 1)
            _shot(page, "15a-1-filtered-decided")

            # Filtered bulk reject: the count first, hand decisions kept, one confirm.
            _pick(page, "filter-method", "model-free")
            expect(page.locator("#page-info")).to_contain_text(f"{coats} variant(s) match", timeout=30_000)
            before = _counts(ws)
            page.locator("#reject-shown").click()
            box = page.locator("#bulk-confirm-text")
            expect(box).to_be_visible(timeout=30_000)
            expect(page.locator("#bulk-confirm-yes")).to_be_visible()
            expect(box).to_contain_text(f"Reject {coats - 1} variant(s)?")
            expect(box).to_contain_text(f"1 of the {coats} were decided by hand")
            assert _counts(ws) == before, "asking must change nothing"
            _shot(page, "15a-2-bulk-confirm")
            page.locator("#bulk-confirm-yes").click()
            expect(page.locator("#augment-msg")).to_contain_text(f"{coats - 1} variant(s) → rejected", timeout=30_000)
            expect(box).to_be_hidden()
            after = _counts(ws)
            assert after.get("rejected", 0) == coats - 1 and after["pending"] == before["pending"] - (coats - 1)
            assert _status(ws, hand) == ("accepted", 1)
            # the panel of the selected (hand-accepted) variant and its thumbnail still agree
            expect(page.locator("#variant-state")).to_contain_text("accepted")
            expect(page.locator("#variant-gallery button.thumbnail-item.selected")).to_contain_text("✓")

            # Undone as one, from the decision log.
            page.get_by_text("Decision log (bulk actions").click()
            expect(page.locator("#decision-log-table")).to_contain_text("method = model-free", timeout=30_000)
            _shot(page, "15a-3-decision-log")
            page.locator("#undo-bulk").click()
            expect(page.locator("#augment-msg")).to_contain_text(f"{coats - 1} variant(s) restored", timeout=30_000)
            assert _counts(ws) == before
            expect(page.locator("#decision-log-table")).to_contain_text("undone by", timeout=30_000)

            # A write that fails is shown: the variant was merged behind the page's back.
            page.locator("#variant-gallery button.thumbnail-item").nth(1).click()
            expect(page.locator("#variant-state .hg-vstate")).not_to_have_attribute("data-vid", str(hand),
                                                                                      timeout=30_000)
            gone = _selected_vid(page)
            with _db(ws) as c:
                c.execute("UPDATE variants SET merged_seq='merged-elsewhere' WHERE id=?", (gone,))
            page.locator("#variant-desc").click()
            page.keyboard.press("r")
            expect(page.locator("#variant-state")).to_contain_text("already merged", timeout=30_000)
            expect(page.locator("#variant-state .hg-vstate")).to_have_attribute("data-status", "pending")
            # the thumbnail follows the server's answer back, not the optimistic reject
            expect(page.locator("#variant-gallery button.thumbnail-item.selected .caption-label")).to_contain_text(
                "•", timeout=30_000)
            assert _status(ws, gone)[0] == "pending"
            _shot(page, "15a-4-failed-write")

            # The review by source sequence: original then variants, playing; a group-level reject.
            page.get_by_role("tab", name="By sequence").click()
            groups = page.locator("#variant-groups .hg-group")
            expect(groups).to_have_count(6, timeout=30_000)
            first = groups.first
            expect(first.locator("figure.hg-orig img")).to_be_visible()
            page.wait_for_function("() => [...document.querySelectorAll('#variant-groups .hg-group:first-child img')]"
                                   ".every(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
            assert first.locator("figure.hg-v").count() >= 1
            key = first.get_attribute("data-group")
            sid, seq = key.split("|")
            with _db(ws) as c:
                in_group = c.execute("SELECT COUNT(*) FROM variants WHERE sid=? AND source_seq=? AND description LIKE"
                                     " '%coat%' AND merged_seq IS NULL AND by_hand=0", (sid, seq)).fetchone()[0]
            _shot(page, "15a-5-by-sequence")
            first.locator(".hg-group-act.hg-rej").click()
            expect(page.locator("#augment-msg")).to_contain_text(f"{sid} · {seq}: {in_group} variant(s) → rejected",
                                                                 timeout=30_000)
            with _db(ws) as c:
                n = c.execute("SELECT COUNT(*) FROM variants WHERE sid=? AND source_seq=? AND status='rejected'",
                              (sid, seq)).fetchone()[0]
            assert n == in_group
            expect(groups.first.locator(".hg-group-act.hg-rej")).to_be_disabled(timeout=30_000)
            _shot(page, "15a-6-group-rejected")
        finally:
            browser.close()
