"""``docrag eval``: quality evaluations on public data sets, run on the local database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from docrag.cli.common import DataDirOpt, runtime

eval_app = typer.Typer(help="Quality evaluations on public data sets.", no_args_is_help=True)


@eval_app.command("retrieval")
def eval_retrieval(
    data: Annotated[Path, typer.Option("--data", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/")],
    split: Annotated[str, typer.Option(help="qrels file name without .tsv")] = "test",
    collection: Annotated[str | None, typer.Option(help="Collection (default: eval-<folder>)")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Ingest a BEIR set through the real pipeline, then print nDCG@10, recall@100 and MRR@10."""
    from docrag.eval.beir import run_beir

    with runtime(data_dir) as rt:
        report = run_beir(rt, data, split=split, collection=collection or f"eval-{data.name}")
    typer.echo(json.dumps(report, indent=2))


@eval_app.command("chunking")
def eval_chunking(
    data: Annotated[Path, typer.Option("--data", help="SQuAD-format JSON file or folder holding one")],
    chunking: Annotated[str, typer.Option(help="semantic, structural or fixed")] = "semantic",
    collection: Annotated[str | None, typer.Option(help="Collection (default: eval-chunking-<mode>)")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Ingest each article as one run-together document; print hit@1, hit@5 and MRR@10 of the
    chunk holding the gold answer."""
    from docrag.eval.xquad import run_chunking

    if chunking not in ("semantic", "structural", "fixed"):
        typer.echo("error: --chunking must be semantic, structural or fixed", err=True)
        raise typer.Exit(2)
    path = _squad_file(data)
    with runtime(data_dir, chunking=chunking) as rt:
        report = run_chunking(rt, path, collection=collection or f"eval-chunking-{chunking}")
    typer.echo(json.dumps(report, indent=2))


@eval_app.command("qa")
def eval_qa(
    data: Annotated[Path, typer.Option("--data", help="SQuAD-format JSON file or folder holding one")],
    sentences: Annotated[int, typer.Option(help="Answer sentences")] = 2,
    collection: Annotated[str, typer.Option(help="Collection name")] = "eval-qa",
    hard: Annotated[bool, typer.Option(help="Also the hard unanswerable set (a collection per text)")] = True,
    data_dir: DataDirOpt = None,
) -> None:
    """Ask every question over the HTTP API; print answer containment, F1, the abstention
    trade-off against a collection missing half the articles, and the answerability trade-off
    on that easy set and on the hard unanswerable set (DOCRAG_ABSTAIN_THRESHOLD and
    DOCRAG_ANSWERABILITY_THRESHOLD are the thresholds reported as chosen)."""
    from docrag.api.app import create_app
    from docrag.cli.common import settings
    from docrag.eval.qa import run_qa

    path = _squad_file(data)
    chosen = settings(data_dir)  # the thresholds reported as chosen; the runtime has both off
    with runtime(
        data_dir,
        abstain_threshold=0.0,
        answerability_threshold=0.0,
        answer_sentences=sentences,
        rate_limiting=False,
    ) as rt:
        report = run_qa(
            rt, create_app(rt.settings, runtime=rt), path, collection=collection, chosen=chosen, hard=hard
        )
    typer.echo(json.dumps(report, indent=2))


@eval_app.command("groundedness")
def eval_groundedness(
    data: Annotated[
        list[Path],
        typer.Option("--data", help="SummEdits folder (summedits_*.json) or WiCE folder; repeatable"),
    ],
    wice_split: Annotated[str, typer.Option(help="WiCE claim split to score")] = "test",
    cache: Annotated[Path | None, typer.Option(help="Folder caching feature rows between runs")] = None,
    judge: Annotated[
        str, typer.Option(help="detector, or llm: also the DOCRAG_GENERATOR model as a judge")
    ] = "detector",
    limit: Annotated[int | None, typer.Option(help="Score at most this many claims per domain")] = None,
) -> None:
    """Groundedness detector: SummEdits balanced accuracy on held-out domains (leave-one-domain-out)
    and WiCE balanced accuracy of the shipped weights (never tuned on WiCE)."""
    from docrag.errors import DocRAGError, InvalidRequest
    from docrag.groundedness.evaluation import run_groundedness
    from docrag.groundedness.judge import LLMJudge
    from docrag.providers.generators import build_generator
    from docrag.providers.minilm_onnx import MiniLMEmbedder
    from docrag.settings import Settings

    try:
        if judge not in ("detector", "llm"):
            raise InvalidRequest(f"--judge must be detector or llm, not {judge!r}")
        if limit is not None and limit < 1:
            raise InvalidRequest("--limit must be at least 1")
        llm = None
        if judge == "llm":
            generator = build_generator(Settings(groundedness_judge="llm"))
            assert generator is not None  # build_generator refuses a judge without a model
            llm = LLMJudge(generator)
        report = run_groundedness(
            MiniLMEmbedder(), data, wice_split=wice_split, cache=cache, judge=llm, limit=limit
        )
    except DocRAGError as exc:
        typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(report, indent=2))


@eval_app.command("parsing")
def eval_parsing(
    data: Annotated[Path, typer.Option("--data", help="Folder of the document sets (../shared/data/docs)")],
    limit: Annotated[int | None, typer.Option(help="At most this many files per format")] = None,
    ocr: Annotated[bool, typer.Option(help="OCR images and scanned pages (DOCRAG_OCR=on)")] = False,
) -> None:
    """Parse every file of the sets in the sandbox; print per format the typed-outcome share,
    text F1 against expected texts, page-count accuracy, then table cell F1 on ICDAR 2013."""
    from docrag.eval.parsing import run_parsing
    from docrag.ingest.parsers import OcrOptions, ParseLimits

    report = run_parsing(data, limits=ParseLimits(ocr=OcrOptions() if ocr else None), limit=limit)
    for row in report.rows():
        typer.echo(json.dumps(row))
    typer.echo(json.dumps(report.summary()))


def _squad_file(data: Path) -> Path:
    if data.is_dir():
        found = sorted(data.glob("*.json"))
        if not found:
            typer.echo(f"error: no .json file in {data}", err=True)
            raise typer.Exit(2)
        return found[0]
    return data


def register(root: typer.Typer) -> None:
    root.add_typer(eval_app, name="eval")
