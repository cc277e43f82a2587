"""docrag.client against a real uvicorn server: typed models, streaming, progress, errors."""

from __future__ import annotations

import asyncio
import io

import pytest

from docrag.client import Answered, AsyncClient, Client, Started, TokenText
from docrag.errors import NotFound, ServerUnreachable, Unauthenticated, UnsupportedFileType

TEXT = b"Kettle notes.\n\nDescale the Ravenbrook kettle every four weeks with white vinegar.\n"

# One server for the session: the tests use collections of their own.
pytestmark = pytest.mark.shared_server


def test_upload_progress_search_ask_and_stream(base_url: str, admin_key: str) -> None:
    seen: list[tuple[int, int]] = []
    with Client(base_url, admin_key) as docrag:
        doc = docrag.upload(
            "clienttest", io.BytesIO(TEXT), filename="kettle.txt", progress=lambda s, t: seen.append((s, t))
        )
        assert seen and seen[-1] == (len(TEXT), len(TEXT))
        assert docrag.wait_for(doc.id, timeout=120).status == "indexed"
        assert [d.id for d in docrag.iter_documents("clienttest", page_size=1)] == [doc.id]
        hits = docrag.search("descale kettle", collections=["clienttest"]).hits
        assert hits and "vinegar" in hits[0].text
        answer = docrag.ask("How often should the kettle be descaled?", collections=["clienttest"])
        assert answer.answered and answer.sentences[0].citations
        events = list(docrag.ask_stream("What is used to descale the kettle?", collections=["clienttest"]))
        assert isinstance(events[0], Started) and isinstance(events[-1], Answered)
        streamed = "".join(e.text for e in events if isinstance(e, TokenText))
        assert streamed.strip() and events[-1].answer.answer.strip()
        with pytest.raises(NotFound) as missing:
            docrag.collection("no-such-collection")
        assert missing.value.code == "collection_not_found" and missing.value.status == 404
        with pytest.raises(UnsupportedFileType):
            docrag.upload("clienttest", io.BytesIO(b"\x00\x01\x02binary"), filename="x.bin")
        docrag.delete_document(doc.id)


def test_typed_errors_for_wrong_key_and_server_down(base_url: str) -> None:
    with Client(base_url, "wrong-key") as docrag, pytest.raises(Unauthenticated):
        docrag.collections()
    with Client("http://127.0.0.1:9", "k") as down, pytest.raises(ServerUnreachable):
        down.collections()


def test_async_client(base_url: str, admin_key: str) -> None:
    async def run() -> list[str]:
        async with AsyncClient(base_url, admin_key) as docrag:
            await docrag.create_collection("asyncclient")
            return [c.name for c in await docrag.collections()]

    assert "asyncclient" in asyncio.run(run())
