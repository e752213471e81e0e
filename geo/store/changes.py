"""Changes of named things the store keeps beside the records (shared views, alert
rules): one transaction each, their failures in words."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from geo.errors import InputError, StoreError


@contextmanager
def named_change(store, one: str, many: str) -> Iterator:
    """One transaction of the store's (``store.transaction()``) for a change of named
    things (``one``: "a shared view", ``many``: "the shared views"): a name taken already
    is an InputError in words, any other failure a StoreError with its first line."""
    try:
        with store.transaction() as con:
            yield con
    except InputError:
        raise
    except Exception as exc:
        if "unique" in str(exc).lower():
            msg = f"{one} of that name exists already; choose another name"
            raise InputError(msg) from exc
        reason = (str(exc).strip().splitlines() or ["unknown error"])[0]
        msg = f"{many} could not be changed: {reason}"
        raise StoreError(msg) from exc
