"""Which IAM action each S3 operation needs, and on which kind of resource.

From AWS's "Actions, resources, and condition keys for Amazon S3" (the Service Authorization
Reference): the action a bucket policy names to allow or deny an operation. Several operations
share one action (ListObjects, ListObjectsV2 and HeadBucket are all `s3:ListBucket`; every
write of an object, multipart ones included, is `s3:PutObject`), and the Delete* operations of
a bucket configuration need its Put action. An operation on a given version (`versionId` in the
query) needs the action's `...Version...` form where S3 has one.

A copy needs `s3:GetObject` on its source besides `s3:PutObject` on its destination; the source
is checked by `copysource.py`. DeleteObjects needs `s3:DeleteObject` on each key it names,
checked per key by its handler.
"""

from __future__ import annotations

from enum import Enum

from s3compat.api.operations import Op


class Scope(Enum):
    """What an action's resource is: the bucket (`arn:aws:s3:::bucket`) or an object in it
    (`arn:aws:s3:::bucket/key`)."""

    BUCKET = "bucket"
    OBJECT = "object"


_B, _O = Scope.BUCKET, Scope.OBJECT

# Operation -> (action, the resource it applies to). Operations not here (ListBuckets,
# CreateBucket: no bucket policy can apply before the bucket exists; a CORS preflight) are
# never judged by a bucket policy.
OPERATION_ACTIONS: dict[Op, tuple[str, Scope]] = {
    Op.AbortMultipartUpload: ("s3:AbortMultipartUpload", _O),
    Op.CompleteMultipartUpload: ("s3:PutObject", _O),
    Op.CopyObject: ("s3:PutObject", _O),
    Op.CreateBucketMetadataTableConfiguration: ("s3:CreateBucketMetadataTableConfiguration", _B),
    Op.CreateMultipartUpload: ("s3:PutObject", _O),
    Op.DeleteBucket: ("s3:DeleteBucket", _B),
    Op.DeleteBucketAnalyticsConfiguration: ("s3:PutAnalyticsConfiguration", _B),
    Op.DeleteBucketCors: ("s3:PutBucketCORS", _B),
    Op.DeleteBucketEncryption: ("s3:PutEncryptionConfiguration", _B),
    Op.DeleteBucketIntelligentTieringConfiguration: ("s3:PutIntelligentTieringConfiguration", _B),
    Op.DeleteBucketInventoryConfiguration: ("s3:PutInventoryConfiguration", _B),
    Op.DeleteBucketLifecycle: ("s3:PutLifecycleConfiguration", _B),
    Op.DeleteBucketMetadataTableConfiguration: ("s3:DeleteBucketMetadataTableConfiguration", _B),
    Op.DeleteBucketMetricsConfiguration: ("s3:PutMetricsConfiguration", _B),
    Op.DeleteBucketOwnershipControls: ("s3:PutBucketOwnershipControls", _B),
    Op.DeleteBucketPolicy: ("s3:DeleteBucketPolicy", _B),
    Op.DeleteBucketReplication: ("s3:PutReplicationConfiguration", _B),
    Op.DeleteBucketTagging: ("s3:PutBucketTagging", _B),
    Op.DeleteBucketWebsite: ("s3:DeleteBucketWebsite", _B),
    Op.DeleteObject: ("s3:DeleteObject", _O),
    Op.DeleteObjectTagging: ("s3:DeleteObjectTagging", _O),
    Op.DeleteObjects: ("s3:DeleteObject", _O),
    Op.DeletePublicAccessBlock: ("s3:PutBucketPublicAccessBlock", _B),
    Op.GetBucketAccelerateConfiguration: ("s3:GetAccelerateConfiguration", _B),
    Op.GetBucketAcl: ("s3:GetBucketAcl", _B),
    Op.GetBucketAnalyticsConfiguration: ("s3:GetAnalyticsConfiguration", _B),
    Op.GetBucketCors: ("s3:GetBucketCORS", _B),
    Op.GetBucketEncryption: ("s3:GetEncryptionConfiguration", _B),
    Op.GetBucketIntelligentTieringConfiguration: ("s3:GetIntelligentTieringConfiguration", _B),
    Op.GetBucketInventoryConfiguration: ("s3:GetInventoryConfiguration", _B),
    Op.GetBucketLifecycleConfiguration: ("s3:GetLifecycleConfiguration", _B),
    Op.GetBucketLocation: ("s3:GetBucketLocation", _B),
    Op.GetBucketLogging: ("s3:GetBucketLogging", _B),
    Op.GetBucketMetadataTableConfiguration: ("s3:GetBucketMetadataTableConfiguration", _B),
    Op.GetBucketMetricsConfiguration: ("s3:GetMetricsConfiguration", _B),
    Op.GetBucketNotificationConfiguration: ("s3:GetBucketNotification", _B),
    Op.GetBucketOwnershipControls: ("s3:GetBucketOwnershipControls", _B),
    Op.GetBucketPolicy: ("s3:GetBucketPolicy", _B),
    Op.GetBucketPolicyStatus: ("s3:GetBucketPolicyStatus", _B),
    Op.GetBucketReplication: ("s3:GetReplicationConfiguration", _B),
    Op.GetBucketRequestPayment: ("s3:GetBucketRequestPayment", _B),
    Op.GetBucketTagging: ("s3:GetBucketTagging", _B),
    Op.GetBucketVersioning: ("s3:GetBucketVersioning", _B),
    Op.GetBucketWebsite: ("s3:GetBucketWebsite", _B),
    Op.GetObject: ("s3:GetObject", _O),
    Op.GetObjectAcl: ("s3:GetObjectAcl", _O),
    Op.GetObjectAttributes: ("s3:GetObjectAttributes", _O),
    Op.GetObjectLegalHold: ("s3:GetObjectLegalHold", _O),
    Op.GetObjectLockConfiguration: ("s3:GetBucketObjectLockConfiguration", _B),
    Op.GetObjectRetention: ("s3:GetObjectRetention", _O),
    Op.GetObjectTagging: ("s3:GetObjectTagging", _O),
    Op.GetObjectTorrent: ("s3:GetObjectTorrent", _O),
    Op.GetPublicAccessBlock: ("s3:GetBucketPublicAccessBlock", _B),
    Op.HeadBucket: ("s3:ListBucket", _B),
    Op.HeadObject: ("s3:GetObject", _O),
    Op.ListBucketAnalyticsConfigurations: ("s3:GetAnalyticsConfiguration", _B),
    Op.ListBucketIntelligentTieringConfigurations: ("s3:GetIntelligentTieringConfiguration", _B),
    Op.ListBucketInventoryConfigurations: ("s3:GetInventoryConfiguration", _B),
    Op.ListBucketMetricsConfigurations: ("s3:GetMetricsConfiguration", _B),
    Op.ListMultipartUploads: ("s3:ListBucketMultipartUploads", _B),
    Op.ListObjectVersions: ("s3:ListBucketVersions", _B),
    Op.ListObjects: ("s3:ListBucket", _B),
    Op.ListObjectsV2: ("s3:ListBucket", _B),
    Op.ListParts: ("s3:ListMultipartUploadParts", _O),
    Op.PostObject: ("s3:PutObject", _O),
    Op.PutBucketAccelerateConfiguration: ("s3:PutAccelerateConfiguration", _B),
    Op.PutBucketAcl: ("s3:PutBucketAcl", _B),
    Op.PutBucketAnalyticsConfiguration: ("s3:PutAnalyticsConfiguration", _B),
    Op.PutBucketCors: ("s3:PutBucketCORS", _B),
    Op.PutBucketEncryption: ("s3:PutEncryptionConfiguration", _B),
    Op.PutBucketIntelligentTieringConfiguration: ("s3:PutIntelligentTieringConfiguration", _B),
    Op.PutBucketInventoryConfiguration: ("s3:PutInventoryConfiguration", _B),
    Op.PutBucketLifecycleConfiguration: ("s3:PutLifecycleConfiguration", _B),
    Op.PutBucketLogging: ("s3:PutBucketLogging", _B),
    Op.PutBucketMetricsConfiguration: ("s3:PutMetricsConfiguration", _B),
    Op.PutBucketNotificationConfiguration: ("s3:PutBucketNotification", _B),
    Op.PutBucketOwnershipControls: ("s3:PutBucketOwnershipControls", _B),
    Op.PutBucketPolicy: ("s3:PutBucketPolicy", _B),
    Op.PutBucketReplication: ("s3:PutReplicationConfiguration", _B),
    Op.PutBucketRequestPayment: ("s3:PutBucketRequestPayment", _B),
    Op.PutBucketTagging: ("s3:PutBucketTagging", _B),
    Op.PutBucketVersioning: ("s3:PutBucketVersioning", _B),
    Op.PutBucketWebsite: ("s3:PutBucketWebsite", _B),
    Op.PutObject: ("s3:PutObject", _O),
    Op.PutObjectAcl: ("s3:PutObjectAcl", _O),
    Op.PutObjectLegalHold: ("s3:PutObjectLegalHold", _O),
    Op.PutObjectLockConfiguration: ("s3:PutBucketObjectLockConfiguration", _B),
    Op.PutObjectRetention: ("s3:PutObjectRetention", _O),
    Op.PutObjectTagging: ("s3:PutObjectTagging", _O),
    Op.PutPublicAccessBlock: ("s3:PutBucketPublicAccessBlock", _B),
    Op.RenameObject: ("s3express:RenameObject", _O),
    Op.RestoreObject: ("s3:RestoreObject", _O),
    Op.SelectObjectContent: ("s3:GetObject", _O),
    Op.UpdateObjectEncryption: ("s3:PutObject", _O),
    Op.UploadPart: ("s3:PutObject", _O),
    Op.UploadPartCopy: ("s3:PutObject", _O),
}
# Operations that no bucket policy judges.
UNJUDGED_OPERATIONS = frozenset(
    {Op.ListBuckets, Op.CreateBucket, Op.CreateSession, Op.OptionsObject}
)

# The action of an operation on one version of an object (`versionId` given).
VERSION_ACTIONS = {
    "s3:GetObject": "s3:GetObjectVersion",
    "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
    "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes",
    "s3:GetObjectTagging": "s3:GetObjectVersionTagging",
    "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
    "s3:PutObjectTagging": "s3:PutObjectVersionTagging",
    "s3:DeleteObject": "s3:DeleteObjectVersion",
    "s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
    "s3:GetObjectTorrent": "s3:GetObjectVersionTorrent",
}

# Actions a policy may name that no operation here maps to but S3 defines (permission-only
# actions, and ones of operations this store does not route), with their resource.
OTHER_ACTIONS: dict[str, Scope] = {
    "s3:ListAllMyBuckets": _B,
    "s3:CreateBucket": _B,
    "s3:BypassGovernanceRetention": _O,
    "s3:GetObjectVersionForReplication": _O,
    "s3:ObjectOwnerOverrideToBucketOwner": _O,
    "s3:ReplicateObject": _O,
    "s3:ReplicateDelete": _O,
    "s3:ReplicateTags": _O,
    "s3:PutObjectVersionAcl": _O,
    "s3:PutObjectVersionTagging": _O,
    "s3:GetObjectVersionAcl": _O,
    "s3:GetObjectVersionAttributes": _O,
    "s3:GetObjectVersionTagging": _O,
    "s3:GetObjectVersion": _O,
    "s3:GetObjectVersionTorrent": _O,
    "s3:DeleteObjectVersion": _O,
    "s3:DeleteObjectVersionTagging": _O,
    "s3:RestoreObject": _O,
}


def _known_actions() -> dict[str, Scope]:
    known = {action.lower(): scope for action, scope in OPERATION_ACTIONS.values()}
    known.update({action.lower(): scope for action, scope in OTHER_ACTIONS.items()})
    return known


# Every action a policy may name, lower-cased (names are case-insensitive), and its resource.
KNOWN_ACTIONS: dict[str, Scope] = _known_actions()


def operation_action(operation: Op, *, versioned: bool = False) -> tuple[str, Scope] | None:
    """The action `operation` needs and its resource kind; None if no bucket policy judges
    it."""
    found = OPERATION_ACTIONS.get(operation)
    if found is None:
        return None
    action, scope = found
    if versioned:
        action = VERSION_ACTIONS.get(action, action)
    return action, scope
