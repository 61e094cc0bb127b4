"""What a dataset file holds: a content check at upload, and the profile a job records.

Works on open binary files, reads them as streams (CSV row by row, ZIP through its central
directory), so a large file is never loaded whole; JSON and GeoJSON are parsed whole only up
to JSON_PARSE_LIMIT, beyond which the profile says so.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections import Counter
from typing import Any, BinaryIO

PREVIEW_ROWS = 20
CELL_PREVIEW = 200
SNIFF_BYTES = 64 * 1024
JSON_PARSE_LIMIT = 64 * 1024 * 1024
MAX_LISTED_ENTRIES = 500
GTFS_REQUIRED = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
GEOJSON_TYPES = {
    "FeatureCollection",
    "Feature",
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
}
NULLS = {"", "na", "n/a", "null", "none", "nan", "-"}
TYPE_ORDER = ("integer", "decimal", "boolean", "date", "datetime", "text")
_PATTERNS = {
    "integer": re.compile(r"^[+-]?\d+$"),
    "decimal": re.compile(r"^[+-]?(\d+[.,]?\d*|[.,]\d+)([eE][+-]?\d+)?$"),
    "boolean": re.compile(r"^(true|false|yes|no|t|f|y|n)$", re.IGNORECASE),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "datetime": re.compile(
        r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
    ),
}


class ContentMismatch(ValueError):
    """The file's content is not what its declared type says; `code` is translated by pages."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


# -- Upload check ------------------------------------------------------------------------------


def _head(handle: BinaryIO, size: int = SNIFF_BYTES) -> bytes:
    handle.seek(0)
    data = handle.read(size)
    handle.seek(0)
    return data


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def check_content(handle: BinaryIO, kind: str, size: int) -> None:
    """Raise ContentMismatch unless the file really is a `kind` file."""
    head = _head(handle)
    if kind == "csv":
        if not _is_text(head) or not head.strip():
            raise ContentMismatch("csv")
    elif kind in ("json", "geojson"):
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not _is_text(head) or stripped[:1] not in (b"{", b"["):
            raise ContentMismatch(kind)
        if size <= JSON_PARSE_LIMIT:
            try:
                data = _load_json(handle)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ContentMismatch(kind) from exc
            finally:
                handle.seek(0)
            if kind == "geojson" and not (
                isinstance(data, dict) and data.get("type") in GEOJSON_TYPES
            ):
                raise ContentMismatch("geojson")
        elif kind == "geojson" and b'"type"' not in head:
            raise ContentMismatch("geojson")
    elif kind in ("zip", "gtfs"):
        try:
            with zipfile.ZipFile(handle) as archive:
                names = {PurePath(n) for n in archive.namelist()}
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ContentMismatch("zip") from exc
        finally:
            handle.seek(0)
        if kind == "gtfs" and not set(GTFS_REQUIRED) <= names:
            raise ContentMismatch("gtfs")


def PurePath(name: str) -> str:  # noqa: N802 - a tiny normaliser used like a constructor
    """An archive member's base name, so a GTFS inside one folder still counts."""
    return name.rstrip("/").rsplit("/", 1)[-1]


# -- Type inference ----------------------------------------------------------------------------


class _Column:
    def __init__(self, name: str):
        self.name = name
        self.candidates = set(TYPE_ORDER)
        self.nulls = 0
        self.values = 0

    def add(self, value: Any) -> None:
        self.values += 1
        if value is None or (isinstance(value, str) and value.strip().lower() in NULLS):
            self.nulls += 1
            return
        if isinstance(value, bool):
            self.candidates &= {"boolean", "text"}
        elif isinstance(value, int):
            self.candidates &= {"integer", "decimal", "text"}
        elif isinstance(value, float):
            self.candidates &= {"decimal", "text"}
        elif isinstance(value, (dict, list)):
            self.candidates = {"object"}
        else:
            text = str(value).strip()
            self.candidates = {
                t
                for t in self.candidates
                if t == "text" or (t in _PATTERNS and _PATTERNS[t].match(text))
            } or {"text"}

    def describe(self, rows: int) -> dict[str, Any]:
        kind = next((t for t in (*TYPE_ORDER, "object") if t in self.candidates), "text")
        if self.values == self.nulls:
            kind = "empty"
        missing = self.nulls + max(rows - self.values, 0)
        return {
            "name": self.name,
            "type": kind,
            "null_share": round(missing / rows, 4) if rows else 0.0,
        }


def _cell(value: Any) -> str:
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= CELL_PREVIEW else text[: CELL_PREVIEW - 1] + "…"


# -- Profiles ----------------------------------------------------------------------------------


def _text_stream(handle: BinaryIO) -> io.TextIOWrapper:
    return io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="")


def _load_json(handle: BinaryIO) -> Any:
    """Parse a whole JSON file, leaving the binary handle open for its owner."""
    text = io.TextIOWrapper(handle, encoding="utf-8-sig")
    try:
        return json.load(text)
    finally:
        text.detach()


def profile_csv(handle: BinaryIO, delimiter: str | None = None) -> dict[str, Any]:
    """Rows, columns (type, null share), a 20-row preview, ragged rows, and lat/lon bounds."""
    if delimiter is None:
        sample = handle.read(SNIFF_BYTES).decode("utf-8-sig", errors="replace")
        handle.seek(0)
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    text = _text_stream(handle)
    try:
        return _profile_rows(csv.reader(text, delimiter=delimiter), delimiter)
    finally:
        text.detach()


def _profile_rows(reader, delimiter: str) -> dict[str, Any]:
    header = next(reader, [])
    columns = [_Column(name.strip()) for name in header]
    preview: list[list[str]] = []
    rows = ragged = 0
    lat_index = _find(header, ("lat", "latitude", "stop_lat"))
    lon_index = _find(header, ("lon", "lng", "longitude", "stop_lon"))
    bounds = _Bounds()
    for row in reader:
        if not row:
            continue
        rows += 1
        if len(row) != len(header):
            ragged += 1
        for column, value in zip(columns, row, strict=False):
            column.add(value)
        if len(preview) < PREVIEW_ROWS:
            preview.append([_cell(v) for v in row])
        if lat_index is not None and lon_index is not None:
            bounds.add_text(row, lon_index, lat_index)
    return {
        "delimiter": delimiter,
        "rows": rows,
        "columns": [c.describe(rows) for c in columns],
        "preview": {"header": [_cell(h) for h in header], "rows": preview},
        "ragged_rows": ragged,
        **({"bounds": bounds.value()} if bounds.value() else {}),
    }


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


class _Bounds:
    def __init__(self):
        self.box: list[float] | None = None

    def add(self, lon: float, lat: float) -> None:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return
        if self.box is None:
            self.box = [lon, lat, lon, lat]
        else:
            b = self.box
            b[0], b[1], b[2], b[3] = min(b[0], lon), min(b[1], lat), max(b[2], lon), max(b[3], lat)

    def add_text(self, row: list[str], lon_index: int, lat_index: int) -> None:
        try:
            self.add(float(row[lon_index]), float(row[lat_index]))
        except (ValueError, IndexError):
            return

    def add_coordinates(self, coords: Any) -> None:
        if (
            isinstance(coords, (list, tuple))
            and len(coords) >= 2
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coords[:2])
        ):
            self.add(float(coords[0]), float(coords[1]))
        elif isinstance(coords, (list, tuple)):
            for item in coords:
                self.add_coordinates(item)

    def value(self) -> list[float] | None:
        return [round(v, 7) for v in self.box] if self.box else None


def _records_profile(records: list[Any]) -> dict[str, Any]:
    names: list[str] = []
    for record in records:
        if isinstance(record, dict):
            names.extend(k for k in record if k not in names)
    columns = {name: _Column(name) for name in names}
    for record in records:
        if isinstance(record, dict):
            for name, value in record.items():
                columns[name].add(value)
    return {
        "rows": len(records),
        "columns": [c.describe(len(records)) for c in columns.values()],
        "preview": {
            "header": names,
            "rows": [
                [_cell(r.get(n)) if isinstance(r, dict) else _cell(r) for n in names]
                for r in records[:PREVIEW_ROWS]
            ],
        },
    }


def _geometry_types(geometry: Any, counter: Counter) -> None:
    if isinstance(geometry, dict):
        counter[geometry.get("type", "?")] += 1


def profile_json(data: Any) -> dict[str, Any]:
    """Records (a list of objects), or GeoJSON features with their bounds and geometry types."""
    if isinstance(data, dict) and data.get("type") in GEOJSON_TYPES:
        features = (
            data.get("features") or []
            if data["type"] == "FeatureCollection"
            else [data]
            if data["type"] == "Feature"
            else [{"type": "Feature", "geometry": data, "properties": {}}]
        )
        bounds = _Bounds()
        kinds: Counter = Counter()
        for feature in features:
            geometry = (feature or {}).get("geometry") or {}
            _geometry_types(geometry, kinds)
            bounds.add_coordinates(geometry.get("coordinates"))
            for part in geometry.get("geometries") or []:
                bounds.add_coordinates((part or {}).get("coordinates"))
        profile = _records_profile([(f or {}).get("properties") or {} for f in features])
        profile.update(features=len(features), geometry_types=dict(kinds), bounds=bounds.value())
        return profile
    if isinstance(data, list):
        return _records_profile(data)
    if isinstance(data, dict):
        return {"keys": list(data)[:100]}
    return {}


def profile_zip(handle: BinaryIO, is_gtfs: bool) -> dict[str, Any]:
    """The archive's listing (from its central directory); for GTFS, rows and columns per table."""
    with zipfile.ZipFile(handle) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        profile: dict[str, Any] = {
            "entry_count": len(infos),
            "unpacked_size": sum(i.file_size for i in infos),
            "entries": [
                {"name": i.filename, "size": i.file_size, "compressed": i.compress_size}
                for i in infos[:MAX_LISTED_ENTRIES]
            ],
        }
        if is_gtfs:
            tables = {}
            for info in infos:
                if not info.filename.endswith(".txt"):
                    continue
                with archive.open(info) as member:
                    table = profile_csv(member, delimiter=",")
                tables[PurePath(info.filename)] = {
                    "rows": table["rows"],
                    "columns": table["columns"],
                    **({"bounds": table["bounds"]} if "bounds" in table else {}),
                }
            profile["tables"] = tables
            if "stops.txt" in tables and tables["stops.txt"].get("bounds"):
                profile["bounds"] = tables["stops.txt"]["bounds"]
    return profile


def profile_file(handle: BinaryIO, kind: str, size: int) -> dict[str, Any]:
    """The profile of a dataset file by kind (SHA-256 and size are added by the job)."""
    handle.seek(0)
    if kind == "csv":
        return profile_csv(handle)
    if kind in ("json", "geojson"):
        if size > JSON_PARSE_LIMIT:
            return {"too_large_to_parse": True}
        return profile_json(_load_json(handle))
    if kind in ("zip", "gtfs"):
        return profile_zip(handle, kind == "gtfs")
    return {}
