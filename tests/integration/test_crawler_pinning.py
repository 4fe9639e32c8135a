"""Integration: the crawler connects to the address it checked (DNS rebinding), refuses every
non-public range, re-checks each redirect, and keeps Host, SNI and the certificate check on the name.

A fake DNS answers the names; a recording network backend notes the address the crawler asked to
connect to and sends the real TCP connection to a local server (HTTP or TLS) that records what it
received. No mock of the HTTP client: httpx, httpcore and the TLS handshake are the real ones.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import httpcore
import pytest

from services.crawler.adapters.http import FetchError, PoliteClient

PUBLIC = "93.184.216.34"


class Dns:
    """Answers each name from a list of successive answers (the last one repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]):
        self.answers, self.queries = answers, []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.queries.append(host)
        answers = self.answers[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


class Recorder(httpcore.AsyncNetworkBackend):
    """Notes the (address, port) asked for and connects to the local server instead."""

    def __init__(self, port: int):
        self.port, self.connected, self._real = port, [], httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append((host, port))
        return await self._real.connect_tcp("127.0.0.1", self.port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


class Server:
    """HTTP/1.1 with keep-alive: ``/redirect?to=X`` → 302 to X; ``/close`` answers and closes;
    anything else → 200. Records (path, Host) of every request and the TLS SNI."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None):
        self.requests: list[tuple[str, str]] = []
        self.sni: list[str | None] = []
        self.ssl_context = ssl_context
        if ssl_context is not None:
            ssl_context.sni_callback = lambda sock, name, ctx: self.sni.append(name)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                path = lines[0].split(" ")[1]
                host = next(v.strip() for k, _, v in (x.partition(":") for x in lines[1:]) if k.lower() == "host")
                self.requests.append((path, host))
                close = path == "/close"
                if path.startswith("/redirect?to="):
                    status, extra, body = "302 Found", f"Location: {path.split('=', 1)[1]}\r\n", b""
                else:
                    status, extra, body = "200 OK", "Content-Type: text/plain\r\n", f"host={host}".encode()
                extra += "Connection: close\r\n" if close else ""
                writer.write(f"HTTP/1.1 {status}\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server():
    s = Server()
    port = await s.start()
    yield s, port
    await s.stop()


def _client(dns: Dns, recorder: Recorder, **kw) -> PoliteClient:
    return PoliteClient("CarrefourBot/test", resolver=dns, network_backend=recorder, backoff_s=0.01, **kw)


async def test_rebinding_dns_is_refused_and_the_connection_goes_to_the_checked_address(server) -> None:
    srv, port = server
    dns = Dns({"partner.example": [[PUBLIC], ["127.0.0.1"]]})
    recorder = Recorder(port)
    client = _client(dns, recorder)
    try:
        resp = await client.get("http://partner.example/close", delay_s=0)
        assert resp.status == 200 and resp.body == b"host=partner.example"
        assert recorder.connected == [(PUBLIC, 80)], "connected to the address that was checked"
        assert dns.queries == ["partner.example"], "resolved once for the check and the connection"
        # the next connection: the name now answers a private address → refused before connecting
        with pytest.raises(FetchError) as info:
            await client.get("http://partner.example/again", delay_s=0)
        assert info.value.kind == "unsafe" and "127.0.0.1" in str(info.value)
        assert recorder.connected == [(PUBLIC, 80)] and srv.requests == [("/close", "partner.example")]
    finally:
        await client.close()


async def test_one_private_address_among_public_ones_is_refused(server) -> None:
    srv, port = server
    recorder = Recorder(port)
    client = _client(Dns({"mixed.example": [[PUBLIC, "10.0.0.7"]]}), recorder)
    try:
        with pytest.raises(FetchError) as info:
            await client.get("http://mixed.example/", delay_s=0)
        assert info.value.kind == "unsafe" and recorder.connected == [] and srv.requests == []
    finally:
        await client.close()


@pytest.mark.parametrize(("address", "allowed"), [
    ("2002:7f00:1::1", False),                  # 6to4 of 127.0.0.1
    ("2002:5db8:d822::1", False),               # 6to4, even of a public IPv4
    ("fec0::1", False), ("feff:ffff::1", False),  # site-local, at its start and end
    ("64:ff9b::7f00:1", False),                 # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", False),              # NAT64 of 169.254.169.254
    ("64:ff9b:1::5db8:d822", False),            # local-use NAT64
    ("::ffff:127.0.0.1", False), ("::ffff:93.184.216.34", False),  # IPv4-mapped
    ("::7f00:1", False),                        # IPv4-compatible
    ("2001::1", False), ("2001:0:ffff:ffff::1", False),  # Teredo
    ("fc00::1", False), ("fd12:3456::1", False), ("fe80::1", False), ("ff02::1", False),
    ("::1", False), ("::", False), ("2001:db8::1", False), ("100::1", False),
    ("64:ff9b::5db8:d822", True),               # NAT64 of a public IPv4: reachable
    ("2a00:1450:4007:80f::200e", True),
])
async def test_ipv6_special_ranges(server, address: str, allowed: bool) -> None:
    srv, port = server
    recorder = Recorder(port)
    client = _client(Dns({"v6.example": [[address]]}), recorder)
    try:
        if allowed:
            resp = await client.get("http://v6.example/", delay_s=0)
            assert resp.status == 200 and recorder.connected == [(address, 80)]
        else:
            with pytest.raises(FetchError) as info:
                await client.get("http://v6.example/", delay_s=0)
            assert info.value.kind == "unsafe" and address in str(info.value)
            assert recorder.connected == [] and srv.requests == []
    finally:
        await client.close()


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://internal.example/admin",
                                    "http://[fd00::1]/", "http://[64:ff9b::a00:1]/"])
async def test_redirect_to_a_private_address_is_refused(server, target: str) -> None:
    srv, port = server
    recorder = Recorder(port)
    client = _client(Dns({"partner.example": [[PUBLIC]], "internal.example": [["10.1.2.3"]]}), recorder)
    try:
        with pytest.raises(FetchError) as info:
            await client.get(f"http://partner.example/redirect?to={target}", delay_s=0)
        assert info.value.kind == "unsafe"
        assert recorder.connected == [(PUBLIC, 80)], "only the first hop was connected"
        assert srv.requests == [(f"/redirect?to={target}", "partner.example")]
    finally:
        await client.close()


async def test_a_connection_opened_under_the_private_allowance_is_not_reused_by_a_strict_request(server) -> None:
    srv, port = server
    recorder = Recorder(port)
    client = _client(Dns({"lan.example": [["192.168.1.10"]]}), recorder)
    try:
        assert (await client.get("http://lan.example/", delay_s=0, allow_private=True)).status == 200
        with pytest.raises(FetchError) as info:  # the kept-alive connection belongs to the other pool
            await client.get("http://lan.example/", delay_s=0, allow_private=False)
        assert info.value.kind == "unsafe"
        assert recorder.connected == [("192.168.1.10", 80)] and len(srv.requests) == 1
    finally:
        await client.close()


# --------------------------------------------------------------------------- TLS


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A test CA and a certificate for partner.example (and nothing else)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificates")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=partner.example",
             "-keyout", "site.key", "-out", "site.csr", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=DNS:partner.example\n")
    _openssl("x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "ext.cnf", "-out", "site.pem", cwd=d)
    return d


@pytest.fixture
async def tls_server(pki):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki / "site.pem", pki / "site.key")
    s = Server(ctx)
    port = await s.start()
    yield s, port
    await s.stop()


async def test_tls_to_the_pinned_address_checks_the_certificate_and_sends_sni_for_the_name(tls_server, pki) -> None:
    srv, port = tls_server
    trust = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    recorder = Recorder(port)
    dns = Dns({"partner.example": [[PUBLIC]], "other.example": [[PUBLIC]]})
    client = _client(dns, recorder, verify=trust)
    try:
        resp = await client.get("https://partner.example/", delay_s=0)
        assert resp.status == 200 and resp.body == b"host=partner.example"
        assert recorder.connected == [(PUBLIC, 443)] and srv.sni == ["partner.example"]
        # the same server (same IP) under a name its certificate does not carry: refused by TLS
        with pytest.raises(FetchError) as info:
            await client.get("https://other.example/", delay_s=0)
        assert info.value.kind == "network" and "certificate" in str(info.value).lower()
        assert srv.sni == ["partner.example", "other.example"] and len(srv.requests) == 1
    finally:
        await client.close()
