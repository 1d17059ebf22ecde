"""The web console at /-/console: server-rendered pages over the store and the S3 API."""
