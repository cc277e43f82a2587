"""Rate limits as an attacker meets them (issue 14 point 6), on real uvicorn servers over the module's
runtime, with each process's own windows (no Redis; tests/e2e/test_rate_limits_redis.py has Redis):
hammer a route until 429, then Retry-After and the RateLimit headers; another key, another class and
another tenant keep their own windows; guessing keys from one address is cut off by address."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from docrag.api.app import create_app
from docrag.services import Runtime, new_api_key
from docrag.settings import Settings
from http_servers import serve


@contextmanager
def limited(runtime: Runtime, **limits: Any) -> Iterator[str]:
    """A real server over the module's runtime with these rate-limit settings."""
    settings = runtime.settings.model_copy(update=limits)
    with serve(create_app(settings, runtime=runtime)) as url:
        yield url


def _key(runtime: Runtime, role: str = "reader", tenant: uuid.UUID | None = None) -> str:
    key = new_api_key()
    runtime.store.add_api_key(tenant or runtime.default_tenant, f"rate {role}", key, role)
    return key


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def collection(runtime: Runtime) -> str:
    runtime.collection(runtime.default_tenant, "rate", create=True)
    return "rate"


def _search(http: httpx.Client, key: str, collection: str, **headers: str) -> httpx.Response:
    return http.post(
        "/v1/search", json={"query": "bees", "collections": [collection]}, headers={**_auth(key), **headers}
    )


def test_hammering_a_route_ends_in_429_with_retry_after_and_other_keys_are_unaffected(
    runtime: Runtime, collection: str
) -> None:
    attacker, bystander = _key(runtime), _key(runtime)
    with (
        limited(runtime, rate_limits="search=5/minute,ask=2/minute") as url,
        httpx.Client(base_url=url) as http,
    ):
        answers = [_search(http, attacker, collection) for _ in range(8)]
        assert [a.status_code for a in answers] == [200] * 5 + [429] * 3, [a.text for a in answers]
        assert [a.headers["RateLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["RateLimit-Limit"] == "5"
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.headers["RateLimit-Policy"] == "5;w=60"
        # Another key of the same tenant has its own window; the attacker's other classes too.
        assert _search(http, bystander, collection).status_code == 200
        ask = {"question": "What do bees make?", "collections": [collection]}
        asks = [http.post("/v1/ask", json=ask, headers=_auth(attacker)).status_code for _ in range(3)]
        assert asks == [200, 200, 429]


def test_an_upload_is_refused_429_before_its_body_is_read(runtime: Runtime, collection: str) -> None:
    editor = _key(runtime, "editor")
    with limited(runtime, rate_limits="upload=1/minute") as url, httpx.Client(base_url=url) as http:
        path = f"/v1/collections/{collection}/documents"
        first = http.post(
            path, files={"file": ("a.md", b"# Bees\n\nBees make honey.\n")}, headers=_auth(editor)
        )
        assert first.status_code in (201, 202), first.text
        # Declared as 40 MB (under the upload cap): answered from the headers, no body byte sent.
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {editor}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: {40 << 20}\r\n\r\n".encode()
            )
            answer = b""
            while not answer.rstrip().endswith(b"}"):
                part = sock.recv(65536)
                assert part, answer
                answer += part
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 429"), answer
        assert b"retry-after:" in head.lower() and b'"rate_limited"' in body
        # Search is another class: still open to the same key.
        assert _search(http, editor, collection).status_code == 200


def test_a_tenant_limit_holds_all_its_keys_together_and_no_other_tenant(
    runtime: Runtime, collection: str
) -> None:
    first, second = _key(runtime), _key(runtime)
    other_tenant = runtime.store.ensure_tenant(f"rate-other-{uuid.uuid4().hex[:8]}")
    runtime.collection(other_tenant, "rate", create=True)
    outsider = _key(runtime, tenant=other_tenant)
    with (
        limited(runtime, tenant_rate_limits="search=4/minute") as url,
        httpx.Client(base_url=url) as http,
    ):
        codes = [_search(http, key, collection).status_code for key in (first, second, first, second, first)]
        assert codes == [200, 200, 200, 200, 429]
        refused = _search(http, second, collection)
        assert refused.status_code == 429 and "tenant" in refused.json()["error"]["message"]
        assert _search(http, outsider, collection).status_code == 200


def test_guessing_keys_from_one_address_is_cut_off_for_that_address_only(
    runtime: Runtime, collection: str
) -> None:
    valid = _key(runtime)
    with (
        limited(runtime, ip_rate_limits="auth_failure=5/minute") as url,
        httpx.Client(base_url=url) as http,
    ):
        guesses = [_search(http, f"drg_{uuid.uuid4().hex}", collection) for _ in range(5)]
        assert [g.status_code for g in guesses] == [401] * 5
        # Past the limit the address is refused 429 whatever it sends, even no key or the valid one:
        # a guess that hits learns nothing.
        for key in (f"drg_{uuid.uuid4().hex}", valid):
            blocked = _search(http, key, collection)
            assert blocked.status_code == 429, blocked.text
            assert blocked.json()["error"]["code"] == "rate_limited"
            assert int(blocked.headers["Retry-After"]) >= 1
        assert http.get("/v1/collections").status_code == 429
        # Public routes stay open to it.
        assert http.get("/health/live").status_code == 200
        # Another address (uvicorn takes it from X-Forwarded-For of a trusted proxy, here loopback)
        # is not blocked.
        assert _search(http, valid, collection, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 200


def test_rate_limiting_off_admits_everything(runtime: Runtime, collection: str) -> None:
    key = _key(runtime)
    with (
        limited(runtime, rate_limiting=False, rate_limits="search=1/minute") as url,
        httpx.Client(base_url=url) as http,
    ):
        answers = [_search(http, key, collection) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert "RateLimit-Limit" not in answers[0].headers


def test_the_limit_settings_are_checked_and_omitted_classes_keep_their_defaults() -> None:
    from docrag.api.ratelimit import RateLimits

    with pytest.raises(ValueError, match="class one of"):
        Settings(rate_limits="asking=5/minute")
    with pytest.raises(ValueError, match="lots"):
        Settings(ip_rate_limits="auth_failure=lots")
    limits = RateLimits(Settings(rate_limits="ask=7/minute,upload=unlimited"))
    assert limits.per_key["ask"] is not None and limits.per_key["ask"].amount == 7
    assert limits.per_key["upload"] is None
    search = limits.per_key["search"]
    assert search is not None and search.amount == 300  # the default of a class left out, not unlimited


def test_login_windows_per_account_and_per_address_are_separate() -> None:
    """The hooks a login route uses (no such route exists yet): per account whatever the address,
    per address whatever the account."""
    import asyncio

    from docrag.api.ratelimit import RateLimits
    from docrag.errors import RateLimited

    async def run() -> None:
        limits = RateLimits(Settings(rate_limits="login=2/minute", ip_rate_limits="login=3/minute"))
        await limits.admit_account("Ann@Example.com")
        await limits.admit_account("ann@example.com ")
        with pytest.raises(RateLimited) as refused:
            await limits.admit_account("ann@example.com")
        assert refused.value.response_headers()["Retry-After"].isdigit()
        await limits.admit_account("bob@example.com")
        for _ in range(3):
            await limits.admit_address("198.51.100.1", "login")
        with pytest.raises(RateLimited):
            await limits.admit_address("198.51.100.1", "login")
        await limits.admit_address("198.51.100.2", "login")
        await limits.close()

    asyncio.run(run())
