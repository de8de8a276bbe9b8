"""Small helpers on files that every layer may use: nothing here imports the rest of the library."""

from __future__ import annotations

import hashlib
import os

#: How many bytes :func:`file_sha256` reads at a time.
BLOCK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex, read in blocks (a model file does not fit in memory twice)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(BLOCK), b""):
            h.update(block)
    return h.hexdigest()
