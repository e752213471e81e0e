"""The project's exception types."""

from __future__ import annotations


class FlankwatchError(Exception):
    """Base class of every error the project raises on purpose."""


class ReferenceDataError(FlankwatchError, RuntimeError):
    """The committed reference data are missing or inconsistent."""


class GeocodeError(FlankwatchError, LookupError):
    """A place name could not be resolved to one location."""

    def __init__(self, message: str, candidates: list | None = None) -> None:
        super().__init__(message)
        #: Places the name might have meant (closest spellings, or the ambiguous matches).
        self.candidates = candidates or []


class InputError(FlankwatchError, ValueError):
    """An input file cannot be read at all (as opposed to single bad rows)."""


class StoreError(FlankwatchError, OSError):
    """The store cannot be opened, read or written (it is left as it was)."""


class RowsRejectedError(FlankwatchError, ValueError):
    """Some input rows are invalid; ``rejects`` lists each with its row and reason."""

    def __init__(self, message: str, rejects) -> None:
        super().__init__(message)
        self.rejects = rejects


class ClusterError(FlankwatchError, RuntimeError):
    """The Dask cluster cannot be reached or started."""


class ToolError(FlankwatchError, RuntimeError):
    """An outside program the project runs (ffmpeg) failed; the message has its words."""
