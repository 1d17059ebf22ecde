"""X-Amz-Expires of SigV4 presigned URLs: from 1 s to 7 days they work until they expire; 0 is
a URL that expired when it was signed (403); negative or over 7 days is malformed (400)."""

from __future__ import annotations

import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.credentials import Credentials
from support.clients import REGION
from support.processes import Cluster
from support.signing import raw_request


def presigned_target(cluster: Cluster, path: str, expires: int) -> str:
    """The path and query of a SigV4 presigned GET (botocore's Python signer, which, unlike
    the CRT one, signs any X-Amz-Expires)."""
    request = AWSRequest(method="GET", url=cluster.endpoint + path)
    credentials = Credentials(cluster.access_key, cluster.secret_key)
    S3SigV4QueryAuth(credentials, "s3", REGION, expires=expires).add_auth(request)
    url: str = request.url
    assert f"X-Amz-Expires={expires}" in url
    return url.removeprefix(cluster.endpoint)


@pytest.mark.parametrize(
    ("expires", "status", "code"),
    [
        (1, 200, None),
        (100_000, 200, None),
        (604_800, 200, None),
        (0, 403, "AccessDenied"),
        (-7, 400, "AuthorizationQueryParametersError"),
        (604_801, 400, "AuthorizationQueryParametersError"),
    ],
)
def test_presigned_expiry_bounds(
    cluster: Cluster, s3: BaseClient, bucket: str, expires: int, status: int, code: str | None
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    answer = raw_request(
        cluster, "GET", presigned_target(cluster, f"/{bucket}/k", expires), signer=None
    )
    assert answer.status == status, answer.body
    if code is None:
        assert answer.body == b"x"
    else:
        assert answer.error_code() == code
