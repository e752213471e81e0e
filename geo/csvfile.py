"""CSV files as people and programs write them, read record by record without losing one.

Every record of a file ends up either among the records read or in the list of malformed
ones with its row number (1 = the first record after the header), the physical line it
starts on, the reason and its raw text. The file is streamed: memory stays bounded by
the limits below whatever the input.

- **Encoding**: a UTF-16 or UTF-32 byte-order mark means that encoding (decoded
  strictly); otherwise a file that is valid
  UTF-8 (byte-order mark or not) is UTF-8. A file with some invalid UTF-8 bytes but
  other well-formed multi-byte sequences is still UTF-8: only the records holding the
  invalid bytes are refused, with the byte named. A file with no well-formed multi-byte
  sequence at all is Windows-1252 (spreadsheets' "CSV" on Windows).
- **Separator**: comma, or semicolon, tab or pipe where the header uses more of those.
- **Field counts**: a record with more or fewer fields than the header is refused.
- **Quotes**: a quoted field may hold separators and line breaks. A quote that is never
  closed would swallow the records after it; the reader notices (the record it makes
  spans several lines and has the wrong number of fields, or the file ends inside the
  quote), refuses the line where the quote opens, and reads on from the next line.
- **Limits** (:data:`MAX_COLUMNS`, :data:`MAX_FIELD_BYTES`, :data:`MAX_RECORD_BYTES`):
  checked while reading, so an absurd file is refused at the first offending record
  with the limit named.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gc
import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geo.errors import InputError

#: Columns a header may name (ACLED's exports have 31).
MAX_COLUMNS = 1000
#: Characters one field may hold (descriptions of 10 MB fit).
MAX_FIELD_BYTES = 16 * 1024 * 1024
#: Bytes one physical line or one record may take.
MAX_RECORD_BYTES = 32 * 1024 * 1024
#: Records that may be refused before the whole file is (a file whose first
#: :data:`_HOPELESS_AFTER` records all fail is refused at once).
MAX_REFUSED = 100_000
_HOPELESS_AFTER = 1000
#: Raw text kept of a refused record, for the rejection report.
MAX_RAW_CHARS = 10_000
#: Records turned into a table at a time (bounds the memory of Python lists).
CHUNK_RECORDS = 50_000
#: Separators recognised in the header, in order of preference after the comma.
SEPARATORS = (",", ";", "\t", "|")

#: Encodings read as text streams (by their byte-order mark): bytes per character.
_WIDE = {"utf-16": 2, "utf-32": 4}
_SNIFF_BYTES = 64 * 1024
_SCAN_BLOCK = 1024 * 1024

csv.field_size_limit(MAX_FIELD_BYTES)


@dataclass
class CsvRecords:
    """What :func:`read_csv_records` found in a file."""

    #: The records, one column per header name, every cell as text; the index is the
    #: record's position (row number - 1), kept across refused records.
    frame: pd.DataFrame
    #: Refused records: (row number, field ("record" where no one field is to blame),
    #: reason, raw text).
    malformed: list[tuple[int, str, str, str]] = field(default_factory=list)
    encoding: str = "utf-8"
    separator: str = ","
    #: The share of the file's bytes read so far (1.0 at the end).
    fraction: float = 1.0


def read_csv_records(path: str | Path) -> CsvRecords:
    """Read a CSV file whole (see the module docstring for what is accepted).

    Raises
    ------
    InputError
        The file cannot be read as a table at all: empty, binary, no usable header, a
        header beyond the limits, or hopeless records (see :data:`MAX_REFUSED`). Single
        bad records never raise: they are listed in ``malformed``.
    """
    chunks = list(iter_csv_records(path))
    frame = pd.concat([c.frame for c in chunks]) if len(chunks) > 1 else chunks[0].frame
    malformed = [m for c in chunks for m in c.malformed]
    return CsvRecords(frame, malformed, chunks[0].encoding, chunks[0].separator, 1.0)


def iter_csv_records(path: str | Path, *, chunk_records: int = CHUNK_RECORDS
                     ) -> Iterator[CsvRecords]:
    """Read a CSV file a chunk of records at a time (at least one chunk, maybe empty);
    each chunk lists the records refused since the previous one. Memory stays bounded
    by the chunk size and the limits, whatever the file's size. Raises as
    :func:`read_csv_records`."""
    path = Path(path)
    encoding = _encoding(path)
    size = max(path.stat().st_size, 1)
    with _open_lines(path, encoding) as source:
        try:
            first = source.header_line()
        except UnicodeDecodeError as exc:
            msg = f"{path}: not valid {encoding.upper()} in its first line ({exc.reason})"
            raise InputError(msg) from None
        names, separator = _header(path, first, source.problems.get(1, ""))
        reader = _RecordReader(source, names, separator, chunk_records)
        batches = reader.batches()
        while True:
            try:
                with _no_gc():
                    index, rows = next(batches)
                    frame = _table(rows, index, names)
            except StopIteration:
                return
            except InputError as exc:
                msg = f"{path}: {exc}"
                raise InputError(msg) from None
            except UnicodeDecodeError as exc:  # a UTF-16/32 file, decoded strictly
                where = source.lines_read + 1
                msg = f"{path}: not valid {encoding.upper()} near line {where} ({exc.reason})"
                raise InputError(msg) from None
            malformed, reader.malformed = reader.malformed, []
            yield CsvRecords(frame, malformed, encoding, separator,
                             min(source.bytes_read / size, 1.0))


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The cycle collector paused: a million small lists of fields (which form no
    cycles) would otherwise set it off thousands of times, tripling the reading time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _table(rows: list[list[str]], index: list[int], names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=names, index=pd.Index(index, dtype="int64"),
                        dtype="str")


# --- encoding -------------------------------------------------------------------------

def _encoding(path: Path) -> str:
    """The file's text encoding (see the module docstring)."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
        if not head:
            msg = f"{path}: the file is empty"
            raise InputError(msg)
        if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
            return "utf-32"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        if _binary(head):
            msg = (f"{path}: not a text CSV file (it holds binary data); save the table as "
                   "CSV text, preferably UTF-8")
            raise InputError(msg)
        fh.seek(0)
        # invalid bytes become lone surrogates (U+DC80-U+DCFF): a real U+FFFD in the
        # text counts as well-formed
        decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        well_formed = invalid = 0
        for block in iter(lambda: fh.read(_SCAN_BLOCK), b""):
            text = decoder.decode(block)
            bad = len(text) - len(text.encode("utf-8", "ignore").decode("utf-8"))
            invalid += bad
            well_formed += len(text) - len(text.encode("ascii", "ignore")) - bad
        invalid += len(decoder.decode(b"", final=True))
    if invalid == 0 or well_formed > 0:
        return "utf-8-sig"
    return "cp1252"


def _binary(head: bytes) -> bool:
    """NUL bytes, or a start of which a quarter is other control bytes: no text file
    looks like this."""
    controls = sum(head.count(c) for c in (*range(1, 9), 11, *range(14, 32)))
    return 0 in head or (len(head) >= 256 and controls > len(head) // 4)


class _LineSource:
    """The file's physical lines as text, a block at a time (each line at most
    :data:`MAX_RECORD_BYTES` long, keeping its line end). A line that cannot be decoded
    or is too long is listed in ``problems`` by its number (1 = the header)."""

    def __init__(self, fh, encoding: str) -> None:
        self._fh = fh
        self._encoding = encoding
        self._text = encoding in _WIDE  # a text stream: decoded already
        self._nl = "\n" if self._text else b"\n"
        self.lines_read = 0
        self.bytes_read = 0
        self.problems: dict[int, str] = {}

    def header_line(self) -> str:
        """The first line, without a byte-order mark ("" for an empty file); a problem
        with it is in ``problems[1]``."""
        block = self.next_block(one=True)
        return block[0].removeprefix("\ufeff") if block else ""

    def next_block(self, *, one: bool = False) -> list[str]:
        """The next lines ([] at the end of the file)."""
        data = self._fh.readline(MAX_RECORD_BYTES + 1) if one else self._fh.read(_SCAN_BLOCK)
        if not data:
            return []
        if not data.endswith(self._nl):
            data += self._fh.readline(MAX_RECORD_BYTES + 1)
        self.bytes_read += len(data) * _WIDE.get(self._encoding, 1)
        raws = data.split(self._nl)
        tail = raws.pop()  # "" after a final line end; else the last line, unended
        raws = [r + self._nl for r in raws]
        first = self.lines_read + 1
        if len(tail) > MAX_RECORD_BYTES:
            raws.append(self._oversize(tail, first + len(raws)))
        elif tail:
            raws.append(tail)
        self.lines_read += len(raws)
        if self._text:  # decoded strictly: a bad sequence refuses the file
            return self._no_nul(raws, first)
        try:
            parts = b"".join(raws).decode(self._encoding).split("\n")
        except UnicodeDecodeError:
            return self._no_nul([self._decode(raw, first + k) for k, raw in enumerate(raws)],
                                first)
        lines = [p + "\n" for p in parts[:-1]]
        return self._no_nul([*lines, parts[-1]] if parts[-1] else lines, first)

    def _no_nul(self, lines: list[str], first: int) -> list[str]:
        """Lines with a NUL character are noted (binary data inside a text file)."""
        if any("\x00" in line for line in lines):
            for k, line in enumerate(lines):
                if "\x00" in line:
                    self.problems.setdefault(first + k, "it holds a NUL byte (binary data "
                                                        "inside the text?)")
        return lines

    def _oversize(self, head, number: int):
        """Line ``number``, longer than the limit: noted, the rest of it skipped, its
        start kept."""
        skipped = len(head)
        while True:
            more = self._fh.readline(MAX_RECORD_BYTES)
            skipped += len(more)
            if not more or more.endswith(self._nl):
                break
        self.problems[number] = (f"line {number} is {skipped:,} bytes long; the limit is "
                                 f"{MAX_RECORD_BYTES:,}")
        return head[:MAX_RAW_CHARS] + self._nl

    def _decode(self, raw: bytes, number: int) -> str:
        try:
            return raw.decode(self._encoding)
        except UnicodeDecodeError as exc:
            byte = raw[exc.start:exc.start + 1].hex()
            if self._encoding == "cp1252":
                problem = f"byte 0x{byte} is not a Windows-1252 character"
            else:
                problem = (f"invalid UTF-8 byte 0x{byte} (the rest of the file is UTF-8; "
                           "the record cannot be read without guessing)")
            self.problems.setdefault(number, problem)
            return raw.decode(self._encoding, errors="replace")


class _open_lines:  # noqa: N801 - used as a context manager, like open()
    def __init__(self, path: Path, encoding: str) -> None:
        self._path, self._encoding = path, encoding

    def __enter__(self) -> _LineSource:
        if self._encoding in _WIDE:
            self._fh = open(self._path, encoding=self._encoding, newline="")
            return _LineSource(self._fh, self._encoding)
        self._fh = open(self._path, "rb")
        return _LineSource(self._fh, "utf-8" if self._encoding == "utf-8-sig"
                           else self._encoding)

    def __exit__(self, *exc) -> None:
        self._fh.close()


# --- header ---------------------------------------------------------------------------

def _header(path: Path, line: str, problem: str) -> tuple[list[str], str]:
    """Column names and separator from the first line."""
    if not line.strip():
        msg = (f"{path}: line 1, the header, is blank; the first line must name the "
               "columns (e.g. id,date,type,lat,lon)")
        raise InputError(msg)
    if problem:
        msg = f"{path}: the header (line 1) cannot be read: {problem}"
        raise InputError(msg)
    text = line.rstrip("\r\n")
    if "\r" in text:
        msg = (f"{path}: lines end with a carriage return only (classic Mac OS); save the "
               "file with LF or CRLF line ends")
        raise InputError(msg)
    counts = {sep: text.count(sep) for sep in SEPARATORS}
    best = max(counts, key=counts.get)
    separator = best if counts[best] > counts[","] else ","
    if counts[separator] + 1 > MAX_COLUMNS:
        msg = (f"{path}: the header has {counts[separator] + 1:,} columns; the limit is "
               f"{MAX_COLUMNS:,}")
        raise InputError(msg)
    try:
        names = next(csv.reader([text], delimiter=separator, strict=True))
    except csv.Error as exc:
        msg = f"{path}: the header (line 1) cannot be read as CSV ({exc})"
        raise InputError(msg) from exc
    return _column_names(path, names), separator


def _column_names(path: Path, names: list[str]) -> list[str]:
    out = [n.strip() or f"column_{i}" for i, n in enumerate(names, start=1)]
    seen: set[str] = set()
    for name in out:
        if name in seen:
            msg = (f"{path}: the header names column {name!r} twice; give each column "
                   "its own name")
            raise InputError(msg)
        seen.add(name)
    return out


# --- records --------------------------------------------------------------------------

class _RecordReader:
    """Records of the lines after the header, checked and resynchronised (see the
    module docstring).

    The csv module reads lines from :meth:`_feed`; how many lines a record took comes
    from the reader's ``line_num``, and the lines themselves stay in ``_blocks`` until
    every record that uses them is done, so nothing is copied per line.
    """

    def __init__(self, source: _LineSource, names: list[str], separator: str,
                 chunk_records: int = CHUNK_RECORDS) -> None:
        self._source = source
        self._chunk = chunk_records
        self._refused = 0
        self._first_refused = ""
        self.names = names
        self._width = len(names)
        self._separator = separator
        #: (number of the first line, lines) of the blocks still needed.
        self._blocks: deque[tuple[int, list[str]]] = deque()
        self._row = 0
        self._base, self._seen = 2, 0  # reader's first line is line _base; it read _seen
        self.malformed: list[tuple[int, str, str, str]] = []

    def _feed(self) -> Iterator[str]:
        while block := self._source.next_block():
            self._release(self._base + self._seen)
            self._blocks.append((self._source.lines_read - len(block) + 1, block))
            yield from block

    def _text(self, first: int, last: int) -> list[str]:
        """Lines ``first`` to ``last`` (inclusive), by number."""
        out: list[str] = []
        for start, block in self._blocks:
            if start + len(block) <= first or start > last:
                continue
            out += block[max(first - start, 0):last - start + 1]
        return out

    def _release(self, before: int) -> None:
        """Forget the blocks whose lines all come before line ``before``."""
        while len(self._blocks) > 1 and self._blocks[0][0] + len(self._blocks[0][1]) <= before:
            self._blocks.popleft()

    def batches(self) -> Iterator[tuple[list[int], list[list[str]]]]:
        """The good records, :data:`CHUNK_RECORDS` at a time: (positions, fields)."""
        feed = self._feed()
        reader = csv.reader(feed, delimiter=self._separator)
        width, problems = self._width, self._source.problems
        index: list[int] = []
        rows: list[list[str]] = []
        while reader is not None:
            restart = None
            try:
                for fields in reader:
                    seen = reader.line_num
                    if seen == self._seen + 1 and len(fields) == width and (
                            not problems or self._base + self._seen not in problems):
                        self._seen = seen  # the common case: one line, right width
                        index.append(self._row)
                        self._row += 1
                        rows.append(fields)
                        if len(rows) >= self._chunk:
                            yield index, rows
                            index, rows = [], []
                            self._release(self._base + self._seen)
                        continue
                    if not fields and seen == self._seen + 1:  # an empty line
                        self._seen = seen
                        continue
                    restart = self._record(fields, "", reader, feed, index, rows)
                    if restart is not None:
                        break
                else:
                    reader = None
            except csv.Error as exc:
                restart = self._record(None, f"cannot be read as CSV ({exc})", reader, feed,
                                       index, rows)
            if restart is not None:
                reader = restart
        yield index, rows

    def _record(self, fields, error, reader, feed, index, rows):
        """Handle a record off the common path; returns a new csv reader where reading
        must start afresh, else None."""
        first, last = self._base + self._seen, self._base + reader.line_num - 1
        self._seen = reader.line_num
        if last < first or (fields is not None and _blank(fields)):
            return None
        self._row += 1
        reason, resync = self._check(fields, error, first, last)
        if not reason:
            index.append(self._row - 1)
            rows.append(fields)
            return None
        lines = self._text(first, last)
        self.malformed.append((
            self._row, self._culprit(fields, first != last),
            f"{reason} (line {first})", _raw(lines[0] if resync else "".join(lines))))
        self._give_up_if_hopeless()
        if not (resync or error):
            return None
        # start afresh: from the line after the record's first, or after the record
        again = lines[1:] if resync else []
        self._base, self._seen = (first + 1 if resync else last + 1), 0
        return csv.reader(itertools.chain(again, feed), delimiter=self._separator)

    def _open_at_end(self, first: int, last: int) -> bool:
        """Whether the record on lines ``first``-``last`` ends inside a quoted field
        (the file ended before the quote was closed)."""
        try:
            for _ in csv.reader(self._text(first, last), delimiter=self._separator,
                                strict=True):
                pass
        except csv.Error as exc:
            return "unexpected end of data" in str(exc)
        return False

    def _give_up_if_hopeless(self) -> None:
        """Refuse a file whose first records all fail, or that has more refused records
        than :data:`MAX_REFUSED`: it is not a table of its header's shape (a wrong
        separator, a shifted header, not a CSV file)."""
        self._refused += 1
        if not self._first_refused:
            row, _, reason, _ = self.malformed[-1]
            self._first_refused = f"row {row}: {reason}"
        refused = self._refused
        if refused == self._row == _HOPELESS_AFTER or refused > MAX_REFUSED:
            msg = (f"{refused:,} of the first {self._row:,} records cannot be read (the "
                   f"first: {self._first_refused}); is the header right, and the "
                   f"separator {self._separator!r}?")
            raise InputError(msg)

    def _culprit(self, fields: list[str] | None, spans: bool) -> str:
        """The column holding an undecodable byte, else "record"."""
        if fields is None or spans or len(fields) != self._width:
            return "record"
        return next((name for name, value in zip(self.names, fields, strict=True)
                     if "\ufffd" in value), "record")

    def _check(self, fields: list[str] | None, error: str, first: int, last: int
               ) -> tuple[str, bool]:
        """Why the record on lines ``first``-``last`` is refused ('' if it is not) and
        whether to read again from the line after its first."""
        spans = last > first
        if not spans and not error and len(fields) == self._width and \
                first not in self._source.problems:
            return "", False  # the common case, decided at once
        if error:
            return error, spans
        problems = self._source.problems
        problem = next((problems[n] for n in range(first, last + 1) if n in problems), "")
        if spans and (len(fields) != self._width or self._open_at_end(first, last)):
            return "a quoted field opens here and is never closed", True
        if problem:  # the record itself is whole: refused as one
            return problem, False
        if spans and sum(map(len, self._text(first, last))) > MAX_RECORD_BYTES:
            return f"the record is longer than {MAX_RECORD_BYTES:,} bytes", False
        if len(fields) > MAX_COLUMNS:
            return f"{len(fields):,} fields; the limit is {MAX_COLUMNS:,}", False
        if len(fields) != self._width:
            return f"{len(fields)} fields where the header has {self._width}", False
        return "", False


def _blank(fields: list[str]) -> bool:
    """An empty line (not a record)."""
    return not fields or (len(fields) == 1 and not fields[0].strip())


def _raw(text: str) -> str:
    """A refused record's text for the report (NUL written as ``\\x00``, long text cut)."""
    text = text.rstrip("\r\n").replace("\x00", "\\x00")
    if len(text) > MAX_RAW_CHARS:
        return f"{text[:MAX_RAW_CHARS]}… ({len(text):,} characters)"
    return text

