"""House style: no module over 400 lines (../shared/HOUSE_STYLE.md, issue 13 point 2)."""

from __future__ import annotations

from paths import ROOT

LIMIT = 400
SRC = ROOT / "src" / "docrag"


def _sizes() -> dict[str, int]:
    return {
        p.relative_to(SRC).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in SRC.rglob("*.py")
    }


def test_no_module_over_the_limit() -> None:
    sizes = _sizes()
    over = {name: n for name, n in sizes.items() if n > LIMIT}
    assert not over, f"modules over {LIMIT} lines: {over}"
