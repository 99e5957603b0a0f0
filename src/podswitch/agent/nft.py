"""A router slice's policy table, `table inet podswitch`, replaced atomically through libnftables.

Input format (what the compiler, `fabric.policy.ruleset`, produces and `Slice.nftables` carries): the whole
table, exactly one `table inet podswitch { ... }` block in nft syntax and nothing outside it except
whitespace and `#` comments::

    table inet podswitch {
      chain forward {
        type filter hook forward priority 0; policy drop;
        ip saddr 10.66.16.0/24 meta l4proto { icmp, ipv6-icmp } accept comment "pl 10"
      }
    }

The text must not set a table-level `comment` itself: the agent owns it. `None` means "no table".

How it is applied: `write_table()` hands nft ONE input, which nft turns into one netlink batch, i.e. one
nf_tables transaction::

    add table inet podswitch; delete table inet podswitch; table inet podswitch { comment "sha256:<hex>"; ...

(`add` first so `delete` cannot fail on a missing table.) The kernel commits the whole batch or nothing: a
packet sees either the old table or the new one, and a ruleset nft rejects leaves the old table in place.
The extra text goes on the table's header line, so line numbers in nft's errors match the caller's text.
The input is passed as a memfd (`nft_run_cmd_from_filename("/proc/self/fd/N")`) rather than a buffer only
because nft 1.0.6 prints, for a multi-line buffer, line 1 under the failing line's columns and no line
number; from a file it reports `<ruleset>:4:65-71: Error: ...` with the right source line.

The comment is the sha256 of the caller's text; reading it back tells whether the table is already what is
wanted, so an unchanged ruleset is never rewritten. Existence is read from the JSON listing; nft 1.0.6
leaves table comments out of JSON, so the comment itself comes from the text listing (`list table`, terse)
unless the JSON has it (newer nft). Drift made by someone editing rules but keeping our comment is not
detected: the comment states what we wrote.

Namespaces: libnftables talks to the kernel over a netlink socket that belongs to the namespace of the
thread that opened it, so for `netns="NAME"` the work runs in a short-lived thread that setns()es into
/run/netns/NAME, creates the nft context there and exits; the calling thread never changes namespace.
Calls are serialised by a lock because libnftables is not documented as thread-safe.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .netns import run_in as netns_run_in

__all__ = ["FAMILY", "TABLE", "NftError", "check", "digest", "ensure_table", "read_digest", "run", "write_table"]

FAMILY = "inet"
TABLE = "podswitch"

_NFT_CTX_DEFAULT = 0
_NFT_CTX_OUTPUT_JSON = 1 << 4
_NFT_CTX_OUTPUT_TERSE = 1 << 11

_T = TypeVar("_T")


class NftError(RuntimeError):
    """nft refused a command; `error` is nft's own message (with line/column markers)."""

    def __init__(self, error: str, command: str) -> None:
        super().__init__(error.strip() or "nft failed without a message")
        self.error = error
        self.command = command


_lib: Any = None
_lock = threading.Lock()


def _nftables() -> Any:
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("nftables") or "libnftables.so.1"
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError as e:
            raise OSError(f"{name}: {e} (install the Debian package libnftables1, pulled in by nftables)") from e
        lib.nft_ctx_new.restype = ctypes.c_void_p  # a pointer: the default int restype would truncate it
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_free.restype = None
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_output_set_flags.restype = None
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        _lib = lib
    return _lib


class _Ctx:
    """One nft context with buffered output and errors; open it in the thread (namespace) that uses it."""

    def __init__(self) -> None:
        self.lib = _nftables()
        self.ctx = self.lib.nft_ctx_new(_NFT_CTX_DEFAULT)
        if not self.ctx:
            raise OSError("nft_ctx_new failed")
        self.lib.nft_ctx_buffer_output(self.ctx)
        self.lib.nft_ctx_buffer_error(self.ctx)

    def run(self, command: str, json_output: bool = False, terse: bool = False) -> str:
        # The JSON flag is only set for listings: with it set, libnftables also tries to parse input as JSON.
        self._flags(json_output, terse)
        rc = self.lib.nft_run_cmd_from_buffer(self.ctx, command.encode())
        return self._result(rc, command)

    def run_file(self, text: str) -> str:
        """Like run(), through a memfd: for multi-line input nft's error messages then carry the right
        line number and source line (from a buffer, 1.0.6 shows line 1 with the failing line's columns)."""
        self._flags(False, False)
        fd = os.memfd_create("nft-ruleset", os.MFD_CLOEXEC)
        try:
            os.write(fd, text.encode())
            path = f"/proc/self/fd/{fd}"
            rc = self.lib.nft_run_cmd_from_filename(self.ctx, path.encode())
            return self._result(rc, text, path)
        finally:
            os.close(fd)

    def _flags(self, json_output: bool, terse: bool) -> None:
        flags = (_NFT_CTX_OUTPUT_JSON if json_output else 0) | (_NFT_CTX_OUTPUT_TERSE if terse else 0)
        self.lib.nft_ctx_output_set_flags(self.ctx, flags)

    def _result(self, rc: int, command: str, path: str | None = None) -> str:
        out = (self.lib.nft_ctx_get_output_buffer(self.ctx) or b"").decode(errors="replace")
        err = (self.lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode(errors="replace")
        if rc != 0:
            raise NftError(err.replace(path, "<ruleset>") if path else err, command)
        return out

    def close(self) -> None:
        if self.ctx:
            self.lib.nft_ctx_free(self.ctx)
            self.ctx = None


def _with_ctx(netns: str | None, fn: Callable[[_Ctx], _T]) -> _T:
    def body() -> _T:
        ctx = _Ctx()
        try:
            return fn(ctx)
        finally:
            ctx.close()

    with _lock:
        return netns_run_in(netns, body)


def run(netns: str | None, command: str, json_output: bool = False) -> str:
    """Run any nft command text in `netns`; return nft's output. For tests and diagnostics."""
    return _with_ctx(netns, lambda c: c.run(command, json_output))


def _digest(ruleset: str) -> str:
    return "sha256:" + hashlib.sha256(ruleset.encode()).hexdigest()


def _read_comment(ctx: _Ctx) -> str | None:
    """The table's comment, "" for a table without one, None for no table."""
    # JSON tells reliably whether the table exists (no error-text matching) ...
    out = ctx.run(f"list tables {FAMILY}", json_output=True)
    for item in json.loads(out).get("nftables", []):
        table = item.get("table")
        if table and table.get("family") == FAMILY and table.get("name") == TABLE:
            if "comment" in table:
                return str(table["comment"])
            break
    else:
        return None
    # ... but nft 1.0.6 (Debian 12) leaves the table comment out of its JSON; the text listing has it as
    # the block's first line. Terse: set elements are not needed to read one line.
    out = ctx.run(f"list table {FAMILY} {TABLE}", terse=True)
    m = re.match(rf'\s*table {FAMILY} {TABLE} \{{\n\s*comment "([^"\n]*)"\n', out)
    return m.group(1) if m else ""


_HEADER = re.compile(rf"\A(?:\s|#[^\n]*\n)*table\s+{FAMILY}\s+{TABLE}\s*\{{")


def _check(ruleset: str) -> re.Match[str]:
    """The header of the one table block; reject text that is not exactly one `table inet podswitch`."""
    m = _HEADER.match(ruleset)
    if m is None:
        raise ValueError(f"ruleset must start with 'table {FAMILY} {TABLE} {{'")
    # Find the block's closing brace (skipping quoted strings and comments); only whitespace/comments may
    # follow, or the one transaction would also touch other tables.
    depth, i, n = 1, m.end(), len(ruleset)
    while i < n and depth:
        c = ruleset[i]
        if c == '"':
            j = ruleset.find('"', i + 1)
            i = n if j < 0 else j
        elif c == "#":
            j = ruleset.find("\n", i)
            i = n if j < 0 else j
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    if depth:
        raise ValueError(f"unbalanced braces in table {FAMILY} {TABLE}")
    if re.sub(r"#[^\n]*", "", ruleset[i:]).strip():
        raise ValueError(f"text after the end of table {FAMILY} {TABLE}")
    return m


def read_digest(netns: str | None) -> str | None:
    """The `sha256:...` comment of the table in `netns` ("" if it has none), None if there is no table."""
    return _with_ctx(netns, _read_comment)


def digest(ruleset: str) -> str:
    """The comment the table carries once `ruleset` is applied: `read_digest` equal to this means done."""
    return _digest(ruleset)


def check(ruleset: str) -> None:
    """ValueError unless `ruleset` is exactly one `table inet podswitch` block (see the module doc)."""
    _check(ruleset)


def _write(ctx: _Ctx, ruleset: str | None) -> None:
    if ruleset is None:
        # `add` first, so the one transaction cannot fail on a table that is gone already.
        ctx.run(f"add table {FAMILY} {TABLE}; delete table {FAMILY} {TABLE}")
        return
    head = _check(ruleset)
    # One buffer = one transaction; everything added stays on the header's line (see module doc).
    text = (
        f"add table {FAMILY} {TABLE}; delete table {FAMILY} {TABLE}; "
        + ruleset[: head.end()]
        + f' comment "{_digest(ruleset)}";'
        + ruleset[head.end() :]
    )
    ctx.run_file(text)


def write_table(netns: str | None, ruleset: str | None) -> None:
    """Replace `table inet podswitch` in `netns` with `ruleset` (None: remove it), unconditionally, in one
    nf_tables transaction. The agent's write: it reads `read_digest` first and writes only what differs.

    Raises NftError (nft's message in `.error`) if nft rejects the text; the previous table then stays."""
    if ruleset is not None:
        _check(ruleset)
    _with_ctx(netns, lambda ctx: _write(ctx, ruleset))


def ensure_table(netns: str | None, ruleset: str | None) -> bool:
    """Make `table inet podswitch` in `netns` equal to `ruleset` (None: no table). True iff it wrote.
    Read and write in one nft context, for one-off use (tests, diagnostics); the agent reads and writes
    separately, the write going through its transaction like every other.

    Raises NftError (nft's message in `.error`) if nft rejects the text; the previous table then stays."""
    if ruleset is not None:
        _check(ruleset)

    def body(ctx: _Ctx) -> bool:
        current = _read_comment(ctx)
        if current == (None if ruleset is None else _digest(ruleset)):
            return False
        _write(ctx, ruleset)
        return True

    return _with_ctx(netns, body)
