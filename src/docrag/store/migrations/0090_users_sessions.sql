-- Users, their sessions and refresh tokens, TOTP recovery codes and the tenant's MFA rule
-- (issue 14 points 1-3, docs/auth.md). Every new table carries its tenant and is under row-level
-- security like the others (migration 0071). The service role gets rows only (store/roles.py);
-- JWT signing keys are files or settings, never rows.

-- An admin of a tenant with this on must enroll in MFA before anything else (docs/auth.md).
ALTER TABLE tenants ADD COLUMN mfa_required_for_admins boolean NOT NULL DEFAULT false;

CREATE TABLE users (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id            uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email                text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    password_hash        text NOT NULL,  -- argon2id, PHC string (parameters and salt included)
    role                 text NOT NULL CHECK (role IN ('admin', 'editor', 'reader')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    password_changed_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at          timestamptz,
    -- TOTP (RFC 6238): the confirmed secret, one waiting for its first code (enrollment), and the
    -- last time step a code was accepted for: a code of that step or an earlier one is a replay.
    totp_secret          text,
    totp_pending_secret  text,
    totp_enabled_at      timestamptz,
    totp_last_step       bigint,
    UNIQUE (tenant_id, id)
);
-- One account per address and tenant, whatever the case it is typed in.
CREATE UNIQUE INDEX users_tenant_email_idx ON users (tenant_id, lower(email));

-- A signed-in device: the access tokens (JWTs) name it in their `sid` claim, and every request
-- checks it here, so revoking it (logout, DELETE, password change, a reused refresh token) or
-- disabling its user takes effect on the next request.
CREATE TABLE sessions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL,
    user_id         uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    refreshed_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,  -- absolute: refreshing never extends it
    revoked_at      timestamptz,
    revoked_reason  text,
    user_agent      text CHECK (length(user_agent) <= 500),
    address         text CHECK (length(address) <= 100),
    mfa             boolean NOT NULL DEFAULT false,  -- a second factor was shown at login
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, id)
);
CREATE INDEX sessions_user_idx ON sessions (tenant_id, user_id, created_at);

-- Opaque refresh tokens, stored as SHA-256 (each is 256 random bits). Each refresh spends one and
-- issues the next of the same session (its family); presenting a spent one revokes the session.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    session_id  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    spent_at    timestamptz,
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- MFA recovery codes, shown once at enrollment, stored as SHA-256 (each is 80 random bits);
-- each works once.
CREATE TABLE recovery_codes (
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    code_hash   bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz,
    PRIMARY KEY (user_id, code_hash),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

-- Feedback from a signed-in user: one rating per answer and user, as per answer and API key.
ALTER TABLE feedback ALTER COLUMN key_id DROP NOT NULL;
ALTER TABLE feedback ADD COLUMN user_id uuid REFERENCES users(id) ON DELETE CASCADE;
ALTER TABLE feedback ADD CONSTRAINT feedback_one_rater CHECK (num_nonnulls(key_id, user_id) = 1);
CREATE UNIQUE INDEX feedback_answer_user_idx ON feedback (answer_id, user_id) WHERE user_id IS NOT NULL;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'sessions', 'refresh_tokens', 'recovery_codes'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_rows ON %I'
            ' USING ((SELECT docrag_all_tenants()) OR tenant_id = (SELECT docrag_tenant()))', t);
    END LOOP;
END
$$;
