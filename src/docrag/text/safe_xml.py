"""Data placed between XML-like prompt delimiters must not be able to close them."""

from __future__ import annotations

import re

_DELIMITER = re.compile(r"<\s*/?\s*(?:passages?|question|claim)\b", re.IGNORECASE)


def defuse(text: str) -> str:
    """Break any delimiter inside data so it can't end the passages block early."""
    return _DELIMITER.sub(lambda m: m.group(0).replace("<", "‹"), text)
