"""Index snapshots: versioned folders written atomically, and the manifest that names them.

A snapshot holds every index of one state of the engine: for each vector index its FAISS
file, row ids and row languages, and the lexical index's folder. It is written completely
into a staging folder, fsynced, renamed to its version folder, and only then does CURRENT
move to it: a crash at any point leaves the previous snapshot serving. Nothing writes into
a snapshot after that (each process follows the journal in memory, and in a working copy of
the lexical index: see partnermatch.matching.lexical).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import faiss
import numpy as np

from partnermatch.matching.index import (
    INDEX_NAMES,
    QUANTISED_INDEXES,
    PassageIndex,
    VectorIndex,
)
from partnermatch.matching.lexical import LexicalBuilder, LexicalIndex
from partnermatch.matching.multilingual import DIMENSION as MULTILINGUAL_DIMENSION
from partnermatch.timeutil import utcnow

SNAPSHOT_FILE_MODE = 0o644
SNAPSHOT_FOLDER_MODE = 0o755
# 3: the multilingual indexes beside MiniLM's; 4: passage languages; 5: the lexical index
SNAPSHOT_FORMAT = 5
CURRENT_FILE = "CURRENT"
MANIFEST_FILE = "manifest.json"
LEXICAL_FOLDER = "lexical"
STALE_STAGING_SECONDS = 6 * 3600


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
    # The multilingual model and PARTNERMATCH_MULTILINGUAL when built (None and "off": none).
    multilingual_model_id: str | None = None
    multilingual_mode: str = "off"
    multilingual_dimension: int = MULTILINGUAL_DIMENSION
    capability_ml_passages: int = 0
    needs_ml_passages: int = 0
    lexical_passages: int = 0
    # Each file's size in bytes when written: a cheap check that none was truncated or
    # replaced since (the health check reads it on every call, so no checksum of a 1 GB file).
    file_sizes: dict[str, int] = field(default_factory=dict)


class SnapshotDamaged(Exception):
    """A snapshot's files cannot be read back as they were written."""


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_file_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file, fsync it, then rename it over the target."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    # mkstemp makes the file private to its owner; snapshots must be readable by the web
    # workers even when a rebuild runs as another user (DATA_DIR's own mode guards access).
    os.fchmod(handle, SNAPSHOT_FILE_MODE)
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
    """Versioned snapshots in a folder; CURRENT names the one to serve (see the module)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def current_version(self) -> str | None:
        """Return the name of the snapshot being served, or None when there is none."""
        try:
            return (self.root / CURRENT_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def read_manifest(self, version: str | None = None) -> Manifest | None:
        """Return the manifest of a snapshot (default: the current one), None when there is
        no snapshot; raise SnapshotDamaged when its manifest is missing or cannot be read."""
        version = version or self.current_version()
        if version is None:
            return None
        path = self.root / version / MANIFEST_FILE
        try:
            return Manifest(**json.loads(path.read_text()))
        except FileNotFoundError:
            raise SnapshotDamaged("its manifest is missing") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as error:
            raise SnapshotDamaged(f"its manifest cannot be read ({error})") from error

    def check_files(self, version: str, manifest: Manifest) -> None:
        """Raise SnapshotDamaged when a file is missing or not the size it was written."""
        for name, size in manifest.file_sizes.items():
            try:
                found = (self.root / version / name).stat().st_size
            except FileNotFoundError:
                raise SnapshotDamaged(f"{name} is missing") from None
            if found != size:
                raise SnapshotDamaged(f"{name} has {found} bytes, {size} were written")

    def load(self, version: str) -> tuple[Manifest, PassageIndex]:
        """Load a snapshot's manifest and indexes (the lexical one as this process's working
        copy); raise SnapshotDamaged when they are not what was written."""
        manifest = self.read_manifest(version)
        if manifest is None:
            raise SnapshotDamaged("it has no manifest")
        self.check_files(version, manifest)
        folder = self.root / version
        indexes: dict[str, VectorIndex] = {}
        for name in INDEX_NAMES:
            try:
                base = faiss.read_index(str(folder / f"{name}.faiss"))
                row_ids = np.load(folder / f"{name}.ids.npy")
                row_languages = np.load(folder / f"{name}.languages.npy")
            except (RuntimeError, ValueError, OSError, EOFError) as error:
                raise SnapshotDamaged(f"{name} cannot be read ({error})") from error
            dimension = (
                manifest.multilingual_dimension if name in QUANTISED_INDEXES else manifest.dimension
            )
            if base.d != dimension or not base.ntotal == len(row_ids) == len(row_languages):
                raise SnapshotDamaged(f"{name} does not match its row ids")
            indexes[name] = VectorIndex(dimension, base, row_ids, row_languages)
        try:
            lexical = LexicalIndex.open_copy(folder / LEXICAL_FOLDER, self.root)
        except (ValueError, OSError) as error:
            raise SnapshotDamaged(f"the lexical index cannot be read ({error})") from error
        if lexical.size != manifest.lexical_passages:
            lexical.close()
            raise SnapshotDamaged(
                f"the lexical index holds {lexical.size} passages, "
                f"{manifest.lexical_passages} were written"
            )
        return manifest, PassageIndex(**indexes, lexical=lexical)

    def _next_version_number(self) -> int:
        numbers = [
            int(path.name[1:])
            for path in self.root.glob("v*")
            if path.is_dir() and path.name[1:].isdigit()
        ]
        return max(numbers, default=0) + 1

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """Yield a new staging folder for a snapshot; it is removed if anything fails before
        `save` has renamed it."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".staging-"))
        staging.chmod(SNAPSHOT_FOLDER_MODE)  # as for files: mkdtemp makes it owner-only
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already once saved

    def lexical_builder(self, staging: Path, threads: int = 1) -> LexicalBuilder:
        """Return the builder of a staged snapshot's lexical index."""
        return LexicalBuilder(staging / LEXICAL_FOLDER, threads)

    def save(
        self,
        index: PassageIndex,
        *,
        model_id: str,
        journal_seq: int,
        multilingual_model_id: str | None = None,
        multilingual_mode: str = "off",
        staging: Path | None = None,
        lexical_passages: int = 0,
    ) -> Manifest:
        """Write a new snapshot and make it current; return its manifest.

        The vector indexes come from `index`; the lexical index is the one built into the
        staging folder (`lexical_builder`, holding `lexical_passages`), or an empty one.
        """
        if staging is None:
            with self.staging() as own:
                return self.save(
                    index,
                    model_id=model_id,
                    journal_seq=journal_seq,
                    multilingual_model_id=multilingual_model_id,
                    multilingual_mode=multilingual_mode,
                    staging=own,
                    lexical_passages=lexical_passages,
                )
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
            index_type=index.capability.kind,
            created_at=utcnow().isoformat(timespec="seconds"),
            multilingual_model_id=multilingual_model_id,
            multilingual_mode=multilingual_mode,
            multilingual_dimension=index.capability_ml.dimension,
            capability_ml_passages=index.capability_ml.size,
            needs_ml_passages=index.needs_ml.size,
            lexical_passages=lexical_passages,
        )
        if not (staging / LEXICAL_FOLDER).is_dir():
            if lexical_passages:
                raise ValueError("the lexical index was not built into the staging folder")
            self.lexical_builder(staging).finish()
        for name in INDEX_NAMES:
            part = index.vectors(name)
            if not part.is_pristine:
                raise ValueError("only a freshly built index can be saved as a snapshot")
            faiss.write_index(part.base, str(staging / f"{name}.faiss"))
            np.save(staging / f"{name}.ids.npy", part.row_ids)
            np.save(staging / f"{name}.languages.npy", part.row_languages)
        written = sorted(path for path in staging.rglob("*") if path.is_file())
        for target in written:
            target.chmod(SNAPSHOT_FILE_MODE)  # whatever the process's umask
            with target.open("rb") as stream:
                os.fsync(stream.fileno())
        for folder in (staging / LEXICAL_FOLDER, staging):
            folder.chmod(SNAPSHOT_FOLDER_MODE)
        manifest = replace(
            manifest,
            file_sizes={
                path.relative_to(staging).as_posix(): path.stat().st_size
                for path in written
                if not path.name.startswith(".tantivy")  # lock files, not data
            },
        )
        _write_file_atomically(
            staging / MANIFEST_FILE, json.dumps(asdict(manifest), indent=2).encode()
        )
        _fsync_directory(staging / LEXICAL_FOLDER)
        os.rename(staging, self.root / version)
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
