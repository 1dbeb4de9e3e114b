"""Browser tests of the operator console (Chromium through Playwright, sync API).

Each test signs in on its own (a fresh browser context), so no test depends on another's
state; syncs wait with Playwright's auto-waiting assertions, never with sleeps.
"""

import json
import re
import time
import urllib.parse

import pytest
from playwright.sync_api import Page, expect

from conftest import (
    AXE_JS,
    CONSOLE_URL,
    PAGES,
    SYNC_TIMEOUT,
    api,
    entity_path,
    open_page,
    screenshot,
    signed_in,
    salesforce_deny,
    salesforce_reset,
    sim_clear_faults,
    sim_set_field,
    sim_fault,
    sim_latency,
    wait_ready,
)

ALL_PAGES = list(PAGES)


def test_sign_in_lands_on_the_overview_and_every_page_renders(page: Page):
    # Something to show: two synchronous syncs (events, the chart's current hour).
    for customer in ("A00000001", "A00000002"):
        status, body = api("POST", entity_path(f"/sync/customers/{customer}"))
        assert status == 200, body
    page.goto(CONSOLE_URL)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    screenshot(page, "signin-1280")
    signed_in(page)

    expect(page.locator("#who")).to_have_text("operator")
    expect(page.locator("#roles")).to_contain_text("admin")
    # The token is in sessionStorage only.
    assert page.evaluate("Object.keys(localStorage).length") == 0
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("Object.keys(sessionStorage).some(k => k === 'zs.token')")

    status, st = api("GET", entity_path("/status"))
    assert status == 200, st
    expect(page.locator("#mode")).to_have_attribute("data-mode", st["mode"])
    # The message counts minutes down: compare it with its numbers left open.
    pattern = re.sub(r"\d+", r"\\d+", re.escape(st["message"]))
    expect(page.locator("#status-message")).to_have_text(re.compile("^" + pattern + "$"))
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link", name="Overview")).to_have_attribute(
        "aria-current", "page"
    )

    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for name in ALL_PAGES:
            open_page(page, name)
            screenshot(page, f"{name}-{width}")
    assert page.console_errors == [], page.console_errors
    assert page.csp_violations == [], page.csp_violations


def test_sign_out_clears_the_session(page: Page):
    signed_in(page)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    expect(page.locator("#nav")).to_be_hidden()


def test_an_on_demand_account_sync_reaches_succeeded_in_the_events_page(page: Page):
    account = "A00000002"
    # Synced once before, so the queued sync reads Zuora after it wins the lock (an account
    # never synced is read before, and its event is running only for the commit).
    status, body = api("POST", entity_path(f"/sync/customers/{account}"))
    assert status == 200, body
    signed_in(page)
    open_page(page, "actions")
    page.get_by_label("Account numbers or ids").fill(account)
    # Each Zuora answer takes 1.5 s, so the sync stays running across several refreshes.
    sim_latency(1500)
    try:
        page.get_by_role("button", name="Sync accounts").click()
        watch_the_event(page, account)
    finally:
        sim_latency(0)


def watch_the_event(page: Page, account: str):
    event_responses = []
    page.on("response", lambda r: event_responses.append(r) if "/events" in r.url else None)

    row = page.locator(f'#accounts-outcomes tr[data-account="{account}"]')
    expect(row).to_be_visible(timeout=SYNC_TIMEOUT)
    expect(row.locator("[data-status]")).to_have_text(re.compile("queued|coalesced"))
    expect(page.locator("#accounts-result .correlation")).to_have_text(re.compile(r"^console-[0-9a-f]{16}$"))
    link = row.locator("a[data-event-link]").last
    event_id = link.get_attribute("data-event-link")
    assert event_id

    link.click()
    wait_ready(page, "events")
    assert "account=" + account in urllib.parse.unquote(page.url)
    status = page.locator(f'[data-event-id="{event_id}"] [data-status]').first
    # The page refreshes by itself: the same row goes running, then succeeded.
    expect(status).to_have_text("running", timeout=SYNC_TIMEOUT)
    expect(page.locator("#events-refreshing")).to_be_visible()
    expect(status).to_have_text("succeeded", timeout=SYNC_TIMEOUT)
    # Refreshing stops once nothing listed is queued or running.
    expect(page.locator("#events-refreshing")).to_be_hidden(timeout=SYNC_TIMEOUT)

    # Which states the page saw on its way (informational: the transient ones may be missed).
    seen = []
    for r in event_responses:
        try:
            body = r.json()
        except Exception:  # noqa: BLE001 - a body no longer available
            continue
        for ev in body.get("events", []) if isinstance(body, dict) else []:
            if ev.get("id") == event_id and ev.get("status") not in seen:
                seen.append(ev.get("status"))
        if isinstance(body, dict) and body.get("id") == event_id and body.get("status") not in seen:
            seen.append(body.get("status"))
    print(f"event {event_id} states seen by the page: {seen}")


def test_more_than_eight_accounts_are_refused_in_the_page(page: Page):
    signed_in(page)
    open_page(page, "actions")
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/sync/accounts" in r.url else None)

    field = page.get_by_label("Account numbers or ids")
    field.fill("\n".join(f"A{n:08d}" for n in range(1, 10)))
    page.get_by_role("button", name="Sync accounts").click()

    error = page.locator("#accounts-error")
    expect(error).to_have_text("At most 8 accounts at a time from the console.")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", re.compile(r"\baccounts-error\b"))
    expect(field).to_be_focused()
    # Give any stray request a chance to show up: the result region must still be empty.
    expect(page.locator("#accounts-result")).to_be_empty()
    assert sent == [], sent


def test_a_manual_customer_sync_names_the_failing_subscription(page: Page):
    failing = "A-S00000273"
    signed_in(page)
    open_page(page, "actions")
    sim_fault({"route": "v1_subscription", "path_contains": failing, "kind": "status", "status": 500})
    try:
        page.get_by_label("Customer id or account number").fill("A00000001")
        page.get_by_role("button", name="Sync customer").click()
        item = page.locator(f'#customer-failures li[data-subscription="{failing}"]')
        expect(item).to_contain_text(f"Failed: {failing} — ", timeout=SYNC_TIMEOUT)
    finally:
        sim_clear_faults()
    text = item.inner_text()
    reason = text.split(" — ", 1)[1].strip()
    assert reason, text
    expect(page.locator("#customer-summary")).to_contain_text("could not be synced")
    table = page.locator("#customer-subscriptions")
    expect(table.locator(f'tr[data-subscription="{failing}"] [data-status]')).to_have_text("failed")
    expect(table.locator('tr[data-subscription="A-S00000271"] [data-status]')).to_have_text("synced")
    expect(page.locator("#customer-result .correlation")).to_have_text(re.compile(r"^console-"))
    expect(page.locator("#customer-result a[data-event-link]").first).to_be_visible()


def test_settings_show_the_field_the_api_refuses_and_a_version_conflict(page: Page):
    signed_in(page)
    open_page(page, "settings")

    # A value outside 1..=1440: the API names the field; the page shows it there.
    field = page.locator("#s-max_minutes_between_syncs")
    field.fill("5000")
    page.get_by_role("button", name="Save settings").click()
    error = page.locator("#s-max_minutes_between_syncs-error")
    expect(error).to_contain_text("max_minutes_between_syncs")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", re.compile(r"\bs-max_minutes_between_syncs-error\b"))
    expect(field).to_be_focused()

    # A version conflict: the settings change behind the page's back.
    page.reload()
    wait_ready(page, "settings")
    status, doc = api("GET", entity_path("/settings"))
    assert status == 200, doc
    version = doc["version"]
    expect(page.locator("#settings-version")).to_have_text(re.compile(rf"^Version {version}\b"))
    retention = doc["settings"]["event_retention_days"]
    status, saved = api(
        "PATCH",
        entity_path("/settings"),
        {"version": version, "event_retention_days": 91 if retention == 90 else 90},
    )
    assert status == 200, saved
    newer = saved["version"]
    assert newer > version

    deep = page.locator("#s-deep_reconcile_days")
    current = int(deep.input_value() or "0")
    deep.fill(str(current + 1 if current < 365 else current - 1))
    page.get_by_role("button", name="Save settings").click()
    conflict = page.locator("#settings-conflict")
    expect(conflict).to_contain_text(f"These settings were changed by someone else (version {newer}).")
    conflict.get_by_role("button", name="Reload").click()
    expect(page.locator("#settings-version")).to_have_text(re.compile(rf"^Version {newer}\b"))
    expect(page.locator("#s-event_retention_days")).to_have_value(str(saved["settings"]["event_retention_days"]))
    expect(page.locator("#settings-conflict")).to_have_count(0)


def test_a_token_without_a_role_gets_no_access(page: Page):
    signed_in(page, roles=())
    expect(page.locator("#no-access")).to_have_text("This account has no access to the console.")
    expect(page.locator("#nav")).to_be_hidden()


def test_a_reader_sees_no_settings(page: Page):
    signed_in(page, roles=("sync",))
    expect(page.locator("#roles")).to_have_text("(sync)")
    nav = page.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link", name="Events")).to_be_visible()
    expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
    open_page(page, "actions")
    expect(page.get_by_role("button", name=re.compile("Full re-sync"))).to_have_count(0)
    page.goto(f"{CONSOLE_URL}#/settings")
    expect(page.locator("body")).to_have_attribute("data-page", "settings")
    expect(page.locator("main")).to_contain_text("Settings need the admin role")
    expect(page.locator("#settings-form")).to_have_count(0)


def test_an_event_reason_with_markup_is_shown_as_text(page: Page):
    subscription = "A-S00000301"
    payload = "<script>window.__xss=1</script>"
    sim_fault(
        {"route": "v1_subscription", "path_contains": subscription, "kind": "refuse", "status": 400, "message": payload}
    )
    try:
        status, body = api("POST", f"/plugins/zuora/sync/subscription/{subscription}")
    finally:
        sim_clear_faults()
    assert status != 200, body
    event_id = body.get("event_id") if isinstance(body, dict) else None

    signed_in(page)
    scripts_before = page.evaluate("document.querySelectorAll('script').length")
    open_page(page, "events", urllib.parse.urlencode({"status": "failed", "subscription": subscription}))
    if event_id:
        row = page.locator(f'#events-table tr[data-event-id="{event_id}"]')
    else:
        row = page.locator("#events-table tbody tr[data-event-id]").first
    row.get_by_role("button", name=re.compile("^Details")).click()
    reason = page.locator("#detail-reason")
    expect(reason).to_contain_text("<script>")
    expect(reason).to_contain_text("window.__xss")
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("document.querySelectorAll('script').length") == scripts_before
    assert page.locator("main script").count() == 0


@pytest.mark.skipif(not AXE_JS, reason="ZS_AXE_JS is not set")
def test_axe_finds_no_serious_or_critical_violations(axe_context):
    page = axe_context.new_page()
    signed_in(page)
    failures = []
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for name in ALL_PAGES:
            open_page(page, name)
            if not page.evaluate("typeof window.axe !== 'undefined'"):
                page.add_script_tag(path=AXE_JS)
            result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
            for v in result["violations"]:
                if v.get("impact") in ("serious", "critical"):
                    targets = [n.get("target") for n in v.get("nodes", [])][:5]
                    failures.append(f"{name} @ {width}px: [{v['impact']}] {v['id']}: {v['help']} {json.dumps(targets)}")
    for f in failures:
        print(f)
    assert not failures, "\n".join(failures)


def test_390_px_has_no_horizontal_scroll_and_a_usable_nav(page: Page):
    page.set_viewport_size({"width": 390, "height": 844})
    signed_in(page)
    for name in ALL_PAGES:
        open_page(page, name)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name}: scrollWidth {width}"
    nav = page.get_by_role("navigation", name="Sections")
    for label in ("Overview", "Events", "Actions", "Settings"):
        link = nav.get_by_role("link", name=label)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (label, box)
    nav.get_by_role("link", name="Events").click()
    wait_ready(page, "events")
    nav.get_by_role("link", name="Actions").click()
    wait_ready(page, "actions")
    # Keyboard: the nav links are reachable with Tab.
    nav.get_by_role("link", name="Overview").focus()
    page.keyboard.press("Enter")
    wait_ready(page, "overview")


def test_a_salesforce_failure_is_listed_retried_and_dismissed(page: Page):
    # A00000002's CRM id is one Salesforce refuses: its push lands in the failure list.
    salesforce_deny("0015g00000BetaBAAR")
    try:
        # A change, so the sync's commit has something to push.
        sim_set_field("A00000002", "name", f"Beta {time.time_ns()}")
        status, body = api("POST", entity_path("/sync/customers/A00000002"))
        assert status == 200, body
        failure = wait_for_failure("INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY")

        signed_in(page)
        open_page(page, "salesforce")
        row = page.locator("#sf-failures tbody tr").filter(has_text=failure["account_id"])
        expect(row).to_contain_text("INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY")

        # A retry is queued; the record is still refused, so the failure stays listed.
        page.get_by_role("button", name="Retry all").click()
        expect(page.locator("#salesforce-result")).to_contain_text("Retried: 1 failure")
        row.get_by_role("checkbox").check()
        page.get_by_role("button", name="Dismiss selected").click()
        expect(page.locator("#sf-failures tbody tr").filter(has_text=failure["account_id"])).to_have_count(0)
        status, listed = api("GET", entity_path("/salesforce/failures"))
        assert status == 200, listed
        assert all(f["id"] != failure["id"] for f in listed["failures"]), listed
    finally:
        salesforce_reset()


def wait_for_failure(code, timeout_s=30):
    """The failure the worker's push records (the push runs on the local stack's worker)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = api("GET", entity_path(f"/salesforce/failures?code={code}"))
        assert status == 200, body
        if body["failures"]:
            return body["failures"][0]
        assert time.monotonic() < deadline, f"no {code} failure listed after {timeout_s} s"
        time.sleep(0.2)


def test_a_full_resync_shows_its_session_on_the_overview(page: Page):
    signed_in(page)
    open_page(page, "actions")
    page.get_by_role("button", name="Full re-sync…").click()
    page.get_by_role("button", name="Start full re-sync").click()
    session = page.locator("#full-session")
    expect(session).to_have_text(re.compile(r"^[0-9a-f-]{36}$"))
    session_id = session.inner_text()
    # Once more: refused while it runs, or started again once it is done.
    page.get_by_role("link", name="The overview shows its progress.").click()
    wait_ready(page, "overview")
    last = page.locator("#last-session")
    expect(last).to_contain_text(session_id, timeout=SYNC_TIMEOUT)
    expect(last).to_contain_text("full")
    expect(last.locator("[data-status]").first).to_have_text("done", timeout=SYNC_TIMEOUT)
