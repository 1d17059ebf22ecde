"""The region a SigV4 request is signed for: this store's region, or the bucket's own
(LocationConstraint); any other is refused as S3 refuses it (AuthorizationHeaderMalformed,
AuthorizationQueryParametersError for a presigned URL) with the right region named, which
botocore uses to sign again."""

from __future__ import annotations

import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError
from support.clients import client_for, empty_and_delete_bucket, unique_bucket_name
from support.processes import Cluster


def regional(cluster: Cluster, region: str) -> BaseClient:
    session = boto3.session.Session(
        aws_access_key_id=cluster.access_key,
        aws_secret_access_key=cluster.secret_key,
        region_name=region,
    )
    return session.client(
        "s3",
        endpoint_url=cluster.endpoint,
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
    )


@pytest.fixture
def eu_bucket(cluster: Cluster) -> Iterator[str]:
    client = regional(cluster, "eu-west-1")
    name = unique_bucket_name("eu")
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    yield name
    empty_and_delete_bucket(client, name)
    client.close()


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def test_wrong_region_is_refused_naming_the_right_one(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    wrong = regional(cluster, "ap-south-1")
    url = wrong.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    status, headers, body = fetch(url)
    document = ElementTree.fromstring(body)
    assert status == 400
    assert document.findtext("Code") == "AuthorizationQueryParametersError"
    assert document.findtext("Region") == "us-east-1"
    assert headers["x-amz-bucket-region"] == "us-east-1"
    # A service request (no bucket to redirect to) is refused outright.
    with pytest.raises(ClientError) as raised:
        wrong.list_buckets()
    assert raised.value.response["Error"]["Code"] == "AuthorizationHeaderMalformed"
    assert raised.value.response["Error"]["Region"] == "us-east-1"
    wrong.close()


def test_botocore_follows_the_region_it_is_told(
    cluster: Cluster, s3: BaseClient, bucket: str
) -> None:
    """A client configured for another region still works with a bucket: botocore reads the
    Region of the error, signs again for it and retries."""
    wrong = regional(cluster, "ap-south-1")
    wrong.put_object(Bucket=bucket, Key="redirected", Body=b"there")
    assert s3.get_object(Bucket=bucket, Key="redirected")["Body"].read() == b"there"
    wrong.close()


def test_a_bucket_takes_its_own_region_and_the_stores(cluster: Cluster, eu_bucket: str) -> None:
    eu = regional(cluster, "eu-west-1")
    eu.put_object(Bucket=eu_bucket, Key="k", Body=b"eu")
    assert eu.get_bucket_location(Bucket=eu_bucket)["LocationConstraint"] == "eu-west-1"
    home = client_for(cluster)  # us-east-1, this store's region
    assert home.get_object(Bucket=eu_bucket, Key="k")["Body"].read() == b"eu"
    url = regional(cluster, "us-west-2").generate_presigned_url(
        "get_object", Params={"Bucket": eu_bucket, "Key": "k"}
    )
    status, _, body = fetch(url)
    assert status == 400
    assert ElementTree.fromstring(body).findtext("Region") == "eu-west-1"
    eu.close()
    home.close()


def test_create_bucket_signed_for_another_region_than_it_asks(cluster: Cluster) -> None:
    client = regional(cluster, "us-west-2")
    # Without a body the bucket would be in this store's region: refused (a presigned PUT,
    # so that botocore cannot sign again).
    name = unique_bucket_name("rg")
    url = client.generate_presigned_url("create_bucket", Params={"Bucket": name})
    request = urllib.request.Request(url, method="PUT")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=30)
    body = raised.value.read()
    assert raised.value.code == 400
    assert ElementTree.fromstring(body).findtext("Code") == "AuthorizationQueryParametersError"
    # Asking for eu-west-1 while signing for us-west-2: botocore is told eu-west-1, signs
    # again, and the bucket is made there.
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert client.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    empty_and_delete_bucket(client, name)
    client.close()
