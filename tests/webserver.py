"""Helpers for the web tests: run ``charsmith serve`` as users do, or the app in this process."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any


@contextlib.contextmanager
def serve_process(*args: str, timeout: float = 60.0) -> Iterator[str]:
    """Run ``charsmith serve --port 0 ARGS`` and yield its URL; Ctrl-C it afterwards and
    check that it stopped cleanly."""
    cmd = [sys.executable, "-m", "charsmith", "serve", "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _read_line(proc, timeout)
        if "http://" not in line:
            raise RuntimeError(f"charsmith serve did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}")
        yield "http://" + line.split("http://", 1)[1].split()[0]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, f"charsmith serve exited with {proc.returncode}: {proc.stderr.read()}"


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError(f"charsmith serve printed nothing within {timeout:g} s")
    return proc.stdout.readline()


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yield its URL."""
    import uvicorn

    from charsmith.web._server import bind

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def chromium_path() -> str | None:
    """Debian's chromium (or $CHARSMITH_CHROMIUM), if installed."""
    import shutil

    for name in (os.environ.get("CHARSMITH_CHROMIUM", ""), "chromium", "chromium-browser"):
        if name and (path := shutil.which(name)):
            return path
    return None


# Headless in a container, as root, offline: no sandbox (root cannot use it), no GPU, and
# none of the browser's own network traffic.
CHROMIUM_FLAGS: Sequence[str] = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                 "--disable-component-update", "--disable-sync", "--no-first-run")  # fmt: skip
