"""The SciFact slice every system gets: the same documents, the same test queries, the same qrels.

A slice of ``--docs N`` holds every document a chosen query is judged relevant to, then the
corpus in its own order up to N, so nDCG@10 stays meaningful on a small run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from docrag.eval.beir import load_qrels


@dataclass(frozen=True, slots=True)
class Doc:
    corpus_id: str
    title: str
    text: str

    @property
    def content(self) -> str:
        """Title and abstract as one text: what the peers index (DocRAG gets the same as Markdown)."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text


@dataclass(frozen=True, slots=True)
class Slice:
    docs: list[Doc]
    queries: dict[str, str]  # query id -> text
    qrels: dict[str, dict[str, int]]  # query id -> corpus id -> grade

    def write_corpus(self, path: Path) -> Path:
        """The slice as a BEIR corpus.jsonl (what ``docrag eval retrieval`` reads)."""
        with path.open("w", encoding="utf-8") as f:
            for doc in self.docs:
                f.write(json.dumps({"_id": doc.corpus_id, "title": doc.title, "text": doc.text}) + "\n")
        return path


def load_slice(data: Path, docs: int, queries: int, split: str = "test") -> Slice:
    """``queries`` test queries (0: all) and ``docs`` documents (0: the whole corpus)."""
    qrels = load_qrels(data / "qrels" / f"{split}.tsv")
    texts: dict[str, str] = {}
    with (data / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            if str(entry["_id"]) in qrels:
                texts[str(entry["_id"])] = entry["text"]
    chosen = dict(list(texts.items())[:queries]) if queries else texts
    corpus: list[Doc] = []
    with (data / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            corpus.append(
                Doc(str(entry["_id"]), (entry.get("title") or "").strip(), (entry.get("text") or "").strip())
            )
    if docs and docs < len(corpus):
        wanted = {doc_id for qid in chosen for doc_id in qrels[qid]}
        picked = [d for d in corpus if d.corpus_id in wanted]
        rest = iter(d for d in corpus if d.corpus_id not in wanted)
        while len(picked) < docs:
            picked.append(next(rest))
        order = {d.corpus_id: n for n, d in enumerate(corpus)}
        corpus = sorted(picked, key=lambda d: order[d.corpus_id])
    return Slice(corpus, chosen, {qid: dict(qrels[qid]) for qid in chosen})
