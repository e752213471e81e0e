"""Mutated copies of real record files, for fuzzing the readers and the importer.

A mutation is what careless tools and hostile users do to a CSV file: flipped and
inserted bytes (quotes, separators, line breaks, NUL, stray UTF-8 lead bytes), cut
records, duplicated or swapped lines, a whole file re-encoded, absurd values. The
same seed gives the same files.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

#: Bytes that change how a CSV file splits or decodes.
NASTY_BYTES = [b'"', b",", b";", b"\t", b"|", b"\n", b"\r", b"\r\n", b"\x00", b"\xff",
               b"\xc3", b"\xe2\x80", b"\xef\xbb\xbf", b"'", b"\\"]
#: Values people and programs write where a normal value belongs.
NASTY_VALUES = [b"9999-12-31", b"0001-01-01", b"1600", b"2999-01-01", b"1e308", b"-0",
                b"nan", b"inf", b"-91", b"181", b"", b" ", b"=1+1", b"{{ 7*191 }}",
                b"31/02/2025", b"03/04/2025", b"\xd0\x9c\xd0\xb8\xd0\x93-31",
                b"x" * 5000, b'"unterminated', b'""', b",,,,,,,,,,"]


def _flip(rng: random.Random, data: bytearray) -> None:
    if data:
        data[rng.randrange(len(data))] = rng.randrange(256)


def _insert(rng: random.Random, data: bytearray) -> None:
    at = rng.randrange(len(data) + 1)
    data[at:at] = rng.choice(NASTY_BYTES)


def _delete(rng: random.Random, data: bytearray) -> None:
    if data:
        at = rng.randrange(len(data))
        del data[at:at + rng.randint(1, 40)]


def _truncate(rng: random.Random, data: bytearray) -> None:
    del data[rng.randrange(len(data) + 1):]


def _lines(data: bytearray) -> list[bytes]:
    return bytes(data).split(b"\n")


def _duplicate_line(rng: random.Random, data: bytearray) -> None:
    lines = _lines(data)
    k = rng.randrange(len(lines))
    lines.insert(k, lines[k])
    data[:] = b"\n".join(lines)


def _swap_lines(rng: random.Random, data: bytearray) -> None:
    lines = _lines(data)
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    data[:] = b"\n".join(lines)


def _replace_field(rng: random.Random, data: bytearray) -> None:
    lines = _lines(data)
    k = rng.randrange(len(lines))
    fields = lines[k].split(b",")
    fields[rng.randrange(len(fields))] = rng.choice(NASTY_VALUES)
    lines[k] = b",".join(fields)
    data[:] = b"\n".join(lines)


def _reencode(rng: random.Random, data: bytearray) -> None:
    text = bytes(data).decode("utf-8", errors="replace")
    encoding = rng.choice(["cp1252", "utf-16", "utf-8-sig", "latin-1"])
    data[:] = text.encode(encoding, errors="replace")


def _repeat_separator(rng: random.Random, data: bytearray) -> None:
    at = rng.randrange(len(data) + 1)
    data[at:at] = rng.choice([b",", b";", b'"']) * rng.choice([10, 1000, 50_000])


MUTATIONS: list[Callable[[random.Random, bytearray], None]] = [
    _flip, _insert, _delete, _truncate, _duplicate_line, _swap_lines, _replace_field,
    _reencode, _repeat_separator,
]


def mutants(sources: list[bytes], count: int, *, seed: int = 20251130
            ) -> Iterator[tuple[int, bytes]]:
    """``count`` mutated files (number, bytes), each from one of ``sources`` with one
    to four mutations."""
    rng = random.Random(seed)
    for number in range(count):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 4)):
            rng.choice(MUTATIONS)(rng, data)
        yield number, bytes(data)
