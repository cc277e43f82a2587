"""Request and response bodies of users, sessions, MFA and the tenant's settings (docs/auth.md)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from docrag.api.inputs import Text
from docrag.api.schemas import RequestBody
from docrag.domain.identity import SessionInfo
from docrag.identity.passwords import MAX_LENGTH, MIN_LENGTH

RoleName = Literal["admin", "editor", "reader"]


class LoginIn(RequestBody):
    email: Text = Field(min_length=1, max_length=320)
    password: Text = Field(min_length=1, max_length=MAX_LENGTH)
    totp: Text | None = Field(
        default=None,
        max_length=64,
        description="With MFA: the 6 digits of the authenticator app, or an unused recovery code",
    )
    tenant: Text = Field(
        default="default", min_length=1, max_length=200, description="The tenant's name (default: default)"
    )


class RefreshIn(RequestBody):
    refresh_token: Text = Field(min_length=1, max_length=200)


class TokensOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    access_token: str = Field(description="A JWT: send it as 'Authorization: Bearer <token>'")
    refresh_token: str = Field(description="Opaque, single use: POST /v1/auth/refresh spends it")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid")
    session_id: UUID
    user_id: UUID


class SessionOut(BaseModel):
    id: UUID
    created_at: str
    refreshed_at: str
    expires_at: str = Field(description="When the session ends however often it is refreshed")
    user_agent: str | None
    address: str | None
    mfa: bool = Field(description="Whether a second factor was shown at this login")
    current: bool = Field(description="Whether this is the session of the token that asked")

    @classmethod
    def of(cls, s: SessionInfo, current: UUID | None) -> SessionOut:
        return cls(
            id=s.id,
            created_at=s.created_at,
            refreshed_at=s.refreshed_at,
            expires_at=s.expires_at,
            user_agent=s.user_agent,
            address=s.address,
            mfa=s.mfa,
            current=s.id == current,
        )


class UserIn(RequestBody):
    email: Text = Field(min_length=3, max_length=320)
    password: Text = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    role: RoleName


class UserPatch(RequestBody):
    role: RoleName | None = None
    disabled: bool | None = Field(
        default=None, strict=True, description="true: the user's sessions end now; false: enabled again"
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str
    role: str
    created_at: str
    disabled: bool
    mfa_enabled: bool


class PasswordChangeIn(RequestBody):
    current_password: Text = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: Text = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class PasswordChangedOut(BaseModel):
    revoked_sessions: int = Field(description="The user's other sessions, ended by the change")


class MfaEnrollmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    secret: str = Field(description="The TOTP secret (base32), for typing into an app")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as a QR code (an SVG document)")
    recovery_codes: list[str] = Field(description="Shown this once: each works once instead of a code")


class MfaVerifyIn(RequestBody):
    code: Text = Field(min_length=1, max_length=64, description="The 6 digits the app shows now")


class TenantSettingsIO(RequestBody):
    mfa_required_for_admins: bool = Field(
        strict=True, description="Admins must enroll in MFA before anything else (docs/auth.md)"
    )
