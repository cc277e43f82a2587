-- The audit log (issue 14.7, store/audit.py): who did what to which target, when, from where.
-- Append-only: the service's role may INSERT and SELECT it, never UPDATE or DELETE
-- (store/roles.py revokes both at every start), and a trigger refuses UPDATE for every role.
-- Detail is a small JSON object of names and counts, never document text or a secret.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key: the events of an erased tenant outlive it (the erasure among them), until
    -- `docrag maintenance` prunes them by DOCRAG_AUDIT_HISTORY_DAYS.
    tenant_id   uuid NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL CHECK (length(actor) <= 200),
    action      text NOT NULL CHECK (action ~ '^[a-z][a-z_.]{0,63}$'),
    target      text CHECK (length(target) <= 400),
    source      text CHECK (length(source) <= 100),
    request_id  text CHECK (length(request_id) <= 128),
    detail      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object'
                                                  AND octet_length(detail::text) <= 4096)
);

CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (tenant_id, action, id);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON audit_log
    USING ((SELECT docrag_all_tenants()) OR tenant_id = (SELECT docrag_tenant()));

CREATE FUNCTION docrag_audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION docrag_audit_log_immutable();
