"""Bytes in arbitrary chunks → text lines, never failing on what a log file may hold.

Why a class and not ``io.TextIOWrapper``: one bad byte must not end an ingest, and the
user must be told how many lines were damaged. Blocks of complete lines are decoded in one
call (the fast path); only a block that fails is decoded line by line, bad lines with
``backslashreplace`` so the original bytes stay readable (nothing read is lost). CRLF,
a UTF-8 BOM and NUL bytes are cleaned; a "line" longer than ``max_line`` (a binary file, a
file with no newlines) is cut so memory stays bounded.
"""

from __future__ import annotations

__all__ = ["LineDecoder", "MAX_LINE"]

MAX_LINE = 1 << 20  # 1 MiB


class LineDecoder:
    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._tail = b""
        self._first = True
        self.bytes = 0
        self.invalid_utf8_lines = 0
        self.split_lines = 0
        self.nul_lines = 0

    def _decode_block(self, block: bytes) -> list[str]:
        try:
            text = block.decode("utf-8")
            lines = text.split("\n")
        except UnicodeDecodeError:
            lines = []
            for raw in block.split(b"\n"):
                try:
                    lines.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    self.invalid_utf8_lines += 1
                    lines.append(raw.decode("utf-8", "backslashreplace"))
            text = None
        if self._first:
            self._first = False
            if lines and lines[0].startswith("\ufeff"):
                lines[0] = lines[0][1:]
        if text is None or "\r" in text:
            lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
        if text is None or "\x00" in text:
            out = []
            for ln in lines:
                if "\x00" in ln:
                    self.nul_lines += 1
                    ln = ln.replace("\x00", "")
                out.append(ln)
            lines = out
        return lines

    def _cut_long(self, buf: bytes) -> tuple[list[bytes], bytes]:
        """Split off max_line pieces of an over-long unterminated line (at a UTF-8 boundary)."""
        pieces = []
        while len(buf) > self.max_line:
            cut = self.max_line
            while cut > self.max_line - 4 and (buf[cut] & 0xC0) == 0x80:
                cut -= 1
            pieces.append(buf[:cut])
            buf = buf[cut:]
            self.split_lines += 1
        return pieces, buf

    def feed(self, data: bytes) -> list[str]:
        """Complete lines found so far (the unterminated rest waits for more data)."""
        if not data:
            return []
        self.bytes += len(data)
        buf = self._tail + data if self._tail else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            pieces, self._tail = self._cut_long(buf)
            return [ln for p in pieces for ln in self._decode_block(p)]
        block, tail = buf[:cut], buf[cut + 1 :]
        pieces, self._tail = self._cut_long(tail)
        lines = self._decode_block(block)
        if len(block) > self.max_line and max(map(len, lines)) > self.max_line:
            split: list[str] = []
            for ln in lines:
                while len(ln) > self.max_line:
                    split.append(ln[: self.max_line])
                    ln = ln[self.max_line :]
                    self.split_lines += 1
                split.append(ln)
            lines = split
        for p in pieces:
            lines.extend(self._decode_block(p))
        return lines

    def close(self) -> list[str]:
        """The last line when the data did not end with a newline."""
        tail, self._tail = self._tail, b""
        return self._decode_block(tail) if tail else []
