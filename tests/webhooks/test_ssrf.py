"""SSRF: only https URLs whose every address is public, resolved once and connected to as checked
(so DNS rebinding cannot turn the connect inside), never a redirect; WEBHOOK_ALLOW_PRIVATE_URLS
(local and test settings) lifts the address rule."""

import socket

import pytest

from webhooks import transport
from webhooks.transport import address_is_public, webhook_post

INSIDE = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.100.100.200",  # Alibaba's metadata, in the shared range
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",  # AWS's IPv6 metadata
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "ff02::1",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", INSIDE)
def test_inside_addresses_are_refused(address):
    assert not address_is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert address_is_public(address)


class Resolver:
    """socket.getaddrinfo for names in `answers` (one list of addresses per call, the last one
    repeating); IP literals pass through. Records every name asked."""

    def __init__(self, monkeypatch, **answers):
        self.answers = {name.replace("_", "."): list(lists) for name, lists in answers.items()}
        self.asked = []
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            self.asked.append(host)
            if host not in self.answers:
                return real(host, port, *args, **kwargs)
            addresses = self.answers[host].pop(0) if len(self.answers[host]) > 1 else self.answers[host][0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def post(url, *, allow_private, timeout=2.0):
    return webhook_post(url=url, body=b"{}", headers={}, timeout=timeout, allow_private=allow_private)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example/x",  # not https
        "https://127.0.0.1:{port}/hooks",
        "https://[::1]:{port}/hooks",
        "https://2130706433:{port}/hooks",  # 127.0.0.1 as a number: the resolver's answer is checked
        "https://localhost:{port}/hooks",
        "ftp://hooks.example/x",
        "https://user:pw@hooks.example/x",
    ],
)
def test_production_refuses_urls_that_are_not_https_to_a_public_address(receiver, url):
    response = post(url.format(port=receiver.port), allow_private=False)

    assert response.status_code is None and response.error.startswith("refused:")
    assert receiver.requests == []


def test_a_name_with_one_inside_address_among_public_ones_is_refused(receiver, monkeypatch):
    Resolver(monkeypatch, hooks_example=[["93.184.216.34", "127.0.0.1"]])

    response = post(f"https://hooks.example:{receiver.port}/hooks", allow_private=False)

    assert response.error == "refused: the host resolves to an address that is not public: 127.0.0.1"


def test_the_name_is_resolved_once_and_the_connection_goes_to_the_checked_address(receiver, monkeypatch):
    """DNS rebinding: the first answer is public, every later one is the receiver on loopback. A
    client that resolved again to connect would reach it; this one connects to the public
    address it checked (which does not answer here) and never asks again."""
    resolver = Resolver(monkeypatch, hooks_example=[["93.184.216.34"], ["127.0.0.1"]])

    response = post(f"https://hooks.example:{receiver.port}/hooks", allow_private=False, timeout=0.5)

    assert resolver.asked == ["hooks.example", "93.184.216.34"]  # the check, then the connect
    assert response.status_code is None and response.error.startswith(("timeout", "connection error"))
    assert receiver.requests == []


def test_the_checked_address_is_called_with_the_original_host_header(receiver, monkeypatch):
    resolver = Resolver(monkeypatch, hooks_example=[["127.0.0.1"]])

    response = post(f"http://hooks.example:{receiver.port}/hooks?a=1", allow_private=True)

    assert response.status_code == 200
    (received,) = receiver.wait_for(1)
    assert (received.path, received.headers["Host"]) == ("/hooks?a=1", f"hooks.example:{receiver.port}")
    assert resolver.asked.count("hooks.example") == 1


def test_local_and_test_settings_may_call_loopback(receiver):
    assert post(receiver.url, allow_private=True).status_code == 200


def test_an_unknown_host_is_an_error_not_an_exception():
    response = post("https://no-such-host.invalid/hooks", allow_private=False)

    assert response.status_code is None and response.error.startswith("refused: the host does not resolve")


def test_the_setting_is_off_in_production_and_on_in_local_and_test(settings):
    from ledger_project.settings import base, local

    assert base.WEBHOOK_ALLOW_PRIVATE_URLS is False
    assert local.WEBHOOK_ALLOW_PRIVATE_URLS is True
    assert settings.WEBHOOK_ALLOW_PRIVATE_URLS is True
    assert transport.url_check("https://hooks.example/x", allow_private=False) == ("https", "hooks.example", 443)
