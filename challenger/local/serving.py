"""The local cloud's HTTP servers: werkzeug's threaded WSGI server on a socket we bind, and a loopback guard.

Binding the socket ourselves (rather than letting werkzeug do it) gives two things werkzeug's server does not:
a taken port is a clear :class:`PortInUseError` (werkzeug prints and calls ``sys.exit`` inside the server
thread), and the listen backlog is ours (``BACKLOG``), so a burst of connections queues instead of being reset.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

BACKLOG = 1024  # pending connections the kernel queues (Linux caps it at net.core.somaxconn, 4096 by default)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class PortInUseError(RuntimeError):
    """The port the local cloud wants (e.g. the one it used last time) is taken by another program."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may bind over TIME_WAIT leftovers
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        raise PortInUseError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    return sock


class WsgiServer:
    """A WSGI app served on its own daemon thread by werkzeug's threaded server (keep-alive, chunked bodies)."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        handler: type[WSGIRequestHandler] = WSGIRequestHandler,
        name: str = "http",
    ) -> None:
        sock = listen(host, port)
        try:
            # werkzeug adopts a bound socket by descriptor (it duplicates it, so ours is closed below).
            self._server = ThreadedWSGIServer(host, 0, app, handler=handler, fd=sock.fileno())
        finally:
            sock.close()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def is_loopback_host(host_header: str) -> bool:
    """True for a ``Host`` header naming this machine: ``127.x.y.z``, ``[::1]``, ``localhost`` (any port)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_browsers(app: WSGIApplication) -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
    """WSGI middleware: 403 for any request a web page could make, before ``app`` sees it.

    The local S3 (moto) has no authentication, so a page open in the developer's browser could otherwise read
    or replace models through it: by a cross-origin request (browsers send ``Origin`` on those, and
    ``Sec-Fetch-*`` on every request) or through DNS rebinding (a hostile name resolving to 127.0.0.1 is sent
    with its own ``Host``). SDKs and the local cloud's own clients send neither header and a loopback ``Host``.
    """

    def guarded(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        reason = _browser_reason(environ)
        if reason is None:
            return app(environ, start_response)
        body = json.dumps({"message": f"the local cloud refuses this request: {reason}"}).encode()
        start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return guarded


def refuse_browser_headers(headers: Mapping[str, str]) -> str | None:
    """The same guard for a server that is not WSGI (``http.server``'s headers): the reason to refuse, or None."""
    return _browser_reason({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})


def _browser_reason(environ: dict[str, Any] | WSGIEnvironment) -> str | None:
    if "HTTP_ORIGIN" in environ:
        return "it carries an Origin header (a web page's request)"
    if any(name.startswith("HTTP_SEC_FETCH_") for name in environ):
        return "it carries Sec-Fetch-* headers (a browser's request)"
    host = str(environ.get("HTTP_HOST", ""))
    if not is_loopback_host(host):
        return f"Host {host!r} is not this machine's loopback name or address"
    return None
