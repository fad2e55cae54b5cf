"""A real picture to attach: a small PNG (a coloured gradient one can see in a screenshot), as
bytes and as the base64 the APIs take."""

import base64
import struct
import zlib

SIZE = 32


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _gradient_png(size: int) -> bytes:
    rows = b"".join(
        b"\x00" + b"".join(bytes((40 + 6 * x, 120 + 3 * y, 90)) for x in range(size))
        for y in range(size)
    )
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


PNG_BYTES = _gradient_png(SIZE)
PNG = base64.b64encode(PNG_BYTES).decode()
