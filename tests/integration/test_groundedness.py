"""The groundedness detector: hand-written claims, the shipped weights, the metric and
``docrag eval groundedness`` on tiny SummEdits- and WiCE-format sets (real model, real code)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import numpy as np
import pytest

from docrag.domain import AnswerSentence, Citation, Hit
from docrag.groundedness.detector import FEATURE_SIGNS, FEATURES, GroundednessDetector, load_model
from docrag.groundedness.features import analyse, numbers_in
from docrag.groundedness.training import balanced_accuracy, best_threshold, fit_logistic
from docrag.groundedness.verdicts import Judge
from docrag.providers.minilm_onnx import MiniLMEmbedder
from llm_server import ChatServer, Prompt
from paths import ROOT

EVIDENCE = [
    "The Ravenbrook kettle was launched in 2019 by Acme Industries in Leeds. "
    "It holds 1,500 ml of water and boils it in three minutes.",
    "Acme says the kettle does not need descaling more than once a month. "
    "Sales rose by 12% in the first year.",
]


@pytest.fixture(scope="module")
def detector() -> GroundednessDetector:
    return GroundednessDetector(MiniLMEmbedder())


@pytest.mark.parametrize(
    "claim",
    [
        "Acme Industries launched the Ravenbrook kettle in 2019.",
        "The kettle holds 1500 ml of water.",
        "In its first year, sales of the kettle rose 12%.",
    ],
)
def test_paraphrase_is_supported(detector: GroundednessDetector, claim: str) -> None:
    verdict = detector.score(claim, EVIDENCE)
    assert verdict.supported, (claim, verdict)
    assert 0.0 <= verdict.score <= 1.0


@pytest.mark.parametrize(
    ("claim", "reason"),
    [
        ("Acme Industries launched the Ravenbrook kettle in 2021.", "number 2021"),
        ("The kettle holds 2,500 ml of water.", "number 2500"),
        ("Sales did not rise in the first year.", "negation"),
        ("The Ravenbrook kettle was launched in 2019 by Philips.", "name 'philip'"),
        ("Sales fell by 12% in the first year.", "contradicts"),
    ],
)
def test_altered_claim_is_unsupported(detector: GroundednessDetector, claim: str, reason: str) -> None:
    verdict = detector.score(claim, EVIDENCE)
    assert not verdict.supported, (claim, verdict)
    assert any(reason in r for r in verdict.reasons), verdict.reasons
    assert (
        verdict.score
        < detector.score("Acme Industries launched the Ravenbrook kettle in 2019.", EVIDENCE).score
    )


def test_unrelated_claim_and_missing_evidence(detector: GroundednessDetector) -> None:
    assert not detector.score("The Eiffel Tower is painted every seven years.", EVIDENCE).supported
    off_topic = detector.score("The weather was sunny and warm all week.", EVIDENCE)
    assert not off_topic.supported and "off topic" in off_topic.reasons[0]
    verdict = detector.score("Acme launched a kettle.", [])
    assert (verdict.score, verdict.supported) == (0.0, False)


def test_multi_sentence_claim_is_as_weak_as_its_weakest_sentence(detector: GroundednessDetector) -> None:
    good = "Acme Industries launched the Ravenbrook kettle in 2019."
    bad = "The kettle holds 2,500 ml of water."
    both = detector.score(f"{good} {bad}", EVIDENCE)
    assert not both.supported
    assert both.score <= detector.score(good, EVIDENCE).score


def test_score_all_matches_score(detector: GroundednessDetector) -> None:
    claims = [
        "Acme Industries launched the Ravenbrook kettle in 2019.",
        "The kettle holds 2,500 ml of water.",
    ]
    together = detector.score_all(claims, EVIDENCE)
    assert [v.supported for v in together] == [True, False]
    assert math.isclose(together[1].score, detector.score(claims[1], EVIDENCE).score, abs_tol=1e-6)


def test_number_normalisation() -> None:
    assert numbers_in("1,000 people, 1000.0 cars, 12% and ten dogs") == {"1000", "12", "10"}
    assert numbers_in("3.50 and 2019") == {"3.5", "2019"}


def test_negation_is_found_per_clause() -> None:
    words = analyse("Sales rose, but the kettle doesn't need descaling.")
    assert words.negated
    assert any("descal" in clause for clause in words.negated_clauses)
    assert not any("sale" in clause for clause in words.negated_clauses)
    assert not analyse("Sales rose in 2019.").negated


def test_shipped_weights_match_the_feature_list() -> None:
    model = load_model()
    assert model.feature_names == FEATURES
    assert model.coef.shape == (len(FEATURES),) and np.isfinite(model.coef).all()
    assert (model.std > 0).all()
    assert 0.0 < model.threshold < 1.0
    assert set(model.vetoes) <= set(FEATURES) and "novel_numbers" in model.vetoes
    assert (model.coef * np.array(FEATURE_SIGNS) >= 0).all()  # every coefficient has its sign
    assert "SummEdits" in model.provenance["trained_on"]
    raw = json.loads((ROOT / "src/docrag/groundedness/assets/groundedness.json").read_text())
    assert raw["feature_names"] == list(FEATURES)


def test_balanced_accuracy_by_hand() -> None:
    # positives: 3, two right (recall 2/3); negatives: 2, one right (recall 1/2) -> (2/3 + 1/2) / 2
    truth = [True, True, True, False, False]
    predicted = [True, True, False, False, True]
    assert math.isclose(balanced_accuracy(truth, predicted), (2 / 3 + 1 / 2) / 2)
    assert balanced_accuracy([True, False], [True, False]) == 1.0
    assert balanced_accuracy([True, True], [True, False]) == 0.5  # only one class present
    with pytest.raises(ValueError):
        balanced_accuracy([True], [True, False])


def test_logistic_regression_learns_a_separable_rule() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURES)))
    y = x[:, 2] - 0.5 * x[:, 9] > 0.3  # imbalanced: about 38% positive
    model = fit_logistic(x, y)
    assert balanced_accuracy(y, model.probability(x) >= model.threshold) > 0.95
    assert model.coef[2] > 0 > model.coef[9]
    # A rule against a feature's meaning (here: more novel numbers, more support) is not learned
    # when the signs are enforced, and is learned when they aren't.
    perverse = x[:, 9] > 0
    assert fit_logistic(x, perverse).coef[9] == 0.0
    assert fit_logistic(x, perverse, constrained=False).coef[9] > 1.0
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    threshold = best_threshold(scores, np.array([False, False, True, True]))
    assert balanced_accuracy([False, False, True, True], scores >= threshold) == 0.75


def _write_tiny_sets(root: Path) -> tuple[Path, Path]:
    summedits = root / "summedits" / "data" / "summedits"
    summedits.mkdir(parents=True)
    docs = {
        "news": (
            "The city council approved a new park on Monday. The park will cost 4 million dollars "
            "and open in 2025. Mayor Lina Ortiz said residents had asked for more green space.",
            [
                ("The council approved a new park that will open in 2025.", 1),
                ("Mayor Lina Ortiz said residents wanted more green space.", 1),
                ("The council approved a new park that will open in 2027.", 0),
                ("The council rejected a new park on Monday.", 0),
                ("Governor Tom Baker said the park will cost 9 million dollars.", 0),
            ],
        ),
        "samsum": (
            "Anna: I will bring the cake to the party on Saturday.\nBen: Great, I will buy the drinks.\n"
            "Anna: The party starts at 7 pm.",
            [
                ("Anna will bring the cake and Ben will buy the drinks.", 1),
                ("The party on Saturday starts at 7 pm.", 1),
                ("Ben will bring the cake to the party on Sunday.", 0),
                ("The party starts at 9 pm and Carla brings the music.", 0),
                ("Anna will not come to the party.", 0),
            ],
        ),
    }
    for domain, (doc, rows) in docs.items():
        data = [
            {"id": f"{domain}{i}", "doc": doc, "summary": s, "label": label, "split": "test"}
            for i, (s, label) in enumerate(rows)
        ]
        (summedits / f"summedits_{domain}.json").write_text(json.dumps(data))
    wice = root / "wice" / "data" / "entailment_retrieval" / "claim"
    wice.mkdir(parents=True)
    evidence = [
        "The bridge was opened in 1932 by the governor.",
        "It is 503 metres long and carries six lanes of traffic.",
        "The bridge was designed by John Bradfield.",
    ]
    rows = [
        ("The bridge, designed by John Bradfield, opened in 1932.", "supported"),
        ("The bridge is 503 metres long.", "supported"),
        ("The bridge was opened in 1950 by the king.", "not_supported"),
        ("The bridge carries eight lanes and was designed by Peter Smith.", "not_supported"),
        ("The bridge opened in 1932 and cost 20 million pounds.", "partially_supported"),
    ]
    lines = [json.dumps({"claim": c, "evidence": evidence, "label": label, "meta": {}}) for c, label in rows]
    (wice / "test.jsonl").write_text("\n".join(lines) + "\n")
    return root / "summedits", root / "wice"


def test_eval_command_on_tiny_sets(tmp_path: Path) -> None:
    summedits, wice = _write_tiny_sets(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "docrag.cli",
            "eval",
            "groundedness",
            "--data",
            str(summedits),
            "--data",
            str(wice),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    lodo = report["summedits"]["held_out_domains"]
    assert set(lodo["per_domain"]) == {"news", "samsum"}
    assert lodo["per_domain"]["news"]["n"] == 5
    for value in (lodo["mean_balanced_accuracy"], report["summedits"]["shipped_model"]["balanced_accuracy"]):
        assert 0.0 <= value <= 1.0
    # The shipped weights separate these easy claims (numbers, names, negation, antonyms).
    assert report["summedits"]["shipped_model"]["balanced_accuracy"] >= 0.8
    assert report["wice"]["claims"] == {"not_supported": 2, "partially_supported": 1, "supported": 2}
    assert report["wice"]["balanced_accuracy"] >= 0.75
    assert "balanced_accuracy_partial_as_unsupported" in report["wice"]


def test_eval_command_rejects_a_folder_without_data(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "docrag.cli", "eval", "groundedness", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "invalid_request" in result.stderr


def test_a_verbatim_quote_is_supported_and_an_altered_one_is_judged(detector: GroundednessDetector) -> None:
    """The judge of answers: a sentence that is word for word the stored text it cites needs
    no model pass; change one number and the detector decides (and finds it unsupported)."""
    body = "The keeper replaces the lamp every six months. The fog horn sounds twice a minute."
    hit = Hit(
        chunk_id=7,
        document_id=uuid4(),
        collection_id=uuid4(),
        document_title="Lighthouse",
        ord=0,
        start=0,
        end=len(body),
        body=body,
        heading_path=(),
        page_start=1,
        page_end=1,
        score=1.0,
    )
    quote = "The keeper replaces the lamp every six months."
    citation = Citation(hit.document_id, hit.document_title, hit.chunk_id, 1, quote, 0, len(quote))
    judge = Judge(detector, [hit])
    verbatim = judge.judge(AnswerSentence(quote, (citation,), 0.9))
    assert (verbatim.support, verbatim.supported) == (1.0, True)
    altered = judge.judge(AnswerSentence("The keeper replaces the lamp every nine months.", (citation,), 0.9))
    assert altered.supported is False and altered.support is not None and altered.support < 0.5


def test_eval_command_with_an_llm_judge(tmp_path: Path) -> None:
    """``--judge llm`` asks the configured model (here a loopback stand-in that knows every label)
    about each sampled claim, and reports the detector AND the model beside each alone."""
    summedits, wice = _write_tiny_sets(tmp_path)
    truth = {
        row["summary"]: row["label"] == 1
        for path in summedits.rglob("summedits_*.json")
        for row in json.loads(path.read_text())
    }
    for line in (wice / "data" / "entailment_retrieval" / "claim" / "test.jsonl").read_text().splitlines():
        row = json.loads(line)
        truth[row["claim"]] = row["label"] == "supported"

    def oracle(prompt: Prompt) -> str:
        claim = re.search(r"<claim>\n(.*?)\n</claim>", prompt.question, re.DOTALL)
        assert claim is not None and "You check whether a claim" in prompt.system
        return "SUPPORTED" if truth[claim.group(1)] else "UNSUPPORTED"

    server = ChatServer()
    server.respond = oracle
    env = {
        **os.environ,
        "DOCRAG_GENERATOR": "openai",
        "DOCRAG_LLM_BASE_URL": server.url + "/v1",
        "DOCRAG_LLM_MODEL": "oracle",
    }
    command = [sys.executable, "-m", "docrag.cli", "eval", "groundedness", "--data", str(summedits)]
    try:
        result = subprocess.run(
            [*command, "--data", str(wice), "--judge", "llm", "--limit", "4"],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["summedits"]["examples"] == 8  # 4 of each domain's 5
    judged = report["summedits"]["llm_judge"]
    assert judged["llm_alone"] == 1.0 and judged["no_verdict"] == 0
    # The model can only take support away: with an oracle, never worse than the detector alone.
    assert judged["detector_and_llm"] >= judged["detector_alone"]
    assert report["wice"]["llm_judge"]["llm_alone"] == 1.0
    judge_prompts = [r for r in server.requests if "You check" in r["messages"][0]["content"]]
    claims = report["wice"]["claims"]
    strict = sum(claims.values()) - claims.get("partially_supported", 0)
    assert len(judge_prompts) == 8 + strict  # every sampled claim once; WiCE's partial ones left out

    wrong = subprocess.run([*command, "--judge", "oracle"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "invalid_request" in wrong.stderr
    bare = {k: v for k, v in os.environ.items() if not k.startswith("DOCRAG_")}
    no_model = subprocess.run(
        [*command, "--judge", "llm"], capture_output=True, text=True, timeout=120, env=bare
    )
    assert no_model.returncode == 2 and "DOCRAG_GROUNDEDNESS_JUDGE=llm" in no_model.stderr
