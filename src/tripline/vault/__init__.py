"""Evidence vault: encrypted, content-addressed preservation with retention
per jurisdiction, legal holds, chain of custody and law-enforcement export."""

from .access import AccessDenied, Principal, local_operator, require
from .keys import (
    FileKeyProvider,
    KeyProvider,
    StaticKeyProvider,
    audit_head_key,
    key_provider_from_env,
    write_key_file,
)
from .vault import (
    DEFAULT_RETENTION,
    NotInVault,
    PurgeResult,
    Retention,
    Vault,
    VaultError,
    verify_export,
)

__all__ = [
    "DEFAULT_RETENTION",
    "AccessDenied",
    "FileKeyProvider",
    "KeyProvider",
    "NotInVault",
    "Principal",
    "PurgeResult",
    "Retention",
    "StaticKeyProvider",
    "Vault",
    "VaultError",
    "audit_head_key",
    "key_provider_from_env",
    "local_operator",
    "require",
    "verify_export",
    "write_key_file",
]
