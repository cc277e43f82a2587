-- Least privilege (store/roles.py): the service's database role owns no table, so it may not
-- build the HNSW index a collection of a new embedding dimension needs (only a table's owner
-- may index it). This function, owned by the schema's owner, builds exactly that index and
-- nothing else; its only argument is an integer, checked against pgvector's HNSW limit.
CREATE OR REPLACE FUNCTION docrag_ensure_embedding_index(dim integer) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF dim IS NULL OR dim < 1 OR dim > 2000 THEN
        RAISE EXCEPTION 'no HNSW index for % dimensions (1 to 2000)', dim
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS chunks_embedding_%s_idx ON chunks'
        ' USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WITH (m = 16, ef_construction = 64)'
        ' WHERE vector_dims(embedding) = %s',
        dim, dim, dim);
END
$$;
-- Callers are the roles store/roles.py grants EXECUTE to (and the owner).
REVOKE ALL ON FUNCTION docrag_ensure_embedding_index(integer) FROM PUBLIC;
