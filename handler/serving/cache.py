"""Result cache: content-hash keys and the local-folder backend (S3 lives in s3_cache.py)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from handler.core.options import RemoveOptions
from handler.core.pipeline import PIPELINE_VERSION


@dataclass(frozen=True)
class CacheKey:
    """sha256 of the input + model id + canonical options + pipeline version, and the tenant
    when the cache is scoped per tenant; equal requests share a key."""

    source_sha256: str
    model_id: str
    options: str
    pipeline: str = PIPELINE_VERSION
    scope: str = ""  # empty: one cache for everyone (CUTOUT_CACHE_SCOPE=global)

    @classmethod
    def for_request(
        cls, data: bytes, model_id: str, options: RemoveOptions, scope: str = ""
    ) -> CacheKey:
        return cls(hashlib.sha256(data).hexdigest(), model_id, options.canonical(), scope=scope)

    @property
    def digest(self) -> str:
        text = f"{self.source_sha256}|{self.model_id}|{self.options}|{self.pipeline}"
        if self.scope:
            text += f"|{self.scope}"
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def etag(self) -> str:
        return f'"{self.digest[:32]}"'

    def object_name(self) -> str:
        """A relative path / object key: two-level fan-out keeps folders small."""
        return f"{self.digest[:2]}/{self.digest}"


@dataclass(frozen=True)
class CachedResult:
    """What a cache gives back: the encoded image and its content type."""

    data: bytes
    media_type: str
    metadata: dict[str, str] = field(default_factory=dict)


class ResultCache(Protocol):
    """Where finished results are kept; every backend is best effort."""

    name: str

    def get(self, key: CacheKey) -> CachedResult | None: ...

    def put(self, key: CacheKey, result: CachedResult) -> None: ...

    def result_url(self, key: CacheKey, expires_s: int) -> str | None:
        """A URL a client can fetch the stored result from, if the backend has one."""
        ...


class NoCache:
    """The cache switched off."""

    name = "off"

    def get(self, key: CacheKey) -> CachedResult | None:
        return None

    def put(self, key: CacheKey, result: CachedResult) -> None:
        return None

    def result_url(self, key: CacheKey, expires_s: int) -> str | None:
        return None


class LocalDiskCache:
    """Results as files under a folder, each with a JSON sidecar for type and metadata.

    The folder is capped at `max_bytes`: past it, the least recently used results (by the
    result file's modification time, which a hit refreshes) are deleted. Several processes may
    share the folder; each evicts from what it finds on disk.
    """

    name = "local"

    def __init__(self, root: Path, max_bytes: int | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._total: int | None = None  # bytes on disk as last counted plus what we added

    def _paths(self, key: CacheKey) -> tuple[Path, Path]:
        base = self.root / key.object_name()
        return base.with_suffix(".bin"), base.with_suffix(".json")

    def get(self, key: CacheKey) -> CachedResult | None:
        blob, meta = self._paths(key)
        try:
            info = json.loads(meta.read_text())
            data = blob.read_bytes()
        except FileNotFoundError:
            return None
        if len(data) != info.get("size"):
            return None  # a torn write from a crashed process: treat as a miss
        with contextlib.suppress(OSError):  # recency for eviction; a vanished file is harmless
            os.utime(blob)
        return CachedResult(data, str(info["media_type"]), dict(info.get("metadata", {})))

    def put(self, key: CacheKey, result: CachedResult) -> None:
        if self.max_bytes is not None and len(result.data) > self.max_bytes:
            return  # bigger than the whole cache: keeping it would evict everything else
        blob, meta = self._paths(key)
        blob.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(blob, result.data)
        info = {
            "media_type": result.media_type,
            "size": len(result.data),
            "metadata": result.metadata,
        }
        encoded = json.dumps(info).encode()
        _atomic_write(meta, encoded)
        if self.max_bytes is not None:
            if self._total is not None:
                self._total += len(result.data) + len(encoded)
            if self._total is None or self._total > self.max_bytes:
                self._total = self.evict(self.max_bytes, keep=blob)

    def evict(self, max_bytes: int, keep: Path | None = None) -> int:
        """Delete least recently used results until the folder holds at most max_bytes;
        returns the bytes left."""
        entries: list[tuple[float, int, Path]] = []
        total = 0
        for blob in self.root.glob("??/*.bin"):
            meta = blob.with_suffix(".json")
            try:
                stat = blob.stat()
                size = stat.st_size + (meta.stat().st_size if meta.exists() else 0)
            except OSError:
                continue  # deleted by another process meanwhile
            total += size
            entries.append((stat.st_mtime, size, blob))
        entries.sort()
        for _, size, blob in entries:
            if total <= max_bytes:
                break
            if blob == keep:
                continue
            for path in (blob.with_suffix(".json"), blob):  # sidecar first: no orphan hit
                path.unlink(missing_ok=True)
            total -= size
        return total

    def result_url(self, key: CacheKey, expires_s: int) -> str | None:
        return None  # a local folder has no URL a remote client could use


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
