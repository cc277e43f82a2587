"""The API keeps its own OpenAPI document: schemathesis generates requests (valid ones and ones the
schema forbids) for every operation of the live server's /openapi.json, as an admin, as a reader,
without credentials and as an admin user signed in with a JWT, and checks each answer. Then the
inputs that once gave 500 or were silently accepted, one regression test each.

Schemathesis runs as its command line (``st run``), the interface it keeps stable: its pytest
plugin does not run under this pytest (it reads a node attribute pytest 9.2 removed), and the
command line runs the coverage phase (boundary values, NUL, each field's negation) as well as the
random one. Checks: no 5xx; every status a route answers is documented; the content type and body
match what is documented for that status; data the schema forbids is refused (not checked in the
stateful phase: see ``RUNS``). Left out, with the
reason: ``positive_data_acceptance``, because a schema can't say which bytes are a readable
document (schema-valid uploads are rightly refused 415/422 by the file checks), and
``unsupported_method``, which is about methods the API does not have (tests/e2e/test_api.py checks 405).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from docrag.api.roles import policy_for
from docrag.services import Runtime, new_api_key
from users_factory import make_user, tokens

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)
# Bounded and repeatable: a few random examples per operation on top of the coverage phase's
# cases, from a fixed seed (about 800 requests per role, some seconds each).
MAX_EXAMPLES = 12
SEED = 22
# Multipart fields are text on the wire: a file part schemathesis generated as a number or a
# boolean ("negative" data) arrives as the same bytes as a valid text file, and the upload rightly
# takes it. The upload's real refusals are tested below and in tests/e2e/test_upload_strictness.py.
CONFIG = f"""
[checks]
enabled = false
{chr(10).join(f"{name}.enabled = true" for name in CHECKS.split(","))}

[[operations]]
include-name = ["POST /v1/collections/{{name}}/documents", "PUT /v1/documents/{{document_id}}"]
checks.negative_data_rejection.enabled = false
"""


def fresh_key(runtime: Runtime, role: str) -> str:
    """A new key of the default tenant. Made when needed: the admin run lists keys and revokes
    them (schemathesis follows the ids it is shown; not its own key, 409), so a key made before
    it may be revoked by the time it is used."""
    key = new_api_key()
    runtime.store.add_api_key(runtime.default_tenant, f"fuzz {role}", key, role)
    return key


#: Left out of the run as a signed-in user: the calls that would end its session (and with it the
#: run's credential: schemathesis's stateful phase feeds a listed session's id to the DELETE), and
#: the switch that would confine an admin to MFA enrollment. tests/e2e/test_auth.py covers them.
ALWAYS_EXCLUDED = ("DELETE /v1/tenants/{tenant_id}",)
JWT_EXCLUDED = ("POST /v1/auth/logout", "DELETE /v1/auth/sessions/{session_id}", "PUT /v1/tenant/settings")


def _signed_in_admin(runtime: Runtime, base_url: str) -> str:
    """A fresh access token of an admin user of the default tenant (the admin key's run may have
    required MFA of admins: that rule is switched off again first)."""
    runtime.identity.users.set_mfa_required_for_admins(runtime.default_tenant, False)
    user = make_user(runtime, "admin", label="fuzz")
    with httpx.Client(base_url=base_url, timeout=60) as http:
        return str(tokens(http, user.email)["access_token"])


@pytest.mark.parametrize("role", ["admin", "reader", "anonymous", "jwt"])
def test_every_operation_keeps_the_schema(
    base_url: str, runtime: Runtime, role: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    if role == "jwt":
        key: str | None = _signed_in_admin(runtime, base_url)
    else:
        key = None if role == "anonymous" else fresh_key(runtime, role)
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json"]
    command += ["--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED)]
    command += ["--generation-database", "none", "--request-timeout", "60", "--no-color"]
    # Erasing the tenant would end every other run of the module (tests/e2e/test_subject_rights.py
    # covers it); as a signed-in user, also what would end the run's own session.
    for name in (*ALWAYS_EXCLUDED, *(JWT_EXCLUDED if role == "jwt" else ())):
        command += ["--exclude-name", name]
    if key is not None:
        command += ["--header", f"Authorization: Bearer {key}"]
    (tmp_path / "schemathesis.toml").write_text(CONFIG)  # read from the working folder
    # Hypothesis keeps the Unicode tables it builds (1.5 CPU s for UTF-8's) in ./.hypothesis, which
    # in a fresh working folder each run built again: the suite's own folder keeps them. Only
    # them: the run stores no examples (--generation-database none), so each run is the same.
    env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(pytestconfig.rootpath / ".hypothesis")}
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-12000:]
    # Something was generated and passed ("700 generated" holds "0 generated": match the number).
    assert not re.search(r"(?<!\d)0 generated", output) and " passed" in output, output[-3000:]
    if role == "jwt":  # the whole run was a signed-in admin's: its session is still live
        me = httpx.get(f"{base_url}/v1/users/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200 and me.json()["role"] == "admin", me.text


# -- regressions: each of these gave 500, or was accepted, before ----------------------------------


@pytest.fixture(scope="module")
def http(base_url: str, runtime: Runtime) -> Iterator[httpx.Client]:
    # A fresh connection per request: a 500 closes the server's side of the connection.
    with httpx.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {fresh_key(runtime, 'admin')}"},
        timeout=60,
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as c:
        yield c


def _json(http: httpx.Client, method: str, path: str, raw: str) -> httpx.Response:
    """``raw`` sent as is: JSON escapes such as a lone ``\\ud800`` reach the server unchanged."""
    return http.request(method, path, content=raw.encode(), headers={"content-type": "application/json"})


def _refused(response: httpx.Response, status: int = 422, code: str = "invalid_request") -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text
    return str(response.json()["error"]["message"])


NUL = "\\u0000"
SURROGATE = "\\ud800"
JSON_TEXT = [
    pytest.param("POST", "/v1/ask", '{{"question": "hi", "collections": ["{}"]}}', id="ask collections"),
    pytest.param("POST", "/v1/ask", '{{"question": "hi{}", "collections": ["default"]}}', id="ask question"),
    pytest.param("POST", "/v1/search", '{{"query": "q{}"}}', id="search query"),
    pytest.param("POST", "/v1/search", '{{"query": "q", "collections": ["{}"]}}', id="search collections"),
    pytest.param("POST", "/v1/conversations", '{{"title": "t{}"}}', id="conversation title"),
    pytest.param("POST", "/v1/collections", '{{"name": "c{}"}}', id="collection name"),
]


@pytest.mark.parametrize("char", [NUL, SURROGATE], ids=["NUL", "lone surrogate"])
@pytest.mark.parametrize(("method", "path", "template"), JSON_TEXT)
def test_unstorable_text_in_a_json_field_is_422(
    http: httpx.Client, method: str, path: str, template: str, char: str
) -> None:
    _refused(_json(http, method, path, template.format(char)))


@pytest.mark.parametrize("char", [NUL, SURROGATE], ids=["NUL", "lone surrogate"])
def test_unstorable_text_in_a_feedback_comment_is_422(http: httpx.Client, char: str) -> None:
    asked = http.post("/v1/ask", json={"question": "What is this?", "collections": ["default"]})
    if asked.status_code == 404:  # the collection is made by the first upload
        http.post("/v1/collections", json={"name": "default"})
        asked = http.post("/v1/ask", json={"question": "What is this?", "collections": ["default"]})
    assert asked.status_code == 200, asked.text
    path = f"/v1/answers/{asked.json()['answer_id']}/feedback"
    _refused(_json(http, "POST", path, f'{{"rating": "up", "comment": "c{char}"}}'))


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_nul_in_a_path_parameter_is_422(http: httpx.Client, method: str) -> None:
    assert "NUL" in _refused(http.request(method, "/v1/collections/a%00b"))
    assert "NUL" in _refused(http.get("/v1/collections/a%00b/documents"))
    assert "NUL" in _refused(
        http.post("/v1/collections/a%00b/documents", files={"file": ("a.txt", b"Some text here.")})
    )


@pytest.mark.parametrize("offset", [2**31, 2**63, 10**20])
def test_an_offset_past_the_integer_range_is_422(http: httpx.Client, offset: int) -> None:
    http.post("/v1/collections", json={"name": "fuzz-offsets"})
    assert http.get("/v1/collections/fuzz-offsets/documents", params={"offset": 2**31 - 1}).json() == []
    _refused(http.get("/v1/collections/fuzz-offsets/documents", params={"offset": offset}))


def _multipart(*parts: tuple[str, bytes | None, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body written byte by byte: (field name, filename or None, content)."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'.encode()
        if filename is not None:
            disposition += b'; filename="' + filename + b'"'
        body += b"--BOUNDARY\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + content + b"\r\n"
    body += b"--BOUNDARY--\r\n"
    return body, {"content-type": "multipart/form-data; boundary=BOUNDARY"}


def _document_count(http: httpx.Client) -> int:
    listed = http.get("/v1/collections/fuzz-uploads/documents", params={"limit": 1000})
    return len(listed.json()) if listed.status_code == 200 else 0


def _text(label: str) -> bytes:
    return f"A plain text document for the strict upload checks, {label} {uuid.uuid4()}.".encode()


MULTIPART = [
    pytest.param([("file", b"a.txt", b"<text>"), ("title", None, b"t\x00")], id="NUL in the title"),
    pytest.param([("file", b"a\x00.txt", b"<text>")], id="NUL in the filename"),
    pytest.param(
        [("file", b"a.txt", b"<text>"), ("title", None, b"one"), ("title", None, b"two")], id="title twice"
    ),
    pytest.param([("file", b"a.txt", b"<text>"), ("file", b"b.txt", b"<text>")], id="file twice"),
    pytest.param([("file", b"a.txt", b"<text>"), ("colour", None, b"blue")], id="unknown field"),
]


@pytest.mark.parametrize("parts", MULTIPART)
def test_a_malformed_upload_form_is_422_and_stores_nothing(
    http: httpx.Client, parts: list[tuple[str, bytes | None, bytes]]
) -> None:
    http.post("/v1/collections", json={"name": "fuzz-uploads"})
    before = _document_count(http)
    sent = [(n, f, _text(n) if c == b"<text>" else c) for n, f, c in parts]
    body, headers = _multipart(*sent)
    _refused(http.post("/v1/collections/fuzz-uploads/documents", content=body, headers=headers))
    assert _document_count(http) == before
    # The same for a new version of a document that exists.
    uploaded = http.post(
        "/v1/collections/fuzz-uploads/documents",
        params={"wait": "true"},
        files={"file": ("v.txt", _text("v"))},
    )
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()["id"]
    _refused(http.put(f"/v1/documents/{document}", content=body, headers=headers))
    assert http.get(f"/v1/documents/{document}").json()["pending_version"] is None


def test_an_unknown_json_field_is_422(http: httpx.Client) -> None:
    for path, body in [
        ("/v1/search", {"query": "q", "colections": ["default"]}),
        ("/v1/ask", {"question": "q", "stream": False, "verbose": True}),
        ("/v1/collections", {"name": "fuzz-extra", "owner": "me"}),
        ("/v1/conversations", {"title": "t", "public": True}),
    ]:
        extra = next(k for k in body if k not in ("query", "question", "name", "title", "stream"))
        assert extra in _refused(http.post(path, json=body)), path
    assert http.get("/v1/collections/fuzz-extra").status_code == 404


def test_a_body_that_is_not_json_text_is_400_invalid_request(http: httpx.Client) -> None:
    """Bytes that are not UTF-8 can't be JSON: 400 with the usual code (not ``http_error``). Text
    that is not JSON stays 422 (tests/e2e/test_api.py)."""
    for path in ("/v1/search", "/v1/ask", "/v1/collections", "/v1/conversations"):
        response = http.post(
            path, content=b'{"query": "\xff\xfe"}', headers={"content-type": "application/json"}
        )
        _refused(response, 400)
    broken = http.post(
        "/v1/collections/fuzz-uploads/documents",
        content=b"not a multipart body",
        headers={"content-type": "multipart/form-data; boundary=BOUNDARY"},
    )
    _refused(broken, 400)


def test_a_405_says_which_methods_the_route_has(http: httpx.Client) -> None:
    response = http.put("/v1/search", json={})
    _refused(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


UPLOAD = ("post", "/v1/collections/{name}/documents")


def test_every_error_status_is_documented_with_the_error_body(base_url: str) -> None:
    spec = httpx.get(f"{base_url}/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(spec), "422 is documented with FastAPI's body, not ours"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            documented = operation["responses"]
            for status in ("413", "422"):
                assert status in documented, (method, path, status)
            if policy_for(method.upper(), path).role is not None:
                assert {"401", "403", "429"} <= set(documented), (method, path)
            elif path.startswith("/v1/"):  # login and refresh: public, counted per address
                assert {"401", "429"} <= set(documented), (method, path)
            # An upload makes its collection: the one route with a path parameter and no 404.
            if "{" in path and path.startswith("/v1/") and (method, path) != UPLOAD:
                assert "404" in documented, (method, path)
            if "requestBody" in operation:
                assert {"400", "408"} <= set(documented), (method, path)
                body = operation["requestBody"]["content"]
                # The body's model (an optional body is anyOf the model and null).
                (name,) = re.findall(r'"#/components/schemas/(\w+)"', json.dumps(body))
                assert spec["components"]["schemas"][name]["additionalProperties"] is False, name
            for status, response in documented.items():
                if status.startswith(("4", "5")) and path.startswith("/v1/"):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), (method, path, status)
    uploads = [
        spec["paths"]["/v1/collections/{name}/documents"]["post"],
        spec["paths"]["/v1/documents/{document_id}"]["put"],
    ]
    for operation in uploads:
        assert {"409", "415"} <= set(operation["responses"])
        assert "multipart/form-data" in operation["requestBody"]["content"]
    assert "409" in spec["paths"]["/v1/collections"]["post"]["responses"]
