"""What this CPU's int8 products need (onnx_rewrite.unsigned_weights)."""

from __future__ import annotations

import platform
from pathlib import Path


def int8_pairs_saturate(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether ONNX Runtime's u8s8 kernels saturate here: an x86 CPU without VNNI (AVX2, or
    AVX-512 without VNNI). Elsewhere (VNNI, ARM's dot products) every product is exact."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:  # not Linux: assume the common case of a recent server CPU
        return False
    flags = next((line.split(":", 1)[-1].split() for line in lines if line.startswith("flags")), [])
    return bool(flags) and not {"avx512_vnni", "avx_vnni"} & set(flags)
