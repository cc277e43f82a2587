-- Document versions and side-by-side re-indexing.
--
-- documents.version is the version being served (searchable, cited); 0 until the first one is
-- indexed. An upload (the first, or a replacement) is documents.pending_version = version + 1
-- while its job runs; the worker's final transaction swaps the chunks and sets version to it,
-- so the old version stays searchable until the new one is complete. status, progress and the
-- error columns describe the latest upload: a failed replacement leaves the old version served.
ALTER TABLE documents
    ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 0),
    ADD COLUMN pending_version integer,
    -- Chunks the served version had to embed; the others reused the previous version's vectors.
    ADD COLUMN embedded_chunks integer NOT NULL DEFAULT 0 CHECK (embedded_chunks >= 0);
UPDATE documents SET version = 0, pending_version = 1 WHERE status <> 'indexed';
UPDATE documents SET embedded_chunks = chunk_count;
ALTER TABLE documents ALTER COLUMN version SET DEFAULT 0;
ALTER TABLE documents ALTER COLUMN pending_version SET DEFAULT 1;
ALTER TABLE documents ADD CONSTRAINT documents_pending_version_check
    CHECK (pending_version IS NULL OR pending_version = version + 1);

-- A replacement's own metadata waits with its bytes; the document row keeps the served
-- version's until the switch. (NULL for a first upload: the document row already holds it.)
ALTER TABLE uploads
    ADD COLUMN content_hash bytea,
    ADD COLUMN mime text,
    ADD COLUMN size_bytes bigint,
    ADD COLUMN filename text;

-- Re-indexing a collection with another embedding model writes the new vectors beside the
-- served ones (embedding_next), while searches go on using embedding; when every chunk has
-- one, one transaction moves them into place and records the new model on the collection.
ALTER TABLE collections
    ADD COLUMN next_embedding_model text,
    ADD COLUMN next_embedding_dim integer CHECK (next_embedding_dim BETWEEN 1 AND 16000),
    ADD CONSTRAINT collections_next_model_check
        CHECK ((next_embedding_model IS NULL) = (next_embedding_dim IS NULL));
ALTER TABLE chunks
    ADD COLUMN embedding_next vector,
    ADD COLUMN sentence_vectors_next bytea;
