-- Pluggable embedding models: a collection's vectors may have any dimension, never two.
--
-- chunks.embedding loses its fixed vector(384) type. An HNSW index needs a fixed dimension, so
-- each dimension in use gets its own partial expression index,
--     USING hnsw ((embedding::vector(D)) vector_cosine_ops) WHERE vector_dims(embedding) = D
-- named chunks_embedding_D_idx; Store.dense_search writes its query with the same expression
-- and predicate, so the planner picks it. The 384-dimension one (the bundled MiniLM) is built
-- here; the Store builds another dimension's when a collection of that dimension is created.
DROP INDEX IF EXISTS chunks_embedding_idx;
ALTER TABLE chunks ALTER COLUMN embedding TYPE vector;
CREATE INDEX chunks_embedding_384_idx ON chunks
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WITH (m = 16, ef_construction = 64)
    WHERE vector_dims(embedding) = 384;

-- The dimension a collection records is the only one its chunks may have: the application
-- checks the model first (409 embedding_model_mismatch); this makes a mixed collection
-- impossible whatever writes the row.
CREATE FUNCTION chunks_check_embedding_dim() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    expected integer;
BEGIN
    SELECT embedding_dim INTO expected FROM collections WHERE id = NEW.collection_id;
    IF vector_dims(NEW.embedding) IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'a % dimension embedding in collection % of % dimensions',
            vector_dims(NEW.embedding), NEW.collection_id, expected
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER chunks_embedding_dim BEFORE INSERT OR UPDATE OF embedding, collection_id ON chunks
    FOR EACH ROW EXECUTE FUNCTION chunks_check_embedding_dim();

ALTER TABLE collections ADD CONSTRAINT collections_embedding_dim_check CHECK (embedding_dim BETWEEN 1 AND 16000);
