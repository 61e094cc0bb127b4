"""Large files for challenges: saved from a stream in chunks, served in chunks with HTTP Range.

core.uploads' storage takes and gives whole byte strings, which suits photos; datasets and
source archives can be far larger, so nothing here ever holds a whole file in memory.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import Response, request
from flask_babel import lazy_gettext as _l
from werkzeug.wsgi import wrap_file

from civic.core.errors import DomainError
from civic.core.uploads import LocalStorage, get_storage

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class SavedFile:
    """Where a streamed upload went, its size and its SHA-256."""

    key: str
    size: int
    sha256: str


def new_key(prefix: str, filename: str) -> str:
    """A fresh, unguessable storage key that keeps the file's extension."""
    suffix = "".join(Path(filename).suffixes[-2:]).lower()
    suffix = "".join(ch for ch in suffix if ch.isalnum() or ch == ".")[:12]
    return f"{prefix}/{secrets.token_hex(2)}/{secrets.token_urlsafe(16)}{suffix}"


def _local_path(storage: LocalStorage, key: str) -> Path:
    root = Path(storage.root).resolve()
    path = (root / key).resolve()
    if root not in path.parents:
        raise DomainError(_l("Invalid file name."))
    return path


def save_stream(key: str, stream: BinaryIO, max_bytes: int, field: str = "file") -> SavedFile:
    """Copy a stream into storage chunk by chunk; refuse (and keep nothing) past max_bytes."""
    storage = get_storage()
    digest = hashlib.sha256()
    size = 0
    if isinstance(storage, LocalStorage):
        path = _local_path(storage, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        try:
            with part.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise DomainError(
                            _l("The file is too large."), field=field, status_code=413
                        )
                    digest.update(chunk)
                    out.write(chunk)
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
    else:  # another backend: it takes bytes, so bound what is read
        data = stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise DomainError(_l("The file is too large."), field=field, status_code=413)
        size = len(data)
        digest.update(data)
        storage.save(key, data)
    if size == 0:
        delete(key)
        raise DomainError(_l("The file is empty."), field=field)
    return SavedFile(key, size, digest.hexdigest())


def open_file(key: str) -> BinaryIO:
    """Open a stored file for reading."""
    return get_storage().open(key)


def local_path(key: str) -> Path | None:
    """The file's path on disk when storage is local (jobs that need a real file use it)."""
    storage = get_storage()
    return _local_path(storage, key) if isinstance(storage, LocalStorage) else None


def delete(key: str | None) -> None:
    """Remove a stored file, if present."""
    if key:
        get_storage().delete(key)


def exists(key: str) -> bool:
    """Whether storage holds the key."""
    return get_storage().exists(key)


def stream_response(key: str, filename: str, mimetype: str, etag: str | None = None) -> Response:
    """Serve a stored file in chunks as an attachment, honouring Range and conditional requests."""
    handle = open_file(key)
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    response = Response(
        wrap_file(request.environ, handle, buffer_size=64 * 1024),
        mimetype=mimetype,
        direct_passthrough=True,
    )
    response.content_length = size
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.cache_control.private = True
    if etag:
        response.set_etag(etag)
    try:
        return response.make_conditional(request.environ, accept_ranges=True, complete_length=size)
    except Exception:
        handle.close()  # a refused range: nothing will read the file
        raise
