-- Row-level security on every table that holds a tenant's rows (store/tenancy.py): a row is
-- visible and writable only when its tenant is the session's docrag.tenant, or when the
-- statement asked for all tenants ('*', the few cross-tenant statements). Without a tenant,
-- no rows. Not FORCEd: the owner (migrations) is not bound; the service's role, which is
-- neither owner, superuser nor BYPASSRLS (store/roles.py), is. Foreign-key checks and
-- cascades are not filtered (PostgreSQL runs them past row security). The policies read the
-- setting through scalar subqueries: evaluated once per statement, not once per row.
CREATE FUNCTION docrag_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_setting('docrag.tenant', true)
                     ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
                THEN current_setting('docrag.tenant', true)::uuid END
$$;
CREATE FUNCTION docrag_all_tenants() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('docrag.tenant', true) = '*', false)
$$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON tenants USING ((SELECT docrag_all_tenants()) OR id = (SELECT docrag_tenant()));

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['api_keys', 'collections', 'documents', 'chunks', 'uploads', 'jobs',
                             'conversations', 'answers', 'feedback'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_rows ON %I'
            ' USING ((SELECT docrag_all_tenants()) OR tenant_id = (SELECT docrag_tenant()))', t);
    END LOOP;
END
$$;
