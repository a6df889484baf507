#!/usr/bin/env bash
# The same bits on x86-64 and aarch64: cross-compiles the C core's portable code and
# csrc/tests/test_core.c for aarch64 (Debian's gcc-aarch64-linux-gnu, statically linked), runs
# the tests under qemu-user (qemu-aarch64), builds the same tests for this machine, and compares
# the training digests both print (test_core.c's digest matrix: every activation, solver and
# output loss, batch norm, dropout, float32 and float64). Each build also checks its digests
# against the recorded ones and across its instruction sets.
# Needs: apt-get install gcc-aarch64-linux-gnu qemu-user (CI installs them, .ci/run).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
CC=${CC:-gcc}
CROSS_CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU:-qemu-aarch64}
# The core's own flags (CMakeLists.txt); no OpenMP (the serial build: the core's thread pool runs
# on pthreads either way).
flags=(-std=c11 -O3 -fno-math-errno -ffp-contract=off -Wall -Wextra -Wshadow -Werror -Icsrc)
portable=(csrc/perceptron.c csrc/dispatch.c csrc/net.c csrc/pool.c csrc/rng.c
          csrc/net_generic.c csrc/gemm/gemm_generic.c csrc/gemm/gemm_bf16_generic.c
          csrc/tests/test_core.c)

# aarch64: the portable kernels only (no x86 instruction-set files), static, under qemu
"$CROSS_CC" "${flags[@]}" -static "${portable[@]}" -lm -lpthread -o "$out/test_core_aarch64"

# this machine: every instruction set it has (x86-64: AVX2 and AVX-512 as CMakeLists.txt builds
# them)
native=()
defs=()
if [ "$(uname -m)" = x86_64 ]; then
  defs=(-DFASTMLP_HAVE_AVX2 -DFASTMLP_HAVE_AVX512)
  "$CC" "${flags[@]}" "${defs[@]}" -mavx2 -mfma -c csrc/gemm/gemm_avx2.c -o "$out/gemm_avx2.o"
  "$CC" "${flags[@]}" "${defs[@]}" -mavx2 -mfma -c csrc/net_avx2.c -o "$out/net_avx2.o"
  "$CC" "${flags[@]}" "${defs[@]}" -mavx512f -mavx2 -mfma -c csrc/gemm/gemm_avx512.c \
    -o "$out/gemm_avx512.o"
  "$CC" "${flags[@]}" "${defs[@]}" -mavx512f -mavx2 -mfma -c csrc/net_avx512.c \
    -o "$out/net_avx512.o"
  "$CC" "${flags[@]}" "${defs[@]}" -mavx2 -mfma -c csrc/gemm/gemm_bf16_avx2.c \
    -o "$out/gemm_bf16_avx2.o"
  "$CC" "${flags[@]}" "${defs[@]}" -mavx512f -mavx2 -mfma -c csrc/gemm/gemm_bf16_avx512.c \
    -o "$out/gemm_bf16_avx512.o"
  native=("$out"/gemm_avx2.o "$out"/net_avx2.o "$out"/gemm_avx512.o "$out"/net_avx512.o
          "$out"/gemm_bf16_avx2.o "$out"/gemm_bf16_avx512.o)
  amx=(-mamx-tile -mamx-bf16 -mavx512f -mavx512bw -mavx512bf16 -mavx2 -mfma)
  if printf '#include <immintrin.h>\nvoid f(void) { _tile_dpbf16ps(0, 1, 2); }\n' |
     "$CC" "${amx[@]}" -x c -c - -o /dev/null 2>/dev/null; then
    defs+=(-DFASTMLP_HAVE_AMX)
    "$CC" "${flags[@]}" "${defs[@]}" "${amx[@]}" -c csrc/gemm/gemm_bf16_amx.c \
      -o "$out/gemm_bf16_amx.o"
    native+=("$out"/gemm_bf16_amx.o)
  fi
fi
"$CC" "${flags[@]}" "${defs[@]}" "${portable[@]}" "${native[@]}" -lm -lpthread \
  -o "$out/test_core_native"

echo "== aarch64 (qemu-user)"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$QEMU" "$out/test_core_aarch64" | tee "$out/aarch64.log"
echo "== $(uname -m)"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$out/test_core_native" | tee "$out/native.log"

digests() { sed -n 's/^training digest [a-z0-9]*: //p' "$1" | sort -u; }
echo "== training digests"
echo "aarch64: $(digests "$out/aarch64.log")"
echo "$(uname -m): $(digests "$out/native.log")"
if [ "$(digests "$out/aarch64.log" | wc -l)" -ne 1 ] ||
   [ "$(digests "$out/aarch64.log")" != "$(digests "$out/native.log")" ]; then
  echo "aarch64 and $(uname -m) trained different bits" >&2
  exit 1
fi
echo "aarch64 and $(uname -m) train the same bits"
