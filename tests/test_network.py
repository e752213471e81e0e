"""Without sign-in the dashboard is single-user: it listens on this machine only, and
says in its log when it is opened to the network anyway. Only loopback traffic: the
bound addresses are read from the process, never connected to."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from geo.store import open_store
from tests.browser import APP, free_port, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _start(store: Path, port: int, log, **env) -> subprocess.Popen:
    """The dashboard as `make dashboard` starts it (the project's .streamlit/config.toml,
    no address on the command line)."""
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port)],
        cwd=APP.parent.parent, stdout=subprocess.DEVNULL, stderr=log,
        env={**os.environ, "FLANKWATCH_STORE": str(store), "PYTHONPATH": str(APP.parent.parent),
             **env})


def _listening(pid: int, port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def test_without_sign_in_it_listens_on_this_machine_only(tmp_path):
    store = open_store(tmp_path / "store.gpkg").path
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        proc = _start(store, port, log)
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            addresses = _listening(proc.pid, port)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        log.seek(0)
        started = log.read()
    assert addresses
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses
    # the start is quiet: no caches made before Streamlit's runtime exists
    assert "No runtime found" not in started


def test_opened_to_the_network_without_sign_in_it_warns(tmp_path, page):
    store = open_store(tmp_path / "store.gpkg").path
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        proc = _start(store, port, log, STREAMLIT_SERVER_ADDRESS="0.0.0.0")
        try:
            wait_healthy(f"http://127.0.0.1:{port}", proc)
            assert _listening(proc.pid, port) == {"0.0.0.0"}
            page.goto(f"http://127.0.0.1:{port}")  # a session runs the page (loopback)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                log.seek(0)
                if "with no sign-in" in log.read():
                    break
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        log.seek(0)
        assert "listens on 0.0.0.0 with no sign-in" in log.read()
