"""A talk's digits as a dataset: NumPy arrays, an `.npz`, or MNIST's own IDX files (zipped for a
download, or written to a folder), so the room's digits train or test a model like MNIST does.
`RoomExport` is the part of `crowd.CrowdStore` that writes these; it relies on `labels_and_images`."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from mnist_core.data.mnist import encode_idx, write_atomic


def _npz_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()  # a room's export is a few MB at most



def idx_paths(talk_id: int, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Where export_idx writes a talk's images and labels."""
    directory = Path(directory)
    return (directory / f"talk-{int(talk_id)}-images-idx3-ubyte",
            directory / f"talk-{int(talk_id)}-labels-idx1-ubyte")


class RoomExport:
    """A talk's visible digits as arrays, .npz and IDX files (a part of CrowdStore)."""

    def arrays(self, talk_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The talk's visible digits as MNIST-like arrays, oldest first: x (n, 28, 28) uint8, y (n,) uint8."""
        with self._transaction() as conn:
            rows = conn.execute("SELECT image, label FROM digits WHERE talk_id = ? AND hidden = 0 ORDER BY id",
                                (int(talk_id),)).fetchall()
        x = np.frombuffer(b"".join(r[0] for r in rows), np.uint8).reshape(len(rows), 28, 28).copy()
        y = np.array([r[1] for r in rows], np.uint8)
        return x, y

    def npz_bytes(self, talk_id: int) -> bytes:
        """The talk's visible digits as the bytes of an .npz with `x` and `y` (for a download)."""
        return _npz_bytes(*self.arrays(talk_id))

    def idx_zip_bytes(self, talk_id: int) -> bytes:
        """The talk's visible digits as the bytes of a zip holding the two IDX files that
        export_idx writes (same names), for a download."""
        x, y = self.arrays(talk_id)
        images, labels = idx_paths(talk_id, ".")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(images.name, encode_idx(x))
            archive.writestr(labels.name, encode_idx(y))
        return buffer.getvalue()

    def export_npz(self, talk_id: int, path: str | os.PathLike) -> int:
        """Write `x` and `y` (as keras.datasets.mnist gives them) to an .npz, atomically; returns the count."""
        x, y = self.arrays(talk_id)
        write_atomic(Path(path), _npz_bytes(x, y))
        return len(y)

    def export_idx(self, talk_id: int, directory: str | os.PathLike) -> int:
        """Write `talk-ID-images-idx3-ubyte` and `talk-ID-labels-idx1-ubyte` (MNIST's own format,
        readable by any MNIST loader) into `directory`, each atomically; returns the count."""
        x, y = self.arrays(talk_id)
        paths = idx_paths(talk_id, directory)
        write_atomic(paths[0], encode_idx(x))
        write_atomic(paths[1], encode_idx(y))
        return len(y)
