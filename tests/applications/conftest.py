"""Fixtures: an empty weights cache, and a local HTTP server standing in for the weights host."""

from __future__ import annotations

import pytest
from http_server import Server

from convolve.applications import imagenet_utils, weights
from convolve.data import download


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty `$CONVOLVE_HOME`; returns its `models` folder. Downloads go nowhere real."""
    home = tmp_path / "home"
    monkeypatch.setenv("CONVOLVE_HOME", str(home))
    # Keras's own cache, looked at before downloading: empty unless a test fills it.
    monkeypatch.setattr(download, "keras_homes", lambda: [tmp_path / "keras"])
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
    local = Server(root)
    monkeypatch.setenv(weights.BASE_URL_ENV, local.url + "/")
    yield local
    local.close()
