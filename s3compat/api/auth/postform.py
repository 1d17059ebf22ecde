"""The signature of a browser upload form (POST Object): who signed its policy, and whether
they did.

A form signs its `policy` field (the base64 text as sent), never the request: SigV4 forms
carry `x-amz-algorithm`, `x-amz-credential`, `x-amz-date` and `x-amz-signature` (hex
HMAC-SHA256 under the key derived for the credential's date and region); SigV2 forms carry
`AWSAccessKeyId` and `signature` (base64 HMAC-SHA1 under the secret). A form with none of
these and no policy is anonymous. Field names here are the form's, lower-cased.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from s3compat.api import errors
from s3compat.api.auth import sigv2, sigv4

V4_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")
V2_FIELDS = ("awsaccesskeyid", "signature")


@dataclass(frozen=True)
class FormSignature:
    """What a form claims: the signer's access key and signature over `policy`."""

    scheme: Literal["sigv2", "sigv4"]
    access_key: str
    signature: str
    policy: str
    # SigV4 only: the credential's scope date (YYYYMMDD) and region.
    scope_date: str = ""
    region: str = ""


def _required(fields: Mapping[str, str], name: str, shown: str) -> str:
    value = fields.get(name)
    if value is None:
        raise errors.InvalidArgument(
            f"Bucket POST must contain a field named '{shown}'.  If it is specified, please "
            "check the order of the fields.",
            ArgumentName=shown,
            ArgumentValue="",
        )
    return value


def parse_form_signature(fields: Mapping[str, str]) -> FormSignature | None:
    """The form's claimed signature, None for an anonymous form; InvalidArgument for a form
    that signs only in part (a policy without a signature, a signature without a policy)."""
    if any(name in fields for name in V4_FIELDS):
        algorithm = _required(fields, "x-amz-algorithm", "x-amz-algorithm")
        if algorithm != sigv4.ALGORITHM:
            raise errors.InvalidArgument(
                "Only AWS4-HMAC-SHA256 is supported for x-amz-algorithm",
                ArgumentName="x-amz-algorithm",
                ArgumentValue=algorithm[:100],
            )
        credential = _required(fields, "x-amz-credential", "x-amz-credential")
        access_key, scope_date, region = sigv4.parse_credential(credential, errors.InvalidArgument)
        amz_date = _required(fields, "x-amz-date", "x-amz-date")
        if sigv4.parse_amz_date(amz_date) is None or not amz_date.startswith(scope_date):
            raise errors.InvalidArgument(
                "x-amz-date must be YYYYMMDD'T'HHMMSS'Z' and on the credential's date",
                ArgumentName="x-amz-date",
                ArgumentValue=amz_date[:100],
            )
        return FormSignature(
            "sigv4",
            access_key,
            _required(fields, "x-amz-signature", "x-amz-signature"),
            _required(fields, "policy", "policy"),
            scope_date,
            region,
        )
    if any(name in fields for name in V2_FIELDS):
        return FormSignature(
            "sigv2",
            _required(fields, "awsaccesskeyid", "AWSAccessKeyId"),
            _required(fields, "signature", "Signature"),
            _required(fields, "policy", "policy"),
        )
    if "policy" in fields:
        _required(fields, "awsaccesskeyid", "AWSAccessKeyId")
    return None


def expected_signature(form: FormSignature, secret: str) -> str:
    """The signature the holder of `secret` would have put on the form's policy."""
    if form.scheme == "sigv4":
        key = sigv4.signing_key(secret, form.scope_date, form.region)
        return sigv4.sign(key, form.policy)
    return sigv2.sign(secret, form.policy)


def verify_form_signature(form: FormSignature, secret: str) -> None:
    """SignatureDoesNotMatch unless the form's signature is the signer's (constant time)."""
    expected = expected_signature(form, secret)
    if not hmac.compare_digest(expected.encode(), form.signature.encode("utf-8", "replace")):
        raise errors.SignatureDoesNotMatch(
            AWSAccessKeyId=form.access_key, StringToSign=form.policy[:2048]
        )
