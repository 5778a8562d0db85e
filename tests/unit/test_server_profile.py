"""bench/server_profile.py: the dev server's function table read from its stripped binary, and each sample put
in the bucket of what the server was doing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.server_profile import GoSymbols, bucket, elf_sections
from scripts.processes import temporal_binary


@pytest.fixture(scope="module")
def symbols() -> GoSymbols:
    return GoSymbols(Path(temporal_binary()))


def test_the_stripped_server_binary_still_names_its_functions(symbols: GoSymbols) -> None:
    assert len(symbols) > 10_000
    text = elf_sections(Path(temporal_binary()).read_bytes())[".text"]
    # The first function starts where the text section does; an address inside it has its name too.
    first = symbols.name(text.address)
    assert first != "?" and symbols.name(text.address + 1) == first
    assert symbols.name(text.address - 1) == "?"


def test_elf_sections_refuses_what_is_not_an_elf_file() -> None:
    with pytest.raises(ValueError, match="not a 64-bit"):
        elf_sections(b"#!/bin/sh\n" + bytes(64))


def test_a_sample_goes_to_the_outermost_handler_or_queue_or_server_frame() -> None:
    handler = "go.temporal.io/server/api/historyservice/v1._HistoryService_RespondWorkflowTaskCompleted_Handler"
    inner = ["modernc.org/sqlite.(*conn).exec", handler, "google.golang.org/grpc.(*Server).handleStream"]
    assert bucket(inner) == "HistoryService.RespondWorkflowTaskCompleted"
    queue = "go.temporal.io/server/service/history.(*visibilityQueueTaskExecutor).Execute"
    assert bucket(["database/sql.(*DB).exec", queue, "runtime.goexit"]) == "visibilityQueueTaskExecutor"
    assert bucket(["runtime.scanobject", "runtime.gcBgMarkWorker"]) == "gcBgMarkWorker"
    server = "go.temporal.io/server/service/matching.(*priTaskWriter).taskWriterLoop"
    assert bucket(["runtime.mallocgc", server]) == "other: matching.(*priTaskWriter).taskWriterLoop"
    assert bucket(["google.golang.org/grpc/internal/transport.(*loopyWriter).run"]) == "runtime and gRPC transport"
    assert bucket([]) == "kernel only"
