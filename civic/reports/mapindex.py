"""The public map's data in memory: every public report's position and filter fields in numpy
arrays (about 40 bytes a report: 8 MB at 200,000), kept fresh by reading only the rows changed
since the last look (index on updated_at), so each map request filters and bins in a few
milliseconds instead of making the database aggregate the whole city.

Correctness: every change to what the map shows (creation, confirmation, state, category,
hiding) bumps updated_at; the delta read overlaps the previous one by a few minutes, so a row
committed late, or stamped by an app server whose clock lags, is still picked up, and applying
a row twice is harmless (upsert by id). Each app process keeps its own copy; nothing is shared
between servers but the database."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select

from civic.extensions import db
from civic.reports.models import Report
from civic.reports.workflow import STATE_CODES

OVERLAP = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Snapshot:
    """Immutable arrays (replaced, never changed in place, so readers need no lock)."""

    ids: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    category: np.ndarray
    state: np.ndarray
    district: np.ndarray
    created: np.ndarray  # seconds since the epoch
    due: np.ndarray
    alive: np.ndarray

    @classmethod
    def empty(cls) -> Snapshot:
        return cls(
            ids=np.empty(0, np.int64),
            lat=np.empty(0, np.float64),
            lon=np.empty(0, np.float64),
            category=np.empty(0, np.int32),
            state=np.empty(0, np.int8),
            district=np.empty(0, np.int32),
            created=np.empty(0, np.int64),
            due=np.empty(0, np.int64),
            alive=np.empty(0, bool),
        )


def _seconds(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int((value - EPOCH).total_seconds())


COLUMNS = (
    Report.id,
    Report.is_confirmed,
    Report.is_hidden,
    Report.public_latitude,
    Report.public_longitude,
    Report.category_id,
    Report.state,
    Report.district_id,
    Report.created_at,
    Report.due_at,
    Report.updated_at,
)


class MapIndex:
    """One app process's copy of the map data."""

    def __init__(self) -> None:
        self.snapshot = Snapshot.empty()
        self.position: dict[int, int] = {}
        self.seen_until: datetime | None = None
        self.lock = threading.Lock()

    def refresh(self) -> Snapshot:
        """Apply the rows changed since the last look; return the current arrays."""
        with self.lock:
            query = select(*COLUMNS)
            if self.seen_until is None:
                query = query.where(Report.is_confirmed.is_(True), Report.is_hidden.is_(False))
            else:
                query = query.where(Report.updated_at > self.seen_until - OVERLAP)
            rows = db.session.execute(query).all()
            if rows and self.seen_until is None:
                self._load(rows)
            elif rows:
                self._apply(rows)
            return self.snapshot

    def _load(self, rows) -> None:
        """The first read: every public report, converted column by column."""
        (ids, confirmed, hidden, lat, lon, category, state, district, created, due, updated) = zip(
            *rows, strict=True
        )
        self.snapshot = Snapshot(
            ids=np.array(ids, dtype=np.int64),
            lat=np.array(lat, dtype=np.float64),
            lon=np.array(lon, dtype=np.float64),
            category=np.array(category, dtype=np.int32),
            state=np.array([STATE_CODES[s] for s in state], dtype=np.int8),
            district=np.array(district, dtype=np.int32),
            created=np.array([_seconds(t) for t in created], dtype=np.int64),
            due=np.array([_seconds(t) for t in due], dtype=np.int64),
            alive=np.ones(len(ids), dtype=bool),
        )
        self.position = {report_id: index for index, report_id in enumerate(ids)}
        self.seen_until = max(updated)

    def _apply(self, rows) -> None:
        current = self.snapshot
        arrays = {name: getattr(current, name) for name in current.__dataclass_fields__}
        updates: list[tuple[int, tuple]] = []
        appended: list[tuple] = []
        newest = self.seen_until
        for row in rows:
            values = (
                row.id,
                float(row.public_latitude),
                float(row.public_longitude),
                row.category_id,
                STATE_CODES[row.state],
                row.district_id,
                _seconds(row.created_at),
                _seconds(row.due_at),
                bool(row.is_confirmed and not row.is_hidden),
            )
            if newest is None or row.updated_at > newest:
                newest = row.updated_at
            index = self.position.get(row.id)
            if index is not None:
                updates.append((index, values))
            elif values[-1]:
                appended.append(values)
        if updates:
            arrays = {name: array.copy() for name, array in arrays.items()}
            names = list(arrays)
            for index, values in updates:
                for name, value in zip(names, values, strict=True):
                    arrays[name][index] = value
        if appended:
            start = len(arrays["ids"])
            columns = list(zip(*appended, strict=True))
            for (name, array), column in zip(list(arrays.items()), columns, strict=True):
                arrays[name] = np.concatenate([array, np.asarray(column, dtype=array.dtype)])
            for offset, values in enumerate(appended):
                self.position[values[0]] = start + offset
        self.snapshot = replace(current, **arrays)
        self.seen_until = newest


def get_index(app) -> MapIndex:
    """The process-wide index of this app (one per app object)."""
    index = app.extensions.get("civic_report_map_index")
    if index is None:
        index = app.extensions.setdefault("civic_report_map_index", MapIndex())
    return index


def select_rows(snapshot: Snapshot, bbox, filters, start_seconds, end_seconds) -> np.ndarray:
    """A boolean mask of the reports matching the viewport and the filters."""
    mask = snapshot.alive.copy()
    if bbox:
        min_lat, min_lon, max_lat, max_lon = bbox
        mask &= (snapshot.lat >= min_lat) & (snapshot.lat <= max_lat)
        mask &= (snapshot.lon >= min_lon) & (snapshot.lon <= max_lon)
    if filters.category_ids:
        mask &= np.isin(snapshot.category, filters.category_ids)
    if filters.states:
        mask &= np.isin(snapshot.state, [STATE_CODES[s] for s in filters.states])
    if filters.district_ids:
        mask &= np.isin(snapshot.district, filters.district_ids)
    if start_seconds is not None:
        mask &= snapshot.created >= start_seconds
    if end_seconds is not None:
        mask &= snapshot.created < end_seconds
    return mask


def bin_cells(snapshot: Snapshot, mask: np.ndarray, size: float) -> list[list]:
    """Exact counts per grid cell: [count, mean lat, mean lon, the report's id if it is the
    only one in the cell, else 0]."""
    if not mask.any():
        return []
    lat, lon, ids = snapshot.lat[mask], snapshot.lon[mask], snapshot.ids[mask]
    gy = np.floor((lat + 90.0) / size).astype(np.int64)
    gx = np.floor((lon + 180.0) / size).astype(np.int64)
    gy -= gy.min()
    gx -= gx.min()
    width = int(gx.max()) + 1
    keys = gy * width + gx
    span = int(keys.max()) + 1
    if span <= 4_000_000:
        # Counting into a dense array is linear; sorting 200,000 keys is not.
        all_counts = np.bincount(keys, minlength=span)
        cells = np.flatnonzero(all_counts)
        counts = all_counts[cells]
        sum_lat = np.bincount(keys, weights=lat, minlength=span)[cells]
        sum_lon = np.bincount(keys, weights=lon, minlength=span)[cells]
        # The id matters for cells of one (drawn as that report's marker): there the sum of
        # ids is the id, and bincount is much faster than a per-cell maximum.
        sums = np.bincount(keys, weights=ids, minlength=span)[cells]
        newest = np.where(counts == 1, sums, 0).astype(np.int64)
    else:
        cells, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        sum_lat = np.bincount(inverse, weights=lat)
        sum_lon = np.bincount(inverse, weights=lon)
        newest = np.zeros(len(cells), dtype=np.int64)
        np.maximum.at(newest, inverse, ids)
    return [
        [int(n), round(float(a) / n, 5), round(float(b) / n, 5), int(i)]
        for n, a, b, i in zip(counts, sum_lat, sum_lon, newest, strict=True)
    ]
