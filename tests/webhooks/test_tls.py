"""https to the checked address: the TLS server name and the certificate check use the URL's
host name, not the address connected to (a certificate for another name is refused)."""

import datetime
import http.server
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from webhooks import transport
from webhooks.transport import webhook_post

from .test_ssrf import Resolver


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificate_files(tmp_path, host):
    """A throwaway CA, and a server certificate it signed for `host`; returns (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture
def tls_receiver(tmp_path):
    """An https server on 127.0.0.1 with a certificate for hooks.example; records the server
    names (SNI) it is asked for and the requests' Host headers."""
    ca, cert, key = certificate_files(tmp_path, "hooks.example")
    seen = {"sni": [], "hosts": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen["hosts"].append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], ca, seen
    server.shutdown()
    server.server_close()


def trusting(monkeypatch, ca):
    """The transport's default context, trusting the test CA as well."""
    real = ssl.create_default_context

    def create_default_context(*args, **kwargs):
        context = real(*args, **kwargs)
        context.load_verify_locations(ca)
        return context

    monkeypatch.setattr(transport.ssl, "create_default_context", create_default_context)


def test_https_connects_to_the_checked_address_with_the_urls_name_for_sni_and_the_certificate(
    tls_receiver, monkeypatch
):
    port, ca, seen = tls_receiver
    resolver = Resolver(monkeypatch, hooks_example=[["127.0.0.1"]])
    trusting(monkeypatch, ca)

    response = webhook_post(
        url=f"https://hooks.example:{port}/hooks", body=b"{}", headers={}, timeout=5, allow_private=True
    )

    assert (response.status_code, response.error) == (204, "")
    assert seen == {"sni": ["hooks.example"], "hosts": [f"hooks.example:{port}"]}
    assert resolver.asked.count("hooks.example") == 1


def test_a_certificate_for_another_name_or_from_an_unknown_authority_is_refused(tls_receiver, monkeypatch):
    port, ca, seen = tls_receiver
    Resolver(monkeypatch, hooks_example=[["127.0.0.1"]], other_example=[["127.0.0.1"]])

    untrusted = webhook_post(
        url=f"https://hooks.example:{port}/hooks", body=b"{}", headers={}, timeout=5, allow_private=True
    )
    trusting(monkeypatch, ca)
    wrong_name = webhook_post(
        url=f"https://other.example:{port}/hooks", body=b"{}", headers={}, timeout=5, allow_private=True
    )

    assert untrusted.status_code is None and "CERTIFICATE_VERIFY_FAILED" in untrusted.error
    assert wrong_name.status_code is None and "Hostname mismatch" in wrong_name.error
    assert seen["hosts"] == []
