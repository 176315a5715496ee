"""The privacy guard of the chat-server teacher (issue 12): without allow_remote, an endpoint is
refused before any socket is opened or any name looked up unless it is this machine, and a request
goes to exactly the loopback address that was checked, never to a name.

Every test runs the real teacher code against a real OpenAI-compatible server on 127.0.0.1 (and one
on [::1]) with the socket module watched: a lookup of any name but ``localhost``, a connection to
anything but a loopback address written as an address, and any proxy use are recorded as leaks."""

from __future__ import annotations

import http.server
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edgeai.errors import EdgeAIError
from edgeai.teachers import OpenAITeacher, check_endpoint, check_endpoint_is_local, load_teacher

from .test_teachers import _FakeChat

LABELS = ["spam", "ham"]
TEXTS = ["prize waiting, call now", "lunch at 1?"]
ANSWERS = [[1.0, 0.0], [0.0, 1.0]]


class _Chat(_FakeChat):
    """The teacher tests' fake chat server, also noting the Host header of each request."""

    hosts: list[str | None] = []  # noqa: RUF012

    def do_POST(self) -> None:
        type(self).hosts.append(self.headers.get("Host"))
        super().do_POST()


class _Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@dataclass
class Servers:
    port: int  # on 127.0.0.1
    port6: int | None  # on [::1], None without IPv6


def _serve(server: http.server.ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def chat() -> Iterator[Servers]:
    _Chat.requests, _Chat.hosts = [], []
    servers: list[http.server.ThreadingHTTPServer] = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Chat)]
    with suppress(OSError):
        servers.append(_Server6(("::1", 0), _Chat))
    threads = [_serve(s) for s in servers]
    yield Servers(servers[0].server_address[1], servers[1].server_address[1] if len(servers) > 1 else None)
    for s, t in zip(servers, threads, strict=True):
        s.shutdown()
        s.server_close()
        t.join()


def _is_loopback_address(host: object) -> bool:
    """A loopback IP written as Python writes it (127.0.0.1, ::1): what a connection may go to."""
    if not isinstance(host, str):
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return str(ip) == host and ip.is_loopback


@dataclass
class Guard:
    names: list[str] = field(default_factory=list)  # names given to the resolver (not addresses)
    connects: list[Any] = field(default_factory=list)  # every destination of a connection
    leaks: list[str] = field(default_factory=list)  # what was refused: must stay empty

    def leak(self, what: str) -> AssertionError:
        self.leaks.append(what)
        return AssertionError(f"privacy guard: {what}")

    def clean(self) -> bool:
        return not self.leaks and all(_is_loopback_address(d[0]) for d in self.connects)


@pytest.fixture
def guard(chat: Servers) -> Iterator[Guard]:
    """Watches the socket module while a test runs (after the servers are up)."""
    g = Guard()
    real_getaddrinfo, real_create_connection = socket.getaddrinfo, socket.create_connection
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if _is_loopback_address(host):  # an address: parsed, not looked up
            return real_getaddrinfo(host, port, *args, **kwargs)
        g.names.append(host)
        if host != "localhost":
            raise g.leak(f"a lookup of {host!r}")
        return real_getaddrinfo(host, port, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        g.connects.append(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback_address(address[0]):
            raise g.leak(f"a connection to {address!r}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        g.connects.append(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback_address(address[0]):
            raise g.leak(f"a connection to {address!r}")
        return real_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        g.connects.append(address)
        if not _is_loopback_address(address[0]):
            raise g.leak(f"a connection to {address!r}")
        return real_create_connection(address, *args, **kwargs)

    def refuse(name: str) -> Any:
        def f(*args: Any, **kwargs: Any) -> Any:
            raise g.leak(f"socket.{name}{args!r}")

        return f

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket, "create_connection", create_connection)
        for name in ("gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo", "getfqdn"):
            mp.setattr(socket, name, refuse(name))
        for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            mp.setenv(var, "http://10.9.9.9:3128")  # a server on this machine is never reached through a proxy
        for var in ("no_proxy", "NO_PROXY"):
            mp.delenv(var, raising=False)
        yield g


# ---------------------------------------------------------------------------------------------
# refused: before any lookup or connection


# (URL with {port} for the live server, a piece of the one-line error)
REFUSED = [
    # the defect: a final dot sends the name to DNS
    ("http://localhost.:{port}/v1", "final dot"),
    ("http://LOCALHOST.:{port}/v1", "final dot"),
    ("http://127.0.0.1.:{port}/v1", "--allow-remote"),
    # shorthands that inet_aton reads as 127.0.0.1 (and socket.connect would pass to it)
    ("http://127.1:{port}/v1", "as 127.0.0.1"),
    ("http://0x7f.1:{port}/v1", "as 127.0.0.1"),
    ("http://2130706433:{port}/v1", "as 127.0.0.1"),
    ("http://0177.0.0.1:{port}/v1", "as 127.0.0.1"),
    ("http://127.0.0.01:{port}/v1", "as 127.0.0.1"),
    ("http://0x0a000001:{port}/v1", "10.0.0.1, not a loopback address"),
    # not loopback, though some systems connect them here
    ("http://0.0.0.0:{port}/v1", "not a loopback address"),
    ("http://[::]:{port}/v1", "not a loopback address"),
    ("http://[::127.0.0.1]:{port}/v1", "not a loopback address"),
    ("http://[64:ff9b::7f00:1]:{port}/v1", "not a loopback address"),
    ("http://[::ffff:10.1.2.3]:{port}/v1", "not a loopback address"),
    ("http://10.1.2.3:{port}/v1", "not a loopback address"),
    ("http://[2001:db8::1]:{port}/v1", "not a loopback address"),
    # names other than localhost are not looked up
    ("http://localhost.localdomain:{port}/v1", "--allow-remote"),
    ("http://foo.localhost:{port}/v1", "--allow-remote"),
    ("http://localhost.evil.example:{port}/v1", "--allow-remote"),
    ("http://127.0.0.1.nip.io:{port}/v1", "--allow-remote"),
    ("http://xn--lcalhost-9za:{port}/v1", "--allow-remote"),
    ("http://runsc:{port}/v1", "--allow-remote"),
    # user names, fragments, backslashes
    ("http://localhost@evil.example:{port}/v1", "'@'"),
    ("http://evil.example@localhost:{port}/v1", "'@'"),
    ("http://127.0.0.1:{port}\\@evil.example/v1", "'@'"),
    ("http://evil.example#@localhost:{port}/v1", "'#'"),
    ("http://127.0.0.1:{port}/v1?next=http://evil.example", "'?'"),
    # percent-escapes and IPv6 zone ids
    ("http://%6c%6fcalhost:{port}/v1", "percent"),
    ("http://127.0.0.1%2e:{port}/v1", "percent"),
    ("http://[fe80::1%25lo]:{port}/v1", "zone"),
    ("http://[::1%25lo]:{port}/v1", "zone"),
    # Unicode lookalikes (IDNA would map the fullwidth one to localhost) and whitespace
    ("http://\uff4cocalhost:{port}/v1", "non-ASCII"),
    ("http://l\u043ecalhost:{port}/v1", "non-ASCII"),
    ("http://localhost\u3002:{port}/v1", "non-ASCII"),
    (" http://127.0.0.1:{port}/v1", "spaces"),
    ("http://127.0.0.1:{port}/v1\n", "spaces"),
    ("http://local\thost:{port}/v1", "spaces"),
    ("http://127.0.0.1 .evil.example:{port}/v1", "spaces"),
    # hosts and ports that are not there or not valid
    ("http://:{port}/v1", "no host"),
    ("http:///v1", "no host"),
    ("http://127.0.0.1:0/v1", "port 0"),
    ("http://127.0.0.1:65536/v1", "not a valid URL"),
    ("http://127.0.0.1:-1/v1", "not a valid URL"),
    ("http://::1:{port}/v1", "not a valid URL"),
    ("http://[::1:{port}/v1", "not a valid URL"),
    # schemes
    ("ftp://127.0.0.1:{port}/v1", "http://"),
    ("file:///etc/passwd", "http://"),
    ("gopher://127.0.0.1:{port}/v1", "http://"),
    ("127.0.0.1:{port}/v1", "http://"),
]
REFUSED_IDS = [ascii(u.format(port="P")) for u, _ in REFUSED]


def _quiet(g: Guard) -> bool:
    """Nothing was looked up or connected to, and nothing reached the server."""
    return not g.names and not g.connects and not g.leaks and not _Chat.requests


@pytest.mark.parametrize(("template", "why"), REFUSED, ids=REFUSED_IDS)
def test_refused_before_any_socket(template: str, why: str, chat: Servers, guard: Guard) -> None:
    url = template.format(port=chat.port)
    with pytest.raises(EdgeAIError):
        OpenAITeacher(url, "m", LABELS, timeout=5.0).predict_proba(TEXTS)
    assert _quiet(guard), guard
    with pytest.raises(EdgeAIError):  # as from --fallback or the teacher field of a MODEL.json
        load_teacher(f"{url}#m", labels=LABELS).predict_proba(TEXTS)
    assert _quiet(guard), guard
    assert not check_endpoint_is_local(url)
    assert _quiet(guard), guard


@pytest.mark.parametrize(("template", "why"), REFUSED, ids=REFUSED_IDS)
def test_refusal_is_one_clear_line(template: str, why: str, chat: Servers, guard: Guard) -> None:
    url = template.format(port=chat.port)
    with pytest.raises(EdgeAIError) as err:
        check_endpoint(url)
    msg = str(err.value)
    assert why in msg and "\n" not in msg, msg
    if "not on this machine" in msg:
        assert "--allow-remote" in msg, msg
    assert _quiet(guard), guard


# ---------------------------------------------------------------------------------------------
# accepted: the request arrives, at the checked address only


# (URL, names looked up, Host header, IPv6 server)
ACCEPTED = [
    ("http://127.0.0.1:{port}/v1", [], "127.0.0.1:{port}", False),
    ("http://127.0.0.1:{port}/v1/", [], "127.0.0.1:{port}", False),
    ("http://localhost:{port}/v1", ["localhost"], "localhost:{port}", False),
    ("http://LocalHost:{port}/v1", ["localhost"], "localhost:{port}", False),
    ("HTTP://LOCALHOST:{port}/v1", ["localhost"], "localhost:{port}", False),
    ("http://[::ffff:127.0.0.1]:{port}/v1", [], "127.0.0.1:{port}", False),
    ("http://[::ffff:7f00:1]:{port}/v1", [], "127.0.0.1:{port}", False),
    ("http://[::1]:{port}/v1", [], "[::1]:{port}", True),
    ("http://[0:0:0:0:0:0:0:1]:{port}/v1", [], "[::1]:{port}", True),
]


@pytest.mark.parametrize(("template", "names", "host", "v6"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_loopback_request_arrives_and_nothing_else(template: str, names: list[str], host: str, v6: bool,
                                                   chat: Servers, guard: Guard) -> None:  # fmt: skip
    if v6 and chat.port6 is None:
        pytest.skip("no IPv6 loopback here")
    port = chat.port6 if v6 else chat.port
    url = template.format(port=port)
    teacher = load_teacher(f"{url}#my-model", labels=LABELS)  # as from --fallback or a MODEL.json
    assert teacher.predict_proba(TEXTS).tolist() == ANSWERS
    assert [r["path"] for r in _Chat.requests] == ["/v1/chat/completions"] * 2
    assert _Chat.hosts == [host.format(port=port)] * 2
    assert guard.names == names  # localhost is looked up once, at the check, never at the connection
    assert guard.connects and guard.clean(), guard


def test_trailing_dot_end_to_end(chat: Servers, guard: Guard) -> None:
    """The defect: http://localhost.:PORT was checked as localhost and connected to as 'localhost.'."""
    spec = f"http://localhost.:{chat.port}/v1#m"
    with pytest.raises(EdgeAIError, match="final dot") as err:
        load_teacher(spec, labels=LABELS).predict_proba(TEXTS)
    assert "\n" not in str(err.value) and "localhost or 127.0.0.1" in str(err.value)
    assert _quiet(guard), guard


def test_localhost_is_resolved_once(chat: Servers, guard: Guard, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the check, localhost may resolve elsewhere (a changed hosts file, a rebinding resolver):
    the requests still go to the address that was checked."""
    teacher = OpenAITeacher(f"http://localhost:{chat.port}/v1", "m", LABELS, timeout=5.0)
    assert guard.names == ["localhost"]
    moved = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", chat.port))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: moved)
    assert teacher.predict_proba(TEXTS).tolist() == ANSWERS
    assert teacher.predict_proba(TEXTS).tolist() == ANSWERS
    assert len(_Chat.requests) == 4 and guard.names == ["localhost"]
    assert [d[0] for d in guard.connects] == ["127.0.0.1"] * 4 and guard.clean(), guard


def test_redirect_is_not_followed(chat: Servers, guard: Guard) -> None:
    teacher = OpenAITeacher(f"http://127.0.0.1:{chat.port}/v1", "m", LABELS, timeout=5.0)
    with pytest.raises(EdgeAIError, match="redirects") as err:
        teacher.predict_proba(["redirect me"])  # to 10.1.2.3: not followed
    assert "\n" not in str(err.value)
    assert len(_Chat.requests) == 1 and guard.clean(), guard
    with pytest.raises(EdgeAIError, match="HTTP 500"):
        teacher.predict_proba(["crash please"])


def test_server_down_is_one_line(chat: Servers, guard: Guard) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    teacher = OpenAITeacher(f"http://localhost:{port}/v1", "m", LABELS, timeout=5.0)
    with pytest.raises(EdgeAIError, match="cannot reach the teacher server") as err:
        teacher.predict_proba(["hello"])
    assert "\n" not in str(err.value)
    assert guard.names == ["localhost"] and guard.clean(), guard


def test_accepted_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the check fixes as the addresses to connect to."""
    assert check_endpoint("http://127.8.9.10/v1").addresses == ("127.8.9.10",)
    assert check_endpoint("http://127.8.9.10/v1").port == 80
    assert check_endpoint("https://127.0.0.1/v1").port == 443
    assert check_endpoint("http://[::1]:8080/v1").addresses == ("::1",)
    assert check_endpoint("http://[::ffff:127.1.2.3]:8080/v1").addresses == ("127.1.2.3",)
    infos = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 80, 0, 0)),
             (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 80)),
             (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:127.0.0.1", 80, 0, 0))]  # fmt: skip
    asked: list[Any] = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: asked.append(a[0]) or infos)
    ep = check_endpoint("https://LOCALHOST:8443/v1")
    assert (ep.host, ep.port, ep.addresses) == ("localhost", 8443, ("::1", "127.0.0.1")) and asked == ["localhost"]

    def fail(*a: Any, **k: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(EdgeAIError, match="localhost does not resolve"):
        check_endpoint("http://localhost:8080/v1")


# ---------------------------------------------------------------------------------------------
# allow_remote: another machine is reached by name, as before


def test_allow_remote_reaches_another_machine_by_name(chat: Servers, guard: Guard,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    sent: list[str] = []

    def open_(self: Any, req: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(req.full_url)
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", open_)
    for url in ("http://example.com/v1", "http://10.1.2.3:8080/v1", "http://localhost.:8080/v1",
                "http://127.1:8080/v1", "http://user@example.com/v1", "http://b\u00fccher.example/v1"):  # fmt: skip
        teacher = OpenAITeacher(url, "m", LABELS, allow_remote=True)
        assert teacher.endpoint.addresses == ()  # by name, through urllib (and the environment's proxies)
        with pytest.raises(EdgeAIError, match="cannot reach"):
            teacher.predict_proba(["hello"])
        assert sent[-1] == url + "/chat/completions"
    assert _quiet(guard), guard  # nothing looked up at the check


def test_allow_remote_with_a_loopback_url_still_connects_to_the_address(chat: Servers, guard: Guard) -> None:
    teacher = load_teacher(f"http://localhost:{chat.port}/v1#m", labels=LABELS, allow_remote=True)
    assert teacher.predict_proba(TEXTS).tolist() == ANSWERS
    assert guard.names == ["localhost"] and guard.clean(), guard  # and not through the proxy


# ---------------------------------------------------------------------------------------------
# https: connects to the address, checks the certificate against the name in the URL


@pytest.fixture
def tls_chat(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    _Chat.requests, _Chat.hosts = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = _serve(server)
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()
    thread.join()


def test_https_localhost(tls_chat: tuple[int, Path], chat: Servers, guard: Guard,
                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    port, cert = tls_chat
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: real(cafile=str(cert)))
    teacher = OpenAITeacher(f"https://localhost:{port}/v1", "m", LABELS, timeout=5.0)
    assert teacher.predict_proba(TEXTS).tolist() == ANSWERS
    assert _Chat.hosts == [f"localhost:{port}"] * 2
    assert guard.names == ["localhost"] and guard.clean(), guard
    other = OpenAITeacher(f"https://127.0.0.1:{port}/v1", "m", LABELS, timeout=5.0)  # the certificate names localhost
    with pytest.raises(EdgeAIError, match="cannot reach"):
        other.predict_proba(TEXTS)
