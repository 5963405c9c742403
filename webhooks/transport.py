"""The one HTTP request a delivery makes, safe against server-side request forgery.

The host is resolved once; every address it resolves to must be public (no loopback, private,
link-local, shared, reserved or cloud-metadata address, IPv4 hidden in IPv6 included), and the
connection goes to the address that was checked, with the original name as Host and TLS server
name (certificate checked against it). So a DNS answer that changes between the check and the
connect (rebinding) cannot reach an inside address, and redirects are never followed.
WEBHOOK_ALLOW_PRIVATE_URLS (local and test settings only) lifts the address rule and allows http.
"""

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

RESPONSE_KEEP_BYTES = 1024
CONNECT_TIMEOUT_SECONDS = 5.0

# Not caught by ipaddress's is_global on every Python we run: cloud metadata services (AWS, GCP,
# Azure at 169.254.169.254; AWS's IPv6 one; Alibaba's in the shared range) and NAT64 prefixes,
# which embed an IPv4 address of any kind.
BLOCKED_NETWORKS = [
    ipaddress.ip_network(network)
    for network in ("169.254.0.0/16", "100.64.0.0/10", "fd00:ec2::/32", "64:ff9b::/96", "64:ff9b:1::/48")
]


class UnsafeUrlError(Exception):
    """The URL may not be called: a scheme other than https, no host, or an address inside."""


@dataclass
class WebhookResponse:
    status_code: int | None
    headers: dict
    body: str  # the first RESPONSE_KEEP_BYTES, decoded leniently
    duration_ms: int
    error: str


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo and ip.teredo[1])
        if embedded:
            return address_is_public(str(embedded))
    return ip.is_global and not ip.is_multicast and not any(ip in network for network in BLOCKED_NETWORKS)


def url_check(url: str, *, allow_private: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL the service may call, before any resolution; raises
    UnsafeUrlError otherwise. An IP literal is checked here already."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"not a valid URL: {exc}") from exc
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeUrlError("the URL must use https")
    if not parts.hostname:
        raise UnsafeUrlError("the URL must name a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrlError("the URL must not carry a user name or password")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None and not allow_private and not address_is_public(str(literal)):
        raise UnsafeUrlError("the URL's address is not public")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve_checked(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Every address `host` resolves to, once; all of them must be public (one inside address
    among public ones is refused too, rather than hoping the connect picks a public one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrlError(f"the host does not resolve: {exc}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow_private:
        inside = [address for address in addresses if not address_is_public(address)]
        if inside:
            raise UnsafeUrlError(f"the host resolves to an address that is not public: {inside[0]}")
    return addresses


def webhook_post(*, url: str, body: bytes, headers: dict, timeout: float, allow_private: bool | None = None):
    """POST `body` to `url`; never raises for the receiver's faults, which come back in `error`.
    The whole exchange, from the connect to the first KB of the answer, must end within
    `timeout` seconds: a receiver that trickles its answer is cut off then, not only one that
    stays silent."""
    if allow_private is None:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    started = time.monotonic()

    def elapsed_ms():
        return int((time.monotonic() - started) * 1000)

    try:
        scheme, host, port = url_check(url, allow_private=allow_private)
        addresses = resolve_checked(host, port, allow_private=allow_private)
    except UnsafeUrlError as exc:
        return WebhookResponse(None, {}, "", elapsed_ms(), f"refused: {exc}")

    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    name = f"[{host}]" if ":" in host else host
    host_header = name if port == (443 if scheme == "https" else 80) else f"{name}:{port}"
    exchange = _Exchange(timeout)
    try:
        status, answer_headers, kept = exchange.post(
            tls=scheme == "https",
            address=addresses[0],
            host=host,
            port=port,
            target=target,
            body=body,
            headers={**headers, "Host": host_header},
        )
    except (OSError, http.client.HTTPException) as exc:
        if exchange.cut:
            return WebhookResponse(None, {}, "", elapsed_ms(), f"timeout: no complete answer within {timeout:g} s")
        kind = "timeout" if isinstance(exc, TimeoutError) else "connection error"
        return WebhookResponse(None, {}, "", elapsed_ms(), f"{kind}: {type(exc).__name__}: {exc}")
    # Cut off mid-body, http.client reads the shutdown as the end of the answer: still a timeout.
    error = f"timeout: no complete answer within {timeout:g} s" if exchange.cut else ""
    return WebhookResponse(status, answer_headers, kept.decode("utf-8", "replace"), elapsed_ms(), error)


class _Exchange:
    """One request on one connection to the checked address, under a deadline: a timer shuts the
    socket down when `timeout` has passed, which ends whatever read or write is waiting then."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.sock = None
        self.cut = False

    def _cut(self):
        self.cut = True
        try:
            # socket.socket's own shutdown, also on a TLS socket: the syscall, without touching
            # the TLS state the reading thread is using.
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except (OSError, TypeError):
            pass  # not connected yet, or already closed: the per-operation timeout still holds

    def post(self, *, tls, address, host, port, target, body, headers):
        timer = threading.Timer(self.timeout, self._cut)
        timer.daemon = True
        timer.start()
        try:
            self.sock = socket.create_connection((address, port), timeout=min(self.timeout, CONNECT_TIMEOUT_SECONDS))
            self.sock.settimeout(self.timeout)
            if tls:
                # SNI and the certificate check use the URL's name, not the address.
                self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=host)
            connection = http.client.HTTPConnection(host, port)
            connection.sock = self.sock  # already connected: http.client never resolves the name
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()  # a redirect is an answer like any other
            kept = response.read(RESPONSE_KEEP_BYTES)
            return response.status, dict(response.getheaders()), kept
        finally:
            timer.cancel()
            if self.sock is not None:
                self.sock.close()
