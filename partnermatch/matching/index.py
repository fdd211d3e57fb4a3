"""The vector index: FAISS over passage vectors, persisted as versioned, atomic snapshots.

Two FAISS indexes share one id space: "capability" holds what profiles are, offer and have
done (what a search reads); "needs" holds what they seek (what reciprocity reads). A vector id
is profile_id * MAX_PASSAGES + position, so a profile's passages form one id range.

Exact inner-product search (IndexFlatIP behind an IndexIDMap2) answers filtered queries
exactly through an IDSelector: measured on 2 cores with one thread, 500k vectors take 28 ms
unfiltered and 3 ms when a filter keeps 1% (numpy brute force: 18 ms unfiltered).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from partnermatch.matching.passages import MAX_PASSAGES
from partnermatch.timeutil import utcnow

SNAPSHOT_FORMAT = 1
CURRENT_FILE = "CURRENT"
MANIFEST_FILE = "manifest.json"
INDEX_NAMES = ("capability", "needs")
STALE_STAGING_SECONDS = 6 * 3600


class VectorIndex:
    """One FAISS index of passage vectors with per-profile id ranges."""

    def __init__(self, dimension: int, index: faiss.Index | None = None) -> None:
        self.dimension = dimension
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.ids_by_profile: dict[int, np.ndarray] = {}
        if index is not None and index.ntotal:
            ids = faiss.vector_to_array(index.id_map).astype(np.int64)
            self._group_ids(ids)

    def _group_ids(self, ids: np.ndarray) -> None:
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        profiles = sorted_ids // MAX_PASSAGES
        boundaries = np.flatnonzero(np.diff(profiles)) + 1
        for group in np.split(sorted_ids, boundaries):
            if len(group):
                self.ids_by_profile[int(group[0] // MAX_PASSAGES)] = group

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under their ids (a profile's passages must be removed first)."""
        if not len(ids):
            return
        ids = np.asarray(ids, dtype=np.int64)
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        for profile_id in np.unique(ids // MAX_PASSAGES):
            mine = ids[ids // MAX_PASSAGES == profile_id]
            known = self.ids_by_profile.get(int(profile_id))
            self.ids_by_profile[int(profile_id)] = (
                mine if known is None else np.union1d(known, mine)
            )

    def remove_profiles(self, profile_ids: Iterable[int]) -> None:
        """Remove every passage of these profiles."""
        present = [pid for pid in profile_ids if pid in self.ids_by_profile]
        if not present:
            return
        doomed = np.concatenate([self.ids_by_profile.pop(pid) for pid in present])
        self.index.remove_ids(faiss.IDSelectorBatch(doomed))

    def ids_for(self, profile_ids: Iterable[int]) -> np.ndarray:
        """Return the vector ids of these profiles' passages."""
        groups = [self.ids_by_profile[pid] for pid in profile_ids if pid in self.ids_by_profile]
        return np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids) of the k nearest passages, only among allowed ids if given."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if allowed_ids is None:
            return self.index.search(queries, k)
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_ids, dtype=np.int64))
        return self.index.search(queries, k, params=faiss.SearchParameters(sel=selector))


@dataclass
class PassageIndex:
    """The pair of indexes that make up one state of the engine."""

    capability: VectorIndex
    needs: VectorIndex

    @classmethod
    def empty(cls, dimension: int) -> PassageIndex:
        return cls(VectorIndex(dimension), VectorIndex(dimension))

    @property
    def profile_ids(self) -> set[int]:
        return set(self.capability.ids_by_profile) | set(self.needs.ids_by_profile)

    def remove_profiles(self, profile_ids: Iterable[int]) -> None:
        profile_ids = list(profile_ids)
        self.capability.remove_profiles(profile_ids)
        self.needs.remove_profiles(profile_ids)


@dataclass(frozen=True)
class Manifest:
    version: int
    model_id: str
    dimension: int
    journal_seq: int
    profiles: int
    capability_passages: int
    needs_passages: int
    index_type: str
    created_at: str
    format: int = SNAPSHOT_FORMAT


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_file_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file, fsync it, then rename it over the target."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


class SnapshotStore:
    """Versioned snapshots in a folder; CURRENT names the one to serve.

    A snapshot is written completely into a temporary folder, fsynced, renamed to its
    version folder, and only then does CURRENT move to it: a crash at any point leaves the
    previous snapshot serving.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def current_version(self) -> str | None:
        """Return the name of the snapshot being served, or None when there is none."""
        try:
            return (self.root / CURRENT_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def read_manifest(self, version: str | None = None) -> Manifest | None:
        """Return the manifest of a snapshot (default: the current one)."""
        version = version or self.current_version()
        if version is None:
            return None
        try:
            data = json.loads((self.root / version / MANIFEST_FILE).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return Manifest(**data)

    def load(self, version: str) -> tuple[Manifest, PassageIndex]:
        """Load a snapshot's manifest and indexes."""
        manifest = self.read_manifest(version)
        if manifest is None:
            raise FileNotFoundError(f"snapshot {version} has no readable manifest")
        folder = self.root / version
        indexes = {
            name: VectorIndex(manifest.dimension, faiss.read_index(str(folder / f"{name}.faiss")))
            for name in INDEX_NAMES
        }
        return manifest, PassageIndex(**indexes)

    def _next_version_number(self) -> int:
        numbers = [
            int(path.name[1:])
            for path in self.root.glob("v*")
            if path.is_dir() and path.name[1:].isdigit()
        ]
        return max(numbers, default=0) + 1

    def save(
        self, index: PassageIndex, *, model_id: str, journal_seq: int, index_type: str = "flat"
    ) -> Manifest:
        """Write a new snapshot and make it current; return its manifest."""
        self.root.mkdir(parents=True, exist_ok=True)
        number = self._next_version_number()
        version = f"v{number:06d}"
        manifest = Manifest(
            version=number,
            model_id=model_id,
            dimension=index.capability.dimension,
            journal_seq=journal_seq,
            profiles=len(index.profile_ids),
            capability_passages=index.capability.size,
            needs_passages=index.needs.size,
            index_type=index_type,
            created_at=utcnow().isoformat(timespec="seconds"),
        )
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".staging-"))
        try:
            for name in INDEX_NAMES:
                target = staging / f"{name}.faiss"
                faiss.write_index(getattr(index, name).index, str(target))
                with target.open("rb") as stream:
                    os.fsync(stream.fileno())
            _write_file_atomically(
                staging / MANIFEST_FILE, json.dumps(asdict(manifest), indent=2).encode()
            )
            os.rename(staging, self.root / version)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _fsync_directory(self.root)
        _write_file_atomically(self.root / CURRENT_FILE, f"{version}\n".encode())
        self._remove_old_snapshots(keep={version})
        return manifest

    def _remove_old_snapshots(self, keep: set[str]) -> None:
        # Keep the previous snapshot too: a worker may still be loading it.
        versions = sorted(
            path.name for path in self.root.glob("v*") if path.is_dir() and path.name[1:].isdigit()
        )
        keep = keep | set(versions[-2:])
        for name in versions:
            if name not in keep:
                shutil.rmtree(self.root / name, ignore_errors=True)
        # Staging folders left by a crashed rebuild; a recent one may belong to a running one.
        for staging in self.root.glob(".staging-*"):
            if time.time() - staging.stat().st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(staging, ignore_errors=True)
