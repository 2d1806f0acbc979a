"""Fixtures: an empty weights cache, and a local HTTP server standing in for the weights host."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from convolve.applications import imagenet_utils, weights


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self):  # noqa: N802 - http.server's name
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):  # keep the test output clean
        pass


class LocalServer:
    """Serves the files of `root` at `url`; `requests` lists the paths asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        handler = type("Handler", (_Handler,), {"requests": self.requests})

        def factory(*args, **kwargs):
            return handler(*args, directory=str(root), **kwargs)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty `$CONVOLVE_HOME`; returns its `models` folder. Downloads go nowhere real."""
    home = tmp_path / "home"
    monkeypatch.setenv("CONVOLVE_HOME", str(home))
    # Port 1 on the loopback refuses connections: nothing leaves the machine.
    monkeypatch.setenv(weights.BASE_URL_ENV, "http://127.0.0.1:1/")
    monkeypatch.setattr(weights, "_pins", {})
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)
    return home / "models"


@pytest.fixture
def server(tmp_path, cache, monkeypatch):
    """A local weights host (files go in `server.root`), used as `CONVOLVE_MODELS_URL`."""
    root = tmp_path / "served"
    root.mkdir()
    local = LocalServer(root)
    monkeypatch.setenv(weights.BASE_URL_ENV, local.url)
    yield local
    local.close()
