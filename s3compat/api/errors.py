"""The S3 error hierarchy: one class per S3 error code, carrying its HTTP status and message.

Everything that goes wrong in a request ends as one of these; the app's error middleware renders
it as S3 XML. Names, codes and statuses follow the S3 API reference's error code list.
"""

from __future__ import annotations


class S3Error(Exception):
    """Base of every error answered to an S3 client."""

    code = "InternalError"
    status = 500
    message = "We encountered an internal error. Please try again."

    def __init__(self, message: str | None = None, **fields: str) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        # Extra elements rendered into the <Error> document (e.g. StringToSign, BucketName).
        self.fields: dict[str, str] = fields
        self.headers: dict[str, str] = {}


def _error(name: str, status: int, message: str) -> type[S3Error]:
    return type(name, (S3Error,), {"code": name, "status": status, "message": message})


# 400
BadDigest = _error(
    "BadDigest", 400, "The Content-MD5 you specified did not match what we received."
)
InvalidDigest = _error("InvalidDigest", 400, "The Content-MD5 you specified is not valid.")
EntityTooSmall = _error(
    "EntityTooSmall", 400, "Your proposed upload is smaller than the minimum allowed object size."
)
EntityTooLarge = _error(
    "EntityTooLarge", 400, "Your proposed upload exceeds the maximum allowed object size."
)
IncompleteBody = _error(
    "IncompleteBody",
    400,
    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
)
InvalidArgument = _error("InvalidArgument", 400, "Invalid Argument")
InvalidBucketName = _error("InvalidBucketName", 400, "The specified bucket is not valid.")
InvalidPart = _error(
    "InvalidPart",
    400,
    "One or more of the specified parts could not be found. The part may not have been uploaded, "
    "or the specified entity tag may not match the part's entity tag.",
)
InvalidPartOrder = _error(
    "InvalidPartOrder",
    400,
    "The list of parts was not in ascending order. Parts must be ordered by part number.",
)
InvalidRequest = _error("InvalidRequest", 400, "Invalid Request")
InvalidStorageClass = _error(
    "InvalidStorageClass", 400, "The storage class you specified is not valid"
)
RequestHeaderSectionTooLarge = _error(
    "RequestHeaderSectionTooLarge",
    400,
    "Your request header section exceeds the maximum allowed size.",
)
KeyTooLongError = _error("KeyTooLongError", 400, "Your key is too long")
MalformedXML = _error(
    "MalformedXML",
    400,
    "The XML you provided was not well-formed or did not validate against our published schema.",
)
MetadataTooLarge = _error(
    "MetadataTooLarge", 400, "Your metadata headers exceed the maximum allowed metadata size."
)
MissingContentLength = _error(
    "MissingContentLength", 411, "You must provide the Content-Length HTTP header."
)
XAmzContentSHA256Mismatch = _error(
    "XAmzContentSHA256Mismatch",
    400,
    "The provided 'x-amz-content-sha256' header does not match what was computed.",
)
AuthorizationHeaderMalformed = _error(
    "AuthorizationHeaderMalformed", 400, "The authorization header is malformed."
)
AuthorizationQueryParametersError = _error(
    "AuthorizationQueryParametersError", 400, "Error parsing the X-Amz-Credential parameter."
)
InvalidDigestChecksum = _error(
    "BadDigest", 400, "The checksum you specified did not match the calculated checksum."
)
TooManyParts = _error(
    "InvalidArgument", 400, "Part number must be an integer between 1 and 10000, inclusive"
)
RequestTimeout = _error(
    "RequestTimeout",
    400,
    "Your socket connection to the server was not read from or written to within the timeout "
    "period.",
)
InvalidEncryptionAlgorithmError = _error(
    "InvalidEncryptionAlgorithmError", 400, "The encryption request you specified is not valid."
)
UnexpectedContent = _error("UnexpectedContent", 400, "This request does not support content.")
InvalidTag = _error("InvalidTag", 400, "The tag provided was not a valid tag.")
InvalidLocationConstraint = _error(
    "InvalidLocationConstraint", 400, "The specified location-constraint is not valid."
)

# 403
AccessDenied = _error("AccessDenied", 403, "Access Denied")
InvalidAccessKeyId = _error(
    "InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records."
)
SignatureDoesNotMatch = _error(
    "SignatureDoesNotMatch",
    403,
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method.",
)
RequestTimeTooSkewed = _error(
    "RequestTimeTooSkewed",
    403,
    "The difference between the request time and the server's time is too large.",
)
ExpiredToken = _error("AccessDenied", 403, "Request has expired")

# 404
NoSuchBucket = _error("NoSuchBucket", 404, "The specified bucket does not exist")
NoSuchKey = _error("NoSuchKey", 404, "The specified key does not exist.")
NoSuchUpload = _error(
    "NoSuchUpload",
    404,
    "The specified upload does not exist. The upload ID may be invalid, "
    "or the upload may have been aborted or completed.",
)
NoSuchVersion = _error("NoSuchVersion", 404, "The specified version does not exist.")
NoSuchLifecycleConfiguration = _error(
    "NoSuchLifecycleConfiguration", 404, "The lifecycle configuration does not exist"
)
NoSuchTagSet = _error("NoSuchTagSet", 404, "The TagSet does not exist")

# 405, 409, 411, 412, 416
MethodNotAllowed = _error(
    "MethodNotAllowed", 405, "The specified method is not allowed against this resource."
)
BucketAlreadyExists = _error(
    "BucketAlreadyExists",
    409,
    "The requested bucket name is not available. The bucket namespace is shared by all users "
    "of the system. Please select a different name and try again.",
)
BucketAlreadyOwnedByYou = _error(
    "BucketAlreadyOwnedByYou",
    409,
    "Your previous request to create the named bucket succeeded and you already own it.",
)
BucketNotEmpty = _error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty")
OperationAborted = _error(
    "OperationAborted",
    409,
    "A conflicting conditional operation is currently in progress against this resource.",
)
ConditionalRequestConflict = _error(
    "ConditionalRequestConflict", 409, "A conflicting operation occurred."
)
PreconditionFailed = _error(
    "PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold"
)
InvalidRange = _error("InvalidRange", 416, "The requested range is not satisfiable")
InvalidPartNumber = _error("InvalidPartNumber", 416, "The requested partnumber is not satisfiable")

# 5xx
InternalError = S3Error
NotImplementedError_ = _error(
    "NotImplemented",
    501,
    "A header or query you provided implies functionality that is not implemented.",
)
ServiceUnavailable = _error("ServiceUnavailable", 503, "Please reduce your request rate.")
SlowDown = _error("SlowDown", 503, "Please reduce your request rate.")


class NotModified(Exception):
    """Not an error: a conditional GET/HEAD whose answer is 304 with no body."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("not modified")
        self.headers = headers
