"""Image files a hostile user could hand to the loaders: headers that declare any size (a few
bytes on disk, no pixel data to speak of) and valid small images in every format and mode."""
import io
import struct
import zlib

import numpy as np
from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int, pixels: bytes = b"") -> bytes:
    """A PNG declaring ``width`` × ``height`` 8-bit grey, with ``pixels`` as its (compressed)
    data: ~60 bytes on disk whatever it declares."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(pixels))
            + _chunk(b"IEND", b""))


def bmp_header(width: int, height: int) -> bytes:
    """A 24-bit BMP declaring ``width`` × ``height`` with no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def gif_header(width: int, height: int) -> bytes:
    """A GIF whose screen and only image declare ``width`` × ``height`` (at most 65535)."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + image + b"\x3b"


def encoded(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def digit(mode: str = "L", size=(20, 12), light_on_dark: bool = False) -> Image.Image:
    """A small 'digit' (a dark bar on white, or light on dark) in ``mode``."""
    x = np.full(size[::-1], 255, np.uint8)
    x[2:-2, size[0] // 2 - 1:size[0] // 2 + 2] = 0
    if light_on_dark:
        x = 255 - x
    grey = Image.fromarray(x, "L")
    if mode == "I;16":
        return Image.fromarray(x.astype(np.uint16) * 257)
    if mode == "P":  # palette with a transparent entry (the paper's)
        p = grey.convert("P")
        p.info["transparency"] = int(np.asarray(p)[0, 0])
        return p
    return grey.convert(mode)


#: (format, mode, save options) of valid small images the loaders must read.
SAMPLES = [
    ("PNG", "L", {}), ("PNG", "RGB", {}), ("PNG", "RGBA", {}), ("PNG", "LA", {}),
    ("PNG", "P", {}), ("PNG", "I;16", {}), ("PNG", "1", {}),
    ("JPEG", "L", {}), ("JPEG", "RGB", {}), ("JPEG", "CMYK", {}),
    ("BMP", "RGB", {}), ("BMP", "P", {}),
    ("GIF", "P", {}), ("WEBP", "RGBA", {"lossless": True}), ("WEBP", "RGB", {}),
    ("TIFF", "CMYK", {}), ("TIFF", "I;16", {}), ("TIFF", "F", {}),
]
