import ipaddress
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.channels.wecom_api import WeComClient, WeComError, forget_tokens
from tests.fakes.wecom_server import FakeWeCom

TEXT = {"msgtype": "text", "text": {"content": "明天交表"}}


@pytest.fixture(autouse=True)
def fresh_tokens():
    forget_tokens()
    yield
    forget_tokens()


@pytest.fixture
def client(fake):
    return WeComClient(fake.base_url, "corp", "s3cret", 1000002, timeout=2.0)


def test_sends_reuse_one_keep_alive_connection(fake, client):
    for i in range(20):
        client.send_message([f"u{i}"], TEXT)
    assert fake.connections == 2  # gettoken's, and one for all twenty sends


def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed(fake, client):
    client.send_message(["a"], TEXT)
    fake.hang_up_after_next("message/send")
    client.send_message(["b"], TEXT)  # answered, then the server hangs up without saying so
    deadline = time.monotonic() + 5
    while fake.connections_closed < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    client.send_message(["c"], TEXT)
    assert [fake.delivered_to(u) for u in "abc"] == [1, 1, 1] and fake.connections == 3


def test_with_a_proxy_in_the_environment_calls_go_through_it(fake, monkeypatch):
    with FakeWeCom() as proxy:  # a proxy forwards absolute-form requests; the fake serves them itself
        monkeypatch.setenv("HTTP_PROXY", proxy.base_url.removesuffix("/cgi-bin/"))
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        WeComClient(fake.base_url, "corp", "s3cret", 1).send_message(["a"], TEXT)
        assert (proxy.delivered_to("a"), fake.calls) == (1, [])


def test_an_answer_that_is_not_json_is_a_retryable_error(fake):
    class Portal(BaseHTTPRequestHandler):  # a captive portal or a proxy's error page: 200 with HTML
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "13")
            self.end_headers()
            self.wfile.write(b"<html></html>")

        def log_message(self, *args):
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Portal) as portal:
        threading.Thread(target=portal.serve_forever, daemon=True).start()
        client = WeComClient(fake.base_url, "corp", "s3cret", 1)
        client._poster.port = portal.server_address[1]  # gettoken from the fake, message/send to the portal
        with pytest.raises(WeComError) as caught:
            client.send_message(["a"], TEXT)
        portal.shutdown()
    assert (caught.value.errcode, caught.value.retryable) == (-3, True)


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_https_sends_check_the_certificate_against_the_site_ca_bundle(fake, tmp_path, monkeypatch):
    cert_file, key_file = self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    fake._server.socket = tls.wrap_socket(fake._server.socket, server_side=True)  # the same port, now TLS
    base = fake.base_url.replace("http://", "https://")
    with pytest.raises(WeComError):  # the system's CAs do not know this certificate: refused, nothing sent
        WeComClient(base, "corp", "s3cret", 1, timeout=2.0).send_message(["a"], TEXT)
    forget_tokens()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))
    WeComClient(base, "corp", "s3cret", 1, timeout=2.0).send_message(["a"], TEXT)
    assert fake.delivered_to("a") == 1
