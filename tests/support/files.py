"""Files as Slack shares them: real bytes, served with the bot's token, and the Slack file
objects that point at them on a local file server (tests/turns/inputs/test_files*.py)."""

from __future__ import annotations

import struct
import zlib

from tests.fakes.file_server import FileServer
from tests.fakes.slack_payloads import FILE_SNIPPET, slack_file

TOKEN = "xoxb-test-token"  # the harness's bot token; the file server wants exactly this


def tiny_png(width: int = 3, height: int = 2, rgb: tuple[int, int, int] = (200, 30, 90)) -> bytes:
    """A valid RGB PNG, built from its spec: signature, IHDR, zlib'd scanlines, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def tiny_pdf(text: str = "Q3 revenue: 42") -> bytes:
    """A one-page PDF with a correct xref table (byte offsets computed, not guessed)."""
    stream = f"BT /F1 12 Tf 20 50 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


PNG = tiny_png()
PDF = tiny_pdf()


def png_file(server: FileServer, name: str = "photo.png", data: bytes = PNG, **options) -> dict:
    url = server.add(f"/files-pri/T1-F1/download/{name}", data, "image/png", **options)
    return slack_file(name, url, "image/png", "png", len(data))


def pdf_file(server: FileServer, name: str = "Q3 report.pdf", **options) -> dict:
    url = server.add("/files-pri/T1-F2/download/report.pdf", PDF, "application/pdf", **options)
    return slack_file(name, url, "application/pdf", "pdf", len(PDF))


def text_file(
    server: FileServer, content: bytes = b"hug a kitten", name: str = "notes.txt"
) -> dict:
    url = server.add(f"/files-pri/T1-F3/download/{name}", content, "text/plain")
    return slack_file(name, url, "text/plain", "text", len(content), source=FILE_SNIPPET)
