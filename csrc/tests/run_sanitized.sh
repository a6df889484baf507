#!/usr/bin/env bash
# Builds the C core and csrc/tests/test_core.c with AddressSanitizer, UndefinedBehaviorSanitizer
# and LeakSanitizer (with OpenMP, each instruction-set file with its own flags, as CMakeLists.txt
# does) and runs the tests; any report fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
CC=${CC:-gcc}
flags=(-std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
       -fno-sanitize-recover=all -fopenmp -fno-math-errno -ffp-contract=off -Wall -Wextra -Werror -Icsrc)
defs=()
objs=()
compile() { # file, extra flags...
  local src=$1; shift
  local obj="$out/$(echo "$src" | tr '/.' '__').o"
  "$CC" "${flags[@]}" "${defs[@]}" "$@" -c "$src" -o "$obj"
  objs+=("$obj")
}
if [ "$(uname -m)" = x86_64 ]; then
  defs=(-DFASTMLP_HAVE_AVX2 -DFASTMLP_HAVE_AVX512)
  compile csrc/gemm/gemm_avx2.c -mavx2 -mfma
  compile csrc/net_avx2.c -mavx2 -mfma
  compile csrc/gemm/gemm_avx512.c -mavx512f -mavx2 -mfma
  compile csrc/net_avx512.c -mavx512f -mavx2 -mfma
  compile csrc/gemm/gemm_bf16_avx2.c -mavx2 -mfma
  compile csrc/gemm/gemm_bf16_avx512.c -mavx512f -mavx2 -mfma
  amx=(-mamx-tile -mamx-bf16 -mavx512f -mavx512bw -mavx512bf16 -mavx2 -mfma)
  if printf '#include <immintrin.h>\nvoid f(void) { _tile_dpbf16ps(0, 1, 2); }\n' |
     "$CC" "${amx[@]}" -x c -c - -o /dev/null 2>/dev/null; then
    defs+=(-DFASTMLP_HAVE_AMX)
    compile csrc/gemm/gemm_bf16_amx.c "${amx[@]}"
  fi
fi
for src in csrc/perceptron.c csrc/dispatch.c csrc/net.c csrc/pool.c csrc/rng.c csrc/net_generic.c \
           csrc/gemm/gemm_generic.c csrc/gemm/gemm_bf16_generic.c \
           csrc/tests/test_core.c; do
  compile "$src"
done
"$CC" "${flags[@]}" "${objs[@]}" -lm -lpthread -o "$out/test_core"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$out/test_core"
