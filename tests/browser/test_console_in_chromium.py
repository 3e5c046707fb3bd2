"""The console in a real browser: Debian's chromium, driven by Playwright, against `egov serve`.

What people do every day, end to end: an admin logs in with TOTP (enrolled
in the browser at the first login) and sees the dashboard; an operator
starts a harmless run and watches its output arrive line by line over
server-sent events; a user switches between Chinese and English; an
auditor finds no operator button and is refused when forcing the action.
Every page keeps to its CSP: no console error, no blocked script.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.browser.fixtures import Authenticator, Browser, Console, log_in, screenshot

pytestmark = pytest.mark.browser

HOST = "gd-school-1"  # a school below province-gd: in scope of every province-gd user
# Counts the output lines the page's script appends (i.e. that came over the event stream).
# An init script is injected by the browser itself, so the page's CSP does not apply to it.
LINE_OBSERVER = """
document.addEventListener("DOMContentLoaded", () => {
  const output = document.getElementById("output");
  if (!output || !output.hasAttribute("data-stream")) { return; }
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.dataset && node.dataset.seq) { window.egovLineSeen(Number(node.dataset.seq)); }
      }
    }
  }).observe(output, { childList: true });
});
"""


def assert_clean(browser: Browser) -> None:
    """No page logged an error (a CSP violation, a failed script, a 404 asset)."""
    assert not browser.console_errors, browser.console_errors


def test_an_admin_enrols_totp_at_first_login_then_logs_in_with_a_code_and_sees_the_dashboard(
    console: Console, open_browser: Callable[..., Browser]
) -> None:
    browser = open_browser("en-US")
    page = browser.page()
    log_in(page, "admin1", console.passwords["admin1"])
    # First login of an admin: nothing but TOTP enrolment is possible.
    expect(page).to_have_url(re.compile(r"/profile/totp$"))
    expect(page.get_by_role("heading", name="Set up the second factor")).to_be_visible()
    screenshot(page, "01-admin-totp-enrolment")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/profile/totp$"))  # the dashboard is not reachable yet
    app = Authenticator(page.locator("code.secret").first.inner_text().strip())
    page.locator("input[name=code]").fill(app.code())
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_text("Second factor enabled.")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    log_in(page, "admin1", console.passwords["admin1"])
    expect(page).to_have_url(re.compile(r"/login/totp"))
    expect(page.get_by_role("heading", name="Second factor")).to_be_visible()
    screenshot(page, "02-admin-totp-code")
    page.locator("input[name=code]").fill(app.wrong_code())
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("Wrong code.")).to_be_visible()
    page.locator("input[name=code]").fill(app.code())
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    nav = page.locator("nav.main-nav")
    for item in ("Overview", "Hosts", "Runs", "Audit log", "Users"):
        expect(nav.get_by_role("link", name=item)).to_be_visible()
    # A ministry-level admin sees every site of the lab, with hosts and their latest runs.
    for site in ("ministry", "province-gd", "school-gd-1", "dr-center"):
        expect(page.locator("section.site h2 small", has_text=re.compile(f"^{site}$"))).to_have_count(1)
    expect(page.get_by_role("link", name="mn-portal-1")).to_be_visible()
    expect(page.locator(".counter")).to_have_count(2)
    screenshot(page, "03-admin-dashboard")
    assert_clean(browser)


def test_an_operator_starts_a_harmless_run_and_its_output_arrives_live_over_server_sent_events(
    console: Console, open_browser: Callable[..., Browser]
) -> None:
    browser = open_browser("en-US")
    page = browser.page()
    seen: list[tuple[int, float]] = []
    page.expose_binding("egovLineSeen", lambda _source, seq: seen.append((int(seq), time.monotonic())))
    page.add_init_script(LINE_OBSERVER)
    streams: list[str] = []
    page.on("request", lambda request: streams.append(request.url) if "/stream" in request.url else None)
    log_in(page, "ops1", console.passwords["ops1"])
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # The run prints ten lines 0.3 s apart; on a very slow machine it may be half done
    # before its page renders, so start another one until the page shows it early.
    for _attempt in range(3):
        page.goto(f"/hosts/{HOST}")
        screenshot(page, "04-operator-host")
        page.get_by_role("button", name="Start a harmless test run").click()
        expect(page).to_have_url(re.compile(r"/runs/\d+$"))
        output = page.locator("#output")
        rendered = int(output.get_attribute("data-after") or 0)
        if output.get_attribute("data-stream") is not None and rendered <= 5:
            break
    else:
        pytest.fail("three runs finished before their page was shown: the machine is far too slow")
    run_url = page.url
    expect(page.get_by_text(re.compile(r"Run \d+ started\."))).to_be_visible()
    expect(page.locator("#stream-state")).to_contain_text("Live output")

    # Lines appear in the page while the run is going: some, then more.
    page.wait_for_function("n => document.querySelectorAll('#output .line').length > n", arg=rendered)
    screenshot(page, "05-run-output-streaming")
    first = page.locator("#output .line").count()
    page.wait_for_function("n => document.querySelectorAll('#output .line').length > n", arg=first)

    # At the end the stream says so, then the page reloads with the final state.
    expect(page.locator("#run-status")).to_contain_text("Succeeded", timeout=60_000)
    assert page.url == run_url
    expect(page.locator("#output .line")).to_have_count(10)
    expect(page.locator("#output .line").last).to_contain_text(f"simulated reply 10/10 from {HOST}")
    expect(page.locator("#cancel-form")).to_have_count(0)
    screenshot(page, "06-run-finished")

    live = sorted(seq for seq, _at in seen)
    assert live == list(range(rendered + 1, 11)), (rendered, live)
    times = [at for _seq, at in sorted(seen)]
    # Ten lines 0.3 s apart: lines that came one by one are spread over time, not one burst.
    assert times[-1] - times[0] >= 0.3 * (len(times) - 1) * 0.5, times
    assert any(url.endswith(f"/stream?after={rendered}") for url in streams), streams
    assert_clean(browser)


def test_a_user_switches_the_interface_between_chinese_and_english(
    console: Console, open_browser: Callable[..., Browser]
) -> None:
    browser = open_browser("zh-CN")  # the browser asks for Chinese (Accept-Language)
    page = browser.page()
    page.goto("/login")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    screenshot(page, "07-login-zh-CN")
    log_in(page, "lang1", console.passwords["lang1"])
    expect(page.get_by_role("heading", name="总览")).to_be_visible()
    expect(page.get_by_text("示例中学").first).to_be_visible()  # the school's Chinese title
    screenshot(page, "08-dashboard-zh-CN")

    # The user's own choice wins over the browser's language.
    page.goto("/profile")
    page.locator("select[name=language]").select_option("en")
    page.locator("form[action='/profile'] button[type=submit]").click()
    expect(page.get_by_text("Profile saved.")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("nav.main-nav").get_by_role("link", name="Hosts")).to_be_visible()
    screenshot(page, "09-dashboard-en")

    page.goto("/profile")
    page.locator("select[name=language]").select_option("zh_CN")
    page.locator("form[action='/profile'] button[type=submit]").click()
    expect(page.get_by_text("个人设置已保存。")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.goto(f"/hosts/{HOST}")
    expect(page.get_by_role("button", name="发起一次无害测试任务")).to_be_visible()
    screenshot(page, "10-host-zh-CN")
    assert_clean(browser)


def test_an_auditor_sees_no_operator_action_and_is_refused_when_forcing_one(
    console: Console, open_browser: Callable[..., Browser]
) -> None:
    browser = open_browser("en-US")
    page = browser.page()
    log_in(page, "auditor1", console.passwords["auditor1"])
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("nav.main-nav").get_by_role("link", name="Audit log")).to_be_visible()
    expect(page.locator("nav.main-nav").get_by_role("link", name="Users")).to_have_count(0)

    page.goto(f"/hosts/{HOST}")
    expect(page.get_by_role("heading", name=f"Host {HOST}")).to_be_visible()
    expect(page.get_by_role("button", name="Start a harmless test run")).to_have_count(0)
    expect(page.locator("form[action='/runs/new']")).to_have_count(0)
    screenshot(page, "11-auditor-host-without-run-button")

    # Forcing it: the operator's form, rebuilt in the page with the auditor's own CSRF token.
    page.evaluate(
        """host => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/runs/new";
            const token = document.querySelector("input[name=csrf_token]").value;
            for (const [name, value] of [["csrf_token", token], ["kind", "ping"], ["host", host]]) {
                const input = document.createElement("input");
                input.type = "hidden"; input.name = name; input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""",
        HOST,
    )
    expect(page.get_by_role("heading", name="Error 403")).to_be_visible()
    expect(page.get_by_text("You do not have permission to see this page.")).to_be_visible()
    screenshot(page, "12-auditor-refused-403")

    # And through the API with the session (and its CSRF header): refused the same way.
    page.goto(f"/hosts/{HOST}")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = page.request.post(
        "/api/v1/runs", data={"kind": "ping", "host": HOST}, headers={"X-CSRF-Token": token or ""}
    )
    assert refused.status == 403, refused.text()
    assert refused.json()["error"]["code"] == "forbidden"
    runs = page.request.get("/api/v1/runs?per_page=100").json()["items"]
    assert all(run["actor"] != "auditor1" for run in runs), runs
    assert_clean_except_the_refusal(browser)


def assert_clean_except_the_refusal(browser: Browser) -> None:
    """Only the 403 the test provoked may show in the console log."""
    others = [text for text in browser.console_errors if "403" not in text]
    assert not others, others
