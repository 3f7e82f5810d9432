"""Writing files: the one place every output of the project goes through.

* :func:`write_atomic` — text or bytes through a temporary file in the same folder, flushed to
  disk (``fsync``) and renamed over the target: a reader or a crash sees the old file or the
  new one, never half of one. Missing parent folders are created.
* :func:`save_image` / :func:`save_animation` — an H×W×3 float image in [0, 1] (or a list of
  them) in the format Pillow associates with the path's extension (``.png`` PNG, ``.jpg``
  JPEG, ``.gif`` GIF, ``.webp`` WebP...; an animation in ``.png`` is an APNG). The extension is
  checked before any work, so a wrong one fails fast.
* :func:`to_uint8` — the one float → uint8 quantisation of images (round half up).

Every failure is an :class:`SplOutputError` (an :class:`~spiral_dsl.errors.SplError`) naming
the path and the reason. This module imports only the standard library at load; numpy and
Pillow load on first use.
"""
from __future__ import annotations

import functools
import io
import os
import tempfile
import warnings
from pathlib import Path

from .errors import SplError

__all__ = ["SplOutputError", "write_atomic", "to_uint8", "encode_image", "image_format",
           "animation_format", "save_image", "save_animation"]


class SplOutputError(SplError):
    """An output that cannot be written: an unknown or unsuitable extension, a folder that
    cannot be created, no permission, a full disk (the message names the path)."""


def write_atomic(path, data: str | bytes) -> None:
    """Write ``data`` (``str`` as UTF-8, or ``bytes``) to ``path`` atomically and durably.

    The data goes to a temporary file beside ``path``, is ``fsync``-ed, and is renamed over
    ``path``; the folder is ``fsync``-ed too, so the rename survives a power cut. Missing parent
    folders are created. A replaced file keeps its permission bits; a new file gets the usual
    ``0o666 & ~umask``. On any failure the temporary file is removed and the old ``path`` (if
    any) is left untouched.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise SplOutputError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        if path.exists():  # keep the mode of the file being replaced
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:  # mkstemp makes 0600 files; new outputs get the usual mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise SplOutputError(f"cannot write {path}: {e.strerror or e}") from None
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def to_uint8(image):
    """An image of floats in [0, 1] as uint8 (values outside are clipped; round half up).
    A uint8 array is returned unchanged."""
    import numpy as np

    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


@functools.cache
def _extensions() -> dict[str, str]:
    """Pillow's extension → format table (every plugin registered)."""
    from PIL import Image

    Image.init()
    return {ext.lower(): fmt for ext, fmt in Image.registered_extensions().items()}


@functools.cache
def _can_write(fmt: str, animated: bool) -> bool:
    """Whether this Pillow build really encodes ``fmt`` (as an animation): some formats
    register a saver that only raises, e.g. without their codec. Tried once on 2×2 pixels."""
    from PIL import Image

    if fmt not in (Image.SAVE_ALL if animated else Image.SAVE):
        return False
    frames = [Image.new("RGB", (2, 2), (255, 255, 255)), Image.new("RGB", (2, 2), (0, 0, 0))]
    try:
        with warnings.catch_warnings():  # e.g. a deprecated format: only asked, not chosen
            warnings.simplefilter("ignore")
            if animated:
                frames[0].save(io.BytesIO(), format=fmt, save_all=True, append_images=frames[1:])
            else:
                frames[0].save(io.BytesIO(), format=fmt)
    except Exception:  # any failure means "cannot write this format here"
        return False
    return True


def _format_for(path, animated: bool) -> str:
    extensions = _extensions()
    suffix = Path(path).suffix.lower()
    fmt = extensions.get(suffix)
    if fmt is not None and _can_write(fmt, animated):
        return fmt
    valid = sorted(ext for ext, f in extensions.items() if _can_write(f, animated))
    what = "an animation" if animated else "an image"
    reason = ("it has no extension" if not suffix else
              f"{suffix!r} is not an image extension" if fmt is None else
              f"this Pillow cannot write {what} as {fmt}")
    hint = " (SVG comes from `spiral svg` or Program.to_svg())" if suffix == ".svg" else ""
    raise SplOutputError(f"cannot write {what} to {path}: {reason}{hint}; "
                         f"valid extensions: {' '.join(valid)}")


def image_format(path) -> str:
    """Pillow's format for an image written to ``path``, from its extension (``.png`` →
    ``"PNG"``, ``.jpg`` → ``"JPEG"``); :class:`SplOutputError` listing the valid extensions
    when there is none."""
    return _format_for(path, animated=False)


def animation_format(path) -> str:
    """Pillow's format for an animation written to ``path`` (``.gif``, ``.png`` as APNG,
    ``.webp``...); :class:`SplOutputError` listing the valid extensions otherwise."""
    return _format_for(path, animated=True)


def _pil(image):
    from PIL import Image

    return Image.fromarray(to_uint8(image))


def encode_image(image, fmt: str = "PNG") -> bytes:
    """The bytes of ``image`` (H×W or H×W×3, float in [0, 1] or uint8) in Pillow format ``fmt``."""
    buf = io.BytesIO()
    _pil(image).save(buf, format=fmt)
    return buf.getvalue()


def save_image(image, path) -> None:
    """Write ``image`` (H×W or H×W×3, float in [0, 1] or uint8) to ``path`` atomically, in the
    format of its extension."""
    write_atomic(path, encode_image(image, image_format(path)))


def save_animation(frames, path, frame_ms: int = 120) -> None:
    """Write ``frames`` (images as for :func:`save_image`) as an animation that loops, one
    frame every ``frame_ms`` milliseconds, in the format of ``path``'s extension, atomically."""
    fmt = animation_format(path)
    images = [_pil(f) for f in frames]
    if not images:
        raise SplOutputError(f"cannot write {path}: an animation needs at least one frame")
    if isinstance(frame_ms, bool) or not isinstance(frame_ms, int) or frame_ms < 1:
        raise SplOutputError(f"frame_ms={frame_ms!r} must be an integer >= 1")
    buf = io.BytesIO()
    images[0].save(buf, format=fmt, save_all=True, append_images=images[1:], duration=frame_ms,
                   loop=0)
    write_atomic(path, buf.getvalue())
