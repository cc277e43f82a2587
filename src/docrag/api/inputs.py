"""What a request may carry, checked before any of it reaches the database.

PostgreSQL can't store every string Python can: a text value with NUL (U+0000) is refused by the
server, and a lone surrogate (U+D800..U+DFFF, which JSON's ``\\ud800`` escapes can produce) can't be
encoded as UTF-8 at all. Either would surface as a 500 from deep inside a query, so every free-text
input (JSON field, query, path or form parameter) is a :data:`Text`, refused with 422
``invalid_request`` at the edge. Integers that reach SQL are bounded (:data:`MAX_OFFSET`) so that
none overflows a bigint.

A multipart upload carries each field once: a second ``title`` or ``file`` part is refused
(:func:`single_form_fields`) instead of silently keeping the last one.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated

from fastapi import Request
from pydantic import AfterValidator

from docrag.errors import InvalidRequest

_SURROGATE = re.compile("[\ud800-\udfff]")

#: The largest list offset accepted (PostgreSQL's OFFSET is a bigint; no listing gets near this).
MAX_OFFSET = 2**31 - 1


def storable(value: str) -> str:
    """``value`` itself, if PostgreSQL can store it as text.

    :raises ValueError: it holds NUL or a lone surrogate (pydantic turns this into a 422).
    """
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    if _SURROGATE.search(value):
        raise ValueError("must not contain a lone surrogate (U+D800..U+DFFF)")
    return value


#: A string PostgreSQL can store: no NUL, no lone surrogate.
Text = Annotated[str, AfterValidator(storable)]


async def single_form_fields(request: Request) -> None:
    """Refuses a form that names a field more than once (the parsed form is cached on the request,
    so this reads nothing the route would not).

    :raises InvalidRequest: a field repeated.
    """
    form = await request.form()
    counts = Counter(name for name, _ in form.multi_items())
    repeated = sorted(name for name, n in counts.items() if n > 1)
    if repeated:
        names = ", ".join(repr(name) for name in repeated)
        raise InvalidRequest(f"form field {names} given more than once; send each field once")
