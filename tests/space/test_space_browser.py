"""A real browser (Debian's Chromium driven by Playwright) opens every tab of the Space, performs
its main action and checks what is on screen; a screenshot per tab goes to the test's tmp dir.

Chromium comes from apt (``.ci/run`` installs it); ``playwright install`` is never run (it would
download browsers). Without /usr/bin/chromium the test is skipped with that reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
#: Flags for a closed network: no sandbox (containers), no GPU, no background network traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@pytest.fixture
def page(tmp_path: Path):
    os.environ.setdefault("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "no-downloads"))
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        yield context.new_page()
        context.close()
        browser.close()


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_every_tab_in_a_real_browser(space_config, store, serve, page, tmp_path, make_zip, valid_members):
    app, _ = serve(space_config, store)
    expect = sync_api.expect
    page.goto(app.local_url)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    # Restore: pick the first bundled (degraded) example, restore it with the default baseline.
    expect(page.get_by_role("tab", name="Restore")).to_be_visible()
    page.get_by_text("low_light_coffee", exact=True).first.click()
    expect(page.locator("#ggt-restore-upload")).to_contain_text("low_light_coffee")
    page.locator("#ggt-restore-run").click()
    notice = page.locator("#ggt-restore-notice")
    expect(notice).to_contain_text("Restored with classical")
    expect(notice).not_to_contain_text("nothing to fix")
    expect(page.locator("#ggt-restore-download")).to_contain_text(".png")
    expect(page.locator("#ggt-restore-deltas")).to_contain_text("PIQE")
    expect(page.locator("#ggt-restore-slider img").first).to_be_visible()
    page.screenshot(path=str(shots / "restore.png"), full_page=True)

    # Leaderboard: the seeded systems, then a search filter.
    _tab(page, "Leaderboard")
    table = page.locator("#ggt-lb-table")
    for system in ("lq-identity", "classical", "blurred"):
        expect(table).to_contain_text(system)
    query = page.locator("#ggt-lb-query textarea, #ggt-lb-query input").first
    query.fill("blur")
    query.press("Enter")
    expect(table).not_to_contain_text("lq-identity")
    expect(table).to_contain_text("blurred")
    page.screenshot(path=str(shots / "leaderboard.png"), full_page=True)

    # Submit: a valid predictions zip is queued.
    _tab(page, "Submit")
    good = make_zip("browser.zip", valid_members)
    page.locator("#ggt-sub-zip input[type=file]").set_input_files(str(good))
    expect(page.locator("#ggt-sub-zip")).to_contain_text("browser.zip")
    page.locator("#ggt-sub-name textarea, #ggt-sub-name input").first.fill("browser-model")
    page.locator("#ggt-sub-zip-send").click()
    message = page.locator("#ggt-sub-message")
    expect(message).to_contain_text("PENDING")
    expect(message).to_contain_text("browser-model")
    page.screenshot(path=str(shots / "submit.png"), full_page=True)
    assert [r.model for r in store.requests()] == ["browser-model"]

    # Arena: a blind pair, a vote (systems stay anonymous) and the ranking.
    _tab(page, "Arena")
    expect(page.locator("#ggt-arena-caption")).to_contain_text("which restoration is better")
    expect(page.locator("#ggt-arena-a img")).to_be_visible()
    page.locator("#ggt-vote-a").click()
    expect(page.locator("#ggt-arena-reveal")).to_contain_text("counted")
    assert "A was" not in page.locator("#ggt-arena-reveal").inner_text()
    page.screenshot(path=str(shots / "arena.png"), full_page=True)
    assert len(store.votes_store().votes()) == 1

    assert sorted(p.name for p in shots.iterdir()) == [
        "arena.png",
        "leaderboard.png",
        "restore.png",
        "submit.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in shots.iterdir())
