"""Listening: the socket ``charsmith serve`` binds, and uvicorn running the app on it."""

from __future__ import annotations

import ipaddress
import re
import socket
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from charsmith.errors import InputError

__all__ = ["bind", "check_origin", "is_loopback", "local_host_names", "run"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_host_names(host: str) -> list[str] | None:
    """The Host headers to accept when listening on ``host``: for an IPv4 loopback address
    only the local names (so a web page elsewhere cannot reach the server by DNS
    rebinding); None (any) otherwise."""
    return ["127.0.0.1", "localhost"] if host == "localhost" or host.startswith("127.") else None


def check_origin(origin: str) -> str:
    """``origin`` if it is a web origin (``scheme://host[:port]``, nothing after) or ``*``;
    else a one-line InputError naming ``cors``."""
    if origin == "*" or re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
        return origin
    raise InputError(f"`cors` takes web origins such as https://game.example (scheme, host and port, no path), "
                         f"got {origin!r}", param="cors")


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: a free port), so connections wait in its
    queue until the server runs; a one-line InputError if it cannot."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]  # fmt: skip
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise InputError(f"cannot listen on {host!r}: {e.strerror or e}; pass `host` 127.0.0.1", param="host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}; pick another `port`", param="port") from None
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, which on SIGTERM or SIGINT also sets the app's ``state.stopping``
    event (see ``create_app``), so the work of open requests stops at its next check and they
    are answered (503) at once rather than after the graceful-shutdown wait."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        stopping = getattr(getattr(self.config.app, "state", None), "stopping", None)
        if stopping is not None:
            stopping.set()
        super().handle_exit(sig, frame)


def run(app: Starlette, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until interrupted (uvicorn; errors go to its log)."""
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    _Server(config).run(sockets=[sock])
