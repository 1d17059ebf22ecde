"""A presigned URL allows what its signer signed and nothing more: its holder cannot add
x-amz-* headers (an ACL, a copy source, metadata). As AWS: 403, AccessDenied naming the
header for SigV4 (SignedHeaders lists what was signed), SignatureDoesNotMatch for SigV2
(whose signature covers every x-amz-* header sent)."""

from __future__ import annotations

import pytest
from botocore.client import BaseClient
from support.clients import client_for
from support.processes import Cluster
from support.signing import raw_request


def presigned_put(cluster: Cluster, version: str, bucket: str, key: str) -> str:
    signer = client_for(cluster, signature_version=version)
    url: str = signer.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
    )
    assert ("X-Amz-Signature=" in url) == (version == "s3v4"), url
    return url.removeprefix(cluster.endpoint)


@pytest.mark.parametrize("version", ["s3v4", "s3"])
@pytest.mark.parametrize(
    "header",
    [("x-amz-acl", "public-read"), ("x-amz-copy-source", "SOURCE"), ("x-amz-meta-who", "me")],
)
def test_a_presigned_put_refuses_headers_its_signer_did_not_sign(
    cluster: Cluster, s3: BaseClient, bucket: str, header: tuple[str, str], version: str
) -> None:
    s3.put_object(Bucket=bucket, Key="secret", Body=b"only for the signer")
    name, value = header
    value = value.replace("SOURCE", f"{bucket}/secret")
    target = presigned_put(cluster, version, bucket, "upload")
    refused = raw_request(cluster, "PUT", target, {name: value}, b"mine", signer=None)
    assert refused.status == 403, refused.body
    if version == "s3v4":
        assert refused.error_code() == "AccessDenied"
        assert f"<HeadersNotSigned>{name}</HeadersNotSigned>".encode() in refused.body
    else:
        assert refused.error_code() == "SignatureDoesNotMatch"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["secret"]
    # The same URL, used as signed, works.
    accepted = raw_request(cluster, "PUT", target, {}, b"mine", signer=None)
    assert accepted.status == 200, accepted.body
    stored = s3.get_object(Bucket=bucket, Key="upload")
    assert stored["Body"].read() == b"mine" and stored["Metadata"] == {}
    grants = s3.get_object_acl(Bucket=bucket, Key="upload")["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
