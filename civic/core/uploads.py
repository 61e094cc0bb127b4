"""Uploads for every module: a small storage interface and image handling that trusts nothing.

Images are decoded with Pillow (never judged by extension or declared type), checked against
size and pixel limits, re-encoded from pixels only (so EXIF, GPS, camera and time metadata are
gone before anything is stored), then resized and thumbnailed by a job.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import warnings
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from civic.core.errors import DomainError
from civic.core.models import StoredFile
from civic.extensions import db

IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
DISPLAY_SIZE = 1600
THUMBNAIL_SIZE = 320


class UploadError(DomainError):
    """An upload Civic refuses."""


class Storage(Protocol):
    """Where files live: local folder today, shared or object storage tomorrow."""

    def save(self, key: str, data: bytes) -> None: ...

    def open(self, key: str) -> BinaryIO: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files under a folder on disk (instance/uploads by default)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise UploadError(_l("Invalid file name."))
        return path

    def save(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def get_storage() -> Storage:
    """The configured storage backend."""
    storage = current_app.extensions.get("civic_storage")
    if storage is None:
        storage = LocalStorage(current_app.config["CIVIC_UPLOAD_FOLDER"])
        current_app.extensions["civic_storage"] = storage
    return storage


def _decode_image(data: bytes) -> Image.Image:
    """Open and fully decode image bytes within the configured limits."""
    max_pixels = current_app.config["CIVIC_IMAGE_MAX_PIXELS"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in IMAGE_FORMATS:
                raise UploadError(_l("Please upload a JPEG, PNG or WebP image."), field="photo")
            width, height = image.size
            if width * height > max_pixels:
                raise UploadError(
                    _l("This image has too many pixels. Please use a smaller image."),
                    field="photo",
                )
            image.load()
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UploadError(
            _l("This image has too many pixels. Please use a smaller image."), field="photo"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UploadError(_l("This file is not an image Civic can read."), field="photo") from exc
    return image


def _clean_copy(image: Image.Image) -> Image.Image:
    """Pixels only: orientation applied, every metadata block left behind."""
    oriented = ImageOps.exif_transpose(image) or image
    has_alpha = oriented.mode in ("RGBA", "LA", "PA") or (
        oriented.mode == "P" and "transparency" in oriented.info
    )
    mode = "RGBA" if has_alpha else "RGB"
    # A new image holds no info dict: Pillow's WebP and PNG writers would copy EXIF from it.
    clean = Image.new(mode, oriented.size)
    clean.paste(oriented.convert(mode))
    return clean


def _encode(image: Image.Image, content_type: str) -> bytes:
    out = io.BytesIO()
    if content_type == "image/jpeg":
        image.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
    elif content_type == "image/png":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, "WEBP", quality=85)
    return out.getvalue()


def store_image(data: bytes, owner_id: int | None = None) -> StoredFile:
    """Validate, strip and store an image; its resized copies are made by a job after commit."""
    if not data:
        raise UploadError(_l("The file is empty."), field="photo")
    if len(data) > current_app.config["CIVIC_UPLOAD_MAX_BYTES"]:
        raise UploadError(_l("The file is too large."), field="photo")
    image = _decode_image(data)
    content_type = IMAGE_FORMATS[image.format]
    clean = _clean_copy(image)
    if content_type == "image/jpeg":
        clean = clean.convert("RGB")
    encoded = _encode(clean, content_type)
    key = f"{secrets.token_hex(2)}/{secrets.token_urlsafe(16)}.{EXTENSIONS[content_type]}"
    get_storage().save(key, encoded)
    stored = StoredFile(
        key=key,
        content_type=content_type,
        size=len(encoded),
        sha256=hashlib.sha256(encoded).hexdigest(),
        width=clean.width,
        height=clean.height,
        status="processing",
        owner_id=owner_id,
    )
    db.session.add(stored)
    db.session.flush()
    return stored


def make_image_derivatives(file_id: int) -> str:
    """Job: write the display-size copy and the thumbnail of a stored image; safe to repeat."""
    stored = db.session.get(StoredFile, file_id)
    if stored is None:
        return "missing"
    storage = get_storage()
    with storage.open(stored.key) as handle:
        image = Image.open(handle)
        image.load()
    stem = stored.key.rsplit(".", 1)[0]
    ext = EXTENSIONS[stored.content_type]
    for size, attr, suffix in (
        (DISPLAY_SIZE, "display_key", "display"),
        (THUMBNAIL_SIZE, "thumbnail_key", "thumb"),
    ):
        copy = image.copy()
        copy.thumbnail((size, size))
        key = f"{stem}.{suffix}.{ext}"
        storage.save(key, _encode(copy, stored.content_type))
        setattr(stored, attr, key)
    stored.status = "ready"
    db.session.commit()
    return "ready"


def get_file_by_key(key: str) -> StoredFile | None:
    """The stored file owning `key` as original, display copy or thumbnail."""
    return db.session.scalar(
        db.select(StoredFile).where(
            (StoredFile.key == key)
            | (StoredFile.display_key == key)
            | (StoredFile.thumbnail_key == key)
        )
    )
