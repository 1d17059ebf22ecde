"""Who may do what: the ACL model and the access rule, applied once per request after
authentication and before the handler runs.

The rule (S3's ACL semantics, with the bucket owner in full control of the bucket's contents):

- A request without credentials (no Authorization header, no presigned query) is *anonymous*:
  it is in the AllUsers group and nothing else. An authenticated request is in AllUsers and
  AuthenticatedUsers, and is its own canonical user (our canonical user ID is the access key).
- The owner of a bucket may do everything to the bucket and to every object in it (but see
  the ownership settings below).
- Anyone else gets what the ACLs grant: the bucket's ACL for listing and writing
  (`BUCKET_PERMISSIONS`), the object's ACL for reading an object and its ACL
  (`OBJECT_PERMISSIONS`). FULL_CONTROL implies every permission. The owner of an object (who
  wrote it) also has every object permission on it. Every other operation (bucket
  configuration, tagging, deleting the bucket) is for the bucket owner only.
- A missing bucket is 404 NoSuchBucket for everyone; a missing object is 404 NoSuchKey for
  those who may list the bucket and 403 AccessDenied for the others, so that who cannot list
  cannot probe for keys either.

A bucket policy (`api/policy/`), when the bucket has one, is combined with that as S3 does: a
Deny statement that applies refuses the request whoever makes it, the bucket's owner included;
otherwise an Allow statement that applies allows it (on an object, only one the bucket's owner
owns: S3's Allow statements do not reach other accounts' objects), and otherwise the ACL rule
above decides. The owner may always Get, Put and Delete the policy itself, even where it denies
the owner (S3 keeps the owner from locking itself out); anyone else allowed to by the policy
gets 405 MethodNotAllowed, as S3 answers an identity outside the owner's account.

The bucket's public access block and object ownership (`auth/controls.py`) change this as on
S3: under IgnorePublicAcls grants to AllUsers and AuthenticatedUsers count for nothing; under
RestrictPublicBuckets a public policy allows no one but the bucket's owner (Deny still
applies); BlockPublicAcls refuses setting a public ACL (`check_settable_acl`, as do the
ownership rules for writes). With BucketOwnerEnforced no ACL counts and every object is the
bucket owner's; under ObjectWriter and BucketOwnerPreferred an object another user owns is not
the bucket owner's to read (its ACL decides), only to list, overwrite and delete; a bucket
without the setting keeps the older rule above (the bucket owner may do everything).

ACLs are kept in the `acl` column of a bucket or object: NULL (private), a canned ACL name, or
a JSON list of grants. Canned ACLs are expanded against the current owners when evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from s3compat.api import errors
from s3compat.api.auth.controls import (
    BUCKET_OWNER_FULL_CONTROL,
    acls_disabled,
    is_public_grant,
    object_owner,
    owner_controls_objects,
    public_access_block,
)
from s3compat.api.operations import Op
from s3compat.api.policy.actions import Scope, operation_action
from s3compat.api.policy.context import RequestFacts, request_context
from s3compat.api.policy.document import S3_ARN_PREFIX, stored_policy
from s3compat.api.policy.evaluate import Decision, PolicyRequest, evaluate, is_public
from s3compat.records import BucketRecord, ObjectRecord

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)
CANONICAL_USER = "CanonicalUser"
GROUP = "Group"
BY_EMAIL = "AmazonCustomerByEmail"

FULL_CONTROL = "FULL_CONTROL"
READ = "READ"
WRITE = "WRITE"
READ_ACP = "READ_ACP"
WRITE_ACP = "WRITE_ACP"
PERMISSIONS = (FULL_CONTROL, WRITE, WRITE_ACP, READ, READ_ACP)

CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
)

# Operations that a grant in the bucket's ACL allows, and the permission each needs.
BUCKET_PERMISSIONS = {
    Op.HeadBucket: READ,
    Op.ListObjects: READ,
    Op.ListObjectsV2: READ,
    Op.ListObjectVersions: READ,
    Op.ListMultipartUploads: READ,
    Op.PutObject: WRITE,
    Op.PostObject: WRITE,
    Op.CopyObject: WRITE,
    Op.DeleteObject: WRITE,
    Op.DeleteObjects: WRITE,
    Op.CreateMultipartUpload: WRITE,
    Op.UploadPart: WRITE,
    Op.UploadPartCopy: WRITE,
    Op.CompleteMultipartUpload: WRITE,
    Op.AbortMultipartUpload: WRITE,
    Op.ListParts: WRITE,
    Op.GetBucketAcl: READ_ACP,
    Op.PutBucketAcl: WRITE_ACP,
}
# Operations that a grant in the object's ACL allows (the object must exist).
OBJECT_PERMISSIONS = {
    Op.GetObject: READ,
    Op.HeadObject: READ,
    Op.GetObjectAttributes: READ,
    Op.GetObjectAcl: READ_ACP,
    Op.PutObjectAcl: WRITE_ACP,
}
# Operations on one object that its owner may do besides those of OBJECT_PERMISSIONS.
OBJECT_OWNER_OPERATIONS = frozenset(
    {Op.GetObjectTagging, Op.PutObjectTagging, Op.DeleteObjectTagging}
)
# The headers that name who the client expects to own the bucket (of the request, of a copy's
# source): a request to a bucket someone else owns is refused.
EXPECTED_OWNER_HEADER = "x-amz-expected-bucket-owner"
EXPECTED_SOURCE_OWNER_HEADER = "x-amz-source-expected-bucket-owner"
# Operations that need credentials but no bucket.
SERVICE_OPERATIONS = frozenset({Op.ListBuckets, Op.CreateBucket})
# The operations on the policy itself: the bucket owner's alone, whatever the policy says.
POLICY_OPERATIONS = frozenset({Op.GetBucketPolicy, Op.PutBucketPolicy, Op.DeleteBucketPolicy})


@dataclass(frozen=True)
class Grant:
    """One ACL entry: `grantee` is a canonical user ID (`kind` CanonicalUser) or a group URI
    (`kind` Group)."""

    kind: str
    grantee: str
    permission: str


def canned_grants(name: str, owner: str, bucket_owner: str) -> list[Grant]:
    """The grants a canned ACL stands for; `bucket_owner` matters for the bucket-owner-* ones.

    aws-exec-read also lets EC2 read AMI bundles in S3; there is no EC2 here, so it is
    answered as the owner's FULL_CONTROL alone.
    """
    grants = [Grant(CANONICAL_USER, owner, FULL_CONTROL)]
    if name == "public-read":
        grants.append(Grant(GROUP, ALL_USERS, READ))
    elif name == "public-read-write":
        grants += [Grant(GROUP, ALL_USERS, READ), Grant(GROUP, ALL_USERS, WRITE)]
    elif name == "authenticated-read":
        grants.append(Grant(GROUP, AUTHENTICATED_USERS, READ))
    elif name == "log-delivery-write":
        grants += [Grant(GROUP, LOG_DELIVERY, WRITE), Grant(GROUP, LOG_DELIVERY, READ_ACP)]
    elif name == "bucket-owner-read" and bucket_owner != owner:
        grants.append(Grant(CANONICAL_USER, bucket_owner, READ))
    elif name == "bucket-owner-full-control" and bucket_owner != owner:
        grants.append(Grant(CANONICAL_USER, bucket_owner, FULL_CONTROL))
    return grants


def encode_grants(grants: Sequence[Grant]) -> str:
    """The `acl` column's text for an explicit grant list."""
    return json.dumps(
        [{"kind": g.kind, "grantee": g.grantee, "permission": g.permission} for g in grants]
    )


def decode_acl(stored: str | None, owner: str, bucket_owner: str) -> list[Grant]:
    """The grants of a stored ACL. NULL, and a name that is no canned ACL, mean private."""
    if stored is not None and stored.startswith("["):
        return [Grant(g["kind"], g["grantee"], g["permission"]) for g in json.loads(stored)]
    name = stored if stored in CANNED_ACLS else "private"
    return canned_grants(name, owner, bucket_owner)


def grants_permission(grants: Sequence[Grant], principal: str | None, permission: str) -> bool:
    """Whether `grants` give `principal` (None: anonymous) `permission`."""
    for grant in grants:
        if grant.permission not in (permission, FULL_CONTROL):
            continue
        if grant.kind == GROUP and (
            grant.grantee == ALL_USERS
            or (grant.grantee == AUTHENTICATED_USERS and principal is not None)
        ):
            return True
        if grant.kind == CANONICAL_USER and principal is not None and grant.grantee == principal:
            return True
    return False


def effective_grants(bucket: BucketRecord, grants: list[Grant]) -> list[Grant]:
    """The grants that count in the bucket (or on an object in it): none with ACLs disabled,
    none to a public group under IgnorePublicAcls."""
    if acls_disabled(bucket):
        return []
    if public_access_block(bucket).ignore_public_acls:
        return [grant for grant in grants if not is_public_grant(grant.kind, grant.grantee)]
    return grants


def only_owner_full_control(grants: Sequence[Grant], owner: str) -> bool:
    """Whether `grants` give `owner` FULL_CONTROL and nobody anything else: the one ACL a
    bucket with ACLs disabled may have or be given."""
    return all(grant == Grant(CANONICAL_USER, owner, FULL_CONTROL) for grant in grants)


def may_use_bucket(principal: str | None, bucket: BucketRecord, permission: str) -> bool:
    """Whether `principal` holds `permission` on the bucket (its owner holds all)."""
    if principal is not None and principal == bucket.owner:
        return True
    grants = decode_acl(bucket.acl, bucket.owner, bucket.owner)
    return grants_permission(effective_grants(bucket, grants), principal, permission)


def may_use_object(
    principal: str | None, bucket: BucketRecord, record: ObjectRecord, permission: str
) -> bool:
    """Whether `principal` holds `permission` on the object (its owner holds all, and the
    bucket's owner where it controls every object: `owner_controls_objects`)."""
    owner = object_owner(bucket, record.owner)
    if principal is not None and principal == owner:
        return True
    if principal is not None and principal == bucket.owner and owner_controls_objects(bucket):
        return True
    grants = decode_acl(record.acl, record.owner, bucket.owner)
    return grants_permission(effective_grants(bucket, grants), principal, permission)


def needs_object(operation: Op, principal: str | None, bucket: BucketRecord) -> bool:
    """Whether deciding `operation` needs the object's record (its ACL or owner)."""
    if principal is not None and principal == bucket.owner and owner_controls_objects(bucket):
        return False
    return operation in OBJECT_PERMISSIONS or operation in OBJECT_OWNER_OPERATIONS


def check_settable_acl(bucket: BucketRecord, stored: str | None, owner: str) -> str | None:
    """The ACL a request may set on the bucket or on an object in it (`stored`: its stored
    form, None when none is asked; `owner`: who owns what it is set on), as S3 decides: with
    ACLs disabled none or the bucket owner's full control alone (kept as None: no ACL), else
    AccessControlListNotSupported; under BlockPublicAcls no public one (AccessDenied)."""
    if stored is None:
        return None
    grants = decode_acl(stored, owner, bucket.owner)
    if acls_disabled(bucket):
        explicit = stored.startswith("[")
        if stored == BUCKET_OWNER_FULL_CONTROL or (
            explicit and only_owner_full_control(grants, bucket.owner)
        ):
            return None
        raise errors.AccessControlListNotSupported()
    if public_access_block(bucket).block_public_acls and any(
        is_public_grant(grant.kind, grant.grantee) for grant in grants
    ):
        raise errors.AccessDenied()
    return stored


def check_expected_owner(expected: str | None, bucket: BucketRecord) -> None:
    """x-amz-expected-bucket-owner: AccessDenied unless the bucket's owner is the one named."""
    if expected is not None and expected.strip() != bucket.owner:
        raise errors.AccessDenied()


def policy_decision(
    bucket: BucketRecord,
    action: str,
    scope: Scope,
    key: str | None,
    facts: RequestFacts | None,
    *,
    prefix: str | None = None,
) -> Decision:
    """What the bucket's policy says about `action` on the bucket (Scope.BUCKET) or on `key`;
    NoOpinion when the bucket has no policy."""
    if bucket.policy is None:
        return Decision.NO_OPINION
    resource = S3_ARN_PREFIX + bucket.name
    if scope is Scope.OBJECT:
        resource += "/" + (key or "")
    if facts is None:
        principal, context = None, {}
    else:
        principal, context = facts.principal, request_context(facts, action, prefix=prefix)
    request = PolicyRequest(principal, action, resource, context)
    policy = stored_policy(bucket.policy)
    decision = evaluate(policy, request)
    if (
        decision is Decision.ALLOW
        and principal != bucket.owner
        and public_access_block(bucket).restrict_public_buckets
        and is_public(policy)
    ):
        # RestrictPublicBuckets: a public policy allows the owner's account alone.
        return Decision.NO_OPINION
    return decision


def _operation_decision(
    operation: Op, bucket: BucketRecord, key: str | None, facts: RequestFacts | None
) -> Decision:
    if bucket.policy is None:
        return Decision.NO_OPINION
    versioned = facts is not None and "versionId" in facts.query
    found = operation_action(operation, versioned=versioned)
    if found is None:
        return Decision.NO_OPINION
    action, scope = found
    return policy_decision(bucket, action, scope, key, facts)


def may_list(
    principal: str | None, bucket: BucketRecord, key: str | None, facts: RequestFacts | None
) -> bool:
    """Whether the requester may list the bucket (for a missing key: its listing is judged
    with `s3:prefix` set to the key)."""
    decision = policy_decision(bucket, "s3:ListBucket", Scope.BUCKET, None, facts, prefix=key)
    if decision is Decision.DENY:
        return False
    return decision is Decision.ALLOW or may_use_bucket(principal, bucket, READ)


def check_access(
    operation: Op,
    principal: str | None,
    bucket: BucketRecord,
    record: ObjectRecord | None = None,
    key: str | None = None,
    facts: RequestFacts | None = None,
) -> None:
    """Raise AccessDenied (or NoSuchKey) unless `principal` may do `operation` on `bucket`, and
    on `record`, the current version of the addressed `key` (None: there is none, or the
    operation does not need it; see `needs_object`). `facts` are what the bucket's policy, if
    it has one, may ask about the request."""
    decision = _operation_decision(operation, bucket, key, facts)
    is_owner = principal is not None and principal == bucket.owner
    if operation in POLICY_OPERATIONS:
        if is_owner:
            return
        if decision is Decision.ALLOW:
            raise errors.MethodNotAllowed()
        raise errors.AccessDenied()
    if decision is Decision.DENY:
        raise errors.AccessDenied()
    on_object = operation in OBJECT_PERMISSIONS or operation in OBJECT_OWNER_OPERATIONS
    if is_owner and (not on_object or owner_controls_objects(bucket)):
        return
    if operation == Op.DeleteObjects and bucket.policy is not None:
        # The policy judges each key (s3:DeleteObject on it): see `check_key_access`.
        return
    if on_object:
        if record is None:
            if may_list(principal, bucket, key, facts):
                raise errors.NoSuchKey(Key=key or "")
            raise errors.AccessDenied()
        owner = object_owner(bucket, record.owner)
        if decision is Decision.ALLOW and owner == bucket.owner:
            return
        if principal is not None and principal == owner:
            return
        permission = OBJECT_PERMISSIONS.get(operation)
        if permission is not None and may_use_object(principal, bucket, record, permission):
            return
        raise errors.AccessDenied()
    if decision is Decision.ALLOW:
        return
    permission = BUCKET_PERMISSIONS.get(operation)
    if permission is not None and may_use_bucket(principal, bucket, permission):
        return
    raise errors.AccessDenied()


def check_key_access(
    operation: Op, principal: str | None, bucket: BucketRecord, key: str, facts: RequestFacts
) -> None:
    """One key of a DeleteObjects: AccessDenied if the bucket's policy denies `operation` on
    it, or neither the policy nor the bucket's ACL allows it."""
    decision = _operation_decision(operation, bucket, key, facts)
    if decision is Decision.DENY:
        raise errors.AccessDenied()
    if decision is Decision.ALLOW or (principal is not None and principal == bucket.owner):
        return
    if not may_use_bucket(principal, bucket, WRITE):
        raise errors.AccessDenied()
