"""The S3 error hierarchy: one class per S3 error code, carrying its HTTP status and message;
the class's name is its code (`code` is set only where S3's code cannot be a Python name).

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

    def __init_subclass__(cls, **kwargs: object) -> None:
        """A direct subclass's S3 code is its name unless it says otherwise (a subclass of one
        of those inherits its parent's code)."""
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__ and S3Error in cls.__bases__:
            cls.code = cls.__name__


# 400
class BadRequest(S3Error):
    """S3's answer to a CORS preflight without an Origin header."""

    status = 400
    message = "Insufficient information. Origin request header needed."


class BadDigest(S3Error):
    status = 400
    message = "The Content-MD5 you specified did not match what we received."


class InvalidRetentionPeriod(S3Error):
    status = 400
    message = "Default retention period must be a positive integer value."


class InvalidDigest(S3Error):
    status = 400
    message = "The Content-MD5 you specified is not valid."


class EntityTooSmall(S3Error):
    status = 400
    message = "Your proposed upload is smaller than the minimum allowed object size."


class EntityTooLarge(S3Error):
    status = 400
    message = "Your proposed upload exceeds the maximum allowed object size."


class IncompleteBody(S3Error):
    status = 400
    message = "You did not provide the number of bytes specified by the Content-Length HTTP header."


class RequestTimeout(S3Error):
    status = 400
    message = (
        "Your socket connection to the server was not read from or written to within the "
        "timeout period. Idle connections will be closed."
    )


class InvalidArgument(S3Error):
    status = 400
    message = "Invalid Argument"


class InvalidPolicyDocument(S3Error):
    """A browser form's POST policy that cannot be read (not base64, not JSON, a bad shape)."""

    status = 400
    message = "Invalid Policy: Invalid JSON."


class MalformedPOSTRequest(S3Error):
    status = 400
    message = "The body of your POST request is not well-formed multipart/form-data."


class MaxPostPreDataLengthExceeded(S3Error):
    code = "MaxPostPreDataLengthExceededError"
    status = 400
    message = "Your POST request fields preceding the upload file were too large."


class IncorrectNumberOfFilesInPostRequest(S3Error):
    status = 400
    message = "POST requires exactly one file upload per request."


class InvalidBucketName(S3Error):
    status = 400
    message = "The specified bucket is not valid."


class InvalidPart(S3Error):
    status = 400
    message = (
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag."
    )


class InvalidPartOrder(S3Error):
    status = 400
    message = "The list of parts was not in ascending order. Parts must be ordered by part number."


class InvalidRequest(S3Error):
    status = 400
    message = "Invalid Request"


class KmsNotFound(S3Error):
    """An SSE-KMS key id naming no key (AWS passes KMS's NotFoundException on this way)."""

    code = "KMS.NotFoundException"
    status = 400
    message = "The KMS key was not found."


class InvalidEncryptionAlgorithmError(S3Error):
    status = 400
    message = "The Encryption request you specified is not valid. Supported value: AES256."


class InvalidStorageClass(S3Error):
    status = 400
    message = "The storage class you specified is not valid"


class RequestHeaderSectionTooLarge(S3Error):
    status = 400
    message = "Your request header section exceeds the maximum allowed size."


class KeyTooLongError(S3Error):
    status = 400
    message = "Your key is too long"


class MalformedXML(S3Error):
    status = 400
    message = (
        "The XML you provided was not well-formed or did not validate against our published schema."
    )


class MetadataTooLarge(S3Error):
    status = 400
    message = "Your metadata headers exceed the maximum allowed metadata size."


class MissingContentLength(S3Error):
    status = 411
    message = "You must provide the Content-Length HTTP header."


class XAmzContentSHA256Mismatch(S3Error):
    status = 400
    message = "The provided 'x-amz-content-sha256' header does not match what was computed."


class AuthorizationHeaderMalformed(S3Error):
    status = 400
    message = "The authorization header is malformed."


class AuthorizationQueryParametersError(S3Error):
    status = 400
    message = "Error parsing the X-Amz-Credential parameter."


class UnexpectedContent(S3Error):
    status = 400
    message = "This request does not support content."


class InvalidTag(S3Error):
    status = 400
    message = "The tag provided was not a valid tag."


class InvalidLocationConstraint(S3Error):
    status = 400
    message = "The specified location-constraint is not valid."


# 403
class AccessDenied(S3Error):
    status = 403
    message = "Access Denied"


class InvalidAccessKeyId(S3Error):
    status = 403
    message = "The AWS Access Key Id you provided does not exist in our records."


class SignatureDoesNotMatch(S3Error):
    status = 403
    message = (
        "The request signature we calculated does not match the signature you provided. Check "
        "your key and signing method."
    )


class RequestTimeTooSkewed(S3Error):
    status = 403
    message = "The difference between the request time and the server's time is too large."


class ExpiredToken(S3Error):
    code = "AccessDenied"
    status = 403
    message = "Request has expired"


# 404
class NoSuchBucket(S3Error):
    status = 404
    message = "The specified bucket does not exist"


class NoSuchKey(S3Error):
    status = 404
    message = "The specified key does not exist."


class NoSuchUpload(S3Error):
    status = 404
    message = (
        "The specified upload does not exist. The upload ID may be invalid, or the upload may "
        "have been aborted or completed."
    )


class NoSuchObjectLockConfiguration(S3Error):
    status = 404
    message = "The specified object does not have a ObjectLock configuration"


class ObjectLockConfigurationNotFoundError(S3Error):
    status = 404
    message = "Object Lock configuration does not exist for this bucket"


class NoSuchVersion(S3Error):
    status = 404
    message = "The specified version does not exist."


class NoSuchLifecycleConfiguration(S3Error):
    status = 404
    message = "The lifecycle configuration does not exist"


class ServerSideEncryptionConfigurationNotFoundError(S3Error):
    status = 404
    message = "The server side encryption configuration was not found"


class NoSuchTagSet(S3Error):
    status = 404
    message = "The TagSet does not exist"


# 405, 409, 411, 412, 416
class MethodNotAllowed(S3Error):
    status = 405
    message = "The specified method is not allowed against this resource."


class BucketAlreadyExists(S3Error):
    status = 409
    message = (
        "The requested bucket name is not available. The bucket namespace is shared by all "
        "users of the system. Please select a different name and try again."
    )


class BucketAlreadyOwnedByYou(S3Error):
    status = 409
    message = "Your previous request to create the named bucket succeeded and you already own it."


class InvalidBucketState(S3Error):
    status = 409
    message = "The request is not valid with the current state of the bucket."


class BucketNotEmpty(S3Error):
    status = 409
    message = "The bucket you tried to delete is not empty"


class PreconditionFailed(S3Error):
    status = 412
    message = "At least one of the pre-conditions you specified did not hold"


class InvalidRange(S3Error):
    status = 416
    message = "The requested range is not satisfiable"


class InvalidPartNumber(S3Error):
    status = 416
    message = "The requested partnumber is not satisfiable"


# 5xx
class InternalError(S3Error):
    """The store could not do what it should have (the base's code, status and message)."""


class Unimplemented(S3Error):
    code = "NotImplemented"
    status = 501
    message = "A header or query you provided implies functionality that is not implemented."


class ServiceUnavailable(S3Error):
    status = 503
    message = "Please reduce your request rate."


class SlowDown(S3Error):
    status = 503
    message = "Please reduce your request rate."


class NotModified(Exception):
    """Not an error: a conditional GET/HEAD whose answer is 304 with no body."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("not modified")
        self.headers = headers


# Errors of ACLs and of the configurations answered as absent
class MalformedACLError(S3Error):
    status = 400
    message = (
        "The XML you provided was not well-formed or did not validate against our published schema."
    )


class MalformedPolicy(S3Error):
    status = 400
    message = "Policies must be valid JSON and the first byte must be '{'"


class NoSuchBucketPolicy(S3Error):
    status = 404
    message = "The bucket policy does not exist"


class NoSuchPublicAccessBlockConfiguration(S3Error):
    status = 404
    message = "The public access block configuration was not found"


class OwnershipControlsNotFoundError(S3Error):
    status = 404
    message = "The bucket ownership controls were not found"


class AccessControlListNotSupported(S3Error):
    status = 400
    message = "The bucket does not allow ACLs"


class InvalidBucketAclWithObjectOwnership(S3Error):
    status = 400
    message = "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"


class NoSuchCORSConfiguration(S3Error):
    status = 404
    message = "The CORS configuration does not exist"


class CORSForbidden(S3Error):
    """A preflight refused because the bucket has no CORS configuration (or, with the message
    "CORSResponse: Bucket not found", no such bucket)."""

    code = "AccessForbidden"
    status = 403
    message = "CORSResponse: CORS is not enabled for this bucket."


class CORSNotAllowed(CORSForbidden):
    """A preflight that no rule of the bucket's CORS configuration allows (S3's own spelling)."""

    message = (
        "CORSResponse: This CORS request is not allowed. This is usually because the evalution "
        "of Origin, request method / Access-Control-Request-Method or "
        "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
    )


class UnresolvableGrantByEmailAddress(S3Error):
    status = 400
    message = "The e-mail address you provided does not match any account on record."
