"""Host-side pieces that need no Docker: limits, output capping, names, tar extraction."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from sandbox.errors import (
    NotARegularFile,
    SandboxError,
    SandboxFileNotFound,
    SparseFile,
    TransferTooLarge,
    UnsafePath,
)
from sandbox.limits import SandboxLimits, format_size, parse_size
from sandbox.output import HeadTail
from sandbox.transfer import (
    SPARSE_SLACK,
    Refusal,
    copy_refusal,
    human_size,
    is_sparse,
    pack_files,
    parse_refusals,
    read_refusal,
    read_stream_bound,
    safe_extract,
    sandbox_path,
    unpack_in_memory,
)

# ------------------------------------------------------------------ limits

@pytest.mark.parametrize(
    "text, expected",
    [("512m", 512 * 2**20), ("2g", 2 * 2**30), ("2GiB", 2 * 2**30), ("1k", 1024), ("100", 100), (4096, 4096),
     ("1.5g", int(1.5 * 2**30))],
)
def test_sizes_read_like_docker(text: object, expected: int) -> None:
    assert parse_size(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abc", "12q", "-1", "", True, -5, None])
def test_bad_sizes_are_refused_with_an_example(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)  # type: ignore[arg-type]


def test_format_size_round_trips() -> None:
    for n in (64 * 2**20, 2**30, 1536, 1000):
        assert parse_size(format_size(n)) == n


def test_limits_validate_embed_and_round_trip() -> None:
    limits = SandboxLimits(memory="512m", cpus=0.5, workspace_size="64m")
    assert limits.memory == 512 * 2**20 and limits.workspace_size == 64 * 2**20
    assert SandboxLimits.model_validate_json(limits.model_dump_json()) == limits
    with pytest.raises(ValidationError):
        SandboxLimits(memory="lots")
    with pytest.raises(ValidationError):
        SandboxLimits(pids=0)
    with pytest.raises(ValidationError):
        SandboxLimits(memroy="1g")  # a typo is an error, not a silently ignored key


# ------------------------------------------------------------------ output

def test_head_tail_keeps_everything_under_the_cap() -> None:
    buf = HeadTail(100)
    for chunk in (b"a" * 30, b"b" * 30, b"c" * 40):
        buf.feed(chunk)
    assert buf.getvalue() == b"a" * 30 + b"b" * 30 + b"c" * 40
    assert not buf.truncated


def test_head_tail_drops_the_middle_and_says_how_much() -> None:
    buf = HeadTail(1000)
    buf.feed(b"START")
    for _ in range(10_000):
        buf.feed(b"x" * 100)
    buf.feed(b"END")
    value = buf.getvalue()
    assert buf.truncated
    assert value.startswith(b"START") and value.endswith(b"END")
    assert len(value) <= 1000 + 100
    assert f"{5 + 1_000_000 + 3 - 1000} bytes of output dropped".encode() in value


# ------------------------------------------------------------------ names going in

@pytest.mark.parametrize("name", ["../x", "/workspace/../etc/passwd", "a/../../b", "..", "x\0y", "", "/", "/.."])
def test_hostile_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafePath):
        sandbox_path(name, "/workspace")


@pytest.mark.parametrize(
    "name, expected",
    [("a.txt", "/workspace/a.txt"), ("./d//e/f", "/workspace/d/e/f"), ("/tmp/x", "/tmp/x"),
     ("a b/c", "/workspace/a b/c")],
)
def test_ordinary_names_are_normalised(name: str, expected: str) -> None:
    assert sandbox_path(name, "/workspace") == expected


def test_packed_files_unpack_to_the_same_bytes() -> None:
    files = {"/workspace/a.bin": bytes(range(256)), "/tmp/deep/b.txt": b"hello"}
    back = unpack_in_memory(pack_files(files, 0o644), files)
    assert back == files


# ------------------------------------------------------------------ archives coming out

def _hostile_tar() -> bytes:
    """An archive a compromised sandbox could send: every trick against the extractor."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            info.mode = 0o4755 if name.endswith("suid") else 0o644
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("out", tarfile.DIRTYPE)
        add("out/ok.txt", data=b"fine")
        add("out/suid", data=b"#!/bin/sh\n")
        add("/etc/absolute", data=b"evil")
        add("out/../../climb", data=b"evil")
        add("../climb2", data=b"evil")
        add("elsewhere/file", data=b"evil")
        add("out/esc", tarfile.SYMTYPE, link="../../../")
        add("out/esc/through-symlink", data=b"evil")
        add("out/abs", tarfile.SYMTYPE, link="/etc")
        add("out/abs/passwd", data=b"evil")
        add("out/hard", tarfile.LNKTYPE, link="/etc/passwd")
        add("out/dev", tarfile.CHRTYPE)
        add("out/fifo", tarfile.FIFOTYPE)
    return buf.getvalue()


def test_extraction_keeps_hostile_archives_inside_the_destination(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    before = set(os.listdir(tmp_path))
    report = safe_extract(io.BytesIO(_hostile_tar()), "out", dest)
    assert (dest / "ok.txt").read_bytes() == b"fine"
    # Members below a refused symlink land in a real directory of that name, inside dest.
    assert report.files == ("ok.txt", "suid", "esc/through-symlink", "abs/passwd")
    assert not (dest / "suid").stat().st_mode & 0o6000  # set-uid bit dropped
    skipped = dict(report.skipped)
    assert set(skipped) == {"esc", "abs", "hard", "dev", "fifo", "/etc/absolute", "out/../../climb",
                            "../climb2", "elsewhere/file"}, report.skipped
    assert "hard link to nothing" in skipped["hard"]
    everything = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
    assert everything == ["abs", "abs/passwd", "esc", "esc/through-symlink", "ok.txt", "suid"]
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    assert set(os.listdir(tmp_path)) == before | {"dest"}


def test_extraction_does_not_write_through_a_symlink_already_on_the_host(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    outside.mkdir()
    dest.mkdir()
    (dest / "sub").symlink_to(outside)
    (dest / "target.txt").symlink_to(outside / "target.txt")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("out/sub/file", "out/target.txt"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    report = safe_extract(io.BytesIO(buf.getvalue()), "out", dest)
    assert report.files == ()
    assert len(report.skipped) == 2
    assert list(outside.iterdir()) == []


# ------------------------------------------------------------------ what comes back: caps and sparse files

def test_the_sparse_rule_lets_a_few_holes_pass_and_refuses_files_of_holes() -> None:
    mib = 1024 * 1024
    assert is_sparse(500 * mib, 0)
    assert is_sparse(3 * mib, mib // 2)
    assert not is_sparse(3 * mib + mib // 2, 3 * mib)  # half a MiB of holes: fine
    assert not is_sparse(100 * mib, 60 * mib)
    assert not is_sparse(10, 4096)  # small files take more blocks than bytes
    assert not is_sparse(SPARSE_SLACK, 0)  # at most the slack of holes, whatever the ratio


def test_refusal_lines_become_errors_that_say_what_to_do() -> None:
    messages = ("clade-refused 1 sparse 524288000 0\nclade-refused 2 big 70000000\nclade-refused 3 type 41ed\n"
                "clade-refused 4 missing\nclade-refused 5 denied\nclade-refused 0 total 900000000\nnoise\n"
                "clade-refused 1 big 1\n")
    refusals = parse_refusals(messages)
    assert refusals[1] == Refusal("sparse", (524288000, 0))  # the first line for an index wins
    errors = {i: read_refusal(f"p{i}", f"/workspace/p{i}", r, 64 * 1024**2) for i, r in refusals.items()}
    assert isinstance(errors[1], SparseFile) and "500 MiB long, 0 bytes written" in str(errors[1])
    assert type(errors[2]) is TransferTooLarge and "66.8 MiB, more than the 64m" in str(errors[2])
    assert isinstance(errors[3], NotARegularFile) and "a directory" in str(errors[3])
    assert isinstance(errors[4], SandboxFileNotFound)
    assert type(errors[5]) is SandboxError and "not readable" in str(errors[5])
    assert "together" in str(errors[0]) and "max_transfer_bytes" in str(errors[0])
    for error in errors.values():
        assert "\n" not in str(error)


def test_copy_refusals_show_hostile_names_on_one_line() -> None:
    [refusal] = parse_refusals("clade-refused 0 sparse 2000000000 4096 out/we\x1b[2Jird\n").values()
    error = copy_refusal("out", "/workspace/out", refusal, 2**20, 10)
    assert isinstance(error, SparseFile)
    assert "'out/we\\x1b[2Jird'" in str(error) and "\x1b" not in str(error)
    count = copy_refusal("out", "/workspace/out", Refusal("count", (11,)), 2**20, 10)
    assert "more than 10 entries" in str(count) and "max_files" in str(count)


def test_unpacking_refuses_a_member_over_the_cap_before_reading_it() -> None:
    archive = pack_files({"/workspace/big": b"x" * 5000, "/workspace/small": b"ok"}, 0o644)
    assert unpack_in_memory(io.BytesIO(archive), ["/workspace/small"], max_each=100) == {"/workspace/small": b"ok"}
    with pytest.raises(TransferTooLarge, match="grew after the check"):
        unpack_in_memory(archive, ["/workspace/big", "/workspace/small"], max_each=4999)


def test_read_stream_bound_covers_headers_but_not_more_data_than_the_caps() -> None:
    members = ["workspace/a", "workspace/" + "n" * 300]
    bound = read_stream_bound(members, 1000, 10**9)
    real = len(pack_files({"/" + m: b"x" * 1000 for m in members}, 0o644))
    assert real <= bound < real + 64 * 1024
    assert read_stream_bound(members, 10**9, 5000) < 5000 + 64 * 1024  # the total cap bounds the data


def test_extraction_stops_at_the_byte_and_entry_caps(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("out/a", "out/b", "out/c"):
            info = tarfile.TarInfo(name)
            info.size = 1000
            tar.addfile(info, io.BytesIO(b"x" * 1000))
    with pytest.raises(TransferTooLarge, match="passed 2000 of files"):
        safe_extract(io.BytesIO(buf.getvalue()), "out", tmp_path / "bytes", max_bytes=2000)
    assert sorted(p.name for p in (tmp_path / "bytes").iterdir()) == ["a", "b"]  # the third never landed
    with pytest.raises(TransferTooLarge, match="passed 2 entries"):
        safe_extract(io.BytesIO(buf.getvalue()), "out", tmp_path / "count", max_files=2)
    report = safe_extract(io.BytesIO(buf.getvalue()), "out", tmp_path / "ok", max_bytes=3000, max_files=3)
    assert report.files == ("a", "b", "c")


def test_sizes_in_messages_read_like_people_write_them() -> None:
    assert human_size(880) == "880 bytes"
    assert human_size(500 * 1024**2) == "500 MiB"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(1024**4) == "1 TiB"
