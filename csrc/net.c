/* fastmlp C core: network bookkeeping and the workspace (the numerics are in net_impl.h,
 * compiled once per instruction set by net_<isa>.c). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FM_ALIGN 64


int fm_net_check(const fm_net *net)
{
    if (net == NULL || net->n_layers < 1 || net->units == NULL || !(net->alpha >= 0))
        return FM_ERR_ARG;
    for (int l = 0; l <= net->n_layers; l++)
        if (net->units[l] < 1 || net->units[l] > INT32_MAX)
            return FM_ERR_ARG;
    if (net->hidden_activation < FM_ACT_IDENTITY || net->hidden_activation > FM_ACT_RELU ||
        net->output_activation < FM_ACT_IDENTITY || net->output_activation > FM_ACT_EXP ||
        net->loss < FM_LOSS_SQUARED || net->loss > FM_LOSS_POISSON)
        return FM_ERR_ARG;
    return FM_OK;
}

int64_t fm_weight_offset(const fm_net *net, int layer)
{
    int64_t offset = 0;
    for (int l = 0; l < layer; l++)
        offset += net->units[l] * net->units[l + 1];
    return offset;
}

int64_t fm_bias_offset(const fm_net *net, int layer)
{
    int64_t offset = fm_weight_offset(net, net->n_layers);
    for (int l = 0; l < layer; l++)
        offset += net->units[l + 1];
    return offset;
}

int64_t fm_n_params(const fm_net *net)
{
    if (fm_net_check(net))
        return -1;
    return fm_bias_offset(net, net->n_layers);
}

int fm_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Largest element count of one buffer (2^40): keeps every size computation far from overflow. */
#define FM_MAX_COUNT ((int64_t)1 << 40)

/* Bytes of a region of count elements, rounded up to the alignment (count checked by caller). */
static size_t region(int64_t count, size_t elem_size)
{
    size_t bytes = (size_t)count * elem_size;
    return (bytes + FM_ALIGN - 1) / FM_ALIGN * FM_ALIGN;
}

fm_workspace *fm_workspace_new(const fm_net *net, int64_t max_rows, int64_t n_samples,
                               size_t elem_size)
{
    if (fm_net_check(net) || max_rows < 1 || n_samples < 0 ||
        (elem_size != sizeof(float) && elem_size != sizeof(double)))
        return NULL;
    const int L = net->n_layers;
    const int64_t *u = net->units;
    const int64_t n_params = fm_n_params(net);
    if (n_samples > FM_MAX_COUNT || max_rows > FM_MAX_COUNT || n_params > FM_MAX_COUNT)
        return NULL;
    for (int l = 0; l <= L; l++)
        if (u[l] > FM_MAX_COUNT / max_rows)
            return NULL;
    size_t total = sizeof(fm_workspace) + FM_ALIGN + region(2 * (int64_t)(L + 1), sizeof(void *)) +
                   region(n_samples, sizeof(int64_t));
    for (int l = 0; l <= L; l++)
        total += region(max_rows * u[l], elem_size) * (l == 0 ? 1 : 2);
    const int64_t n_chunks = (n_params + FM_PARAM_CHUNK - 1) / FM_PARAM_CHUNK;
    total += region(max_rows * u[L], elem_size) + region(max_rows, elem_size) +
             region(n_params, elem_size) + region((int64_t)fm_gemm_pack_size(), elem_size) +
             region(n_chunks, sizeof(double));

    char *block = (char *)malloc(total);
    if (block == NULL)
        return NULL;
    fm_workspace *ws = (fm_workspace *)block;
    memset(ws, 0, sizeof(*ws));
    char *cursor = block + sizeof(fm_workspace);
    cursor += (FM_ALIGN - (uintptr_t)cursor % FM_ALIGN) % FM_ALIGN;
#define TAKE(ptr, count, size)            \
    do {                                  \
        (ptr) = (void *)cursor;           \
        cursor += region((count), (size)); \
    } while (0)
    TAKE(ws->acts, 2 * (int64_t)(L + 1), sizeof(void *));
    ws->deltas = ws->acts + (L + 1);
    TAKE(ws->perm, n_samples, sizeof(int64_t));
    for (int l = 0; l <= L; l++)
        TAKE(ws->acts[l], max_rows * u[l], elem_size);
    ws->deltas[0] = NULL;
    for (int l = 1; l <= L; l++)
        TAKE(ws->deltas[l], max_rows * u[l], elem_size);
    TAKE(ws->ybatch, max_rows * u[L], elem_size);
    TAKE(ws->swbatch, max_rows, elem_size);
    TAKE(ws->grad, n_params, elem_size);
    TAKE(ws->pack, (int64_t)fm_gemm_pack_size(), elem_size);
    TAKE(ws->partials, n_chunks, sizeof(double));
#undef TAKE
    ws->elem_size = elem_size;
    ws->n_layers = L;
    ws->max_rows = max_rows;
    ws->n_samples = n_samples;
    ws->n_params = n_params;
    ws->block = block;
    return ws;
}

void fm_workspace_free(fm_workspace *ws)
{
    if (ws != NULL)
        free(ws->block);
}
