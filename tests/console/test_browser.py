"""The console as a person uses it, in headless Chromium: upload a PDF and watch it finish without reloading,
read a state's output, play a translation, ask and follow a citation, see why a file was quarantined.
The tests run in order on one console (the later ones read what the first processed); each leaves a
screenshot of its page (in docs/console/ for the README with DOCPIPE_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import SCREENSHOTS, needs_browser

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PIPELINE_SECONDS = 600  # a four-page PDF through OCR routing, the model's summary, two languages and speech

pytestmark = [needs_browser, pytest.mark.slow]


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _row(page: Page, name: str):
    return page.locator("#rows tr", has=page.get_by_role("link", name=name, exact=True))


def test_an_uploaded_pdf_reaches_succeeded_without_reloading(console, page: Page):
    page.goto(console.url + "/")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    page.set_input_files("#files", [str(SAMPLES / "bridge_report.pdf")])
    expect(page.locator("#upload-status")).to_contain_text("Submitted: bridge_report.pdf")
    row = _row(page, "bridge_report.pdf")
    expect(row).to_have_attribute("data-status", "RUNNING", timeout=30_000)
    expect(row.locator(".state")).not_to_be_empty()  # the state it is in, as it moves
    expect(row).to_have_attribute("data-status", "SUCCEEDED", timeout=PIPELINE_SECONDS * 1000)
    assert page.evaluate("window.sameDocument") is True
    expect(row.locator("td.num").nth(0)).to_have_text("4")  # pages, from the manifest
    expect(row.locator("td.num").nth(2)).to_have_text(re.compile(r"^\$0\.\d{6}$"))  # cost
    expect(page.locator('.filters a[data-filter="SUCCEEDED"] span')).to_have_text("1")  # counted live


def test_a_click_on_summarize_shows_its_output(console, page: Page):
    page.goto(console.url + "/")
    _row(page, "bridge_report.pdf").get_by_role("link").click()
    expect(page.locator("#state-Summarize")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#state-Quarantine")).not_to_have_attribute("data-status", re.compile("."))
    for language_row in ("0", "1"):  # the Map drawn once per language, each coloured by its own iteration
        expect(page.locator(f'[id="state-TranslateAndSpeak.{language_row}.Translate"]')).to_have_attribute(
            "data-status", "succeeded")
    page.locator("#state-Summarize").click()
    detail = page.locator("#state-detail")
    expect(detail.locator("h3")).to_have_text("Summarize")
    expect(detail).to_contain_text("succeeded")
    output = page.locator("#state-output")
    expect(output).to_contain_text('"summary"')
    expect(output).to_contain_text("summary.md")
    for image in page.locator(".page-image img").all():  # every page drawn by PDFium beside its text
        image.scroll_into_view_if_needed()
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("element => element.naturalWidth") > 500
    expect(page.locator(".page-image img")).to_have_count(4)
    page.locator("#state-Summarize").scroll_into_view_if_needed()
    _shot(page, "document")


def test_a_translation_plays(console, page: Page):
    page.goto(console.url + "/")
    _row(page, "bridge_report.pdf").get_by_role("link").click()
    audio = page.locator(".translation audio").first
    expect(audio).to_have_attribute("src", re.compile(r"/outputs/audio\.\w+\.mp3$"))
    audio.evaluate("element => element.play()")
    page.wait_for_function("document.querySelector('.translation audio').currentTime > 0.2", timeout=20_000)
    assert audio.evaluate("element => element.duration") > 0.5


def test_an_answer_cites_a_page_and_the_citation_highlights_the_sentence(console, page: Page):
    page.goto(console.url + "/ask")
    page.fill("#question", "How long is the fatigue crack in floor beam FB-14?")
    page.get_by_role("button", name="Ask").click()
    citation = page.locator("a.citation").first
    expect(citation).to_be_visible(timeout=180_000)
    expect(page.locator("#answer-text")).to_contain_text("38")
    quote = page.locator(".citations q").first.inner_text()
    _shot(page, "ask")
    citation.click()
    page.wait_for_url(re.compile(r"/documents/bridge-report-[0-9a-f]+\?quote=.*#page-\d+$"))
    page_number = page.url.rsplit("#page-", 1)[1]
    mark = page.locator(f"#page-{page_number} mark#quote")
    expect(mark).to_be_visible()
    assert " ".join(mark.inner_text().split()) == " ".join(quote.split())
    expect(mark).to_be_in_viewport()


def test_a_quarantined_file_shows_its_reason(console, page: Page):
    page.goto(console.url + "/")
    page.set_input_files("#files", [str(SAMPLES / "bad" / "encrypted.pdf")])
    row = _row(page, "encrypted.pdf")
    expect(row).to_have_attribute("data-status", "QUARANTINED", timeout=120_000)
    expect(row.locator(".reason")).to_contain_text("password-protected")
    page.goto(console.url + "/?status=QUARANTINED")
    expect(page.locator("#rows tr:visible")).to_have_count(1)
    row.get_by_role("link").click()
    expect(page.locator("#reason")).to_contain_text("the PDF is password-protected (encrypted); upload an "
                                                    "unprotected copy")
    expect(page.locator("#state-Quarantine")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#state-detail h3")).to_have_text("ExtractNative")  # the page opens on the failed state
    expect(page.locator("#state-detail")).to_contain_text("caught")
    expect(page.locator("#state-message")).to_contain_text("password-protected")  # words, not a stack trace
    _shot(page, "quarantined")
    page.goto(console.url + "/")
    expect(page.locator('.filters a[data-filter="QUARANTINED"] span')).to_have_text("1")
    _shot(page, "documents")


def test_idle_endpoints_can_be_reaped_and_woken(console, page: Page):
    page.on("dialog", lambda dialog: dialog.accept())  # "Scale idle endpoints to zero now?"
    page.goto(console.url + "/endpoints")
    endpoint = page.locator("table.endpoints tbody tr, table.endpoints tr").filter(has_text="docpipe-local-generation")
    expect(endpoint.first).to_be_visible()
    page.get_by_role("button", name="Reap idle endpoints").click()
    expect(page.locator("table.decisions")).to_contain_text("docpipe-local-generation")
    page.get_by_role("button", name="Wake").first.click()
    expect(page.locator("#endpoints")).to_contain_text("Woke docpipe-local-generation")
