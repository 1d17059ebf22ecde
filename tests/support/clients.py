"""boto3 clients for a test cluster, buckets that clean up after themselves, and the parts of
a botocore ClientError that tests check."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError

from support.processes import Cluster

REGION = "us-east-1"


def client_for(
    cluster: Cluster,
    access_key: str | None = None,
    secret_key: str | None = None,
    *,
    signature_version: str | None = None,
) -> BaseClient:
    """A boto3 S3 client with the default configuration (https: verified with our cert), or
    with the given signature version ("s3v4", or "s3" for SigV2)."""
    session = boto3.session.Session(
        aws_access_key_id=access_key or cluster.access_key,
        aws_secret_access_key=secret_key or cluster.secret_key,
        region_name=REGION,
    )
    config = Config(signature_version=signature_version) if signature_version else None
    if cluster.ca_cert is not None:
        return session.client(
            "s3", endpoint_url=cluster.endpoint, verify=str(cluster.ca_cert), config=config
        )
    return session.client("s3", endpoint_url=cluster.endpoint, config=config)


def unique_bucket_name(prefix: str = "it") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def empty_and_delete_bucket(client: BaseClient, name: str) -> None:
    """Best-effort cleanup: delete every key, then the bucket."""
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=name):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=name)
    except ClientError:
        pass


def make_bucket(client: BaseClient) -> Iterator[str]:
    name = unique_bucket_name()
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        empty_and_delete_bucket(client, name)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: ClientError) -> int:
    return int(error.response["ResponseMetadata"]["HTTPStatusCode"])
