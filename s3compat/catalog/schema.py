"""Numbered schema migrations of the catalog. Append only: a shipped migration never changes.

The migrations are written once, with the few types the two backends spell differently left as
fields: `MIGRATIONS` is their SQLite text (applied by `db.Database`, numbered by PRAGMA
user_version) and `POSTGRESQL_MIGRATIONS` their PostgreSQL text (applied by `pg.PgDatabase`,
numbered in a `schema_version` table), so migration n creates the same tables, columns and
indexes on both. On PostgreSQL `{big}` is BIGINT where values pass 2^31, `{time}` DOUBLE
PRECISION, `{serial}` an identity column for AUTOINCREMENT, and `{key}` compares keys and
names bytewise (COLLATE "C", which is SQLite's order for TEXT and S3's for keys); `{offset}`
is quoted there, being a reserved word.
"""

from __future__ import annotations

_MIGRATIONS: list[str] = [
    # 1: the core store.
    """
    CREATE TABLE meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE users (
        access_key {key} PRIMARY KEY,
        secret_key TEXT NOT NULL,
        name TEXT NOT NULL UNIQUE,
        created_at {time} NOT NULL
    );
    CREATE TABLE servers (
        server_id {key} PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL DEFAULT 'up',
        capacity_bytes {big} NOT NULL DEFAULT 0,
        used_bytes {big} NOT NULL DEFAULT 0,
        free_bytes {big} NOT NULL DEFAULT 0,
        chunk_count {big} NOT NULL DEFAULT 0,
        last_seen {time}
    );
    CREATE TABLE buckets (
        name {key} PRIMARY KEY,
        owner TEXT NOT NULL,
        created_at {time} NOT NULL,
        region TEXT NOT NULL,
        acl TEXT
    );
    -- The current version of every key. An overwrite replaces the row in one transaction.
    CREATE TABLE objects (
        version_id {serial},
        bucket {key} NOT NULL,
        key {key} NOT NULL,
        size {big} NOT NULL,
        etag TEXT NOT NULL,
        last_modified {time} NOT NULL,
        owner TEXT NOT NULL,
        headers TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum_value TEXT,
        checksum_type TEXT,
        parts TEXT,
        acl TEXT,
        tags TEXT,
        UNIQUE (bucket, key)
    );
    -- Where the bytes are: one row per chunk. A chunk belongs to an object version, or (while
    -- its multipart upload is open) to an upload part.
    CREATE TABLE chunks (
        chunk_id TEXT PRIMARY KEY,
        server_id TEXT NOT NULL,
        version_id {big},
        upload_id TEXT,
        part_number INTEGER NOT NULL,
        piece INTEGER NOT NULL,
        {offset} {big} NOT NULL,
        length {big} NOT NULL,
        crc32c TEXT NOT NULL
    );
    CREATE INDEX chunks_by_version ON chunks (version_id, {offset});
    CREATE INDEX chunks_by_upload ON chunks (upload_id, part_number, piece);
    CREATE INDEX chunks_by_server ON chunks (server_id);
    -- Chunks being written right now; a crash leaves them here for the collector.
    CREATE TABLE intents (
        chunk_id TEXT PRIMARY KEY,
        server_id TEXT NOT NULL,
        gateway_id TEXT NOT NULL,
        created_at {time} NOT NULL
    );
    -- Chunks no longer referenced, deleted from their server once not_before has passed.
    CREATE TABLE deletions (
        chunk_id TEXT PRIMARY KEY,
        server_id TEXT NOT NULL,
        not_before {time} NOT NULL
    );
    CREATE INDEX deletions_due ON deletions (not_before);
    CREATE TABLE uploads (
        upload_id {key} PRIMARY KEY,
        bucket {key} NOT NULL,
        key {key} NOT NULL,
        owner TEXT NOT NULL,
        initiated_at {time} NOT NULL,
        last_activity {time} NOT NULL,
        headers TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum_type TEXT,
        acl TEXT,
        tags TEXT
    );
    CREATE INDEX uploads_by_key ON uploads (bucket, key, upload_id);
    CREATE TABLE upload_parts (
        upload_id TEXT NOT NULL,
        part_number INTEGER NOT NULL,
        size {big} NOT NULL,
        etag TEXT NOT NULL,
        last_modified {time} NOT NULL,
        checksum TEXT,
        PRIMARY KEY (upload_id, part_number)
    );
    -- A completed upload, remembered for a while so that a retried Complete succeeds again.
    CREATE TABLE completed_uploads (
        upload_id TEXT PRIMARY KEY,
        version_id {big} NOT NULL,
        request_digest TEXT NOT NULL,
        completed_at {time} NOT NULL
    );
    """,
    # 2: per-bucket configuration documents (tagging, lifecycle), one row per (bucket, name).
    # Deleting a bucket deletes its configuration (foreign keys are on).
    """
    CREATE TABLE bucket_config (
        bucket {key} NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
        name {key} NOT NULL,
        value TEXT NOT NULL,
        updated_at {time} NOT NULL,
        PRIMARY KEY (bucket, name)
    );
    CREATE INDEX bucket_config_by_name ON bucket_config (name, bucket);
    """,
    # 3: several gateways on one catalog. Every process that records intents keeps a row in
    # `processes` alive; the intents of a process whose row expired are collected. A `leases`
    # row names the one process doing a background duty (GC, polling servers, rebalancing).
    # Times here come from the database's clock, so that gateways on different hosts agree.
    """
    CREATE TABLE processes (
        process_id TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        started_at {time} NOT NULL,
        expires_at {time} NOT NULL
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at {time} NOT NULL
    );
    CREATE INDEX intents_by_gateway ON intents (gateway_id);
    """,
    # 4: redundancy. A chunk row says how its segment (a single PUT's body or one multipart
    # part) is laid out: layout 1, contiguous sixths (every chunk written before this), or
    # layout 2, striped in blocks of block_bytes with `parity` Reed-Solomon pieces, `piece`
    # being the role (0..5 data, 6.. parity) and `offset` the segment's start. Pieces found
    # missing or corrupt wait in damaged_chunks for the repairer.
    """
    ALTER TABLE chunks ADD COLUMN layout INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE chunks ADD COLUMN segment_length {big} NOT NULL DEFAULT 0;
    ALTER TABLE chunks ADD COLUMN block_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE chunks ADD COLUMN parity INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE damaged_chunks (
        chunk_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        noted_at {time} NOT NULL
    );
    """,
    # 5: versioning. `objects` keeps holding the current version of each key, when that is
    # not a delete marker (so every reader of current objects stays as it was); the versions
    # a write or a delete made noncurrent, and every delete marker, live in `versions`, with
    # the version_id they had (chunks keep pointing at it). `null_version` says the version's
    # S3 id is "null" (written while the bucket was never versioned, or suspended). A bucket's
    # `versioning` is NULL (never enabled), 'Enabled' or 'Suspended'.
    """
    ALTER TABLE buckets ADD COLUMN versioning TEXT;
    ALTER TABLE objects ADD COLUMN null_version INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE versions (
        version_id {big} PRIMARY KEY,
        bucket {key} NOT NULL,
        key {key} NOT NULL,
        size {big} NOT NULL,
        etag TEXT NOT NULL,
        last_modified {time} NOT NULL,
        owner TEXT NOT NULL,
        headers TEXT NOT NULL,
        checksum_algorithm TEXT,
        checksum_value TEXT,
        checksum_type TEXT,
        parts TEXT,
        acl TEXT,
        tags TEXT,
        null_version INTEGER NOT NULL,
        delete_marker INTEGER NOT NULL
    );
    CREATE INDEX versions_by_key ON versions (bucket, key, version_id);
    """,
    # 6: read holds. A process whose read of a chunk has lasted a while holds the chunk here;
    # no collector deletes a held chunk while the holder's `processes` row is alive
    # (store/reads.py).
    """
    CREATE TABLE read_holds (
        holder TEXT NOT NULL,
        chunk_id TEXT NOT NULL,
        PRIMARY KEY (holder, chunk_id)
    );
    CREATE INDEX read_holds_by_chunk ON read_holds (chunk_id);
    """,
]

_SQLITE = {
    "big": "INTEGER",
    "time": "REAL",
    "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "key": "TEXT",
    "offset": "offset",
}
_POSTGRESQL = {
    "big": "BIGINT",
    "time": "DOUBLE PRECISION",
    "serial": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    "key": 'TEXT COLLATE "C"',
    "offset": '"offset"',
}

MIGRATIONS: list[str] = [script.format(**_SQLITE) for script in _MIGRATIONS]
POSTGRESQL_MIGRATIONS: list[str] = [script.format(**_POSTGRESQL) for script in _MIGRATIONS]
