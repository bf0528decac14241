"""ZC2-HMAC-SHA256 request signing and verification (docs/api-notes.md, "Signature").

Standard library only.  Used by the emulator to verify requests and by the test harness to sign them.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

SIGNATURE_METHOD = "ZC2-HMAC-SHA256"
SIGNED_HEADERS = "content-type;host"

_AUTH_RE = re.compile(
    r"^ZC2-HMAC-SHA256\s+Credential=(?P<key_id>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


def sha256_hex(data: bytes | str) -> str:
    """Lowercase hex SHA-256 of bytes (str is encoded as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def canonical_request(body: bytes, content_type: str, host: str) -> str:
    """The CanonicalRequest string: canonical URI is '/', query empty, two signed headers."""
    return "POST\n/\n\ncontent-type:%s\nhost:%s\n\n%s\n%s" % (content_type, host, SIGNED_HEADERS, sha256_hex(body))


def string_to_sign(timestamp: str, body: bytes, content_type: str, host: str) -> str:
    """The StringToSign for a request."""
    return "%s\n%s\n%s" % (SIGNATURE_METHOD, timestamp, sha256_hex(canonical_request(body, content_type, host)))


def compute_signature(password: str, timestamp: str | int, body: bytes, content_type: str, host: str) -> str:
    """Lowercase hex HMAC-SHA256 signature keyed with the access key password."""
    message = string_to_sign(str(timestamp), body, content_type, host)
    return hmac.new(password.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization_header(key_id: str, signature: str) -> str:
    """The Authorization header value for a signature."""
    return "%s Credential=%s, SignedHeaders=%s, Signature=%s" % (SIGNATURE_METHOD, key_id, SIGNED_HEADERS, signature)


def sign_headers(key_id: str, password: str, timestamp: int, body: bytes, host: str,
                 content_type: str = "application/json") -> dict[str, str]:
    """All the HMAC headers a client adds (content-type, host, method, timestamp, Authorization)."""
    signature = compute_signature(password, timestamp, body, content_type, host)
    return {
        "Content-Type": content_type,
        "Host": host,
        "x-zc-signature-method": SIGNATURE_METHOD,
        "x-zc-timestamp": str(timestamp),
        "Authorization": authorization_header(key_id, signature),
    }


@dataclass(frozen=True)
class ParsedAuthorization:
    """The parts of a ZC2-HMAC-SHA256 Authorization header."""

    key_id: str
    signed_headers: str
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Parse an HMAC Authorization header; None when it is malformed."""
    match = _AUTH_RE.match(value.strip())
    if not match:
        return None
    return ParsedAuthorization(match.group("key_id"), match.group("signed").lower(), match.group("sig").lower())


def signature_matches(expected: str, received: str) -> bool:
    """Constant-time comparison of two hex signatures."""
    return hmac.compare_digest(expected.lower(), received.lower())
