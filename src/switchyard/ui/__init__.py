"""The web dashboard served at ``/ui`` (``server/ui_routes.py``): static files, no build step.

``static/`` holds the whole console: one HTML page, plain ES modules (``app.js``: sign-in,
the API client, the router and the DOM helper; ``pages.js``: one function per page, the
directory's in ``directory.js``; ``widgets.js``: tables, the pager, forms; ``metrics.js``:
reading ``/metrics``; ``chart.js``: charts as inline SVG) and one style sheet. Nothing is vendored and nothing is
fetched from a network: the browser loads these files from the gateway and every figure from
the admin API with the signed-in credential, like any other client of it.
"""

from __future__ import annotations

from importlib import resources

#: The files served, by name, with their content types.
TYPES = {".html": b"text/html; charset=utf-8", ".js": b"text/javascript; charset=utf-8",
         ".css": b"text/css; charset=utf-8", ".svg": b"image/svg+xml"}


def assets() -> dict[str, tuple[bytes, bytes]]:
    """Every file of ``static/``: name -> (content type, bytes)."""
    out = {}
    for item in resources.files(__package__).joinpath("static").iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in TYPES:
            out[item.name] = (TYPES[suffix], item.read_bytes())
    return out
