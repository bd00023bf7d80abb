"""The JavaScript runtime's matrix-vector sums as a tiny WebAssembly module (SIMD), assembled here.

One function, ``mv(acc, x, w, n, groups)`` (byte addresses in the imported memory ``m.mem``)::

    for g in 0 .. groups-1:                      # eight outputs at a time
        a0..a3 = acc[8g .. 8g+7] as four f64x2   # two outputs per lane pair
        for i in 0 .. n-1:
            xi = f64x2.splat(x[i])
            a_k = f64x2.add(a_k, f64x2.mul(xi, f64x2.promote_low_f32x4(w[i][2k .. 2k+1])))
        acc[8g .. 8g+7] = a0..a3

``w`` holds W (in, out) as float32 in groups of eight outputs: for each group, for each input
i, the eight weights W[i, 8g .. 8g+7] (outputs past the last are zero). Each output's sum is
the specification's: it starts at acc[j] and adds x[i] * W[i, j] for i ascending, a rounded
product then a rounded sum (WebAssembly has no fused multiply-add in these instructions), so
the results are the plain JavaScript loop's to the bit, about three times faster.
"""

from __future__ import annotations

import base64

__all__ = ["matvec_module"]

_ACC, _X, _W, _N, _GROUPS, _I, _XP, _XI, _A0 = range(9)  # params, then locals


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _vec(items: list[bytes]) -> bytes:
    return _leb(len(items)) + b"".join(items)


def _section(kind: int, payload: bytes) -> bytes:
    return bytes([kind]) + _leb(len(payload)) + payload


def _name(s: str) -> bytes:
    return _leb(len(s)) + s.encode()


def _get(i: int) -> bytes:
    return bytes([0x20, i])  # local.get


def _set(i: int) -> bytes:
    return bytes([0x21, i])  # local.set


def _simd(op: int, *memarg: int) -> bytes:
    return b"\xfd" + _leb(op) + b"".join(_leb(m) for m in memarg)


V128_LOAD, V128_STORE, F64X2_SPLAT, LOAD64_ZERO, PROMOTE_LOW, F64X2_ADD, F64X2_MUL = 0x00, 0x0B, 0x14, 0x5D, 0x5F, 0xF0, 0xF2


def _body() -> bytes:
    b = bytearray(b"\x03\x40")  # loop: one group of eight outputs
    for k in range(4):
        b += _get(_ACC) + _simd(V128_LOAD, 4, 16 * k) + _set(_A0 + k)
    b += _get(_X) + _set(_XP) + _get(_N) + _set(_I)
    b += b"\x03\x40"  # loop: one input
    b += _get(_XP) + b"\x2b\x03\x00" + _simd(F64X2_SPLAT) + _set(_XI)  # f64.load
    for k in range(4):
        b += (_get(_A0 + k) + _get(_XI) + _get(_W) + _simd(LOAD64_ZERO, 3, 8 * k) + _simd(PROMOTE_LOW)
              + _simd(F64X2_MUL) + _simd(F64X2_ADD) + _set(_A0 + k))
    b += _get(_W) + b"\x41\x20\x6a" + _set(_W)  # w += 32
    b += _get(_XP) + b"\x41\x08\x6a" + _set(_XP)  # x += 8
    b += _get(_I) + b"\x41\x01\x6b" + bytes([0x22, _I]) + b"\x0d\x00"  # --i; loop while i != 0
    b += b"\x0b"
    for k in range(4):
        b += _get(_ACC) + _get(_A0 + k) + _simd(V128_STORE, 4, 16 * k)
    b += _get(_ACC) + b"\x41\xc0\x00\x6a" + _set(_ACC)  # acc += 64
    b += _get(_GROUPS) + b"\x41\x01\x6b" + bytes([0x22, _GROUPS]) + b"\x0d\x00"  # --groups; loop while != 0
    return bytes(b + b"\x0b\x0b")


def matvec_module() -> str:
    """The module's bytes, in base64."""
    code = _vec([_leb(2) + b"\x7f", _leb(5) + b"\x7b"]) + _body()  # locals: 2 i32, 5 v128
    wasm = b"\x00asm\x01\x00\x00\x00"
    wasm += _section(1, _vec([b"\x60" + _vec([b"\x7f"] * 5) + _vec([])]))  # type: (i32 x5) -> ()
    wasm += _section(2, _vec([_name("m") + _name("mem") + b"\x02\x00\x01"]))  # import memory m.mem, min 1 page
    wasm += _section(3, _vec([_leb(0)]))
    wasm += _section(7, _vec([_name("mv") + b"\x00" + _leb(0)]))
    wasm += _section(10, _vec([_leb(len(code)) + code]))
    return base64.b64encode(wasm).decode("ascii")
