"""Request and response bodies of the API keys and audit routes (issue 14.4, 14.7)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from docrag.api.inputs import Text
from docrag.api.schemas import RequestBody

Role = Literal["reader", "editor", "admin"]
_NUMBER = re.compile(r"\s*[-+]?[0-9.eE+-]+\s*")


def _iso_text(value: object) -> object:
    """Only ISO 8601 text, as the schema says (pydantic would also take a Unix time number)."""
    if not isinstance(value, str | datetime) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("must be an ISO 8601 date and time with a time zone")
    return value


#: A moment with a time zone, written as ISO 8601 text (a JSON body's or a query's).
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


class KeyIn(RequestBody):
    name: Text = Field(min_length=1, max_length=200, description="A label for the key")
    role: Role
    collections: list[Text] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Scope the key to these existing collections; omitted: every collection of the tenant",
    )
    expires_at: Moment | None = Field(
        default=None, description="When the key stops working (with a time zone); omitted: never"
    )


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    role: str
    collections: list[str] | None = Field(description="Names of the collections it is scoped to; null: all")
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Within a minute")
    revoked_at: datetime | None
    created_by: UUID | None


class NewKeyOut(KeyOut):
    key: str = Field(description="The secret: shown this once, stored only as a hash")


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str = Field(description="key:<id>, user:<id> or cli")
    action: str
    target: str | None
    source: str | None = Field(description="The client's address")
    request_id: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null: no more")
