/* fastmlp C core: run-time choice of the instruction set.
 * The GEMM kernels (gemm/gemm_<isa>.c) and the training / prediction numerics (net_<isa>.c) are
 * compiled once per instruction set; the best set the CPU supports is chosen when the Python
 * module loads (or forced with the FASTMLP_ISA environment variable, through fm_set_isa), so one
 * build runs on any x86-64 CPU and, with the portable code, on other architectures. */
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* syscall() in unistd.h (arch_prctl for the AMX tile state) */
#endif
#include <stdlib.h>
#include <string.h>
#if defined(FASTMLP_HAVE_AMX) && defined(__linux__) && defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "internal.h"
#include "gemm/bf16.h"

/* Each instruction set's entry points, fm_<name>_<isa>_<f32|f64> (FM_NUMERIC_ENTRY_POINTS), and
 * its float32 exp rows, fm_exp_f32_<isa>, and its elementwise functions, fm_math_rows_<isa>. */
#define FM_ISA_NAME(name, isa, suf) FM_ISA_NAME_(name, isa, suf)
#define FM_ISA_NAME_(name, isa, suf) fm_##name##_##isa##_##suf
#define FM_DECLARE_ISA_ONE(name, suf, params, args) int FM_ISA_NAME(name, FM_ISA, suf) params;
#define FM_DECLARE_ISA                                                                           \
    FM_NUMERIC_ENTRY_POINTS(FM_DECLARE_ISA_ONE, float, f32)                                      \
    FM_NUMERIC_ENTRY_POINTS(FM_DECLARE_ISA_ONE, double, f64)                                     \
    int FM_ISA_NAME(exp, f32, FM_ISA)(float *z, int64_t n);                                    \
    int FM_ISA_NAME(math, rows, FM_ISA)(int fn, int f64, void *z, int64_t n);                   \
    int64_t FM_ISA_NAME(fma, loop, FM_ISA)(int64_t n, float b, float c, float *sum);

#define FM_ISA generic
FM_DECLARE_ISA
#undef FM_ISA
#ifdef FASTMLP_HAVE_AVX2
#define FM_ISA avx2
FM_DECLARE_ISA
#undef FM_ISA
#endif
#ifdef FASTMLP_HAVE_AVX512
#define FM_ISA avx512
FM_DECLARE_ISA
#undef FM_ISA
#endif

/* One instruction set's kernels: a field name_suf per entry point. */
#define FM_KERNEL_FIELD(name, suf, params, args) int(*name##_##suf) params;
typedef struct isa_kernels {
    const char *name;
    FM_NUMERIC_ENTRY_POINTS(FM_KERNEL_FIELD, float, f32)
    FM_NUMERIC_ENTRY_POINTS(FM_KERNEL_FIELD, double, f64)
    int (*exp_f32)(float *z, int64_t n);
    int (*math_rows)(int fn, int f64, void *z, int64_t n);
    int64_t (*fma_loop)(int64_t n, float b, float c, float *sum);
    fm_gemm_bf16_fn gemm_bf16; /* the bfloat16 GEMM's emulation (bf16.h) */
} isa_kernels;

#define FM_KERNEL_INIT(name, suf, params, args) .name##_##suf = FM_ISA_NAME(name, FM_ISA, suf),
#define FM_ISA_ENTRY(isa)                                                                        \
    {.name = #isa,                                                                               \
     FM_NUMERIC_ENTRY_POINTS(FM_KERNEL_INIT, float, f32)                                         \
     FM_NUMERIC_ENTRY_POINTS(FM_KERNEL_INIT, double, f64)                                        \
     .exp_f32 = FM_ISA_NAME(exp, f32, FM_ISA),                                                  \
     .math_rows = FM_ISA_NAME(math, rows, FM_ISA),                                               \
     .fma_loop = FM_ISA_NAME(fma, loop, FM_ISA),                                                 \
     .gemm_bf16 = fm_gemm_bf16_##isa}

/* From the most to the least capable; the last entry always works. */
static const isa_kernels isas[] = {
#ifdef FASTMLP_HAVE_AVX512
#define FM_ISA avx512
    FM_ISA_ENTRY(avx512),
#undef FM_ISA
#endif
#ifdef FASTMLP_HAVE_AVX2
#define FM_ISA avx2
    FM_ISA_ENTRY(avx2),
#undef FM_ISA
#endif
#define FM_ISA generic
    FM_ISA_ENTRY(generic),
#undef FM_ISA
};
#define N_ISAS ((int)(sizeof(isas) / sizeof(isas[0])))

static const isa_kernels *active = &isas[N_ISAS - 1];

int fm_isa_supported(const char *name)
{
    if (name == NULL)
        return 0;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (strcmp(name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
    if (strcmp(name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return strcmp(name, "generic") == 0;
}

/* Whether the CPU (and the operating system) runs the AMX kernel: AMX-TILE and AMX-BF16 (CPUID
 * leaf 7: EDX bits 24 and 22), the AVX-512 of its packing (AVX512BW permutes, AVX512-BF16's
 * VCVTNE2PS2BF16), and, on Linux, the process's permission to use the tile state, asked for once
 * (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA; it holds for every thread). */
static int bf16_hardware_supported(void)
{
#if defined(FASTMLP_HAVE_AMX) && defined(__linux__) && defined(__GNUC__) && defined(__x86_64__)
    static int known = 0, supported = 0;
    if (known)
        return supported;
    __builtin_cpu_init();
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const int cpu = fm_isa_supported("avx512") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512bf16") &&
                    __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) &&
                    (edx & (1u << 24)) != 0 && (edx & (1u << 22)) != 0;
    /* ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 */
    supported = cpu && syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    known = 1;
    return supported;
#else
    return 0;
#endif
}

/* When bfloat16 products use AMX on a CPU that has it (fm_bf16_hardware): 0 never, 1 when it
 * measured faster than the AVX-512F emulation (bf16_hardware_faster), 2 always. */
static int bf16_hardware_mode = 1;
static int bf16_hardware_faster = 0;
/* The networks' bfloat16 GEMM (fm_bf16_kernel's), chosen again when the choice changes. */
static fm_gemm_bf16_fn bf16_active = fm_gemm_bf16_generic;
static void bf16_choose(void);

/* Whether AMX runs a layer's product faster than the AVX-512F emulation (both give the same
 * bits: which one runs changes no result). Timed on one thread, packing included, the best of a
 * few alternating runs of each; static buffers, nothing allocated. */
static int bf16_measure_hardware_faster(void)
{
#ifdef FASTMLP_HAVE_AMX
    enum { M = 48, N = 64, K = 384 };
    static float a[M * K], b[K * N], c[M * N];
    static _Alignas(64) char pack[(M + FM_BF16_MR_MAX + N + FM_BF16_NR_MAX) * K * 4 + 192];
    for (int i = 0; i < M * K; i++)
        a[i] = (float)(i % 13) * 0.125f - 0.75f;
    for (int i = 0; i < K * N; i++)
        b[i] = (float)(i % 7) * 0.25f - 0.5f;
    const fm_gemm_bf16_fn kernels[2] = {fm_gemm_bf16_amx, fm_gemm_bf16_avx512};
    int64_t best[2] = {INT64_MAX, INT64_MAX};
    const unsigned saved_mode = fm_fpmode_enter();
    const int cap = fm_pool_set_cap(1);
    for (int rep = 0; rep < 12; rep++) {
        const int which = rep % 2;
        const int64_t start = fm_now_ns();
        kernels[which](0, 0, M, N, K, 1, a, K, b, N, 0, c, N, pack, NULL);
        const int64_t took = fm_now_ns() - start;
        if (rep >= 2) /* the first run of each warms the caches */
            best[which] = took < best[which] ? took : best[which];
    }
    fm_pool_set_cap(cap);
    fm_fpmode_leave(saved_mode);
    return best[0] < best[1];
#else
    return 0;
#endif
}

int fm_set_isa(const char *name)
{
    const int automatic = name == NULL || name[0] == '\0' || strcmp(name, "auto") == 0;
    for (int i = 0; i < N_ISAS; i++) {
        const int wanted = automatic || strcmp(name, isas[i].name) == 0;
        if (wanted && fm_isa_supported(isas[i].name)) {
            active = &isas[i];
            if (strcmp(active->name, "avx512") == 0 && bf16_hardware_supported())
                bf16_hardware_faster = bf16_measure_hardware_faster();
            bf16_choose();
            return FM_OK;
        }
    }
    return FM_ERR_ARG;
}

const char *fm_isa_name(void)
{
    return active->name;
}

const char *fm_isa_compiled(int index)
{
    return index >= 0 && index < N_ISAS ? isas[index].name : NULL;
}

/* The bfloat16 GEMM of an instruction set: TDPBF16PS for "amx", the emulation of the others;
 * NULL when this build or this CPU has none. */
static fm_gemm_bf16_fn bf16_kernel_named(const char *name)
{
    if (name == NULL)
        return NULL;
#ifdef FASTMLP_HAVE_AMX
    if (strcmp(name, "amx") == 0)
        return bf16_hardware_supported() ? fm_gemm_bf16_amx : NULL;
#endif
    for (int i = 0; i < N_ISAS; i++)
        if (strcmp(name, isas[i].name) == 0)
            return fm_isa_supported(name) ? isas[i].gemm_bf16 : NULL;
    return NULL;
}

const char *fm_bf16_kernel(void)
{
    const int use = bf16_hardware_mode == 2 || (bf16_hardware_mode == 1 && bf16_hardware_faster);
    if (use && strcmp(active->name, "avx512") == 0 && bf16_hardware_supported())
        return "amx";
    return active->name;
}

static void bf16_choose(void)
{
    bf16_active = bf16_kernel_named(fm_bf16_kernel());
}

int fm_bf16_hardware(int mode)
{
    const int before = bf16_hardware_mode;
    if (mode >= 0 && mode <= 2)
        bf16_hardware_mode = mode;
    bf16_choose();
    return before;
}

int fm_bf16_supported(const char *kernel)
{
    return bf16_kernel_named(kernel) != NULL;
}

int fm_gemm_bf16_ex FM_GEMM_BF16_PARAMS
{
    return bf16_active(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pack, ep);
}

int fm_gemm_bf16(const char *kernel, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                 float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                 float beta, float *c, int64_t ldc)
{
    const fm_gemm_bf16_fn fn = bf16_kernel_named(kernel == NULL ? fm_bf16_kernel() : kernel);
    if (fn == NULL)
        return FM_ERR_ARG;
    const unsigned saved_mode = fm_fpmode_enter();
    const int err = fn(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL, NULL);
    fm_fpmode_leave(saved_mode);
    return err;
}

size_t fm_gemm_pack_size(void)
{
    return (size_t)FM_GEMM_KC * (FM_GEMM_NC + 32); /* a B panel (NR <= 32) */
}

void *fm_aligned_alloc(size_t bytes)
{
    /* Over-allocate, align, and keep the original pointer just below the aligned block. */
    char *raw = (char *)malloc(bytes + 64 + sizeof(void *));
    if (raw == NULL)
        return NULL;
    uintptr_t start = (uintptr_t)(raw + sizeof(void *));
    char *aligned = (char *)((start + 63) & ~(uintptr_t)63);
    ((void **)aligned)[-1] = raw;
    return aligned;
}

void fm_aligned_free(void *ptr)
{
    if (ptr != NULL)
        free(((void **)ptr)[-1]);
}

/* The numeric entry points run the active kernels in the core's floating-point mode
 * (internal.h: subnormals flushed to zero) and give the caller its own mode back. */
#define FM_RETURN_IN_CORE_MODE(call)                                                             \
    do {                                                                                         \
        const unsigned saved_mode = fm_fpmode_enter();                                           \
        const int err = (call);                                                                  \
        fm_fpmode_leave(saved_mode);                                                             \
        return err;                                                                              \
    } while (0)

int fm_exp_f32(float *z, int64_t n)
{
    FM_RETURN_IN_CORE_MODE(active->exp_f32(z, n));
}

int fm_math_rows(int fn, int f64, void *z, int64_t n)
{
    FM_RETURN_IN_CORE_MODE(active->math_rows(fn, f64, z, n));
}

int64_t fm_fma_loop(int64_t n, float b, float c, float *sum)
{
    return active->fma_loop(n, b, c, sum);
}

/* fm_<name>_<f32|f64>: the active instruction set's entry point, in the core's mode. */
#define FM_WRAPPER(name, suf, params, args)                                                      \
    int fm_##name##_##suf params                                                                 \
    {                                                                                            \
        FM_RETURN_IN_CORE_MODE(active->name##_##suf args);                                      \
    }
FM_NUMERIC_ENTRY_POINTS(FM_WRAPPER, float, f32)
FM_NUMERIC_ENTRY_POINTS(FM_WRAPPER, double, f64)
