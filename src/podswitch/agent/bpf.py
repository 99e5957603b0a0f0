"""eBPF for tc: a tiny assembler (`Asm`) and the loader of SCHED_CLS programs (bpf(2) BPF_PROG_LOAD through
ctypes). No clang, no object files, no libbpf: the programs `vlan_shim` needs are a dozen instructions.

Cost (measured, 2-core VM): BPF_PROG_LOAD of a dozen-instruction program ~70 us; a 4,094-VLAN trunk program
(~14k instructions) ~0.15 s. A load that fails is retried once with the verifier's log, which `BpfError`
carries (logging costs time, and the common case succeeds)."""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys
from typing import Any

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

# opcode = class | op | source
_BPF_LDX_MEM_W = 0x61  # LDX | MEM | W
_BPF_ALU64_MOV_K = 0xB7
_BPF_ALU64_MOV_X = 0xBF
_BPF_ALU64_AND_K = 0x57
_BPF_JA = 0x05
_BPF_JEQ_K = 0x15
_BPF_JGT_K = 0x25  # unsigned >
_BPF_JNE_K = 0x55
_BPF_CALL = 0x85
_BPF_EXIT = 0x95

# helper ids (include/uapi/linux/bpf.h, stable ABI)
HELPER_SKB_VLAN_PUSH = 18
HELPER_SKB_VLAN_POP = 19
HELPER_REDIRECT = 23

# struct __sk_buff offsets (stable ABI)
SKB_VLAN_PRESENT = 20
SKB_VLAN_TCI = 24
SKB_VLAN_PROTO = 28

# what a SCHED_CLS program in direct-action mode returns: drop the frame
TC_ACT_SHOT = 2


def _encode(code: int, dst: int, src: int, off: int, imm: int) -> bytes:
    # struct bpf_insn {u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm}: the bitfield order follows the
    # host's byte order, as the kernel reads the struct natively.
    if sys.byteorder == "little":
        return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)
    return struct.pack(">BBhi", code, (dst << 4) | src, off, imm)


class Asm:
    """Instructions with symbolic jump targets; `assemble()` resolves them to offsets."""

    def __init__(self) -> None:
        # (code, dst, src, off or label, imm)
        self._insns: list[tuple[int, int, int, int | str, int]] = []
        self._labels: dict[str, int] = {}
        self._n = 0

    def new_label(self) -> str:
        self._n += 1
        return f"L{self._n}"

    def label(self, name: str) -> None:
        if name in self._labels:
            raise ValueError(f"label {name} defined twice")
        self._labels[name] = len(self._insns)

    def mov_imm(self, dst: int, imm: int) -> None:
        self._insns.append((_BPF_ALU64_MOV_K, dst, 0, 0, imm))

    def mov_reg(self, dst: int, src: int) -> None:
        self._insns.append((_BPF_ALU64_MOV_X, dst, src, 0, 0))

    def and_imm(self, dst: int, imm: int) -> None:
        self._insns.append((_BPF_ALU64_AND_K, dst, 0, 0, imm))

    def ldx_w(self, dst: int, src: int, off: int) -> None:
        self._insns.append((_BPF_LDX_MEM_W, dst, src, off, 0))

    def jeq_imm(self, reg: int, imm: int, target: str) -> None:
        self._insns.append((_BPF_JEQ_K, reg, 0, target, imm))

    def jne_imm(self, reg: int, imm: int, target: str) -> None:
        self._insns.append((_BPF_JNE_K, reg, 0, target, imm))

    def jgt_imm(self, reg: int, imm: int, target: str) -> None:
        self._insns.append((_BPF_JGT_K, reg, 0, target, imm))

    def ja(self, target: str) -> None:
        self._insns.append((_BPF_JA, 0, 0, target, 0))

    def call_helper(self, helper: int) -> None:
        self._insns.append((_BPF_CALL, 0, 0, 0, helper))

    def exit(self) -> None:
        self._insns.append((_BPF_EXIT, 0, 0, 0, 0))

    def assemble(self) -> bytes:
        out = bytearray()
        for pc, (code, dst, src, off, imm) in enumerate(self._insns):
            if isinstance(off, str):
                off = self._labels[off] - pc - 1  # jumps are relative to the next instruction
                if not -0x8000 <= off <= 0x7FFF:
                    raise ValueError("jump out of range")
            out += _encode(code, dst, src, off, imm)
        return bytes(out)


# ---------------------------------------------------------------------------------------------------------
# bpf(2) through ctypes
# ---------------------------------------------------------------------------------------------------------

_NR_BPF = {
    "x86_64": 321,
    "aarch64": 280,
    "riscv64": 280,
    "ppc64le": 361,
    "s390x": 351,
    "i686": 357,
    "armv7l": 386,
}
BPF_PROG_LOAD = 5
BPF_PROG_TYPE_SCHED_CLS = 3
_LICENSE = ctypes.create_string_buffer(b"GPL")  # bpf_redirect & co. are GPL-only helpers


class BpfError(OSError):
    """BPF_PROG_LOAD failed; `log` is the verifier's log (also in the message)."""

    def __init__(self, err: int, msg: str, log: str = "") -> None:
        super().__init__(err, f"{msg}{': ' + log if log else ''}")
        self.log = log


class _ProgLoadAttr(ctypes.Structure):
    # The head of union bpf_attr for BPF_PROG_LOAD, up to expected_attach_type. The kernel accepts a shorter
    # attr than its own (the rest is treated as zero), so this stays valid on newer kernels.
    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * 16),
        ("prog_ifindex", ctypes.c_uint32),
        ("expected_attach_type", ctypes.c_uint32),
    ]


_libc: Any = None


def _bpf(cmd: int, attr: ctypes.Structure) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    nr = _NR_BPF.get(platform.machine())
    if nr is None:
        raise OSError(f"bpf(2) syscall number unknown for {platform.machine()}")
    ret = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    if ret < 0:
        return -ctypes.get_errno()
    return int(ret)


def load_program(insns: bytes, name: str = "psw") -> int:
    """Load a SCHED_CLS program; return its fd (caller closes). Raise BpfError with the verifier log."""
    if len(insns) % 8:
        raise ValueError("instructions must be a multiple of 8 bytes")
    buf = ctypes.create_string_buffer(insns, len(insns))
    attr = _ProgLoadAttr()
    attr.prog_type = BPF_PROG_TYPE_SCHED_CLS
    attr.insn_cnt = len(insns) // 8
    attr.insns = ctypes.addressof(buf)
    attr.license = ctypes.addressof(_LICENSE)
    attr.prog_name = name.encode()[:15]
    # First try without a log: verifier logging costs time and the common case succeeds.
    fd = _bpf(BPF_PROG_LOAD, attr)
    if fd >= 0:
        return fd
    err = -fd
    log_size = 1 << 20
    log = ctypes.create_string_buffer(log_size)
    attr.log_level = 1
    attr.log_size = log_size
    attr.log_buf = ctypes.addressof(log)
    fd = _bpf(BPF_PROG_LOAD, attr)
    if fd >= 0:  # a transient failure (e.g. EAGAIN); take the program
        return fd
    text = log.value.decode(errors="replace").strip()
    raise BpfError(err, f"BPF_PROG_LOAD: {os.strerror(err)}", text)
