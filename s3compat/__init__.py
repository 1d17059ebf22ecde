"""s3compat: a distributed, S3-compatible object store."""
