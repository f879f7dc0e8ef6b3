"""The one table of every error the KMS operations raise: AWS code, exact message, source.

Each entry is an ``Entry``: the error class (its name is the AWS ``__type``), the message
template (``str.format`` fields, or ``None`` when AWS sends no message at all), and the source
the code and message rest on. Operations raise ``ENTRY(**fields)`` or
``ENTRY(detail=..., **fields)``; the ``detail`` goes to the audit trail and the server log only.
``tests/test_errors.py`` drives every entry through boto3 against a running server and asserts
the exact code and message (or its absence).

Source tags (see ``docs/aws-notes.md``):

- ``LS-snap``: LocalStack ``tests/aws/services/kms/test_kms.snapshot.json``, responses recorded
  from AWS KMS (``@markers.aws.validated``).
- ``API-ref X``: the API Reference text (the botocore service model) for X.
- ``DevGuide X``: the AWS KMS Developer Guide page X.
- ``issue owner/repo#n``: an AWS response quoted in a GitHub issue.
- ``issue 9``: Trent issue 9, which quotes responses recorded from AWS.
- ``Trent``: no AWS counterpart (a feature Trent does not offer) or no AWS text found; the
  message is Trent's own and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trent.errors import (
    AccessDeniedException,
    AlreadyExistsException,
    CustomKeyStoreHasCMKsException,
    CustomKeyStoreInvalidStateException,
    CustomKeyStoreNameInUseException,
    CustomKeyStoreNotFoundException,
    DisabledException,
    DryRunOperationException,
    ExpiredImportTokenException,
    IncompleteSignatureException,
    IncorrectKeyException,
    IncorrectKeyMaterialException,
    InvalidArnException,
    InvalidCiphertextException,
    InvalidGrantIdException,
    InvalidGrantTokenException,
    InvalidImportTokenException,
    InvalidKeyUsageException,
    InvalidMarkerException,
    InvalidSignatureException,
    KMSError,
    KMSInternalException,
    KMSInvalidMacException,
    KMSInvalidSignatureException,
    KMSInvalidStateException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    MissingAuthenticationTokenException,
    NotFoundException,
    SerializationException,
    TagException,
    UnknownOperationException,
    UnrecognizedClientException,
    UnsupportedOperationException,
    ValidationException,
    XksKeyAlreadyInUseException,
    XksKeyInvalidConfigurationException,
    XksKeyNotFoundException,
    XksProxyIncorrectAuthenticationCredentialException,
    XksProxyInvalidConfigurationException,
    XksProxyInvalidResponseException,
    XksProxyUriInUseException,
    XksProxyUriUnreachableException,
    XksProxyVpcEndpointServiceNotFoundException,
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One error: ``error`` (the class; its name is the AWS code), ``template`` (the exact
    message, ``str.format`` fields; ``None``: no message member), ``source``."""

    error: type[KMSError]
    template: str | None
    source: str

    @property
    def code(self) -> str:
        return self.error.__name__

    def __call__(self, *, detail: str | None = None, **fields: Any) -> KMSError:
        """The exception to raise; ``fields`` fill the template."""
        message = None if self.template is None else self.template.format(**fields)
        return self.error(message, detail=detail)

    def message(self, **fields: Any) -> str | None:
        return None if self.template is None else self.template.format(**fields)


# One constraint violation of a ``VALIDATION`` message, as AWS words it [LS-snap]. ``value`` is
# ``Value 'x'``, ``Value`` alone for blobs and sensitive members, or ``Value null``.
VIOLATION = "{value} at '{path}' failed to satisfy constraint: Member must {constraint}"
NOT_NULL = "not be null"


def _v(member: str) -> str:
    """AWS's validation message for a required member that is absent."""
    violation = VIOLATION.format(value="Value null", path=member, constraint=NOT_NULL)
    return "1 validation error detected: " + violation


# --- finding keys ---------------------------------------------------------------------------------
INVALID_KEY_ID = Entry(NotFoundException, "Invalid keyId '{key_ref}'", "LS-snap")
KEY_NOT_FOUND = Entry(NotFoundException, "Key '{arn}' does not exist", "LS-snap")
ALIAS_NOT_FOUND = Entry(
    NotFoundException, "Alias {alias_arn} is not found.", "issue giantswarm/aws-operator#1015"
)
INVALID_ARN = Entry(InvalidArnException, "Invalid arn {key_ref}", 'LS-snap ("Invalid arn ...")')
ACCESS_DENIED = Entry(
    AccessDeniedException,
    "User: {principal} is not authorized to perform: {action} on resource: {resource}",
    "DevGuide troubleshooting AccessDeniedException",
)
# The refusals of the policy evaluation (issue 10), one per deciding policy type, worded as AWS
# words them (IAM User Guide, "Troubleshoot access denied error messages": "... because no
# <type> policy allows the <action> action" / "... with an explicit deny in a(n) <type>
# policy"; KMS's resource-based form recorded in issue jbrt/ec2cryptomatic#26).
_DENIED = "User: {principal} is not authorized to perform: {action} on resource: {resource} "
_DENIED_SOURCE = "IAM UserGuide troubleshoot_access-denied (access denied error messages)"
DENIED_NO_RESOURCE_POLICY = Entry(
    AccessDeniedException,
    _DENIED + "because no resource-based policy allows the {action} action",
    "issue jbrt/ec2cryptomatic#26; " + _DENIED_SOURCE,
)
DENIED_NO_IDENTITY_POLICY = Entry(
    AccessDeniedException,
    _DENIED + "because no identity-based policy allows the {action} action",
    _DENIED_SOURCE,
)
DENIED_NO_SESSION_POLICY = Entry(
    AccessDeniedException,
    _DENIED + "because no session policy allows the {action} action",
    _DENIED_SOURCE,
)
DENIED_BY_RESOURCE_POLICY = Entry(
    AccessDeniedException,
    _DENIED + "with an explicit deny in a resource-based policy",
    _DENIED_SOURCE,
)
DENIED_BY_IDENTITY_POLICY = Entry(
    AccessDeniedException,
    _DENIED + "with an explicit deny in an identity-based policy",
    _DENIED_SOURCE,
)
DENIED_BY_SESSION_POLICY = Entry(
    AccessDeniedException,
    _DENIED + "with an explicit deny in a session policy",
    _DENIED_SOURCE,
)

# --- key states -----------------------------------------------------------------------------------
KEY_STATE = Entry(KMSInvalidStateException, "{arn} is {phrase}.", "LS-snap; DevGuide key-state")
KEY_DISABLED = Entry(DisabledException, "{arn} is disabled.", "LS-snap; DevGuide key-state")
NOT_PENDING_DELETION = Entry(
    KMSInvalidStateException, "{arn} is not pending deletion.", "DevGuide key-state"
)

# --- key usage, spec and algorithm ----------------------------------------------------------------
WRONG_KEY_USAGE = Entry(
    InvalidKeyUsageException,
    "{arn} key usage is {usage} which is not valid for {operation}.",
    "LS-snap",
)
WRONG_KEY_SPEC = Entry(
    InvalidKeyUsageException,
    "{arn} key spec is {spec} which is not valid for {operation}.",
    "Trent, shaped like the key-usage message (LS-snap)",
)
INCOMPATIBLE_ALGORITHM = Entry(
    InvalidKeyUsageException,
    "Algorithm {algorithm} is incompatible with key spec {spec}.",
    "LS-snap",
)
INCORRECT_KEY = Entry(
    IncorrectKeyException,
    "The key ID in the request does not identify a CMK that can perform this operation.",
    "LS-snap; issue 9",
)

# --- encryption -----------------------------------------------------------------------------------
INVALID_CIPHERTEXT = Entry(
    InvalidCiphertextException,
    None,
    'LS-snap; issue 9; the raw body {"__type":"InvalidCiphertextException"} in issue '
    "aws/aws-nitro-enclaves-sdk-c#68. Also used, by inference, for ImportKeyMaterial's "
    "wrapped material that does not unwrap or fit the key spec",
)
PLAINTEXT_TOO_LARGE = Entry(
    ValidationException,
    "Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {limit} bytes.",
    "LS-snap",
)
CONTEXT_WITH_ASYMMETRIC = Entry(
    ValidationException,
    "EncryptionContext is not supported with asymmetric keys.",
    "Trent (API-ref Encrypt: asymmetric keys take no context; AWS text not found)",
)
ALGORITHM_NEEDS_KEY = Entry(
    InvalidKeyUsageException,
    "Algorithm {algorithm} needs an asymmetric key named by {member}.",
    "Trent (AWS text not found)",
)
CIPHERTEXT_REQUIRED = Entry(ValidationException, _v("ciphertextBlob"), "API-ref Decrypt")
KEY_ID_REQUIRED = Entry(ValidationException, _v("keyId"), "API-ref Decrypt (IGNORE_CIPHERTEXT)")
SOURCE_KEY_ID_REQUIRED = Entry(
    ValidationException, _v("sourceKeyId"), "API-ref ReEncrypt (IGNORE_CIPHERTEXT)"
)
DRY_RUN = Entry(
    DryRunOperationException,
    "The request would have succeeded, but the DryRun option is set.",
    "LS-snap",
)
NO_RECIPIENT = Entry(
    ValidationException,
    "Trent does not support attested (Recipient) requests.",
    "Trent (no Nitro enclaves)",
)

# --- data keys and random -------------------------------------------------------------------------
BYTES_AND_SPEC = Entry(
    ValidationException,
    "Please specify either number of bytes or key spec, not both.",
    "Trent, after the AWS text below (issue nsmithuk/local-kms#6)",
)
BYTES_OR_SPEC = Entry(
    ValidationException,
    "Please specify either number of bytes or key spec.",
    "issue nsmithuk/local-kms#6",
)
NUMBER_OF_BYTES_REQUIRED = Entry(ValidationException, "NumberOfBytes is required.", "LS-snap")
CUSTOM_KEY_STORE_NOT_FOUND = Entry(
    CustomKeyStoreNotFoundException,
    "Custom key store {store} does not exist.",
    "Trent (API-ref CustomKeyStoreNotFoundException; AWS text not found)",
)
SM2_KEY_PAIR = Entry(
    ValidationException,
    "The SM2 key pair spec is available only in China Regions.",
    "API-ref GenerateDataKeyPair",
)
KEY_PAIR_SPEC_UNSUPPORTED = Entry(
    UnsupportedOperationException,
    "Trent cannot generate {spec} key pairs.",
    "Trent (README: key specs Trent lacks)",
)

# --- signing, MACs, key agreement -----------------------------------------------------------------
INVALID_SIGNATURE = Entry(KMSInvalidSignatureException, None, "LS-snap; issue 9")
INVALID_MAC = Entry(KMSInvalidMacException, None, "LS-snap; issue 9")
DIGEST_LENGTH = Entry(
    ValidationException, "Digest is invalid length for algorithm {algorithm}.", "LS-snap"
)
MESSAGE_TYPE_FOR_ALGORITHM = Entry(
    ValidationException,
    "Message type {message_type} is incompatible with algorithm {algorithm}.",
    "issue 9",
)
MESSAGE_TYPE_FOR_SPEC = Entry(
    ValidationException,
    "Message type {message_type} is incompatible with key spec {spec}.",
    "issue 9 (ML-DSA)",
)
MU_LENGTH = Entry(
    ValidationException,
    "Digest is invalid length for algorithm {algorithm}.",
    "Trent: an EXTERNAL_MU is ML-DSA's digest; worded as LS-snap's digest message",
)
SPEC_UNSUPPORTED = Entry(
    UnsupportedOperationException, "{reason}", "Trent (README: what pyca cannot do)"
)
INVALID_PUBLIC_KEY = Entry(ValidationException, None, "LS-snap (DeriveSharedSecret)")
ENCAPSULATION_ALGORITHM = Entry(
    ValidationException, "EncapsulationAlgorithm must be ML_KEM.", "Trent (API-ref Encapsulate)"
)
NO_PUBLIC_KEY = Entry(
    UnsupportedOperationException,
    "{arn} key spec is {spec}, which has no public key.",
    "Trent (API-ref GetPublicKey: asymmetric keys only; AWS text not found)",
)

# --- CreateKey, policies, deletion ----------------------------------------------------------------
KEY_SPEC_CHINA = Entry(
    UnsupportedOperationException,
    "KeySpec SM2 is available only in China Regions.",
    "API-ref CreateKey",
)
KEY_SPEC_UNSUPPORTED = Entry(
    UnsupportedOperationException,
    "KeySpec {spec} is not supported by Trent (see the README).",
    "Trent (README)",
)
KEY_USAGE_REQUIRED = Entry(
    ValidationException,
    "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
    "LS-snap",
)
KEY_USAGE_FOR_SPEC = Entry(
    ValidationException, "KeyUsage {usage} is not compatible with KeySpec {spec}", "LS-snap"
)
BOTH_KEY_SPECS = Entry(
    ValidationException,
    "You cannot specify KeySpec and CustomerMasterKeySpec together.",
    "Trent (API-ref CreateKey: use KeySpec; AWS text not found)",
)
ORIGIN_UNSUPPORTED = Entry(
    UnsupportedOperationException, "Origin {origin} is not supported by Trent.", "Trent (README)"
)
NO_MULTI_REGION = Entry(
    UnsupportedOperationException, "Trent does not support multi-Region keys.", "Trent (README)"
)
POLICY_NOT_JSON = Entry(
    MalformedPolicyDocumentException,
    "The policy is not valid JSON.",
    "Trent (API-ref PutKeyPolicy; AWS text not found)",
)
POLICY_NO_STATEMENT = Entry(
    MalformedPolicyDocumentException,
    "The policy must be a JSON object with a Statement.",
    "Trent (API-ref PutKeyPolicy; AWS text not found)",
)
POLICY_SYNTAX = Entry(
    MalformedPolicyDocumentException,
    "{problem}",
    "Trent: the IAM grammar's texts (trent/policy/grammar.py; IAM UserGuide policy grammar)",
)
POLICY_INVALID_PRINCIPAL = Entry(
    MalformedPolicyDocumentException,
    "Policy contains a statement with one or more invalid principals.",
    "issue LBHackney-IT/Data-Platform#2238 (PutKeyPolicy)",
)
POLICY_TOO_LARGE = Entry(
    MalformedPolicyDocumentException,
    "The key policy is larger than 32768 bytes.",
    "Trent (DevGuide resource-limits: key policy document size 32 KB; AWS text not found)",
)
POLICY_LOCKOUT = Entry(
    MalformedPolicyDocumentException,
    "The new key policy will not allow you to update the key policy in the future.",
    "issue widdix/aws-cf-templates#259; API-ref PutKeyPolicy BypassPolicyLockoutSafetyCheck",
)
NO_SUCH_POLICY = Entry(
    NotFoundException,
    "No such policy exists: {name}. The only policy is 'default'.",
    "Trent (API-ref GetKeyPolicy: NotFoundException)",
)
RAM_POLICY = Entry(
    ValidationException,
    "The AWS_RAM policy can only be managed by the RAM service.",
    "API-ref PutKeyPolicy",
)
PENDING_WINDOW = Entry(
    ValidationException,
    "PendingWindowInDays must be between 7 and 30",
    "issue Skyscanner/kms-issuer#8",
)

# --- aliases --------------------------------------------------------------------------------------
ALIAS_PREFIX = Entry(
    ValidationException,
    'Alias must start with the prefix "alias/". Please see '
    "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
    "LS-snap",
)
ALIAS_CHARACTERS = Entry(
    ValidationException,
    "{name} contains invalid characters for an alias",
    "issue hashicorp/terraform-provider-aws#12891",
)
ALIAS_RESERVED = Entry(
    ValidationException,
    "Alias names that begin with alias/aws/ are reserved for AWS managed keys.",
    "Trent (API-ref CreateAlias; AWS text not found)",
)
ALIAS_QUOTA = Entry(
    LimitExceededException,
    "Aliases per key quota for this account in this region is {limit}, current usage is {count}.",
    "issue scylladb/scylla-cluster-tests#7634",
)
ALIAS_EXISTS = Entry(
    AlreadyExistsException,
    "An alias with the name {alias_arn} already exists",
    "Trent, as moto words it (AWS text not found)",
)
ALIAS_TARGET_MISMATCH = Entry(
    ValidationException,
    "The new target key must have the same key spec and key usage as the current target key.",
    "Trent (API-ref UpdateAlias; AWS text not found)",
)
LIST_LIMIT = Entry(
    ValidationException, "Limit must be between 1 and {limit}", "Trent, after PENDING_WINDOW's form"
)
INVALID_MARKER = Entry(
    InvalidMarkerException, "The marker is not valid.", "Trent (API-ref; AWS text not found)"
)

# --- tags -----------------------------------------------------------------------------------------
TAG_RESERVED = Entry(TagException, "Tags beginning with aws: are reserved", "LS-snap")
TAG_DUPLICATE = Entry(TagException, "Duplicate tag keys", "LS-snap; issue 9")
TAG_TOO_MANY = Entry(TagException, "Too many tags", "LS-snap; issue 9")
TAG_QUOTA = Entry(
    LimitExceededException,
    "A KMS key can have at most {limit} tags; the request exceeds that.",
    "Trent (API-ref TagResource: LimitExceededException; AWS text not found)",
)

# --- rotation -------------------------------------------------------------------------------------
ORIGIN_NOT_VALID = Entry(
    UnsupportedOperationException,
    "{arn} origin is {origin} which is not valid for this operation.",
    "LS-snap",
)
ROTATION_UNSUPPORTED_SPEC = Entry(
    UnsupportedOperationException,
    None,
    "LS-snap and issue 9 (RotateKeyOnDemand); inferred for the other rotation operations",
)
NO_PENDING_ROTATION = Entry(
    KMSInvalidStateException,
    "No available key material pending rotation for the key: {arn}.",
    "LS-snap; issue 9",
)
ROTATION_LIMIT = Entry(
    LimitExceededException,
    "The on-demand rotations limit has been reached for the given keyId. No more on-demand "
    "rotations can be performed for this key: {arn}",
    "LS-snap",
)

# --- importing key material -----------------------------------------------------------------------
SM2_WRAPPING = Entry(
    ValidationException,
    "SM2 wrapping is available only in China Regions.",
    "API-ref GetParametersForImport",
)
PKCS1_WRAPPING = Entry(
    ValidationException,
    "The wrapping algorithm {algorithm} is not supported: KMS no longer accepts "
    "RSAES_PKCS1_V1_5. Use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.",
    "Trent (API-ref GetParametersForImport: RSAES_PKCS1_V1_5 withdrawn)",
)
RSA_NEEDS_KEY_WRAP = Entry(
    ValidationException,
    "An RSA private key is too long to wrap with RSAES_OAEP; use RSA_AES_KEY_WRAP_SHA_1 "
    "or RSA_AES_KEY_WRAP_SHA_256.",
    "Trent (DevGuide importing-keys-get-public-key-and-token)",
)
P521_NEEDS_KEY_WRAP = Entry(
    ValidationException,
    "An RSA_2048 wrapping key cannot wrap an ECC_NIST_P521 private key with RSAES_OAEP; "
    "use an RSA_AES_KEY_WRAP algorithm or a longer wrapping key.",
    "Trent (DevGuide importing-keys-get-public-key-and-token)",
)
INVALID_IMPORT_TOKEN = Entry(
    InvalidImportTokenException,
    "The import token is invalid or is associated with a different KMS key.",
    "Trent (API-ref InvalidImportTokenException)",
)
EXPIRED_IMPORT_TOKEN = Entry(
    ExpiredImportTokenException,
    "The import token has expired. Use GetParametersForImport to get a new one.",
    "Trent (API-ref ExpiredImportTokenException)",
)
VALID_TO_REQUIRED = Entry(
    ValidationException,
    "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
    "LS-snap; issue 9",
)
VALID_TO_PAST = Entry(
    ValidationException,
    "ValidTo must be a date and time in the future.",
    "Trent (API-ref ImportKeyMaterial; AWS text not found)",
)
VALID_TO_TOO_LATE = Entry(
    ValidationException,
    "ValidTo must be at most 365 days from now.",
    "Trent (API-ref ImportKeyMaterial: at most 365 days)",
)
VALID_TO_FORBIDDEN = Entry(
    ValidationException,
    "ValidTo must not be given when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.",
    "Trent (API-ref ImportKeyMaterial: you must omit ValidTo)",
)
MATERIAL_ID_WITH_NEW = Entry(
    ValidationException,
    "KeyMaterialId cannot be given with ImportType NEW_KEY_MATERIAL.",
    "Trent (API-ref ImportKeyMaterial; AWS text not found)",
)
MATERIAL_ALREADY_IMPORTED = Entry(
    IncorrectKeyMaterialException,
    "This key material is already associated with the KMS key; import it with "
    "ImportType EXISTING_KEY_MATERIAL.",
    "Trent (API-ref ImportKeyMaterial; AWS text not found)",
)
MATERIAL_CANNOT_CHANGE = Entry(
    IncorrectKeyMaterialException,
    "The key material of an asymmetric or HMAC key cannot change after the first "
    "import; re-import the same key material.",
    "Trent (DevGuide importing-keys: only symmetric keys rotate imported material)",
)
ANOTHER_PENDING_ROTATION = Entry(
    KMSInvalidStateException,
    "New key material (id: {new_id}) cannot be imported into KMS key {key_id}, because "
    "another key material (id: {pending_id}) is pending rotation.",
    "LS-snap; issue 9",
)
NOT_THE_IMPORTED_MATERIAL = Entry(
    IncorrectKeyMaterialException,
    "The key material is not the key material previously imported under this key material id.",
    "Trent (API-ref IncorrectKeyMaterialException)",
)
MATERIAL_NOT_ASSOCIATED = Entry(
    IncorrectKeyMaterialException,
    "Key material {material_id} is not associated with the KMS key.",
    "Trent (API-ref DeleteImportedKeyMaterial; AWS text not found)",
)

# --- grants (trent/operations/grants.py) ---------------------------------------------------------
# AWS's CreateGrant refuses, with ValidationException, a grant that allows an operation the key
# does not support or an encryption context constraint on a key that is not a symmetric
# encryption key [API-ref CreateGrant]; the texts of those refusals were not found.
GRANT_OPERATION_FOR_KEY = Entry(
    ValidationException,
    "Grants for KMS keys with KeySpec {spec} and KeyUsage {usage} cannot allow the "
    "{operation} operation.",
    "API-ref CreateGrant (code); Trent (AWS text not found)",
)
GRANT_ONLY_CREATE_GRANT = Entry(
    ValidationException,
    "Grants must not contain only the CreateGrant operation.",
    "issue ansible/ansible#31960",
)
GRANT_CONSTRAINT_FOR_KEY = Entry(
    ValidationException,
    "Grants for KMS keys with KeySpec {spec} cannot include an encryption context constraint.",
    "API-ref CreateGrant (code); Trent (AWS text not found)",
)
GRANT_CONSTRAINT_BOTH = Entry(
    ValidationException,
    "EncryptionContextSubset and EncryptionContextEquals cannot both be specified.",
    "API-ref GrantConstraints; Trent (AWS text not found)",
)
GRANTEE_REQUIRED = Entry(
    ValidationException,
    "Exactly one of GranteePrincipal or GranteeServicePrincipal must be specified.",
    "API-ref CreateGrant; Trent (AWS text not found)",
)
RETIRING_PRINCIPAL_ONE = Entry(
    ValidationException,
    "RetiringPrincipal and RetiringServicePrincipal cannot both be specified.",
    "API-ref CreateGrant; Trent (AWS text not found)",
)
RETIRING_PRINCIPAL_REQUIRED = Entry(
    ValidationException,
    "RetiringPrincipal or RetiringServicePrincipal must be specified.",
    "API-ref ListRetirableGrants; Trent (AWS text not found)",
)
GRANT_LIMIT = Entry(
    LimitExceededException,
    "The grant limit ({limit}) has been reached for KMS key {arn}.",
    "DevGuide resource-limits (Grants per KMS key: 50,000); Trent (AWS text not found)",
)
INVALID_GRANT_TOKEN = Entry(
    InvalidGrantTokenException,
    "The grant token is not valid.",
    "API-ref InvalidGrantTokenException; Trent (AWS text not found)",
)
INVALID_GRANT_ID = Entry(
    InvalidGrantIdException,
    "Grant {grant_id} does not exist for KMS key {arn}.",
    "API-ref InvalidGrantIdException; Trent (AWS text not found)",
)
RETIRE_NEEDS_GRANT = Entry(
    ValidationException,
    "Either GrantToken, or both KeyId and GrantId, must be specified.",
    "API-ref RetireGrant; Trent (AWS text not found)",
)

# --- the protocol layer (trent/protocol) ----------------------------------------------------------
VALIDATION = Entry(
    ValidationException,
    "{count} validation {errors} detected: {violations}",
    "LS-snap (\"1 validation error detected: Value 'INVALID' at 'keyAgreementAlgorithm' failed "
    'to satisfy constraint: Member must satisfy enum value set: [ECDH]"); each violation is '
    'VIOLATION, joined with "; "; errors is "error" or "errors"',
)
TYPE_MISMATCH = Entry(
    SerializationException,
    "Invalid value at '{path}': expected {expected}, got {got}",
    "Trent (AWS's Coral text names Java types; not found recorded for KMS)",
)
NOT_BASE64 = Entry(
    SerializationException,
    "Invalid value at '{path}': not valid base64",
    "Trent (AWS text not found)",
)
NOT_TIMESTAMP = Entry(
    SerializationException,
    "Invalid value at '{path}': not an ISO-8601 timestamp",
    "Trent (AWS text not found)",
)
BODY_NOT_OBJECT = Entry(
    SerializationException,
    "The request body must be a JSON object",
    "Trent (AWS text not found)",
)
NOT_IMPLEMENTED = Entry(
    UnsupportedOperationException,
    "Trent does not implement {operation} yet.",
    "Trent (README: operations not implemented)",
)
UNKNOWN_OPERATION = Entry(
    UnknownOperationException,
    None,
    'AWS answers an unknown X-Amz-Target with {"__type"} alone (docs/security.md)',
)
POST_ONLY = Entry(UnknownOperationException, "Only POST / is served.", "Trent (AWS text not found)")
BODY_NOT_JSON = Entry(
    SerializationException, "The request body is not valid JSON.", "Trent (AWS text not found)"
)
BODY_TOO_LARGE = Entry(
    SerializationException, "The request body is too large.", "Trent (AWS text not found)"
)

# --- SigV4 (trent/protocol/sigv4.py) --------------------------------------------------------------
# AWS's front end answers these before any KMS operation runs; the texts are AWS's, as quoted
# in the issues named (the same front end serves KMS, Kinesis, DynamoDB, STS).
MISSING_AUTHENTICATION = Entry(
    MissingAuthenticationTokenException,
    "Missing Authentication Token",
    "issue common-voice/common-voice#1599",
)
PRESIGNED_UNSUPPORTED = Entry(
    IncompleteSignatureException,
    "Query-string (presigned) authentication is not supported; sign the request with an "
    "Authorization header.",
    "Trent (KMS clients sign with the header; AWS text not found)",
)
UNSUPPORTED_ALGORITHM = Entry(
    IncompleteSignatureException,
    "Unsupported AWS 'algorithm': '{scheme}' (only AWS4-HMAC-SHA256 for now). ",
    "Trent, worded as AWS's front end (AWS text not found recorded)",
)
# The parts AUTHORIZATION_INCOMPLETE lists, each present part omitted, in this order.
AUTH_PARAMETER_MISSING = "Authorization header requires '{parameter}' parameter."
AUTH_DATE_MISSING = (
    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
)
AUTHORIZATION_INCOMPLETE = Entry(
    IncompleteSignatureException,
    "{problems} Authorization={authorization}",
    "issue aws/chalice#828, issue brendanhay/amazonka#316 (every missing part, then the header; "
    "Trent redacts the Signature value and cuts the header to 256 characters)",
)
BAD_DATE = Entry(
    IncompleteSignatureException,
    "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601",
    "Trent, worded as AWS's front end (AWS text not found recorded)",
)
SIGNATURE_EXPIRED = Entry(
    InvalidSignatureException,
    "Signature expired: {amz_date} is now earlier than {earliest} ({now} - {window})",
    "issue aws/aws-sdk-js-v3#6400 (KMS)",
)
SIGNATURE_NOT_YET_CURRENT = Entry(
    InvalidSignatureException,
    "Signature not yet current: {amz_date} is still later than {latest} ({now} + {window})",
    "issue aws/aws-sdk-go#2194, issue s12v/awsbeats#48",
)
HOST_NOT_SIGNED = Entry(
    InvalidSignatureException,
    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    "issue aws/aws-sdk-php#2469",
)
HEADER_NOT_SIGNED = Entry(
    InvalidSignatureException,
    "'{header}' must be a 'SignedHeader' in the AWS Authorization.",
    "issue NetSPI/AWSSigner#3 (\"'Host' must be ...\"); Trent applies it to the date header and "
    "every x-amz-* header sent unsigned (docs/security.md)",
)
CREDENTIAL_PARTS = Entry(
    IncompleteSignatureException,
    "Credential must have exactly 5 slash-delimited elements, e.g. "
    "keyid/date/region/service/term, got '{credential}'",
    "Trent, worded as AWS's front end (AWS text not found recorded)",
)
CREDENTIAL_TERMINATOR = Entry(
    IncompleteSignatureException,
    "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.",
    "Trent, worded as AWS's front end (AWS text not found recorded)",
)
# The parts CREDENTIAL_SCOPE joins, each only when it applies, in this order.
SCOPE_REGION = "Credential should be scoped to a valid region. "
SCOPE_SERVICE = "Credential should be scoped to correct service: '{service}'. "
SCOPE_DATE = (
    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
    "HTTP: '{day}' != '{date}', from '{amz_date}'."
)
CREDENTIAL_SCOPE = Entry(
    InvalidSignatureException,
    "{problems}",
    "issue minio/kes#303 (region), issue twitchscience/kinsumer#57 (service); the date part "
    "Trent's, worded as AWS's front end",
)
INVALID_SECURITY_TOKEN = Entry(
    UnrecognizedClientException,
    "The security token included in the request is invalid.",
    "issue yegor256/s3auth#237; issue 9 (an unknown access key or a token Trent did not issue)",
)
CONTENT_SHA256_MISMATCH = Entry(
    InvalidSignatureException,
    "The provided 'x-amz-content-sha256' header does not match what was computed.",
    "Trent, S3's wording (AWS KMS text not found)",
)
SIGNATURE_MISMATCH = Entry(
    InvalidSignatureException,
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.",
    "issue aws/aws-cli#6676 thread; AWS General Reference, signature-v4-troubleshooting",
)

# --- faults of Trent itself (HTTP 500) ------------------------------------------------------------
# --- custom key stores: external key stores (issue 13) -----------------------------------------
# AWS's own messages for these were not found recorded; each is the API Reference's description
# of the exception (its first sentence), or Trent's wording where it names what Trent lacks.
_REF = "API-ref {0} (exception description; AWS message text not found)"
CLOUDHSM_KEY_STORES = Entry(
    UnsupportedOperationException,
    "Trent does not support AWS_CLOUDHSM key stores; use EXTERNAL_KEY_STORE.",
    "Trent (README: External key store)",
)
VPC_CONNECTIVITY = Entry(
    XksProxyVpcEndpointServiceNotFoundException,
    "Trent cannot reach an external key store proxy through a VPC endpoint service; "
    "use XksProxyConnectivity PUBLIC_ENDPOINT.",
    "Trent (README: External key store)",
)
STORE_PARAMETER_MISSING = Entry(
    ValidationException,
    "{member} is required for an external key store.",
    "Trent (API-ref CreateCustomKeyStore: required for EXTERNAL_KEY_STORE)",
)
STORE_PARAMETER_NOT_FOR_XKS = Entry(
    ValidationException,
    "{member} is not valid for an external key store.",
    "Trent (API-ref CreateCustomKeyStore: AWS_CLOUDHSM parameters only)",
)
XKS_ENDPOINT_NOT_HTTPS = Entry(
    ValidationException,
    "XksProxyUriEndpoint must begin with https:// (http:// is accepted for loopback hosts only).",
    "Trent (API-ref CreateCustomKeyStore: XksProxyUriEndpoint pattern ^https://)",
)
STORE_ID_AND_NAME = Entry(
    ValidationException,
    "You cannot specify both CustomKeyStoreId and CustomKeyStoreName.",
    "Trent (API-ref DescribeCustomKeyStores: either, not both; AWS text not found)",
)
STORE_NAME_NOT_FOUND = Entry(
    CustomKeyStoreNotFoundException,
    "Custom key store {name} does not exist.",
    "Trent (API-ref CustomKeyStoreNotFoundException; AWS text not found)",
)
CUSTOM_STORE_NEEDS_ORIGIN = Entry(
    ValidationException,
    "When CustomKeyStoreId or XksKeyId is specified, Origin must be EXTERNAL_KEY_STORE.",
    "Trent (API-ref CreateKey: CustomKeyStoreId with Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE)",
)
STORE_NAME_IN_USE = Entry(
    CustomKeyStoreNameInUseException,
    "The specified custom key store name is already assigned to another custom key store in "
    "the account. Try again with a custom key store name that is unique in the account.",
    _REF.format("CustomKeyStoreNameInUseException"),
)
STORE_URI_IN_USE = Entry(
    XksProxyUriInUseException,
    "The concatenation of the XksProxyUriEndpoint and XksProxyUriPath is already associated "
    "with an external key store in the account and Region.",
    _REF.format("XksProxyUriInUseException"),
)
STORE_INVALID_STATE = Entry(
    CustomKeyStoreInvalidStateException,
    "Custom key store {store} is {state}, which is not valid for this operation.",
    "Trent (" + _REF.format("CustomKeyStoreInvalidStateException") + ")",
)
STORE_HAS_KEYS = Entry(
    CustomKeyStoreHasCMKsException,
    "The custom key store {store} contains KMS keys. Delete them and wait until their deletion "
    "is complete before deleting the custom key store.",
    _REF.format("CustomKeyStoreHasCMKsException"),
)
XKS_UNREACHABLE = Entry(
    XksProxyUriUnreachableException,
    "KMS was unable to reach the specified XksProxyUriPath. The path must be reachable before "
    "you create the external key store or update its settings.",
    _REF.format("XksProxyUriUnreachableException"),
)
XKS_BAD_CREDENTIAL = Entry(
    XksProxyIncorrectAuthenticationCredentialException,
    "The proxy credentials failed to authenticate to the specified external key store proxy.",
    _REF.format("XksProxyIncorrectAuthenticationCredentialException"),
)
XKS_INVALID_RESPONSE = Entry(
    XksProxyInvalidResponseException,
    "KMS cannot interpret the response it received from the external key store proxy. The "
    "problem might be a poorly constructed response, but it could also be a transient network "
    "issue. If you see this error repeatedly, report it to the proxy vendor.",
    _REF.format("XksProxyInvalidResponseException"),
)
XKS_INVALID_CONFIGURATION = Entry(
    XksProxyInvalidConfigurationException,
    "The external key store proxy is not configured correctly: {problem}",
    _REF.format("XksProxyInvalidConfigurationException"),
)
RANDOM_FROM_EXTERNAL_STORE = Entry(
    UnsupportedOperationException,
    "GenerateRandom does not support external key stores.",
    "Trent (API-ref GenerateRandom: an external key store ID is UnsupportedOperationException; "
    "AWS text not found)",
)
XKS_KEY_REQUIRED = Entry(
    ValidationException,
    "CustomKeyStoreId and XksKeyId are required when Origin is EXTERNAL_KEY_STORE.",
    "Trent (API-ref CreateKey: XksKeyId, CustomKeyStoreId)",
)
XKS_KEY_SPEC = Entry(
    UnsupportedOperationException,
    "KMS keys in an external key store must be SYMMETRIC_DEFAULT keys for ENCRYPT_DECRYPT.",
    "Trent (DevGuide create-xks-keys: symmetric encryption keys only)",
)
XKS_KEY_NOT_FOUND = Entry(
    XksKeyNotFoundException,
    "The external key store proxy could not find the external key {xks_key_id}.",
    _REF.format("XksKeyNotFoundException"),
)
XKS_KEY_INVALID_CONFIGURATION = Entry(
    XksKeyInvalidConfigurationException,
    "The external key {xks_key_id} does not meet the requirements of an external key: an "
    "enabled 256-bit AES key that can encrypt and decrypt.",
    _REF.format("XksKeyInvalidConfigurationException"),
)
XKS_KEY_IN_USE = Entry(
    XksKeyAlreadyInUseException,
    "The external key {xks_key_id} is already associated with a KMS key in this external key "
    "store.",
    _REF.format("XksKeyAlreadyInUseException"),
)
# Cryptographic operations: KMSInvalidStateException for every failure of the external
# configuration (DevGuide xks-troubleshooting, "Note"), a timeout as KMSInternalException
# with the message recorded in kubernetes-sigs/aws-encryption-provider#171.
XKS_PROXY_REFUSED = Entry(
    KMSInvalidStateException,
    "The external key store proxy rejected the request: {reason}",
    "DevGuide xks-troubleshooting (KMSInvalidStateException for external failures)",
)
XKS_PROXY_TIMEOUT = Entry(
    KMSInternalException,
    "AWS KMS rejected the request because the external key store proxy did not respond in "
    "time. Retry the request. If you see this error repeatedly, report it to your external "
    "key store proxy administrator.",
    "issue kubernetes-sigs/aws-encryption-provider#171",
)
INTERNAL = Entry(
    KMSInternalException, "An internal error occurred.", "API-ref KMSInternalException"
)


def catalogue() -> dict[str, Entry]:
    """Every entry of this module by name."""
    return {name: value for name, value in globals().items() if isinstance(value, Entry)}
