"""Security headers, CORS and TLS (issue 14 point 8), on real servers: the headers are on every answer
(200, 401, 404, 405, 422, 429 and the catch-all 500); the page runs with a CSP without 'unsafe-inline'
and has no inline script or style left; /docs and /redoc load nothing from another origin; CORS is off
unless allow-listed; `docrag serve` speaks HTTPS with a locally made certificate, and adds HSTS."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import uuid
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from docrag.api.app import create_app
from docrag.services import Runtime
from docrag.settings import Settings
from http_servers import serve

ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _assert_secured(response: httpx.Response) -> None:
    for name, value in ALWAYS.items():
        assert response.headers.get(name) == value, (response.status_code, name, dict(response.headers))
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert "strict-transport-security" not in response.headers  # plain HTTP


def test_every_kind_of_answer_carries_the_headers(
    settings: Settings, runtime: Runtime, admin_key: str
) -> None:
    app = create_app(settings.model_copy(update={"ip_rate_limits": "auth_failure=2/minute"}), runtime=runtime)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    key = {"Authorization": f"Bearer {admin_key}"}
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        answers = {
            200: c.get("/health/live"),
            404: c.get(f"/v1/documents/{uuid.uuid4()}", headers=key),
            405: c.patch("/v1/collections", headers=key),
            422: c.post("/v1/search", json={"query": ""}, headers=key),
            401: c.get("/v1/collections"),
        }
        c.get("/v1/collections", headers={"Authorization": "Bearer drg_wrong"})  # the address's 2nd refusal
        answers[429] = c.get("/v1/collections", headers=key)
        # Connection: close, as uvicorn drops a kept-alive connection after an unhandled exception.
        answers[500] = c.get("/boom", headers={"Connection": "close"})
    for status, response in answers.items():
        assert response.status_code == status, (status, response.text)
        _assert_secured(response)
    assert answers[500].json()["error"]["code"] == "internal_error"
    assert answers[429].headers["content-security-policy"].startswith("default-src 'none'")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []  # what the CSP would have to allow inline
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.ids: set[str] = set()
        self._tag = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self._tag = tag
        for name in found:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"<{tag} {name}=...>")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script" and found.get("src"):
            self.scripts.append(found["src"] or "")
        if tag == "link" and found.get("rel") == "stylesheet":
            self.styles.append(found.get("href") or "")
        if found.get("id"):
            self.ids.add(found["id"] or "")

    def handle_data(self, data: str) -> None:
        if self._tag == "script" and data.strip():
            self.inline.append("<script>" + data.strip()[:40])

    def handle_endtag(self, tag: str) -> None:
        self._tag = ""


def test_the_page_needs_no_inline_script_or_style(anon: httpx.Client) -> None:
    page = anon.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe" not in csp
    parsed = _Page()
    parsed.feed(page.text)
    assert parsed.inline == []
    assert parsed.scripts == ["/assets/main.js"] and parsed.styles == ["/assets/app.css"]
    style = anon.get("/assets/app.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    # Every module the page imports, followed from main.js, is served as JavaScript.
    modules: dict[str, str] = {}
    todo = ["main.js"]
    while todo:
        name = todo.pop()
        script = anon.get(f"/assets/{name}")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert script.headers["x-content-type-options"] == "nosniff"
        modules[name] = script.text
        todo += [m for m in re.findall(r"""from ["']\./([\w-]+\.js)["']""", script.text) if m not in modules]
    assert {"api.js", "chat.js", "citations.js", "upload.js", "admin.js"} <= set(modules)
    code = "\n".join(modules.values())
    # The scripts find every element they look up, and the classes that replaced style attributes exist.
    looked_up = set(re.findall(r"""\$\(["']([\w-]+)["']\)""", code))
    assert looked_up and looked_up <= parsed.ids, looked_up - parsed.ids
    for cls in re.findall(r'class="([^"]+)"', page.text):
        for name in cls.split():
            assert f".{name}" in style.text, name
    assert 'setAttribute("style"' not in code and "innerHTML" not in code and "eval(" not in code
    assert not re.search(r"https?://", code), "a request to another origin"
    assert anon.get("/assets/nothing.js").status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_api_documentation_loads_nothing_from_another_origin(anon: httpx.Client, path: str) -> None:
    page = anon.get(path)
    assert page.status_code == 200
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text), "an asset from another origin"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    script_src = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src and "http" not in script_src
    assert ("unsafe-eval" in script_src) == (path == "/redoc")  # ReDoc's bundled Ajv needs it
    for inline in re.findall(r"<script>(.*?)</script>", page.text, re.S):
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src
    for asset in re.findall(r"""(?:src|href)=["'](/assets/[^"']+)""", page.text):
        assert anon.get(asset).status_code == 200, asset


PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


def test_cors_is_off_by_default(anon: httpx.Client) -> None:
    answer = anon.options("/v1/search", headers={"Origin": "https://app.example", **PREFLIGHT})
    assert "access-control-allow-origin" not in answer.headers
    assert answer.status_code in (401, 405)


def test_cors_answers_allow_listed_origins_only(settings: Settings, runtime: Runtime, admin_key: str) -> None:
    allowed = "https://app.example"
    app = create_app(settings.model_copy(update={"cors_origins": [allowed]}), runtime=runtime)
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        # The preflight carries no key: answered before the guard.
        ok = c.options("/v1/search", headers={"Origin": allowed, **PREFLIGHT})
        assert ok.status_code == 200, ok.text
        assert ok.headers["access-control-allow-origin"] == allowed
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        _assert_secured(ok)
        evil = c.options("/v1/search", headers={"Origin": "https://evil.example", **PREFLIGHT})
        assert evil.status_code == 400
        assert "access-control-allow-origin" not in evil.headers
        real = c.get("/v1/collections", headers={"Origin": allowed, "Authorization": f"Bearer {admin_key}"})
        assert real.status_code == 200
        assert real.headers["access-control-allow-origin"] == allowed
        exposed = real.headers["access-control-expose-headers"].lower()
        assert "retry-after" in exposed and "ratelimit-remaining" in exposed
        cross = c.get("/v1/collections", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in cross.headers


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "docrag test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_docrag_serve_speaks_https_with_hsts(runtime: Runtime, database_url: str, tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "DOCRAG_DATABASE_URL": database_url,
        "DOCRAG_INPROCESS_WORKER": "false",
        "DOCRAG_POOL_MAX_SIZE": "2",
        "DOCRAG_HSTS_SECONDS": "600",
    }
    argv = [sys.executable, "-c", "from docrag.cli.main import main; main()", "serve", "--port", str(port)]
    argv += ["--data-dir", str(tmp_path / "data"), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    server = subprocess.Popen(argv, env=env)
    trusted = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{port}/health/live"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "docrag serve exited"
            assert time.monotonic() < deadline, "docrag serve did not start"
            try:
                answer = httpx.get(url, verify=trusted, timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.2)
        assert answer.status_code == 200
        assert answer.headers["strict-transport-security"] == "max-age=600; includeSubDomains"
        assert answer.headers["x-content-type-options"] == "nosniff"
        # A client that does not trust the certificate is refused, and plain HTTP gets no answer.
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=5)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_half_a_tls_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        Settings(ssl_certfile=Path("cert.pem"))
    assert (resources.files("docrag.web") / "main.js").is_file()
