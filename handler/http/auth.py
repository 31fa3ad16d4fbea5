"""API keys: who is calling (the tenant for metrics) and, with CUTOUT_API_KEYS, who may call.

In AWS, API Gateway's usage plan checks keys and names the caller's key in the event
(requestContext.identity.apiKeyId); that id is the tenant. Locally, or in Lambda when
CUTOUT_API_KEYS is set, the `x-api-key` header must match one of those keys; the tenant is then
a non-reversible id derived from the key. Without either, the tenant is "anonymous".
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from handler.errors import UnauthorizedError

API_KEY_HEADER = "x-api-key"
ANONYMOUS = "anonymous"
# Liveness and the API description stay open: probes carry no keys, and neither reveals data.
OPEN_PATHS = frozenset({"/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


# Swagger UI's and ReDoc's own files (served by the app) are as open as /docs.
OPEN_PREFIXES = ("/docs/assets/",)


def is_open(path: str) -> bool:
    """Whether a path needs no API key."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def local_tenant(key: str) -> str:
    """A stable id for a local key that does not reveal it (for metric dimensions and logs)."""
    return "key-" + _digest(key).hex()[:12]


def gateway_key_id(scope: Mapping[str, Any]) -> str | None:
    """The API Gateway key id of a REST API event (Mangum puts the event in the ASGI scope)."""
    event = scope.get("aws.event")
    if not isinstance(event, dict):
        return None
    context = event.get("requestContext")
    identity = context.get("identity") if isinstance(context, dict) else None
    key_id = identity.get("apiKeyId") if isinstance(identity, dict) else None
    return key_id if isinstance(key_id, str) and key_id else None


@dataclass(frozen=True)
class ApiKeys:
    """The accepted keys, kept only as SHA-256 digests and compared in constant time."""

    digests: tuple[bytes, ...] = ()

    @classmethod
    def of(cls, keys: Iterable[str]) -> ApiKeys:
        return cls(tuple(_digest(key) for key in sorted(set(keys)) if key))

    @property
    def required(self) -> bool:
        return bool(self.digests)

    def accepts(self, presented: str | None) -> bool:
        """Whether the key is one of ours; every known key is compared, so the time taken says
        nothing about which key (or how much of one) matched."""
        if not presented:
            return False
        digest = _digest(presented)
        matched = False
        for known in self.digests:
            matched |= hmac.compare_digest(digest, known)
        return matched

    def tenant_for(self, scope: Mapping[str, Any], headers: Mapping[str, str]) -> str:
        """The caller's tenant; raises UnauthorizedError when a key is required and missing."""
        presented = headers.get(API_KEY_HEADER)
        valid = self.accepts(presented)
        if self.required and not valid and not is_open(str(scope.get("path", ""))):
            if presented:
                raise UnauthorizedError(
                    f"the API key in the {API_KEY_HEADER} header was not accepted"
                )
            raise UnauthorizedError(
                f"this server requires an API key: send it in the {API_KEY_HEADER} header"
            )
        key_id = gateway_key_id(scope)
        if key_id is not None:
            return key_id
        # An unverified key never names a tenant: clients must not mint metric dimensions.
        if valid and presented is not None:
            return local_tenant(presented)
        return ANONYMOUS
