"""``adoptsim app``: serve the explorer page (:mod:`adoptsim.app.page`) with Solara's server
on ``host:port`` (default 127.0.0.1: this machine only).

Offline by design (/work/shared/notes/offline-web.md): the app extra pins ``ipyvuetify<3`` and
installs ``solara-assets``, so every script, style and font is served from this machine; the
telemetry is switched off here, before Solara reads its settings."""

from __future__ import annotations

import os
import sys

OFFLINE = {
    "SOLARA_APP": "adoptsim.app.page",
    "SOLARA_MODE": "production",
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",  # no usage reports leave the machine
    # SOLARA_ASSETS_PROXY stays on: the page then loads its assets from this server, which serves
    # them from solara-assets (turned off, the page would point at a public CDN)
    "SOLARA_THEME_TITLE": "adoptsim explorer",
    "SOLARA_THEME_SHOW_BANNER": "False",
}


def serve(host: str = "127.0.0.1", port: int = 8765, quiet: bool = False) -> None:
    """Run the page's web server until interrupted (Ctrl-C)."""
    os.environ.update(OFFLINE)
    os.environ["SERVER_NAME"], os.environ["SERVER_PORT"] = host, str(port)
    import uvicorn

    if not quiet:
        print(f"adoptsim app: http://{host}:{port}/  (Ctrl-C to stop)", file=sys.stderr, flush=True)
    uvicorn.run("solara.server.starlette:app", host=host, port=port, log_level="warning" if not quiet else "error",
                lifespan="on")
