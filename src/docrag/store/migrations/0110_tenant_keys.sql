-- Encryption at rest of uploaded originals (issue 21.1, store/crypto.py, docs/encryption.md).
-- A tenant's data keys, stored only wrapped (AES-256-GCM) by a master key that is never in the
-- database: master_key_id names which of the configured ones. The newest version encrypts; older
-- ones stay while an original still uses them. Deleting them is crypto-shredding.
CREATE TABLE tenant_keys (
    tenant_id      uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    version        integer NOT NULL CHECK (version >= 1),
    master_key_id  text NOT NULL,
    wrapped        bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version)
);
ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON tenant_keys
    USING ((SELECT docrag_all_tenants()) OR tenant_id = (SELECT docrag_tenant()));

-- The data key version an upload's bytes are encrypted with (NULL: stored in plain text by an
-- older DocRAG; `docrag crypto rotate-tenant` encrypts those). The foreign key keeps a version
-- from being deleted while a ciphertext still needs it.
ALTER TABLE uploads
    ADD COLUMN key_version integer,
    ADD FOREIGN KEY (tenant_id, key_version) REFERENCES tenant_keys (tenant_id, version);

-- Originals a PII-redacting collection keeps (pii_keep_original = 'encrypted'), encrypted like
-- uploads; the ciphertext moves here from uploads unchanged (its associated data names the
-- tenant and document, not the table).
CREATE TABLE originals (
    tenant_id    uuid NOT NULL,
    document_id  uuid NOT NULL PRIMARY KEY,
    filename     text,
    mime         text NOT NULL,
    data         bytea NOT NULL,
    key_version  integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, document_id) REFERENCES documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, key_version) REFERENCES tenant_keys (tenant_id, version)
);
ALTER TABLE originals ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON originals
    USING ((SELECT docrag_all_tenants()) OR tenant_id = (SELECT docrag_tenant()));

-- PII redaction per collection (issue 21.2, ingest/pii.py, docs/pii.md): off by default.
ALTER TABLE collections
    ADD COLUMN IF NOT EXISTS pii_redact boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS pii_keep_original text NOT NULL DEFAULT 'drop'
        CHECK (pii_keep_original IN ('encrypted', 'drop'));
