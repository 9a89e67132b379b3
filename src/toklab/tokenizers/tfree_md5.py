r"""T-Free's hash rows: MD5 (RFC 1321) of the short ASCII messages ``f"{i}_{s}_{j}"``, compiled.

:func:`md5_rows` computes the rows of :class:`~toklab.tokenizers.tfree.TrigramHasher` (the
row format is described there). Compiled because hashlib costs a Python call, an f-string and a
bytes object per slot, which dominated building the rows, and no library hashes many tiny
messages in bulk. The 64 steps are written out as in the RFC, with
constant shifts, in a loop over independent messages that LLVM vectorizes (8 messages per
AVX2 instruction). Messages are single blocks of at most 15 bytes, so only the words x0..x3
and the bit length x14 are non-zero; tested equal to hashlib.

Numba widens arithmetic on uint32 to 64 bits, which halves the messages per instruction; the
few 32-bit operations below are LLVM instructions (numba.extending.intrinsic) instead.
"""

from __future__ import annotations

import llvmlite.ir  # numba's own dependency: the 32-bit operations of the compiled MD5
import numba
import numba.core.cgutils
import numba.extending
import numpy as np

MD5_MAX_SLOTS = 10_000  # f"_{s}_0" plus the 0x80 pad byte must fit 8 bytes
_MESSAGE_BYTES = 15  # x0..x3 less the pad byte
_U32 = np.uint32
_POWERS_OF_TEN = 10 ** np.arange(8, dtype=np.uint32)  # trigram ids < 2^24 have at most 8 digits


def _u32_binary(operation: str):
    """A numba function of two uint32 that is one 32-bit LLVM ``operation``."""

    @numba.extending.intrinsic
    def function(typingctx, a, b):
        def codegen(context, builder, signature, args):
            return getattr(builder, operation)(*args)

        return numba.types.uint32(numba.types.uint32, numba.types.uint32), codegen

    return function


_add, _and, _or, _xor, _shift_right = (
    _u32_binary(op) for op in ("add", "and_", "or_", "xor", "lshr")
)


@numba.extending.intrinsic
def _not(typingctx, a):
    def codegen(context, builder, signature, args):
        return builder.not_(args[0])

    return numba.types.uint32(numba.types.uint32), codegen


def _call_llvm(builder, name: str, values) -> object:
    """A call of the 32-bit LLVM intrinsic ``name`` on ``values``."""
    i32 = llvmlite.ir.IntType(32)
    declared = numba.core.cgutils.get_or_insert_function(
        builder.module, llvmlite.ir.FunctionType(i32, [i32] * len(values)), name
    )
    return builder.call(declared, values)


@numba.extending.intrinsic
def _funnel_shift(typingctx, high, low, shift):
    def codegen(context, builder, signature, args):
        return _call_llvm(builder, "llvm.fshl.i32", args)

    return numba.types.uint32(*[numba.types.uint32] * 3), codegen


@numba.extending.intrinsic
def _byte_swap(typingctx, a):
    def codegen(context, builder, signature, args):
        return _call_llvm(builder, "llvm.bswap.i32", args)

    return numba.types.uint32(numba.types.uint32), codegen


_ZERO = _U32(0)


@numba.njit(inline="always")
def _md5_step(a, b, mixed, x, s, k):
    t = _add(_add(a, mixed), _add(_U32(k), x))
    return _add(b, _funnel_shift(t, t, _U32(s)))  # t rotated left by s


@numba.njit(inline="always")
def _md5_f(a, b, c, d, x, s, k):
    return _md5_step(a, b, _or(_and(b, c), _and(_not(b), d)), x, s, k)


@numba.njit(inline="always")
def _md5_g(a, b, c, d, x, s, k):
    return _md5_step(a, b, _or(_and(d, b), _and(_not(d), c)), x, s, k)


@numba.njit(inline="always")
def _md5_h(a, b, c, d, x, s, k):
    return _md5_step(a, b, _xor(_xor(b, c), d), x, s, k)


@numba.njit(inline="always")
def _md5_i(a, b, c, d, x, s, k):
    return _md5_step(a, b, _xor(c, _or(b, _not(d))), x, s, k)


@numba.njit(cache=True)
def _md5_blocks(words: np.ndarray, state: np.ndarray) -> None:
    """MD5 of one padded block per column: ``words`` (5, n) holds x0..x3 and x14, uint32."""
    for lane in range(words.shape[1]):
        x0, x1, x2, x3 = words[0, lane], words[1, lane], words[2, lane], words[3, lane]
        x14 = words[4, lane]
        a, b, c, d = _U32(0x67452301), _U32(0xEFCDAB89), _U32(0x98BADCFE), _U32(0x10325476)
        a = _md5_f(a, b, c, d, x0, 7, 0xD76AA478)
        d = _md5_f(d, a, b, c, x1, 12, 0xE8C7B756)
        c = _md5_f(c, d, a, b, x2, 17, 0x242070DB)
        b = _md5_f(b, c, d, a, x3, 22, 0xC1BDCEEE)
        a = _md5_f(a, b, c, d, _ZERO, 7, 0xF57C0FAF)
        d = _md5_f(d, a, b, c, _ZERO, 12, 0x4787C62A)
        c = _md5_f(c, d, a, b, _ZERO, 17, 0xA8304613)
        b = _md5_f(b, c, d, a, _ZERO, 22, 0xFD469501)
        a = _md5_f(a, b, c, d, _ZERO, 7, 0x698098D8)
        d = _md5_f(d, a, b, c, _ZERO, 12, 0x8B44F7AF)
        c = _md5_f(c, d, a, b, _ZERO, 17, 0xFFFF5BB1)
        b = _md5_f(b, c, d, a, _ZERO, 22, 0x895CD7BE)
        a = _md5_f(a, b, c, d, _ZERO, 7, 0x6B901122)
        d = _md5_f(d, a, b, c, _ZERO, 12, 0xFD987193)
        c = _md5_f(c, d, a, b, x14, 17, 0xA679438E)
        b = _md5_f(b, c, d, a, _ZERO, 22, 0x49B40821)

        a = _md5_g(a, b, c, d, x1, 5, 0xF61E2562)
        d = _md5_g(d, a, b, c, _ZERO, 9, 0xC040B340)
        c = _md5_g(c, d, a, b, _ZERO, 14, 0x265E5A51)
        b = _md5_g(b, c, d, a, x0, 20, 0xE9B6C7AA)
        a = _md5_g(a, b, c, d, _ZERO, 5, 0xD62F105D)
        d = _md5_g(d, a, b, c, _ZERO, 9, 0x02441453)
        c = _md5_g(c, d, a, b, _ZERO, 14, 0xD8A1E681)
        b = _md5_g(b, c, d, a, _ZERO, 20, 0xE7D3FBC8)
        a = _md5_g(a, b, c, d, _ZERO, 5, 0x21E1CDE6)
        d = _md5_g(d, a, b, c, x14, 9, 0xC33707D6)
        c = _md5_g(c, d, a, b, x3, 14, 0xF4D50D87)
        b = _md5_g(b, c, d, a, _ZERO, 20, 0x455A14ED)
        a = _md5_g(a, b, c, d, _ZERO, 5, 0xA9E3E905)
        d = _md5_g(d, a, b, c, x2, 9, 0xFCEFA3F8)
        c = _md5_g(c, d, a, b, _ZERO, 14, 0x676F02D9)
        b = _md5_g(b, c, d, a, _ZERO, 20, 0x8D2A4C8A)

        a = _md5_h(a, b, c, d, _ZERO, 4, 0xFFFA3942)
        d = _md5_h(d, a, b, c, _ZERO, 11, 0x8771F681)
        c = _md5_h(c, d, a, b, _ZERO, 16, 0x6D9D6122)
        b = _md5_h(b, c, d, a, x14, 23, 0xFDE5380C)
        a = _md5_h(a, b, c, d, x1, 4, 0xA4BEEA44)
        d = _md5_h(d, a, b, c, _ZERO, 11, 0x4BDECFA9)
        c = _md5_h(c, d, a, b, _ZERO, 16, 0xF6BB4B60)
        b = _md5_h(b, c, d, a, _ZERO, 23, 0xBEBFBC70)
        a = _md5_h(a, b, c, d, _ZERO, 4, 0x289B7EC6)
        d = _md5_h(d, a, b, c, x0, 11, 0xEAA127FA)
        c = _md5_h(c, d, a, b, x3, 16, 0xD4EF3085)
        b = _md5_h(b, c, d, a, _ZERO, 23, 0x04881D05)
        a = _md5_h(a, b, c, d, _ZERO, 4, 0xD9D4D039)
        d = _md5_h(d, a, b, c, _ZERO, 11, 0xE6DB99E5)
        c = _md5_h(c, d, a, b, _ZERO, 16, 0x1FA27CF8)
        b = _md5_h(b, c, d, a, x2, 23, 0xC4AC5665)

        a = _md5_i(a, b, c, d, x0, 6, 0xF4292244)
        d = _md5_i(d, a, b, c, _ZERO, 10, 0x432AFF97)
        c = _md5_i(c, d, a, b, x14, 15, 0xAB9423A7)
        b = _md5_i(b, c, d, a, _ZERO, 21, 0xFC93A039)
        a = _md5_i(a, b, c, d, _ZERO, 6, 0x655B59C3)
        d = _md5_i(d, a, b, c, x3, 10, 0x8F0CCC92)
        c = _md5_i(c, d, a, b, _ZERO, 15, 0xFFEFF47D)
        b = _md5_i(b, c, d, a, x1, 21, 0x85845DD1)
        a = _md5_i(a, b, c, d, _ZERO, 6, 0x6FA87E4F)
        d = _md5_i(d, a, b, c, _ZERO, 10, 0xFE2CE6E0)
        c = _md5_i(c, d, a, b, _ZERO, 15, 0xA3014314)
        b = _md5_i(b, c, d, a, _ZERO, 21, 0x4E0811A1)
        a = _md5_i(a, b, c, d, _ZERO, 6, 0xF7537E82)
        d = _md5_i(d, a, b, c, _ZERO, 10, 0xBD3AF235)
        c = _md5_i(c, d, a, b, x2, 15, 0x2AD7D2BB)
        b = _md5_i(b, c, d, a, _ZERO, 21, 0xEB86D391)
        state[0, lane] = _add(a, _U32(0x67452301))
        state[1, lane] = _add(b, _U32(0xEFCDAB89))
        state[2, lane] = _add(c, _U32(0x98BADCFE))
        state[3, lane] = _add(d, _U32(0x10325476))


@numba.njit(inline="always")
def _decimal(value):
    """The ASCII decimal digits of ``value`` >= 0, first digit in the lowest byte, and their count."""
    packed, count = np.uint64(0), 0
    while True:
        packed = (packed << np.uint64(8)) | np.uint64(48 + value % 10)
        count += 1
        value //= 10
        if value == 0:
            return packed, count


@numba.njit(inline="always")
def _digest_mod(state: np.ndarray, lane: int, weights: np.ndarray, v: float) -> np.int32:
    """``int(hexdigest, 16) % v``; hexdigest reads each little-endian state word's bytes in order.

    The 128-bit digest is eight big-endian 16-bit pieces; with ``weights[p]`` = 2^(16 (7 - p)) % v
    < 2^31 each product is below 2^47 and their sum below 2^50, all exact in float64, and so
    is the remainder: a quotient off by at most one is corrected once. No integer division,
    and every conversion one AVX2 has (int32 to and from float64).
    """
    total = 0.0
    for i in range(4):
        limb = _byte_swap(state[i, lane])
        total += np.float64(np.int32(_shift_right(limb, _U32(16)))) * weights[2 * i]
        total += np.float64(np.int32(_and(limb, _U32(0xFFFF)))) * weights[2 * i + 1]
    rest = total - np.floor(total * (1.0 / v)) * v
    rest = rest + v if rest < 0 else rest
    rest = rest - v if rest >= v else rest
    return np.int32(rest)


@numba.njit(inline="always")
def _append(low, high, length, packed, count):
    """The 16-byte message ``(low, high)`` of ``length`` bytes with ``count`` packed bytes added."""
    for byte in range(count):
        value = (packed >> np.uint64(8 * byte)) & np.uint64(0xFF)
        at = length + byte
        if at < 8:
            low |= value << np.uint64(8 * at)
        else:
            high |= value << np.uint64(8 * (at - 8))
    return low, high, length + count


@numba.njit(cache=True)
def _retry_row(
    i: int, first_tries: np.ndarray, v: int, weights: np.ndarray, row: np.ndarray
) -> bool:
    """The original's row ``i`` into ``row``, sorted, from the slots' first tries.

    Slot s takes ``md5(f"{i}_{s}_{j}") % v`` for the first j = 0, 1, ... whose id is new in the
    row. False, ``row`` unfinished, where a message would be longer than 15 bytes.
    """
    words, state = np.zeros((5, 1), dtype=np.uint32), np.empty((4, 1), dtype=np.uint32)
    underscore, pad = np.uint64(ord("_")), np.uint64(0x80)
    for s in range(len(first_tries)):  # row[:s] holds the slots so far, sorted
        value, j = first_tries[s], 0
        while True:
            at = np.searchsorted(row[:s], value)
            if at == s or row[at] != value:
                break
            j += 1
            low, high, length = np.uint64(0), np.uint64(0), 0
            for part, count in (_decimal(i), (underscore, 1), _decimal(s), (underscore, 1)):
                low, high, length = _append(low, high, length, part, count)
            digits, count = _decimal(j)
            low, high, length = _append(low, high, length, digits, count)
            if length > _MESSAGE_BYTES:
                return False
            low, high, _ = _append(low, high, length, pad, 1)
            words[0, 0], words[1, 0] = low & np.uint64(0xFFFFFFFF), low >> np.uint64(32)
            words[2, 0], words[3, 0] = high & np.uint64(0xFFFFFFFF), high >> np.uint64(32)
            words[4, 0] = 8 * length
            _md5_blocks(words, state)
            value = _digest_mod(state, 0, weights, np.float64(v))
        for back in range(s, at, -1):
            row[back] = row[back - 1]
        row[at] = value
    return True


@numba.njit(cache=True, parallel=True)
def md5_rows(ids: np.ndarray, m: int, v: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``i`` < 2^24 of the original's table (``m`` <= ``v``), sorted, (n, m) int64.

    And which rows are unfinished (a retry message longer than 15 bytes: hash those in Python).

    Every row's first tries ``md5(f"{i}_{s}_0")`` are hashed 8 at a time; a row whose first
    tries repeat an id is redone slot by slot, as the original does (:func:`_retry_row`).
    """
    n = len(ids)
    out = np.empty((n, m), dtype=np.int64)
    unfinished = np.zeros(n, dtype=np.bool_)
    # f"_{s}_0" and the pad byte 0x80 per slot, packed little-endian: at most 8 bytes
    tails = np.empty(m, dtype=np.uint64)
    tail_bits = np.empty(m, dtype=np.uint64)
    for s in range(m):
        digits, count = _decimal(s)
        end = np.uint64(0x80305F)  # "_", "0", the pad byte
        tails[s] = (
            np.uint64(ord("_")) | (digits << np.uint64(8)) | (end << np.uint64(8 * count + 8))
        )
        tail_bits[s] = 8 * (count + 3)
    weights = np.empty(8, dtype=np.float64)
    weight = 1
    for p in range(7, -1, -1):
        weights[p] = weight
        weight = (weight << 16) % v
    divisor = np.float64(v)
    word, u32, u64 = np.uint64(0xFFFFFFFF), np.uint64(32), np.uint64(64)
    # a batch of rows (a multiple of 8, about 1024 messages), its messages slot by slot: the
    # message of row r and slot s is lane s * rows_per_batch + r, so every loop over the rows
    # is one of whole vectors
    rows_per_batch = max(8, 1024 // m // 8 * 8)
    lanes = m * rows_per_batch
    for batch in numba.prange((n + rows_per_batch - 1) // rows_per_batch):
        first = batch * rows_per_batch
        rows = min(rows_per_batch, n - first)
        numbers = np.zeros(rows_per_batch, dtype=np.uint32)  # rows past the end hash "0"
        numbers[:rows] = ids[first : first + rows]
        heads = np.empty(rows_per_batch, dtype=np.uint64)  # f"{i}": at most 8 digits
        shifts = np.empty(rows_per_batch, dtype=np.uint64)  # their bits
        for r in range(rows_per_batch):  # branch-free, so whole vectors of rows at a time
            number, digits, count = numbers[r], np.uint64(0), np.uint64(1)
            for place in range(8):  # all 8 digits, the last in the highest byte
                rest = number // np.uint32(10)
                digit = np.uint64(48 + number - rest * np.uint32(10))
                digits |= digit << np.uint64(56 - 8 * place)
                number = rest
            for place in range(1, 8):
                count += np.uint64(numbers[r] >= _POWERS_OF_TEN[place])
            heads[r] = digits >> (np.uint64(64) - np.uint64(8) * count)  # drop leading zeros
            shifts[r] = np.uint64(8) * count
        words = np.empty((5, lanes), dtype=np.uint32)
        for s in range(m):
            tail, bits = tails[s], tail_bits[s]
            for r in range(rows_per_batch):
                head, shift = heads[r], shifts[r]
                low = head if shift == u64 else head | (tail << shift)
                high = tail if shift == u64 else tail >> (u64 - shift)
                lane = s * rows_per_batch + r
                words[0, lane] = low & word
                words[1, lane] = low >> u32
                words[2, lane] = high & word
                words[3, lane] = high >> u32
                words[4, lane] = shift + bits  # the length in bits
        state = np.empty((4, lanes), dtype=np.uint32)
        _md5_blocks(words, state)
        values = np.empty(lanes, dtype=np.int32)
        for lane in range(lanes):
            values[lane] = _digest_mod(state, lane, weights, divisor)
        # each first try's place in its sorted row (ties by slot), whole vectors of rows at a
        # time: no branch to mispredict, unlike an insertion sort's
        places = np.zeros(lanes, dtype=np.int32)
        repeats = np.zeros(rows_per_batch, dtype=np.int32)
        for s in range(m):
            at = s * rows_per_batch
            for t in range(m):
                other = t * rows_per_batch
                if t < s:
                    for r in range(rows_per_batch):
                        places[at + r] += np.int32(values[other + r] <= values[at + r])
                        repeats[r] |= np.int32(values[other + r] == values[at + r])
                elif t > s:
                    for r in range(rows_per_batch):
                        places[at + r] += np.int32(values[other + r] < values[at + r])
        for r in range(rows):
            row = out[first + r]
            for s in range(m):
                row[places[s * rows_per_batch + r]] = values[s * rows_per_batch + r]
            if repeats[r]:
                first_tries = values[r::rows_per_batch]
                unfinished[first + r] = not _retry_row(ids[first + r], first_tries, v, weights, row)
    return out, unfinished
