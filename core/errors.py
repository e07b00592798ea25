"""Typed exceptions of the domain layer.

Every message says what was wrong and what the user should change; the Processing
algorithms turn these into ``QgsProcessingException`` unchanged.
"""

from __future__ import annotations


class InsarhubError(Exception):
    """Base class of every error InSARHub raises on purpose."""


class MissingDependencyError(InsarhubError):
    """A Python package the step needs is not importable in this Python."""


class MintpyNotFoundError(InsarhubError):
    """No Python interpreter with MintPy could be found."""


class ConfigurationError(InsarhubError):
    """A setting or environment variable has a value that cannot work."""


class InputError(InsarhubError):
    """A parameter value the user gave cannot be used (bad AOI, dates, names...)."""


class ServiceError(InsarhubError):
    """A remote service (CMR, HyP3, a download host) answered with an error."""


class TransientServiceError(ServiceError):
    """A remote failure that may go away when retried (5xx, 429, timeouts, dropped connections)."""


class CancelledError(InsarhubError):
    """The user cancelled the operation."""
