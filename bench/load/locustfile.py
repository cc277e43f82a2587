"""The mixed load of issue 16: users who think (exponential, mean ``DOCRAG_LOAD_THINK`` seconds,
default 20) between requests, 60% search, 30% ask, 5% upload, 5% document list or get; questions
drawn with Zipf repetition (s = 1.1) from a fixed set, so popular questions recur as they do in
real use (or, with ``DOCRAG_LOAD_DISTINCT=1``, each made distinct: the uncached path). Run by
``bench/load/run.py``; alone:

    DOCRAG_API_KEY=drg_... DOCRAG_LOAD_COLLECTION=scale-main \
        locust -f bench/load/locustfile.py --headless -u 1000 -r 50 -t 5m --host http://127.0.0.1:8000
"""

from __future__ import annotations

import itertools
import os
import random
import uuid

from locust import HttpUser, between, tag, task

KEY = os.environ.get("DOCRAG_API_KEY", "")
COLLECTION = os.environ.get("DOCRAG_LOAD_COLLECTION", "scale-main")
UPLOADS = os.environ.get("DOCRAG_LOAD_UPLOAD_COLLECTION", "load-uploads")
THINK = float(os.environ.get("DOCRAG_LOAD_THINK", "20"))
QUESTIONS = [q for q in os.environ.get("DOCRAG_LOAD_QUESTIONS", "").split("\n") if q.strip()] or [
    f"what does section {n} say about topic {n % 37}" for n in range(200)
]
_WEIGHTS = list(itertools.accumulate(1 / (r + 1) ** 1.1 for r in range(len(QUESTIONS))))


#: Uncached load (bench/load/run.py --capacity): every question made distinct by a random tail,
#: so no search or answer cache can answer it.
DISTINCT = os.environ.get("DOCRAG_LOAD_DISTINCT", "") == "1"


def question() -> str:
    drawn = random.choices(QUESTIONS, cum_weights=_WEIGHTS)[0]
    return f"{drawn} {uuid.uuid4().hex[:8]}" if DISTINCT else drawn


def think(_: object) -> float:
    return random.expovariate(1 / THINK) if THINK > 0 else 0.0


class Reader(HttpUser):
    wait_time = think if THINK > 0 else between(0, 0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {KEY}"
        self.seen: list[str] = []

    @tag("search")
    @task(60)
    def search(self) -> None:
        self.client.post("/v1/search", json={"query": question(), "collections": [COLLECTION]}, name="search")

    @tag("ask")
    @task(30)
    def ask(self) -> None:
        self.client.post("/v1/ask", json={"question": question(), "collections": [COLLECTION]}, name="ask")

    @tag("write")
    @task(5)
    def upload(self) -> None:
        body = f"# Load note {uuid.uuid4()}\n\n{question().capitalize()}. Noted by a load-test user.\n"
        with self.client.post(
            f"/v1/collections/{UPLOADS}/documents",
            files={"file": ("note.md", body.encode(), "text/markdown")},
            name="upload",
            catch_response=True,
        ) as r:
            if r.status_code == 202:
                self.seen.append(r.json()["id"])
                r.success()

    @tag("read")
    @task(5)
    def documents(self) -> None:
        if self.seen and random.random() < 0.5:
            self.client.get(f"/v1/documents/{random.choice(self.seen)}", name="document get")
        else:
            self.client.get(
                f"/v1/collections/{UPLOADS}/documents", params={"limit": 20}, name="document list"
            )
