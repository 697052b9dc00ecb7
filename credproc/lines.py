"""Whole lines out of a stream of bytes, each under a prefix (``each``'s output).

Pure: bytes in, bytes out. A child's output arrives in chunks cut anywhere;
only complete lines leave here, so lines of two accounts never share a line
of credproc's output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# A line longer than this is cut and relayed in pieces (each ended with a newline):
# a program that never writes one must not make credproc hold all it prints.
MAX_LINE = 64 * 1024
# ANSI foreground colours cycled over the accounts (no red: it reads as an error).
PALETTE = (36, 32, 33, 35, 34, 96, 92, 93, 95, 94)
SEPARATOR = " | "


class LineBuffer:
    """One stream's bytes, handed back as complete lines."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._pending = bytearray()
        self._max_line = max_line

    def feed(self, data: bytes) -> list[bytes]:
        """The lines ``data`` completes, without their newlines."""
        self._pending += data
        end = self._pending.rfind(b"\n")
        lines: list[bytes] = []
        if end >= 0:
            lines = bytes(self._pending[:end]).split(b"\n")
            del self._pending[: end + 1]
        while len(self._pending) >= self._max_line:
            lines.append(bytes(self._pending[: self._max_line]))
            del self._pending[: self._max_line]
        return lines

    def finish(self) -> list[bytes]:
        """The last line, when the stream ended without a newline."""
        rest, self._pending = bytes(self._pending), bytearray()
        return [rest] if rest else []


def prefixes(aliases: Sequence[str], *, colour: bool) -> dict[str, bytes]:
    """Each alias's prefix, padded to the longest so the lines after it align."""
    width = max((len(alias) for alias in aliases), default=0)
    found: dict[str, bytes] = {}
    for index, alias in enumerate(aliases):
        text = alias.ljust(width)
        if colour:
            text = f"\x1b[{PALETTE[index % len(PALETTE)]}m{text}\x1b[0m"
        found[alias] = (text + SEPARATOR).encode()
    return found


def render(prefix: bytes, lines: Sequence[bytes]) -> bytes:
    """``lines`` under ``prefix``, each ended with a newline."""
    return b"".join(prefix + line + b"\n" for line in lines)


def use_colour(isatty: bool, env: Mapping[str, str]) -> bool:
    """Colour on a terminal, unless ``NO_COLOR`` is set to anything (no-color.org) or the terminal is dumb."""
    return isatty and not env.get("NO_COLOR") and env.get("TERM") != "dumb"
