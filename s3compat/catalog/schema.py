"""Numbered schema migrations of the catalog. Append only: a shipped migration never changes.

The same migrations exist twice, once for each backend: `MIGRATIONS` (SQLite, applied by
`db.Database`, numbered by PRAGMA user_version) and `POSTGRESQL_MIGRATIONS` (applied by
`pg.PgDatabase`, numbered in a `schema_version` table). Migration n creates the same tables,
columns and indexes on both; the PostgreSQL text differs only in types (BIGINT where values
pass 2^31, DOUBLE PRECISION for times, an identity column for AUTOINCREMENT) and in comparing
keys and names bytewise (COLLATE "C", which is SQLite's order for TEXT and S3's for keys).
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the core store.
    """
    CREATE TABLE meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE users (
        access_key TEXT PRIMARY KEY,
        secret_key TEXT NOT NULL,
        name TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    CREATE TABLE servers (
        server_id TEXT PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL DEFAULT 'up',
        capacity_bytes INTEGER NOT NULL DEFAULT 0,
        used_bytes INTEGER NOT NULL DEFAULT 0,
        free_bytes INTEGER NOT NULL DEFAULT 0,
        chunk_count INTEGER NOT NULL DEFAULT 0,
        last_seen REAL
    );
    CREATE TABLE buckets (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        created_at REAL NOT NULL,
        region TEXT NOT NULL,
        acl TEXT
    );
    -- The current version of every key. An overwrite replaces the row in one transaction.
    CREATE TABLE objects (
        version_id INTEGER PRIMARY KEY AUTOINCREMENT,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified REAL NOT NULL,
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
        version_id INTEGER,
        upload_id TEXT,
        part_number INTEGER NOT NULL,
        piece INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        length INTEGER NOT NULL,
        crc32c TEXT NOT NULL
    );
    CREATE INDEX chunks_by_version ON chunks (version_id, offset);
    CREATE INDEX chunks_by_upload ON chunks (upload_id, part_number, piece);
    CREATE INDEX chunks_by_server ON chunks (server_id);
    -- Chunks being written right now; a crash leaves them here for the collector.
    CREATE TABLE intents (
        chunk_id TEXT PRIMARY KEY,
        server_id TEXT NOT NULL,
        gateway_id TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    -- Chunks no longer referenced, deleted from their server once not_before has passed.
    CREATE TABLE deletions (
        chunk_id TEXT PRIMARY KEY,
        server_id TEXT NOT NULL,
        not_before REAL NOT NULL
    );
    CREATE INDEX deletions_due ON deletions (not_before);
    CREATE TABLE uploads (
        upload_id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        owner TEXT NOT NULL,
        initiated_at REAL NOT NULL,
        last_activity REAL NOT NULL,
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
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified REAL NOT NULL,
        checksum TEXT,
        PRIMARY KEY (upload_id, part_number)
    );
    -- A completed upload, remembered for a while so that a retried Complete succeeds again.
    CREATE TABLE completed_uploads (
        upload_id TEXT PRIMARY KEY,
        version_id INTEGER NOT NULL,
        request_digest TEXT NOT NULL,
        completed_at REAL NOT NULL
    );
    """,
    # 2: per-bucket configuration documents (tagging, lifecycle), one row per (bucket, name).
    # Deleting a bucket deletes its configuration (foreign keys are on).
    """
    CREATE TABLE bucket_config (
        bucket TEXT NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL,
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
        started_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL
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
    ALTER TABLE chunks ADD COLUMN segment_length INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE chunks ADD COLUMN block_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE chunks ADD COLUMN parity INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE damaged_chunks (
        chunk_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        noted_at REAL NOT NULL
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
        version_id INTEGER PRIMARY KEY,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        last_modified REAL NOT NULL,
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
]

POSTGRESQL_MIGRATIONS: list[str] = [
    # 1: the core store (see MIGRATIONS[0] for what each table holds).
    """
    CREATE TABLE meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE users (
        access_key TEXT COLLATE "C" PRIMARY KEY,
        secret_key TEXT NOT NULL,
        name TEXT NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE servers (
        server_id TEXT COLLATE "C" PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL DEFAULT 'up',
        capacity_bytes BIGINT NOT NULL DEFAULT 0,
        used_bytes BIGINT NOT NULL DEFAULT 0,
        free_bytes BIGINT NOT NULL DEFAULT 0,
        chunk_count BIGINT NOT NULL DEFAULT 0,
        last_seen DOUBLE PRECISION
    );
    CREATE TABLE buckets (
        name TEXT COLLATE "C" PRIMARY KEY,
        owner TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        region TEXT NOT NULL,
        acl TEXT
    );
    CREATE TABLE objects (
        version_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        bucket TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        size BIGINT NOT NULL,
        etag TEXT NOT NULL,
        last_modified DOUBLE PRECISION NOT NULL,
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
    CREATE TABLE chunks (
        chunk_id TEXT PRIMARY KEY,
        server_id TEXT NOT NULL,
        version_id BIGINT,
        upload_id TEXT,
        part_number INTEGER NOT NULL,
        piece INTEGER NOT NULL,
        "offset" BIGINT NOT NULL,
        length BIGINT NOT NULL,
        crc32c TEXT NOT NULL
    );
    CREATE INDEX chunks_by_version ON chunks (version_id, "offset");
    CREATE INDEX chunks_by_upload ON chunks (upload_id, part_number, piece);
    CREATE INDEX chunks_by_server ON chunks (server_id);
    CREATE TABLE intents (
        chunk_id TEXT PRIMARY KEY,
        server_id TEXT NOT NULL,
        gateway_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE deletions (
        chunk_id TEXT PRIMARY KEY,
        server_id TEXT NOT NULL,
        not_before DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX deletions_due ON deletions (not_before);
    CREATE TABLE uploads (
        upload_id TEXT COLLATE "C" PRIMARY KEY,
        bucket TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        owner TEXT NOT NULL,
        initiated_at DOUBLE PRECISION NOT NULL,
        last_activity DOUBLE PRECISION NOT NULL,
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
        size BIGINT NOT NULL,
        etag TEXT NOT NULL,
        last_modified DOUBLE PRECISION NOT NULL,
        checksum TEXT,
        PRIMARY KEY (upload_id, part_number)
    );
    CREATE TABLE completed_uploads (
        upload_id TEXT PRIMARY KEY,
        version_id BIGINT NOT NULL,
        request_digest TEXT NOT NULL,
        completed_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 2: per-bucket configuration documents.
    """
    CREATE TABLE bucket_config (
        bucket TEXT COLLATE "C" NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
        name TEXT COLLATE "C" NOT NULL,
        value TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (bucket, name)
    );
    CREATE INDEX bucket_config_by_name ON bucket_config (name, bucket);
    """,
    # 3: processes and leases, for several gateways on one catalog.
    """
    CREATE TABLE processes (
        process_id TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX intents_by_gateway ON intents (gateway_id);
    """,
    # 4: redundancy (see MIGRATIONS[3]).
    """
    ALTER TABLE chunks ADD COLUMN layout INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE chunks ADD COLUMN segment_length BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE chunks ADD COLUMN block_bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE chunks ADD COLUMN parity INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE damaged_chunks (
        chunk_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        noted_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 5: versioning (see MIGRATIONS[4]).
    """
    ALTER TABLE buckets ADD COLUMN versioning TEXT;
    ALTER TABLE objects ADD COLUMN null_version INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE versions (
        version_id BIGINT PRIMARY KEY,
        bucket TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        size BIGINT NOT NULL,
        etag TEXT NOT NULL,
        last_modified DOUBLE PRECISION NOT NULL,
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
]
