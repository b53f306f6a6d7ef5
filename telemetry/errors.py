"""The one exception tree of the application.

Edges map these to HTTP statuses (api/) and dead-letter reasons (ingest/).
"""

from __future__ import annotations


class TelemetryError(Exception):
    """Base of every error the application raises on purpose. `details` are structured facts
    the API adds to its error body (the probable duplicates of a customer, say)."""

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class ConfigError(TelemetryError):
    """Settings, catalog or rule files are invalid; the message says where."""


class CatalogError(ConfigError):
    """The signal catalog data file is inconsistent."""


class RuleDefinitionError(ConfigError):
    """A rule file does not validate against the catalog."""


class StorageError(TelemetryError):
    """The database refused or lost a write."""


class NotFoundError(TelemetryError):
    """A requested record does not exist (HTTP 404)."""


class ConflictError(TelemetryError):
    """The request clashes with stored state (HTTP 409)."""


class InvalidRequestError(TelemetryError):
    """Input breaks a business rule that the request schema cannot express (HTTP 422)."""


class PayloadTooLargeError(TelemetryError):
    """The request body is over the size the endpoint accepts (HTTP 413)."""


class UnsupportedMediaTypeError(TelemetryError):
    """The body is not in the content type the endpoint takes (HTTP 415)."""


class UnavailableError(TelemetryError):
    """The server is not set up for this (HTTP 503); the message says what is missing."""


class AuthenticationError(TelemetryError):
    """No API key, or one that is malformed, unknown or revoked (HTTP 401)."""


class PermissionDeniedError(TelemetryError):
    """The key's role may not do this (HTTP 403). Records outside an advisor's dealer are
    reported as not found instead, so that a key does not learn what other dealers hold."""
