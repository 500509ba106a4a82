"""``/ui`` serves the dashboard's files (and nothing else) with a content security policy that
allows only the gateway's own scripts, styles and requests; ``server.ui: false`` turns it off."""

from __future__ import annotations

from switchyard.ui import assets
from tests.server.raw_http import request

MODELS = {"chat": {"deployments": [{"provider": "fake", "model": "echo"}]}}


def test_the_page_and_its_files_are_served_with_a_strict_policy(start_gateway):
    gateway = start_gateway({"auth": {"master_key": "sk-master-ui-0123456789"}, "models": MODELS})
    page = request(gateway.url, "GET", "/ui")  # no credential: the files hold nothing secret
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert b'src="/ui/static/app.js"' in page.body
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for name in ("app.js", "pages.js", "directory.js", "widgets.js", "metrics.js", "chart.js", "style.css"):
        got = request(gateway.url, "GET", f"/ui/static/{name}")
        assert got.status == 200 and got.body == assets()[name][1], name
    assert request(gateway.url, "GET", "/ui/static/app.js").headers["content-type"].startswith("text/javascript")
    for missing in ("/ui/static/nothing.js", "/ui/static/index.html", "/ui/static/../__init__.py"):
        assert request(gateway.url, "GET", missing).status == 404, missing


def test_the_files_use_no_inline_script_or_remote_source():
    for name, (_, body) in assets().items():
        text = body.decode()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, name
        assert "innerHTML" not in text and "eval(" not in text, name  # text is set as text, never parsed
    assert "<script>" not in assets()["index.html"][1].decode()


def test_server_ui_false_serves_nothing(start_gateway):
    gateway = start_gateway({"server": {"ui": False}, "models": MODELS})
    assert request(gateway.url, "GET", "/ui").status == 404
    assert request(gateway.url, "GET", "/ui/static/app.js").status == 404
