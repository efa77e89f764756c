"""A software prefetch hint for numba kernels (LLVM's ``llvm.prefetch``).

Random updates of a table much larger than the caches wait on one memory access per row;
asking for the line of a row some distance ahead lets those accesses overlap. A prefetch is
only a hint: it never faults, never changes a value, and an address past the array is
harmless, so results are the same with or without it.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, array, index):
    """Hint that ``array[index]`` (1-D array, integer index) will be written soon."""
    if not (isinstance(array, types.Array) and array.ndim == 1
            and isinstance(index, types.Integer)):
        return None
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type, _ = signature.args
        arr = context.make_array(array_type)(context, builder, args[0])
        ptr = builder.gep(arr.data, [args[1]])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        # rw = 1 (write), locality = 3 (keep in all cache levels), cache type = 1 (data)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
