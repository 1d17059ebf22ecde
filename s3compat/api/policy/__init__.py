"""Bucket policies: the document (`document.py`), its conditions (`conditions.py`), judging a
request by it (`evaluate.py`) with the request's condition context (`context.py`), and which
IAM action each S3 operation needs (`actions.py`). Pure: no I/O; access control in
`api/auth/access.py` combines the verdict with ACLs and ownership."""
