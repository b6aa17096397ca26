"""Backup storage: any fsspec URL (a local folder, s3://, gs://, az://, memory://...).

Credentials come from the storage library's usual places, never from
safemigrate's configuration. For S3-compatible stores the endpoint comes from
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (the AWS SDKs' variables), from
fsspec's own ``FSSPEC_S3`` configuration variable, or from ``endpoint_url`` in
``storage_options``.

Every failure becomes a :class:`StorageError` saying whether the store could
not be reached, refused access, or lacks the bucket.
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from safemigrate.core.errors import BackupConfigError, StorageError

_MIB = 1 << 20
#: What a local object is called while it is being written (renamed to its name when whole).
PARTIAL_SUFFIX = ".partial"
_BUCKET_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2"}
_LOCAL = {"file", "local"}
#: S3 allows 10,000 parts per upload; parts are sized so that the dump fits with room to spare.
_MAX_PARTS = 9000
_MIN_PART = 8 * _MIB
_MAX_PART = 512 * _MIB
#: What to install for a protocol fsspec has no driver for (s3fs is safemigrate's own ``s3`` extra).
_PACKAGES = {"s3": "'safemigrate[s3]'", "s3a": "'safemigrate[s3]'", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs",
             "abfs": "adlfs", "abfss": "adlfs"}


class Storage:
    """One backup folder: objects are named relative to it."""

    def __init__(self, url: str, options: dict[str, Any] | None = None, *, timeout: float = 60.0):
        self.options = dict(options or {})
        import fsspec
        from fsspec.core import url_to_fs

        self.url = url.rstrip("/") or url
        protocol = fsspec.core.split_protocol(url)[0] or "file"
        self.protocol = protocol
        kwargs = dict(options or {})
        if protocol in {"s3", "s3a"} and "endpoint_url" not in kwargs and not kwargs.get("client_kwargs", {}).get(
                "endpoint_url"):
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            if endpoint:  # passed explicitly so that cached filesystems of another endpoint are not reused
                kwargs["endpoint_url"] = endpoint
        if protocol in {"s3", "s3a"}:
            # a hung endpoint fails the call within bounded time instead of holding the migrator lock forever
            config = dict(kwargs.get("config_kwargs") or {})
            config.setdefault("connect_timeout", timeout)
            config.setdefault("read_timeout", timeout)
            config.setdefault("retries", {"max_attempts": 2})
            kwargs["config_kwargs"] = config
        try:
            self.fs, root = url_to_fs(url, **kwargs)
        except (ImportError, ValueError) as exc:
            package = _PACKAGES.get(protocol)
            raise BackupConfigError(
                f"The backup destination {url} cannot be opened: {exc}.",
                f"safemigrate writes backups through fsspec, which needs a driver for {protocol}://.",
                f"Install it (pip install {package})." if package else
                "Use a local path or a URL with a protocol fsspec knows (s3://, gs://, az://...).",
            ) from None
        self.root = root.rstrip("/")
        self.local = protocol in _LOCAL

    # -- names -----------------------------------------------------------------
    def path(self, name: str) -> str:
        return f"{self.root}/{name}" if self.root else name

    def location(self, name: str) -> str:
        """The object's URL, for people (no credentials are ever part of it)."""
        if self.local:
            return self.path(name)
        return f"{self.protocol}://{self.path(name).lstrip('/')}"

    def describe(self) -> str:
        return self.root if self.local else f"{self.protocol}://{self.root.lstrip('/')}"

    # -- checks ----------------------------------------------------------------
    def check_writable(self) -> None:
        """Fail before the dump starts when the destination cannot take it."""
        try:
            if self.protocol in _BUCKET_STORES:
                bucket = self.root.split("/", 1)[0]
                self.fs.info(bucket)
            else:
                self.fs.makedirs(self.root, exist_ok=True)
                if self.local and not os.access(self.root, os.W_OK | os.X_OK):
                    raise PermissionError(f"{self.root} is not writable")
        except StorageError:
            raise
        except Exception as exc:
            raise self.error(exc, f"reach the backup destination {self.describe()}") from None

    # -- writing ---------------------------------------------------------------
    def open_write(self, name: str, size_hint: int | None = None) -> IO[bytes]:
        path = self.path(name)
        try:
            if self.local:
                self.fs.makedirs(self.fs._parent(path), exist_ok=True)
                return self.fs.open(path, "wb")
            if "default_block_size" in self.options or "block_size" in self.options:
                return self.fs.open(path, "wb")  # the configured part size wins
            part = _MIN_PART
            if size_hint:
                part = min(_MAX_PART, max(_MIN_PART, math.ceil(size_hint * 2 / _MAX_PARTS / _MIB) * _MIB))
            return self.fs.open(path, "wb", block_size=part)
        except Exception as exc:
            raise self.error(exc, f"start writing {self.location(name)}") from None

    def finish_write(self, handle: IO[bytes], name: str) -> None:
        """Close the object: for object stores this is when it comes into existence."""
        try:
            handle.close()
        except Exception as exc:
            raise self.error(exc, f"finish writing {self.location(name)}") from None

    def abandon(self, handle: IO[bytes] | None, name: str) -> bool:
        """Throw away a partial object (best effort). True when nothing is left behind."""
        if handle is not None:
            try:
                handle.discard()  # type: ignore[attr-defined]  # aborts an S3 multipart upload
            except Exception:
                pass
            try:
                if self.local:
                    handle.close()
                else:
                    handle.closed = True  # type: ignore[misc]  # never let close() complete the upload
            except Exception:
                pass
        return self.delete(name)

    def write_text(self, name: str, text: str) -> None:
        """Write a small object whole or not at all.

        An object store creates the object when the upload completes; a local
        file is written beside its name and renamed over it, so a kill while
        writing never leaves an empty or half manifest behind its name.
        """
        path = self.path(name)
        try:
            if not self.local:
                with self.fs.open(path, "wb") as handle:
                    handle.write(text.encode())
                return
            self.fs.makedirs(self.fs._parent(path), exist_ok=True)
            temporary = f"{path}.{os.getpid()}{PARTIAL_SUFFIX}"
            try:
                with open(temporary, "wb") as handle:
                    handle.write(text.encode())
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
        except Exception as exc:
            raise self.error(exc, f"write {self.location(name)}") from None

    # -- reading ---------------------------------------------------------------
    def open_read(self, name: str) -> IO[bytes]:
        try:
            if self.local:
                return self.fs.open(self.path(name), "rb")
            streamed = _StreamedReader.open(self.fs, self.path(name))
            if streamed is not None:
                return streamed  # type: ignore[return-value]
            return self.fs.open(self.path(name), "rb", block_size=8 * _MIB, cache_type="readahead")
        except Exception as exc:
            raise self.error(exc, f"read {self.location(name)}") from None

    def read_text(self, name: str) -> str:
        try:
            with self.fs.open(self.path(name), "rb") as handle:
                return handle.read().decode()
        except Exception as exc:
            raise self.error(exc, f"read {self.location(name)}") from None

    def exists(self, name: str) -> bool:
        try:
            return bool(self.fs.exists(self.path(name)))
        except Exception as exc:
            raise self.error(exc, "list the backup destination") from None

    def delete(self, name: str) -> bool:
        """Remove ``name`` if it exists (best effort). True when it is gone."""
        try:
            self.fs.invalidate_cache()
            if self.fs.exists(self.path(name)):
                self.fs.rm(self.path(name))
            return True
        except Exception:
            return False

    def find(self) -> list[tuple[str, dict[str, Any]]]:
        """Every object under the folder: (name relative to it, its info)."""
        try:
            self.fs.invalidate_cache()
            if not self.fs.exists(self.root):
                return []
            found = self.fs.find(self.root, detail=True)
        except Exception as exc:
            raise self.error(exc, "list the backup destination") from None
        prefix = self.root + "/"
        out = []
        for path, info in sorted(found.items()):
            path = path.lstrip("/") if not self.local else path
            stripped_prefix = prefix.lstrip("/") if not self.local else prefix
            if path.startswith(stripped_prefix):
                out.append((path[len(stripped_prefix):], info))
        return out

    @contextmanager
    def reading(self, name: str) -> Iterator[IO[bytes]]:
        handle = self.open_read(name)
        try:
            yield handle
        finally:
            try:
                handle.close()
            except Exception:
                pass

    # -- errors ----------------------------------------------------------------
    def error(self, exc: BaseException, doing: str) -> StorageError:
        detail = f"{type(exc).__name__}: {exc}".strip()
        name = type(exc).__name__
        text = str(exc).lower()
        local = self._local_error(exc) if self.local else None
        if local is not None:
            why, fix = local
        elif isinstance(exc, FileNotFoundError) or "nosuchbucket" in text or "does not exist" in text:
            why = "The destination does not exist (for object stores: the bucket is missing or misspelt)."
            fix = (f"Create it, or correct [tool.safemigrate.backup] url / --dest ({self.describe()}).")
        elif isinstance(exc, PermissionError) or "accessdenied" in text or "forbidden" in text or "403" in text:
            why = "The storage refused access: the credentials in use may not write (or read) there."
            fix = ("Check the storage credentials in the environment (e.g. AWS_PROFILE, AWS_ACCESS_KEY_ID) and "
                   "their permissions on this location, or choose a writable destination.")
        elif "credential" in text or name in {"NoCredentialsError", "PartialCredentialsError"}:
            why = "No storage credentials were found."
            fix = ("Provide them the storage's usual way (for S3: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
                   "~/.aws/credentials or an instance role); safemigrate never reads them from pyproject.toml.")
        else:
            why = "The storage could not be reached or failed while safemigrate was using it."
            fix = ("Check that the storage endpoint is up and reachable (for S3-compatible stores: "
                   "AWS_ENDPOINT_URL), then run again.")
        return StorageError(f"Could not {doing}: {detail}", why, fix)


    def _local_error(self, exc: BaseException) -> tuple[str, str] | None:
        """A local folder's own causes (not writable, read-only, full): no object-store advice for them."""
        code = getattr(exc, "errno", None)
        if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
            return (f"The backup folder {self.root} is not writable by this user.",
                    "Give this user write access to it (or choose another folder in [tool.safemigrate.backup] url "
                    "/ --dest).")
        if code == errno.EROFS:
            return (f"The backup folder {self.root} is on a read-only file system.",
                    "Choose a destination on a writable disk ([tool.safemigrate.backup] url / --dest).")
        if code in (errno.ENOSPC, errno.EDQUOT):
            return (f"The disk holding {self.root} is full (or the user's quota is used up).",
                    "Free space there, keep fewer backups (keep = N, then `safemigrate backup prune`), or choose "
                    "a destination with room.")
        return None


class _StreamedReader:
    """One GET read as a stream, for async stores (s3fs): a sequential read needs no ranged requests."""

    def __init__(self, fs: Any, handle: Any):
        from fsspec.asyn import sync

        self._sync, self.fs, self.handle = sync, fs, handle

    @classmethod
    def open(cls, fs: Any, path: str) -> _StreamedReader | None:
        from fsspec.asyn import AsyncFileSystem, sync

        if not isinstance(fs, AsyncFileSystem) or getattr(fs, "loop", None) is None:
            return None
        try:
            handle = sync(fs.loop, fs.open_async, path, "rb")
        except NotImplementedError:
            return None
        return cls(fs, handle)

    def read(self, size: int = -1) -> bytes:
        return self._sync(self.fs.loop, self.handle.read, size)

    def close(self) -> None:
        try:
            self._sync(self.fs.loop, self.handle.close)
        except Exception:
            pass
