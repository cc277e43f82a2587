-- Crypto-shredding that holds against old backups (issue 21, store/keystore.py, docs/encryption.md).
-- A data key is now wrapped by HKDF(master key || a secret of the key store), the secret living in
-- a folder outside the database and its backups; kek_id names it. NULL: a row from before this
-- migration, wrapped by the master key alone (`docrag crypto migrate-keystore` upgrades it).
ALTER TABLE tenant_keys ADD COLUMN kek_id text CHECK (kek_id ~ '^[0-9a-f]{32}$');
