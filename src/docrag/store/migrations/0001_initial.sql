-- Tenants, API keys, collections, documents and chunks. Every row holding user content
-- carries its tenant and collection; composite foreign keys make a chunk of one tenant's
-- document under another tenant's collection impossible.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        text NOT NULL,
    key_hash    bytea NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN ('admin', 'editor', 'reader')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE collections (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    embedding_model  text NOT NULL,
    embedding_dim    integer NOT NULL,
    -- Bumped in the same transaction as any change to the collection's chunks, so an
    -- in-process index (BM25) can tell it is stale with one cheap read.
    content_version  bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);

CREATE TABLE documents (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid NOT NULL,
    collection_id  uuid NOT NULL,
    title          text NOT NULL,
    filename       text,
    mime           text NOT NULL,
    content_hash   bytea NOT NULL,
    size_bytes     bigint NOT NULL,
    page_count     integer,
    text           text NOT NULL,
    page_starts    integer[] NOT NULL DEFAULT '{}',
    chunk_count    integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, collection_id) REFERENCES collections(tenant_id, id) ON DELETE CASCADE,
    UNIQUE (collection_id, content_hash),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, collection_id, id)
);

CREATE TABLE chunks (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    collection_id    uuid NOT NULL,
    document_id      uuid NOT NULL,
    ord              integer NOT NULL,
    start_offset     integer NOT NULL,
    end_offset       integer NOT NULL,
    heading_path     text[] NOT NULL DEFAULT '{}',
    page_start       integer,
    page_end         integer,
    content          text NOT NULL,      -- contextual text: heading path + body (embedded, indexed)
    body             text NOT NULL,      -- exactly documents.text[start_offset:end_offset]
    embedding        vector(384) NOT NULL,
    sentence_spans   integer[] NOT NULL DEFAULT '{}',  -- flattened [start, end, start, end, ...]
    sentence_vectors bytea,                            -- float16 rows, one per sentence span
    FOREIGN KEY (tenant_id, collection_id, document_id)
        REFERENCES documents(tenant_id, collection_id, id) ON DELETE CASCADE,
    UNIQUE (document_id, ord),
    CHECK (start_offset >= 0 AND end_offset >= start_offset)
);

CREATE INDEX chunks_scope_idx ON chunks (tenant_id, collection_id);
CREATE INDEX chunks_document_idx ON chunks (document_id);
CREATE INDEX chunks_embedding_idx ON chunks USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);
CREATE INDEX documents_scope_idx ON documents (tenant_id, collection_id, created_at);
