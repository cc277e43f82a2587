"""The bundled MiniLM's smoothing table: which channels entering each feed-forward's down
projection are divided by how much before that product runs on int8 (onnx_rewrite.py).

A GELU output has a few channels far larger than the rest (24.5 against a median channel
maximum of 1.6 in the first layer), and the int8 products quantize a whole call's activations
with one range: unsmoothed, those few channels set the step every other channel is rounded
to. Each channel listed here is divided by its factor, which brings its largest value seen to
its layer's 99th percentile of channel maxima, and the matching row of weights is multiplied by
it: the product is unchanged in exact arithmetic.

Derived by ``python bench/minilm_calibration.py`` over 200 paragraphs of this repository's own
prose (README.md, docs/*.md, at commit b4974e9), never an evaluation set; the outlying channels
are the same ones on other text (SciFact abstracts: the same top channel in every layer but the
last). One tuple entry per down projection, in layer order.
"""

from __future__ import annotations

SMOOTHING: tuple[dict[int, float], ...] = (
    {
        856: 4.92,
        329: 1.23,
        1170: 1.17,
        829: 1.14,
        984: 1.11,
        433: 1.1,
        1389: 1.09,
        1163: 1.09,
        1337: 1.07,
        1017: 1.05,
        691: 1.03,
        1261: 1.02,
        463: 1.02,
        602: 1.01,
        743: 1.01,
    },
    {
        607: 4.38,
        251: 1.63,
        821: 1.4,
        646: 1.25,
        360: 1.22,
        951: 1.2,
        898: 1.16,
        1184: 1.14,
        116: 1.09,
        801: 1.08,
        467: 1.07,
        588: 1.04,
        869: 1.03,
        1162: 1.03,
        505: 1.01,
    },
    {
        1004: 3.5,
        218: 2.93,
        1265: 1.32,
        606: 1.24,
        1309: 1.2,
        1166: 1.18,
        122: 1.17,
        805: 1.14,
        685: 1.14,
        311: 1.1,
        144: 1.08,
        1042: 1.05,
        304: 1.04,
        1484: 1.03,
    },
    {
        358: 2.9,
        750: 1.38,
        318: 1.34,
        201: 1.32,
        759: 1.22,
        1506: 1.18,
        287: 1.14,
        662: 1.13,
        548: 1.11,
        166: 1.09,
        833: 1.08,
        112: 1.04,
        722: 1.04,
        117: 1.04,
        456: 1.02,
    },
    {
        637: 1.44,
        1097: 1.37,
        1031: 1.35,
        1357: 1.34,
        716: 1.31,
        1321: 1.3,
        192: 1.26,
        1313: 1.21,
        621: 1.14,
        128: 1.13,
        1257: 1.11,
        769: 1.09,
        242: 1.06,
        682: 1.05,
    },
    {
        1302: 2.09,
        1300: 1.38,
        256: 1.32,
        119: 1.28,
        923: 1.24,
        1297: 1.23,
        423: 1.2,
        372: 1.16,
        784: 1.12,
        486: 1.08,
        1280: 1.07,
        1191: 1.05,
        617: 1.03,
        1226: 1.03,
        1132: 1.02,
    },
)
