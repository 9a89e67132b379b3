"""Helpers for toklab's compiled (numba) loops: a memory prefetch and reference-count-free helpers.

numba offers neither, so they are written here.

* :func:`prefetch` asks the CPU to start loading an array element's cache line without waiting
  for it (LLVM's ``llvm.prefetch``). A loop that knows which element it will read a few
  iterations later (a random position in a large array) prefetches it, so the miss overlaps
  the work in between instead of stalling the loop when the element is read.
* :func:`leaf` compiles a small helper without numba's reference counting (``_nrt=False``).
  A compiled function increments and decrements the reference count of every array argument;
  where such a helper is inlined into a hot loop, those two atomic operations per array per
  call can outweigh the helper's work (they were a quarter of ByteSpan's global pass). A leaf
  must not allocate arrays or return one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx: Any, array: Any, index: Any) -> Any:  # pragma: no cover - compiled
    """Start loading the cache line of ``array[index]`` (1-d), for reading, into every cache level."""
    signature = types.void(array, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        array_type = sig.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [args[1]])
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
        function = cgutils.get_or_insert_function(builder.module, function_type, "llvm.prefetch.p0")
        # read (0), keep in all cache levels (3), data cache (1)
        builder.call(function, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return signature, codegen


def leaf(function: Callable) -> Callable:
    """``numba.njit`` for a small helper of hot loops: cached, GIL-free, no reference counting."""
    return numba.njit(cache=True, nogil=True, _nrt=False)(function)
