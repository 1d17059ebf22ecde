"""Numbered schema migrations of the catalog. Append only: a shipped migration never changes."""

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
]
