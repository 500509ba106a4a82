"""The dashboard at ``/ui`` in headless Chromium, as an operator uses it: sign in with the
master key, create a key, see its spend after a request (sent with the official OpenAI SDK),
revoke it; a virtual key, and a viewer signed in through OIDC, see no admin controls. Every page is
visited, stays within three API requests, and is saved as a screenshot (``tests/artifacts/ui``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from switchyard.server.runner import GatewayThread
from tests.governance.conftest import Issuer
from tests.server.raw_http import request as raw_request
from tests.ui.browser import chromium_path, screenshot

MASTER = "sk-master-dashboard-0123456789"
PAGES = ["overview", "keys", "teams", "tenants", "users", "spend", "deployments", "cache", "guard", "batches", "flows",
         "mcp", "playground"]
ROOT = Path(__file__).resolve().parents[2]
#: The most API requests one page view may make (static files not counted).
MOST_REQUESTS = 3


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    """The OIDC issuer operators sign in through (tokens carry their role)."""
    found = Issuer()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, issuer) -> Iterator[GatewayThread]:
    folder = tmp_path_factory.mktemp("dashboard")
    config = {
        "auth": {"master_key": MASTER},
        "governance": {"oidc": issuer.oidc_config()},  # role from the token's switchyard_role
        "storage": {"url": f"sqlite:///{folder / 'gateway.db'}"},
        "spend": {"records": True},
        "metrics": {"enabled": True},
        "batch": {},
        "guard": {"default": "pii", "audit": True, "policies": {"pii": {"action": "mask"}}},
        "slo": {"objectives": [{"alias": "chat", "availability": 0.99}]},
        "mcp": {"builtins": {"calc": {}}, "access": {"default": ["calc__*"]}},
        "flows": {"url": f"sqlite:///{folder / 'flows.db'}",
                  "definitions": {"approval": str(ROOT / "examples" / "flows" / "approval.yaml")}},
        "models": {"chat": {"deployments": [{"provider": "fake", "model": "echo",
                                             "price": {"input": 1000, "output": 1000}}]},  # $ per million tokens
                   "fake/echo": {"deployments": [{"provider": "fake", "model": "echo",
                                                  "price": {"input": 1000, "output": 1000}}]}},
    }
    with GatewayThread(config) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("dialog", lambda dialog: dialog.accept())
    yield opened
    context.close()
    assert errors == []  # no script error on any page


def _sign_in(page: Page, gateway: GatewayThread, credential: str) -> None:
    page.goto(f"{gateway.url}/ui")
    page.fill("#credential", credential)
    page.click("#signin")
    page.wait_for_selector("#page-overview[data-ready]")


def _visit(page: Page, name: str) -> list[str]:
    """Opens a page and waits for all its figures; the API requests it made."""
    made: list[str] = []

    def seen(request: Any) -> None:
        if "/ui/static/" not in request.url:
            made.append(request.url)

    page.on("request", seen)
    page.evaluate(f"location.hash = '#/{name}?v=' + Date.now()")
    page.wait_for_selector(f"#page-{name}[data-ready]")
    page.remove_listener("request", seen)
    return made


def _chat(url: str, key: str) -> str:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    return client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "bill me"}]) \
        .choices[0].message.content or ""


def test_sign_in_create_a_key_see_its_spend_and_revoke_it(gateway, page):
    raw_request(gateway.url, "POST", "/v1/chat/completions", headers={"authorization": f"Bearer {MASTER}",
                "content-type": "application/json"},
                body=b'{"model": "chat", "messages": [{"role": "user", "content": "mail a@example.com"}]}')
    started = raw_request(gateway.url, "POST", "/admin/flows/runs", headers={"authorization": f"Bearer {MASTER}",
                          "content-type": "application/json"},
                          body=b'{"flow": "approval", "run_id": "dash-run"}')
    assert started.status == 201, started.body
    sent = raw_request(gateway.url, "POST", "/admin/flows/send/dash-run", headers={
        "authorization": f"Bearer {MASTER}", "content-type": "application/json"},
        body=b'{"event": "approval", "value": {"approved": true}}')
    assert sent.status == 200, sent.body  # sent before or while the run waits: the engine keeps it for the wait
    deadline = time.monotonic() + 20
    while raw_request(gateway.url, "GET", "/admin/flows/runs/dash-run",
                      headers={"authorization": f"Bearer {MASTER}"}).json()["status"] != "done":
        assert time.monotonic() < deadline, "the flow run did not finish"
        time.sleep(0.05)  # the run is polled through the API: nothing to wait on here
    _sign_in(page, gateway, MASTER)
    assert page.text_content("#role").startswith("owner")

    for name in PAGES:
        made = _visit(page, name)
        assert len(made) <= MOST_REQUESTS, (name, made)
        assert page.locator(f"#page-{name} .error").count() == 0, (name, page.text_content(f"#page-{name}"))
        screenshot(page, name)
        if name == "guard":
            assert "input email: mask ×1" in page.text_content("#guard-table tbody tr")  # the request above
        if name == "mcp":
            assert "calc__evaluate" in page.text_content("#mcp-table")
        if name == "deployments":
            assert "closed" in page.text_content("#deployments-table")
        if name == "flows":
            assert page.locator("#flows-table >> text=dash-run").count() == 1
            page.click("#flows-table >> text=dash-run")
            page.wait_for_selector("#journal-table >> text=draft")  # the model step, with its prompt and cost
            draft = page.text_content("#journal-table tr:has-text('draft')")
            assert draft.count("Announce the maintenance window") == 2  # the prompt, and the echo as the answer
            assert "$0.0" in draft  # what the model step cost
            assert page.text_content("#run-totals").startswith("done")
            screenshot(page, "flow-run")

    _visit(page, "tenants")
    page.fill("#create-tenant input[name=name]", "acme")
    page.click("#create-tenant button")
    page.wait_for_selector("#tenants-table >> text=acme")

    _visit(page, "keys")
    page.fill("#create-key input[name=name]", "ci-key")
    page.fill("#create-key input[name=tenant]", "acme")
    page.fill("#create-key input[name=rpm]", "100")
    page.click("#create-key button")
    page.wait_for_selector("#secret, #page-keys .error")
    assert page.locator("#page-keys .error").count() == 0, page.text_content("#page-keys .error")
    secret = page.text_content("#secret")
    assert secret and secret.startswith("sk-")
    page.wait_for_selector("#keys-table >> text=ci-key")
    assert _chat(gateway.url, secret) == "bill me"

    _visit(page, "spend")
    page.select_option("#spend-form select[name=group_by]", "key")
    page.click("#spend-form button")
    row = page.wait_for_selector("#spend-table tr:has-text('ci-key')")
    cells = [cell.text_content() for cell in row.query_selector_all("td")]
    assert cells[1] == "1"  # its one request
    assert cells[-1].startswith("$0.00") and float(cells[-1][1:]) > 0  # and what it cost
    screenshot(page, "spend-after-request")

    _visit(page, "keys")
    page.click("#keys-table tr:has-text('ci-key') button.revoke")
    page.wait_for_selector("#keys-table tr:has-text('ci-key') >> text=revoked")
    screenshot(page, "keys-revoked")
    with pytest.raises(openai.AuthenticationError):
        _chat(gateway.url, secret)

    _visit(page, "playground")
    page.fill("#prompt", "hello from the playground")
    page.click("#send")
    page.wait_for_selector("#answer >> text=hello from the playground")
    screenshot(page, "playground-answered")


def test_a_role_without_rights_sees_no_admin_controls(gateway, page):
    owner = {"authorization": f"Bearer {MASTER}", "content-type": "application/json"}
    assert raw_request(gateway.url, "POST", "/admin/tenants", headers=owner, body=b'{"name": "readers"}').status == 201
    made = raw_request(gateway.url, "POST", "/admin/keys", headers=owner,
                       body=b'{"name": "reader", "tenant": "readers"}').json()
    _sign_in(page, gateway, made["key"])
    assert page.text_content("#role").startswith("key_holder")
    nav = page.text_content("#nav")
    assert "Deployments" not in nav and "Cache" not in nav  # the gateway's own state is not theirs to read
    _visit(page, "keys")
    assert page.locator("#keys-table >> text=reader").count() == 1  # a key holder reads its own key
    assert page.locator("#create-key").count() == 0
    assert page.locator("button.revoke, button.rotate, button.budget, button.delete").count() == 0
    screenshot(page, "keys-read-only")
    _visit(page, "users")
    assert page.locator("#create-user").count() == 0
    page.click("#signout")
    page.wait_for_selector("#credential")


def test_an_oidc_viewer_reads_everything_and_changes_nothing(gateway, issuer, page):
    _sign_in(page, gateway, issuer.token(switchyard_role="viewer", sub="vera"))
    assert page.text_content("#role") == "viewer · oidc:vera"
    assert "Deployments" in page.text_content("#nav")  # a viewer reads the gateway's state
    for name in ("keys", "teams", "tenants", "users"):
        _visit(page, name)
        assert page.locator(f"#create-{name[:-1]}").count() == 0, name
        assert page.locator("button.revoke, button.rotate, button.budget, button.delete").count() == 0, name
    screenshot(page, "users-viewer")
    _visit(page, "deployments")
    assert "closed" in page.text_content("#deployments-table")


def test_a_wrong_credential_is_said_and_nothing_is_shown(gateway, page):
    page.goto(f"{gateway.url}/ui")
    page.fill("#credential", "sk-not-a-key")
    page.click("#signin")
    alert = page.wait_for_selector("[role=alert]")
    assert "key" in (alert.text_content() or "").lower()
    assert page.locator("#nav a").count() == 0
    screenshot(page, "sign-in-refused")
