"""Fixtures for the console's browser tests: Debian's Chromium driven by Playwright (sync API).

The harness (scripts/console-test.sh) starts the local stack and sets:
ZS_CONSOLE_URL (the page, e.g. http://127.0.0.1:PORT/console), ZS_API, ZS_ZUORA_SIM, ZS_ADMIN_TOKEN, ZS_AXE_JS, ZS_SCREENSHOTS, CHROMIUM
(and optionally ZS_ENTITY, default "default").
"""

import json
import os
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, expect, sync_playwright

CONSOLE_URL = os.environ.get("ZS_CONSOLE_URL", "http://127.0.0.1:3000/console")
API = os.environ.get("ZS_API", "http://127.0.0.1:3000").rstrip("/")
SIM = os.environ.get("ZS_ZUORA_SIM", "http://127.0.0.1:4010").rstrip("/")
SALESFORCE_SIM = os.environ.get("ZS_SALESFORCE_SIM", "http://127.0.0.1:8082").rstrip("/")
ADMIN_TOKEN = os.environ.get("ZS_ADMIN_TOKEN", "")
AXE_JS = os.environ.get("ZS_AXE_JS", "")
SCREENSHOTS = os.environ.get("ZS_SCREENSHOTS", "")
ENTITY = os.environ.get("ZS_ENTITY", "default")

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Long enough for a queued sync to run on the local stack's worker.
SYNC_TIMEOUT = 30_000
UI_TIMEOUT = 20_000

expect.set_options(timeout=UI_TIMEOUT)

# Pages of the console, and an element each shows once loaded.
PAGES = {
    "overview": "#overview-status #mode",
    "events": "#events-table",
    "actions": "#sync-accounts-form",
    "salesforce": "#salesforce-body :is(#sf-failures, #sf-empty, #salesforce-not-connected, .notice)",
    "settings": "#settings-form",
}


# ---- HTTP helpers (no dependencies beyond the standard library) ----


def http(method, url, body=None, token=None, headers=None):
    """One HTTP call; answers (status, parsed JSON or text)."""
    data = None
    h = {"Accept": "application/json"}
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if token:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


def api(method, path, body=None, correlation=None):
    """A call to the sync API with ZS_ADMIN_TOKEN."""
    headers = {"X-Correlation-Id": correlation} if correlation else None
    return http(method, API + path, body=body, token=ADMIN_TOKEN, headers=headers)


def entity_path(rest=""):
    return f"/plugins/zuora/entities/{ENTITY}{rest}"


def sim_fault(fault):
    status, body = http("POST", f"{SIM}/__sim/faults", body=fault)
    assert status < 300, f"the simulator refused the fault: {status} {body}"


def sim_latency(ms):
    """Every Zuora simulator answer takes `ms` longer (0 to reset)."""
    status, body = http("PUT", f"{SIM}/__sim/latency", {"ms": ms})
    assert status == 200, body


def sim_set_field(account, field, value):
    """Changes one field of an account in the Zuora simulator (its updatedDate moves too)."""
    status, body = http("PUT", f"{SIM}/__sim/accounts/{account}/fields/{field}", value)
    assert status < 300, f"the simulator refused: {status} {body}"


def salesforce_deny(record_id):
    """The Salesforce simulator refuses upserts naming this Account id (a CRM id without access)."""
    status, body = http("POST", f"{SALESFORCE_SIM}/__sim__/accounts/deny", {"id": record_id})
    assert status < 300, f"the Salesforce simulator refused: {status} {body}"


def salesforce_reset():
    http("POST", f"{SALESFORCE_SIM}/__sim__/reset")


def sim_clear_faults():
    http("DELETE", f"{SIM}/__sim/faults")


# ---- browser ----


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context) -> Page:
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.console_errors = errors
    csp = []
    pg.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
    pg.csp_violations = csp
    yield pg


@pytest.fixture
def axe_context(browser):
    """A context that ignores the CSP: only for injecting axe-core."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    yield ctx
    ctx.close()


def wait_ready(page: Page, name: str):
    """Waits until the console shows page `name` fully loaded."""
    expect(page.locator("body")).to_have_attribute("data-page", name)
    expect(page.locator("main#main")).to_have_attribute("aria-busy", "false")
    if name in PAGES:
        expect(page.locator(PAGES[name]).first).to_be_visible()


def open_page(page: Page, name: str, query: str = ""):
    """Opens `#/name?query` (a same-document navigation once signed in)."""
    page.goto(f"{CONSOLE_URL}#/{name}{'?' + query if query else ''}")
    wait_ready(page, name)


def signed_in(page: Page, roles=("sync", "admin"), subject="operator", entities="*"):
    """Signs in through the dev identity provider (the full PKCE flow) and lands on the overview."""
    page.goto(CONSOLE_URL)
    expect(page.locator("body")).to_have_attribute("data-page", "signin")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/dev-idp/authorize.*"))
    page.get_by_label("User", exact=True).fill(subject)
    page.locator("#dev-role-sync").set_checked("sync" in roles)
    page.locator("#dev-role-admin").set_checked("admin" in roles)
    page.get_by_label("Entities", exact=True).fill(entities)
    page.get_by_role("button", name="Sign in").click()
    if roles:
        expect(page.locator("#who")).to_have_text(subject)
    # The query (code, state) is gone from the address.
    expect(page).to_have_url(re.compile(re.escape(CONSOLE_URL) + r"(#.*)?$"))
    picker = page.locator("#entity")
    if picker.count() and picker.input_value() != ENTITY:
        picker.select_option(ENTITY)
    if "sync" in roles or "admin" in roles:
        wait_ready(page, "overview")
    return page


def screenshot(page: Page, name: str):
    if not SCREENSHOTS:
        return
    os.makedirs(SCREENSHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)
