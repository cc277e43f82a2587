-- API keys managed over HTTP (issue 14.4, store/keys.py): an expiry, the collections a key is
-- scoped to (NULL: every collection of its tenant), when it was last used (updated at most once
-- a minute), and which key created it. Additive only (expand step).
ALTER TABLE api_keys
    ADD COLUMN IF NOT EXISTS expires_at timestamptz,
    ADD COLUMN IF NOT EXISTS collections uuid[],
    ADD COLUMN IF NOT EXISTS last_used_at timestamptz,
    ADD COLUMN IF NOT EXISTS created_by uuid;

-- The collections the request's key is scoped to, as the session setting docrag.collections
-- (store/tenancy.py sets it at every checkout: '' for an unscoped caller, '{id,...}' otherwise).
-- NULL: no scope. The store's WHERE clauses call docrag_in_scope (so an owner-run service is
-- scoped too), and the restrictive policies below bind the service's role as a backstop.
CREATE FUNCTION docrag_scope() RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN coalesce(current_setting('docrag.collections', true), '') = '' THEN NULL
                ELSE current_setting('docrag.collections', true)::uuid[] END
$$;
CREATE FUNCTION docrag_in_scope(collection uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT docrag_scope() IS NULL OR collection = ANY (docrag_scope())
$$;
-- A stored answer names its collections (answers.collections): in scope when every one of them
-- is (an answer over a deleted collection is out of every scope).
CREATE FUNCTION docrag_answer_in_scope(tenant uuid, names text[]) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT docrag_scope() IS NULL OR NOT EXISTS (
        SELECT 1 FROM unnest(names) AS n(name)
        WHERE NOT EXISTS (SELECT 1 FROM collections c
                          WHERE c.tenant_id = tenant AND c.name = n.name AND c.id = ANY (docrag_scope())))
$$;
-- A conversation is in scope when every one of its turns is.
CREATE FUNCTION docrag_conversation_in_scope(tenant uuid, conversation uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT docrag_scope() IS NULL OR NOT EXISTS (
        SELECT 1 FROM answers a WHERE a.tenant_id = tenant AND a.conversation_id = conversation
          AND NOT docrag_answer_in_scope(tenant, a.collections))
$$;

-- Restrictive: ANDed with the tenant policies of migration 0071. Answers and conversations are
-- scoped by the store's WHERE clauses only: erasure must still redact an answer that also cites
-- a collection outside the deleting key's scope.
CREATE POLICY collection_scope ON collections AS RESTRICTIVE
    USING ((SELECT docrag_scope()) IS NULL OR id = ANY ((SELECT docrag_scope())::uuid[]));
CREATE POLICY collection_scope ON documents AS RESTRICTIVE
    USING ((SELECT docrag_scope()) IS NULL OR collection_id = ANY ((SELECT docrag_scope())::uuid[]));
CREATE POLICY collection_scope ON chunks AS RESTRICTIVE
    USING ((SELECT docrag_scope()) IS NULL OR collection_id = ANY ((SELECT docrag_scope())::uuid[]));
