# cython: language_level=3, boundscheck=False, cdivision=True
"""Bridge to the fastmlp C core: memoryviews in, pointers out, errors translated.

No logic lives here: the estimators in _multilayer_perceptron.py decide what to call, the C core
(csrc/) does the work. Every call into C releases the GIL.
"""

import sys

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int64_t, uint64_t

cdef extern from "fastmlp.h":
    enum:
        FM_OK
        FM_ERR_ARG
        FM_ERR_NOMEM
        FM_ERR_NONFINITE
        FM_ERR_INPUT

    ctypedef struct fm_net:
        int n_layers
        const int64_t *units
        int hidden_activation
        int output_activation
        int loss
        double alpha
        double alpha_l1
        int maxout_pieces
        int batch_norm
        double bn_momentum
        double bn_eps
        const double *dropout
        uint64_t dropout_seed
        int matmul_precision

    ctypedef struct fm_optimizer:
        int solver
        double learning_rate
        double momentum
        int nesterov
        double beta_1, beta_2, epsilon
        double weight_decay
        double rho
        int64_t step

    ctypedef struct fm_workspace:
        pass

    ctypedef struct fm_batches:
        int64_t n_rows
        const int64_t *order
        int64_t n_samples
        int64_t batch_size
        uint64_t seed
        uint64_t epoch_key
        int64_t position
        int check_x

    ctypedef struct fm_sums:
        double loss_sum
        double score

    int fm_net_check(const fm_net *net)
    int64_t fm_n_params(const fm_net *net)
    int64_t fm_n_trainable(const fm_net *net)
    int64_t fm_dense_width(const fm_net *net, int layer)
    int64_t fm_weight_offset(const fm_net *net, int layer)
    int64_t fm_bias_offset(const fm_net *net, int layer)
    int64_t fm_prelu_offset(const fm_net *net, int layer)
    int64_t fm_bn_offset(const fm_net *net, int layer, int what)
    fm_workspace *fm_workspace_new(const fm_net *net, int64_t max_rows, size_t elem_size)
    void fm_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *out) nogil
    void fm_workspace_free(fm_workspace *ws)
    int fm_all_finite(const void *x, int64_t n, int f64) nogil
    int fm_max_threads()
    size_t fm_gemm_pack_size()
    int fm_set_isa(const char *name)
    const char *fm_isa_name()
    int fm_isa_supported(const char *name)
    const char *fm_isa_compiled(int index)
    void fm_threading_stats(int64_t *jobs, int64_t *worker_tasks, int *workers, int64_t *placed)
    void fm_threading_test_delay(int us, int every)
    int fm_threading_adaptive(const fm_net *net, int train, int64_t rows, size_t elem_size,
                              double *one, double *all, int64_t *choices)
    void fm_threading_reset()
    void fm_threading_adapt(int on)
    int fm_exp_f32(float *z, int64_t n) nogil
    int fm_math_rows(int fn, int f64, void *z, int64_t n) nogil
    int64_t fm_fma_loop(int64_t n, float b, float c, float *sum) nogil

    int fm_gemm_f32(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                    float *c, int64_t ldc, float *pack) nogil
    int fm_gemm_f64(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                    const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                    double *c, int64_t ldc, double *pack) nogil
    int fm_train_epoch_f32(const fm_net *net, fm_optimizer *opt, float *params, float *opt_state,
                           const float *x, const float *y, const float *sw,
                           const fm_batches *batches, fm_workspace *ws, fm_sums *sums) nogil
    int fm_train_epoch_f64(const fm_net *net, fm_optimizer *opt, double *params,
                           double *opt_state, const double *x, const double *y,
                           const double *sw, const fm_batches *batches, fm_workspace *ws,
                           fm_sums *sums) nogil
    int fm_loss_grad_f32(const fm_net *net, const float *params, const float *x, const float *y,
                         const float *sw, int64_t n_samples, fm_workspace *ws, float *grad,
                         double *loss) nogil
    int fm_loss_grad_f64(const fm_net *net, const double *params, const double *x,
                         const double *y, const double *sw, int64_t n_samples, fm_workspace *ws,
                         double *grad, double *loss) nogil
    int fm_predict_f32(const fm_net *net, const float *params, const float *x, int64_t n_samples,
                       float *out) nogil
    int fm_predict_f64(const fm_net *net, const double *params, const double *x,
                       int64_t n_samples, double *out) nogil
    int fm_predict_layers_f32(const fm_net *net, const float *params, const float **coefs,
                              const float **intercepts, const float *x, int64_t n_samples,
                              float *out) nogil
    int fm_predict_layers_f64(const fm_net *net, const double *params, const double **coefs,
                              const double **intercepts, const double *x, int64_t n_samples,
                              double *out) nogil
    int fm_output_loss_f32(const fm_net *net, float *p, const float *y, const float *sw,
                           int64_t rows, float *delta, double *row_loss,
                           double *row_score) nogil
    int fm_output_loss_f64(const fm_net *net, double *p, const double *y, const double *sw,
                           int64_t rows, double *delta, double *row_loss,
                           double *row_score) nogil

ctypedef fused floating:
    float
    double

# Codes shared with the Python layer (enum fm_activation, fm_loss, fm_solver in fastmlp.h).
ACTIVATIONS = {"identity": 0, "logistic": 1, "tanh": 2, "relu": 3, "softmax": 4, "exp": 5,
               "leaky_relu": 6, "prelu": 7, "elu": 8, "maxout": 9, "softplus": 10, "gelu": 11}
LOSSES = {"squared_error": 0, "log_loss": 1, "binary_log_loss": 2, "poisson": 3, "hinge": 4,
          "perceptron": 5}
MATMUL_PRECISIONS = {"float32": 0, "bfloat16": 1}  # enum fm_matmul_precision
SOLVERS = {"sgd": 0, "adam": 1, "adamw": 2, "adagrad": 3, "rmsprop": 4, "adadelta": 5}
# Optimizer state values per parameter (the C core's state array holds 2 * n_params).
STATE_FACTOR = 2


class DivergenceError(ArithmeticError):
    """The training loss became NaN or infinite."""


class NonFiniteInputError(ValueError):
    """The input holds NaN or infinite values."""


cdef int _check(int err) except -1:
    if err == FM_OK:
        return 0
    if err == FM_ERR_NOMEM:
        raise MemoryError("fastmlp: out of memory in the C core")
    if err == FM_ERR_NONFINITE:
        raise DivergenceError("the training loss became non-finite")
    if err == FM_ERR_INPUT:
        raise NonFiniteInputError("the input contains NaN or infinity")
    raise ValueError("fastmlp: the C core rejected inconsistent arguments (code %d)" % err)


def compiled_isas():
    """GEMM instruction sets built into this module, the most capable first."""
    names = []
    cdef int i = 0
    cdef const char *name = fm_isa_compiled(0)
    while name != NULL:
        names.append(name.decode())
        i += 1
        name = fm_isa_compiled(i)
    return tuple(names)


def available_isas():
    """GEMM instruction sets this build has and this CPU supports, the most capable first."""
    return tuple(name for name in compiled_isas() if fm_isa_supported(name.encode()))


def isa():
    """The GEMM instruction set in use."""
    return fm_isa_name().decode()


def set_isa(name=None):
    """Selects the instruction set: None or "auto" for the widest the CPU supports (AVX-512F,
    then AVX2 + FMA, then portable C), or one of available_isas() (a testing hook: not while
    another thread trains or predicts)."""
    encoded = ("auto" if name is None else str(name)).encode()
    if fm_set_isa(encoded) != FM_OK:
        raise ValueError("ISA %r is not available here; available: %s"
                         % (name, ", ".join(available_isas())))
    return isa()


def _select_isa_from_environment():
    import os
    import warnings
    requested = os.environ.get("FASTMLP_ISA", "auto")
    try:
        set_isa(requested)
    except ValueError:
        warnings.warn("FASTMLP_ISA=%r is not available on this machine (available: %s); "
                      "using %s." % (requested, ", ".join(available_isas()), set_isa("auto")),
                      RuntimeWarning)


_select_isa_from_environment()


def threading_stats():
    """{"jobs": jobs handed to the core's thread pool, "worker_tasks": tasks its worker threads
    ran, "workers": worker threads started, "placed_wakeups": wake-ups that took a sleeping
    worker off the CPU of the thread waking it (Linux; see csrc/pool.c)} since the process
    started (or was forked)."""
    cdef int64_t jobs, tasks, placed
    cdef int workers
    fm_threading_stats(&jobs, &tasks, &workers, &placed)
    return {"jobs": jobs, "worker_tasks": tasks, "workers": workers, "placed_wakeups": placed}


def fma_loop(int64_t n, float b=1.0, float c=0.0):
    """Benchmark hook: n rounds of independent float32 multiply-adds (acc = acc * b + c) on the
    active instruction set's widest vectors, with no memory operands, on the calling thread (the
    GIL released). Returns (floating-point operations done, the accumulators' sum); 0 operations
    for n <= 0 and for the portable code. Timed, it gives the core's multiply-add peak, the
    ceiling of any float32 product (bench/compare.py's fma_peak)."""
    cdef int64_t flops
    cdef float total
    with nogil:
        flops = fm_fma_loop(n, b, c, &total)
    return flops, total


def set_worker_delay(int microseconds, int every=1):
    """Test hook: each worker thread sleeps `microseconds` before every `every`-th task it
    claims, as if the operating system had descheduled it in the middle of a job (0: off)."""
    fm_threading_test_delay(microseconds, every)


def adaptive_threading(Network network, bint train, int64_t rows, size_t itemsize):
    """The adaptive thread choice's estimates for a kind of work, or None when none is kept:
    (ns per row on one thread, ns per row on all allowed threads, choices made). train: training
    batches of `rows` rows, else predictions of about `rows` rows, of the network (its shape,
    activations, dropout and precision: networks that differ in any of them are timed apart) in
    values of itemsize bytes."""
    cdef double one, all_threads
    cdef int64_t choices
    if not fm_threading_adaptive(&network.net, train, rows, itemsize, &one, &all_threads,
                                 &choices):
        return None
    return (one, all_threads, choices)


def set_adaptive_threading(bint on):
    """on=False: every kind of work runs on all the threads allowed, without timing (to measure
    what the threads give: benchmarks); on=True: the adaptive choice, the default."""
    fm_threading_adapt(on)


def reset_adaptive_threading():
    """Forgets the adaptive thread choice's measurements (a testing and benchmarking hook)."""
    fm_threading_reset()


def all_finite(X):
    """Whether the float32 or float64 C-contiguous ndarray X holds no NaN and no infinity: one
    pass, shared among the core's threads for large arrays (X's finiteness check in fit and
    partial_fit). ValueError for other arrays."""
    cdef const float[::1] x32
    cdef const double[::1] x64
    cdef int result = 1
    kind = getattr(X, "dtype", None)
    if kind is None or kind.kind != "f" or kind.itemsize not in (4, 8) or not X.flags.c_contiguous:
        raise ValueError("all_finite: a C-contiguous float32 or float64 ndarray is needed")
    if X.size == 0:
        return True
    if kind.itemsize == 4:
        x32 = X.reshape(-1)
        with nogil:
            result = fm_all_finite(&x32[0], x32.shape[0], 0)
    else:
        x64 = X.reshape(-1)
        with nogil:
            result = fm_all_finite(&x64[0], x64.shape[0], 1)
    return result == 1


def max_threads():
    """Threads the C core uses for large enough work (the OpenMP limit in force, or 1)."""
    return fm_max_threads()


cdef extern from *:
    """
    #ifdef _OPENMP
    #define FASTMLP_OPENMP_ENABLED 1
    #else
    #define FASTMLP_OPENMP_ENABLED 0
    #endif
    """
    int FASTMLP_OPENMP_ENABLED


def openmp_enabled():
    """Whether this build of the C core was compiled with OpenMP."""
    return bool(FASTMLP_OPENMP_ENABLED)


cdef class Network:
    """Architecture of a network: layer widths, activations, loss and regularization.

    units are the layer widths a user sees (inputs, hidden units, outputs); a maxout hidden
    layer's dense part is maxout_pieces times wider. dropout: None or one rate per hidden layer.
    """
    cdef fm_net net
    cdef int64_t[::1] _units
    cdef double[::1] _dropout
    cdef readonly int64_t n_in, n_out  # input and output widths
    cdef int64_t n_params_, n_trainable_
    cdef readonly object units, dropout
    cdef readonly str hidden_activation, output_activation, loss
    cdef readonly double alpha, alpha_l1, bn_momentum, bn_eps
    cdef readonly int maxout_pieces
    cdef readonly bint batch_norm
    cdef readonly uint64_t dropout_seed
    cdef readonly str matmul_precision

    def __cinit__(self, units, str hidden_activation, str output_activation, str loss,
                  double alpha, double alpha_l1=0.0, maxout_pieces=2, bint batch_norm=False,
                  dropout=None, double bn_momentum=0.1, double bn_eps=1e-5,
                  uint64_t dropout_seed=0, str matmul_precision="float32"):
        import numpy as np
        # sizes out of the core's range are a ValueError (a bad file or parameter), never an
        # OverflowError from the conversion
        try:
            arr = np.ascontiguousarray(units, dtype=np.int64)
        except (OverflowError, TypeError, ValueError):
            raise ValueError("units must be layer widths between 1 and 2**31 - 1, got %r"
                             % (units,)) from None
        if arr.ndim != 1 or arr.shape[0] < 2:
            raise ValueError("units must list at least an input and an output width")
        if np.any(arr < 1) or np.any(arr > 2**31 - 1):
            raise ValueError("units must be layer widths between 1 and 2**31 - 1, got %r"
                             % (units,))
        if (not isinstance(maxout_pieces, (int, np.integer)) or isinstance(maxout_pieces, bool)
                or not 1 <= maxout_pieces <= 1024):
            raise ValueError("maxout_pieces must be an integer between 1 and 1024, got %r"
                             % (maxout_pieces,))
        maxout_pieces = int(maxout_pieces)
        self._units = arr
        self.units = tuple(int(u) for u in arr)
        self.hidden_activation = hidden_activation
        self.output_activation = output_activation
        self.loss = loss
        self.alpha = alpha
        self.alpha_l1 = alpha_l1
        self.maxout_pieces = maxout_pieces
        self.batch_norm = batch_norm
        self.bn_momentum = bn_momentum
        self.bn_eps = bn_eps
        self.dropout_seed = dropout_seed
        self.net.n_layers = <int>(arr.shape[0] - 1)
        self.net.units = &self._units[0]
        self.net.hidden_activation = ACTIVATIONS[hidden_activation]
        self.net.output_activation = ACTIVATIONS[output_activation]
        self.net.loss = LOSSES[loss]
        self.net.alpha = alpha
        self.net.alpha_l1 = alpha_l1
        self.net.maxout_pieces = maxout_pieces
        self.net.batch_norm = batch_norm
        self.net.bn_momentum = bn_momentum
        self.net.bn_eps = bn_eps
        self.net.dropout_seed = dropout_seed
        if matmul_precision not in MATMUL_PRECISIONS:
            raise ValueError("matmul_precision must be 'float32' or 'bfloat16', got %r"
                             % (matmul_precision,))
        self.matmul_precision = matmul_precision
        self.net.matmul_precision = MATMUL_PRECISIONS[matmul_precision]
        self.net.dropout = NULL
        self.dropout = None
        if dropout is not None:
            rates = np.ascontiguousarray(dropout, dtype=np.float64)
            if rates.shape != (arr.shape[0] - 2,):
                raise ValueError("dropout must hold one rate per hidden layer")
            self.dropout = tuple(float(r) for r in rates)
            if rates.shape[0] > 0 and np.any(rates > 0):
                self._dropout = rates
                self.net.dropout = &self._dropout[0]
        if fm_net_check(&self.net) != FM_OK:
            raise ValueError("the network %s (maxout_pieces=%d) is inconsistent or too large: "
                             "the core holds at most 2**40 parameters"
                             % (self.units, maxout_pieces))
        self.n_in = arr[0]
        self.n_out = arr[arr.shape[0] - 1]
        self.n_params_ = fm_n_params(&self.net)
        self.n_trainable_ = fm_n_trainable(&self.net)

    def __reduce__(self):
        return (Network, (self.units, self.hidden_activation, self.output_activation, self.loss,
                          self.alpha, self.alpha_l1, self.maxout_pieces, self.batch_norm,
                          self.dropout, self.bn_momentum, self.bn_eps, self.dropout_seed,
                          self.matmul_precision))

    @property
    def n_params(self):
        """Values in the flat parameter array."""
        return self.n_params_

    @property
    def n_layers(self):
        """Weight layers (len(units) - 1)."""
        return self.net.n_layers

    @property
    def n_trainable(self):
        """Trainable values: all but the batch-norm running statistics at the end."""
        return self.n_trainable_

    def layout(self):
        """Where each array lives in the flat parameter array: a dict of lists of
        (offset, shape), keys "coefs", "intercepts", "prelu_slopes", "bn_scales", "bn_shifts",
        "bn_means", "bn_vars" (the last five empty when the network has none)."""
        cdef int l, L = self.net.n_layers
        cdef int64_t width
        out = {"coefs": [], "intercepts": [], "prelu_slopes": [], "bn_scales": [],
               "bn_shifts": [], "bn_means": [], "bn_vars": []}
        for l in range(L):
            width = fm_dense_width(&self.net, l)
            out["coefs"].append((fm_weight_offset(&self.net, l), (self.units[l], width)))
            out["intercepts"].append((fm_bias_offset(&self.net, l), (width,)))
            if l == L - 1:
                continue
            if self.hidden_activation == "prelu":
                out["prelu_slopes"].append((fm_prelu_offset(&self.net, l), (self.units[l + 1],)))
            if self.batch_norm:
                for what, key in enumerate(("bn_scales", "bn_shifts", "bn_means", "bn_vars")):
                    out[key].append((fm_bn_offset(&self.net, l, what), (width,)))
        return out


cdef class Workspace:
    """Scratch memory of one fit: batch activations, deltas, gradient, packing space."""
    cdef fm_workspace *ws
    cdef readonly Network network
    cdef readonly int64_t max_rows
    cdef readonly size_t elem_size

    def __cinit__(self, Network network, int64_t max_rows, size_t elem_size):
        if max_rows < 1:
            raise ValueError("Workspace: max_rows must be at least 1, got %d" % max_rows)
        if elem_size != sizeof(float) and elem_size != sizeof(double):
            raise ValueError("Workspace: elem_size must be 4 (float32) or 8 (float64), got %d"
                             % elem_size)
        if network.matmul_precision != "float32" and elem_size != sizeof(float):
            raise ValueError("matmul_precision=%r needs float32 parameters"
                             % (network.matmul_precision,))
        self.network = network
        self.max_rows = max_rows
        self.elem_size = elem_size
        self.ws = fm_workspace_new(&network.net, max_rows, elem_size)
        if self.ws == NULL:
            raise MemoryError("fastmlp: cannot allocate the training workspace "
                              "(batches of %d rows)" % max_rows)

    def __dealloc__(self):
        fm_workspace_free(self.ws)
        self.ws = NULL


def permutation(uint64_t seed, uint64_t epoch, int64_t n):
    """The epoch's sample order: a permutation of 0 .. n - 1, a pure function of (seed, epoch)
    (the counter-based generator's Fisher-Yates shuffle)."""
    import numpy as np
    out = np.empty(max(n, 0), dtype=np.int64)
    cdef int64_t[::1] view = out
    if n > 0:
        with nogil:
            fm_permutation(seed, epoch, n, &view[0])
    return out


def train_epoch(Workspace ws, floating[::1] params, floating[::1] opt_state,
                int64_t[::1] step, double[::1] sums, const floating[:, ::1] X,
                const floating[:, ::1] Y, const floating[::1] sw, const int64_t[::1] order,
                int64_t batch_size, uint64_t seed, uint64_t epoch, int64_t position, *,
                str solver, double learning_rate, double momentum=0.9, bint nesterov=True,
                double beta_1=0.9, double beta_2=0.999, double epsilon=1e-8,
                double weight_decay=0.0, double rho=0.9, bint check_x=False):
    """Trains on the rows order[i] of X, Y, sw (all rows in order when order is None), in
    batches of batch_size: an epoch, or consecutive batches of one starting at epoch position
    `position`. check_x: each batch's rows of X are checked first, NonFiniteInputError (with
    the state as after the batch before) for one that holds NaN or infinity.

    Updated in place, whatever happens (also when the call raises: DivergenceError, or a
    KeyboardInterrupt delivered right after it): params and opt_state; step[0], the optimizer's
    step count (one per batch whose update was applied); sums[0], the sum of batch_loss *
    batch_rows over those batches, and sums[1], the running score (the weighted count of rows
    predicted right for the classification losses, the weighted sum of squared errors for
    regression). Pass the sums of the epoch's earlier calls, or zeros."""
    cdef Network network = ws.network
    cdef fm_optimizer opt
    cdef int err
    cdef const floating *sw_ptr = NULL
    cdef const int64_t *order_ptr = NULL
    cdef int64_t n_rows = X.shape[0], n
    cdef fm_batches batches
    cdef fm_sums totals
    if step.shape[0] != 1 or sums.shape[0] != 2:
        raise ValueError("train_epoch: step holds one value and sums two")
    opt.solver = SOLVERS[solver]
    opt.learning_rate = learning_rate
    opt.momentum = momentum
    opt.nesterov = nesterov
    opt.beta_1 = beta_1
    opt.beta_2 = beta_2
    opt.epsilon = epsilon
    opt.weight_decay = weight_decay
    opt.rho = rho
    opt.step = step[0]
    units = network.units
    if (X.shape[1] != units[0] or Y.shape[0] != n_rows or Y.shape[1] != units[-1]
            or params.shape[0] != network.n_params
            or opt_state.shape[0] < network.n_params * STATE_FACTOR):
        raise ValueError("train_epoch: array shapes do not match the network")
    if sw is not None:
        if sw.shape[0] != n_rows:
            raise ValueError("train_epoch: sample_weight length does not match X")
        sw_ptr = &sw[0]
    n = n_rows
    if order is not None:
        n = order.shape[0]
        if n > 0:
            order_ptr = &order[0]
    if n == 0:
        return
    if (floating is float and ws.elem_size != sizeof(float)) or (
            floating is double and ws.elem_size != sizeof(double)):
        raise ValueError("train_epoch: workspace precision does not match the data")
    batches.n_rows = n_rows
    batches.order = order_ptr
    batches.n_samples = n
    batches.batch_size = batch_size
    batches.seed = seed
    batches.epoch_key = epoch
    batches.position = position
    batches.check_x = check_x
    totals.loss_sum = sums[0]
    totals.score = sums[1]
    with nogil:
        if floating is float:
            err = fm_train_epoch_f32(&network.net, &opt, &params[0], &opt_state[0], &X[0, 0],
                                     &Y[0, 0], sw_ptr, &batches, ws.ws, &totals)
        else:
            err = fm_train_epoch_f64(&network.net, &opt, &params[0], &opt_state[0], &X[0, 0],
                                     &Y[0, 0], sw_ptr, &batches, ws.ws, &totals)
    # stored before any exception can be raised: the caller's state stays consistent
    step[0] = opt.step
    sums[0] = totals.loss_sum
    sums[1] = totals.score
    _check(err)


def loss_grad(Workspace ws, const floating[::1] params, const floating[:, ::1] X,
              const floating[:, ::1] Y, const floating[::1] sw, floating[::1] grad):
    """Full-batch loss (returned) and gradient (written to grad), as scikit-learn's _backprop."""
    cdef Network network = ws.network
    cdef double loss = 0
    cdef int err
    cdef const floating *sw_ptr = NULL
    n = X.shape[0]
    units = network.units
    if (X.shape[1] != units[0] or Y.shape[0] != n or Y.shape[1] != units[-1]
            or params.shape[0] != network.n_params or grad.shape[0] != network.n_params):
        raise ValueError("loss_grad: array shapes do not match the network")
    if sw is not None:
        if sw.shape[0] != n:
            raise ValueError("loss_grad: sample_weight length does not match X")
        sw_ptr = &sw[0]
    if floating is float:
        if ws.elem_size != sizeof(float):
            raise ValueError("loss_grad: workspace precision does not match the data")
        with nogil:
            err = fm_loss_grad_f32(&network.net, &params[0], &X[0, 0], &Y[0, 0], sw_ptr, n,
                                   ws.ws, &grad[0], &loss)
    else:
        if ws.elem_size != sizeof(double):
            raise ValueError("loss_grad: workspace precision does not match the data")
        with nogil:
            err = fm_loss_grad_f64(&network.net, &params[0], &X[0, 0], &Y[0, 0], sw_ptr, n,
                                   ws.ws, &grad[0], &loss)
    _check(err)
    return loss


def output_loss(Network network, floating[:, ::1] P, const floating[:, ::1] Y,
                const floating[::1] sw, floating[:, ::1] delta, double[::1] row_loss,
                double[::1] row_score):
    """Training's output error of the rows of P (logits for a softmax output layer, replaced by
    their softmax) and targets Y, sample weights sw or None: writes delta and each row's
    weighted loss and score (a test hook)."""
    cdef int err
    cdef int64_t n = P.shape[0]
    cdef const floating *sw_ptr = NULL
    cdef int64_t n_out = network.n_out
    if (P.shape[1] != n_out or Y.shape[0] != n or Y.shape[1] != n_out
            or delta.shape[0] != n or delta.shape[1] != n_out
            or row_loss.shape[0] != n or row_score.shape[0] != n):
        raise ValueError("output_loss: array shapes do not match the network")
    if n == 0:
        return
    if sw is not None:
        if sw.shape[0] != n:
            raise ValueError("output_loss: sample_weight length does not match the rows")
        sw_ptr = &sw[0]
    if floating is float:
        with nogil:
            err = fm_output_loss_f32(&network.net, &P[0, 0], &Y[0, 0], sw_ptr, n, &delta[0, 0],
                                     &row_loss[0], &row_score[0])
    else:
        with nogil:
            err = fm_output_loss_f64(&network.net, &P[0, 0], &Y[0, 0], sw_ptr, n, &delta[0, 0],
                                     &row_loss[0], &row_score[0])
    _check(err)


cdef int _predict_impl(Network network, const floating[::1] params, const floating[:, ::1] X,
                       floating[:, ::1] out, bint two_class) except -1:
    cdef int err
    cdef int64_t n = X.shape[0], i
    cdef floating p
    cdef floating *flat
    if (X.shape[1] != network.n_in or out.shape[0] != n
            or out.shape[1] != (2 if two_class else network.n_out)
            or (two_class and network.n_out != 1) or params.shape[0] != network.n_params_):
        raise ValueError("predict: array shapes do not match the network")
    if n == 0:
        return 0
    # out's first n values take the forward pass's one column; expanding from the last row
    # down never overwrites a value still to be read (row i's p sits at i <= 2 * i).
    if floating is float:
        with nogil:
            err = fm_predict_f32(&network.net, &params[0], &X[0, 0], n, &out[0, 0])
    else:
        with nogil:
            err = fm_predict_f64(&network.net, &params[0], &X[0, 0], n, &out[0, 0])
    if err != FM_OK:
        _check(err)
    if two_class:
        flat = &out[0, 0]
        for i in range(n - 1, -1, -1):
            p = flat[i]
            flat[2 * i + 1] = p
            flat[2 * i] = 1 - p
    return 0


def predict(Network network, const floating[::1] params, const floating[:, ::1] X,
            floating[:, ::1] out, bint two_class=False):
    """Forward pass of X into out (n_samples x n_outputs); NonFiniteInputError for NaN or
    infinity in X. With two_class, a one-output network fills out (n_samples x 2) with the
    probabilities of both classes, 1 - p and p."""
    _predict_impl(network, params, X, out, two_class)


cdef extern from "Python.h":
    ctypedef struct Py_buffer:
        void *buf
        Py_ssize_t itemsize
        int ndim
        Py_ssize_t *shape
        char *format
    int PyObject_GetBuffer(object obj, Py_buffer *view, int flags) except -1
    void PyBuffer_Release(Py_buffer *view)
    enum:
        PyBUF_C_CONTIGUOUS
        PyBUF_WRITABLE
        PyBUF_FORMAT
        PyBUF_ND


cdef char _NATIVE_ORDER = b"<"[0] if sys.byteorder == "little" else b">"[0]


cdef int _contiguous(object obj, Py_buffer *view, int writable, Py_ssize_t itemsize,
                     int ndim) except -1:
    """Acquires a C-contiguous buffer of ndim dimensions of float32 / float64 (itemsize) values:
    the raw buffer protocol, cheaper than a typed memoryview for one-sample predictions."""
    cdef const char *fmt
    PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT
                       | (PyBUF_WRITABLE if writable else 0))
    fmt = view.format
    # native byte order may be spelled out ('=d', '<d' here): arrays numpy rebuilds from bytes
    # (dask, pickle) say so
    if fmt[0] == b"@"[0] or fmt[0] == b"="[0] or fmt[0] == _NATIVE_ORDER:
        fmt += 1
    if (view.ndim != ndim or view.itemsize != itemsize
            or fmt[0] != (b"f"[0] if itemsize == 4 else b"d"[0])
            or fmt[1] != 0):
        PyBuffer_Release(view)
        raise ValueError("predict: expected C-contiguous %s arrays"
                         % ("float32" if itemsize == 4 else "float64"))
    return 0


cdef void _expand_two_class(void *buf, int64_t n, Py_ssize_t itemsize) noexcept:
    """The first n values hold a one-output model's column: (1 - p, p) rows, from the last row
    down."""
    cdef int64_t i
    cdef float pf
    cdef double pd
    cdef float *of = <float *>buf
    cdef double *od = <double *>buf
    if itemsize == 4:
        for i in range(n - 1, -1, -1):
            pf = of[i]
            of[2 * i + 1] = pf
            of[2 * i] = 1 - pf
    else:
        for i in range(n - 1, -1, -1):
            pd = od[i]
            od[2 * i + 1] = pd
            od[2 * i] = 1 - pd


def predict_layers(Network network, params, coefs, intercepts, X, out, bint two_class=False):
    """predict with each dense layer's weights and biases read where they are: coefs[l]
    (fan_in x width) and intercepts[l] (width,), C-contiguous arrays of X's dtype (arrays a user
    assigned to coefs_ / intercepts_, so that their later in-place edits are followed, as in
    scikit-learn); params: the flat parameters for the other ones (PReLU slopes, batch norm), or
    None for a network without them. ValueError for arrays of another dtype, layout or shape."""
    cdef int L = network.net.n_layers, l, taken = 0, err = FM_OK
    cdef Py_ssize_t itemsize = X.dtype.itemsize
    cdef Py_buffer xb, ob, pb
    cdef Py_buffer *views
    cdef const void **ptrs
    cdef const void *params_ptr = NULL
    cdef int64_t n, width
    cdef bint have_x = False, have_out = False, have_params = False
    if len(coefs) != L or len(intercepts) != L:
        raise ValueError("predict: %d weight matrices and bias vectors expected" % L)
    views = <Py_buffer *>PyMem_Malloc(2 * L * sizeof(Py_buffer))
    ptrs = <const void **>PyMem_Malloc(2 * L * sizeof(void *))
    if views == NULL or ptrs == NULL:
        PyMem_Free(views)
        PyMem_Free(ptrs)
        raise MemoryError()
    try:
        for l in range(L):
            width = fm_dense_width(&network.net, l)
            _contiguous(coefs[l], &views[taken], 0, itemsize, 2)
            taken += 1
            if views[taken - 1].shape[0] != network.units[l] or views[taken - 1].shape[1] != width:
                raise ValueError("predict: coefs_[%d] has shape %s, expected (%d, %d)"
                                 % (l, coefs[l].shape, network.units[l], width))
            ptrs[l] = views[taken - 1].buf
            _contiguous(intercepts[l], &views[taken], 0, itemsize, 1)
            taken += 1
            if views[taken - 1].shape[0] != width:
                raise ValueError("predict: intercepts_[%d] has shape %s, expected (%d,)"
                                 % (l, intercepts[l].shape, width))
            ptrs[L + l] = views[taken - 1].buf
        _contiguous(X, &xb, 0, itemsize, 2)
        have_x = True
        _contiguous(out, &ob, 1, itemsize, 2)
        have_out = True
        if params is not None:
            _contiguous(params, &pb, 0, itemsize, 1)
            have_params = True
            if pb.shape[0] != network.n_params_:
                raise ValueError("predict: params do not match the network")
            params_ptr = pb.buf
        n = xb.shape[0]
        if (xb.shape[1] != network.n_in or ob.shape[0] != n
                or ob.shape[1] != (2 if two_class else network.n_out)
                or (two_class and network.n_out != 1)):
            raise ValueError("predict: array shapes do not match the network")
        if n == 0:
            return
        with nogil:
            if itemsize == 4:
                err = fm_predict_layers_f32(&network.net, <const float *>params_ptr,
                                            <const float **>ptrs, <const float **>(ptrs + L),
                                            <const float *>xb.buf, n, <float *>ob.buf)
            else:
                err = fm_predict_layers_f64(&network.net, <const double *>params_ptr,
                                            <const double **>ptrs, <const double **>(ptrs + L),
                                            <const double *>xb.buf, n, <double *>ob.buf)
        _check(err)
        if two_class:
            _expand_two_class(ob.buf, n, itemsize)
    finally:
        for l in range(taken):
            PyBuffer_Release(&views[l])
        if have_x:
            PyBuffer_Release(&xb)
        if have_out:
            PyBuffer_Release(&ob)
        if have_params:
            PyBuffer_Release(&pb)
        PyMem_Free(views)
        PyMem_Free(ptrs)


def predict_contiguous(Network network, params, X, out, bint two_class=False):
    """predict for C-contiguous float32 or float64 arrays of one dtype, through the raw buffer
    protocol (the estimators' fast path for well-formed inputs: a one-sample predict spends
    microseconds here, not in the forward pass)."""
    cdef Py_buffer pb, xb, ob
    cdef Py_ssize_t itemsize = X.dtype.itemsize
    cdef int64_t n
    cdef int err
    _contiguous(X, &xb, 0, itemsize, 2)
    try:
        _contiguous(params, &pb, 0, itemsize, 1)
        try:
            _contiguous(out, &ob, 1, itemsize, 2)
            try:
                n = xb.shape[0]
                if (xb.shape[1] != network.n_in or ob.shape[0] != n
                        or ob.shape[1] != (2 if two_class else network.n_out)
                        or (two_class and network.n_out != 1)
                        or pb.shape[0] != network.n_params_):
                    raise ValueError("predict: array shapes do not match the network")
                if n == 0:
                    return
                if itemsize == 4:
                    with nogil:
                        err = fm_predict_f32(&network.net, <const float *>pb.buf,
                                             <const float *>xb.buf, n, <float *>ob.buf)
                else:
                    with nogil:
                        err = fm_predict_f64(&network.net, <const double *>pb.buf,
                                             <const double *>xb.buf, n, <double *>ob.buf)
                if err != FM_OK:
                    _check(err)
                if two_class:
                    _expand_two_class(ob.buf, n, itemsize)
            finally:
                PyBuffer_Release(&ob)
        finally:
            PyBuffer_Release(&pb)
    finally:
        PyBuffer_Release(&xb)


def exp_f32(x):
    """float32 exp of each element, as the core's softmax and logistic rows compute it (a test
    hook): a new array."""
    import numpy as np
    cdef float[::1] z = np.array(x, dtype=np.float32).ravel()
    cdef int64_t n = z.shape[0]
    cdef int err
    if n == 0:
        return np.asarray(z).copy()
    with nogil:
        err = fm_exp_f32(&z[0], n)
    _check(err)
    return np.asarray(z).reshape(np.shape(x))


_MATH_FUNCTIONS = ("exp", "log", "expm1", "log1p", "tanh", "erf")


def math(name, x, dtype):
    """One of the core's elementwise functions (exp, log, expm1, log1p, tanh, erf: fastmlp's
    own, as training and prediction compute them) of each element of x in float32 or float64, in
    the core's floating-point mode (a test hook): a new array."""
    import numpy as np
    if name not in _MATH_FUNCTIONS:
        raise ValueError("math: name must be one of %s, got %r" % (", ".join(_MATH_FUNCTIONS), name))
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError("math: dtype must be float32 or float64, got %s" % dtype)
    z = np.array(x, dtype=dtype).ravel()
    cdef int64_t n = z.shape[0]
    cdef int fn = _MATH_FUNCTIONS.index(name)
    cdef int f64 = dtype == np.float64
    cdef char *ptr
    cdef int err
    if n == 0:
        return z.reshape(np.shape(x))
    cdef Py_ssize_t address = z.ctypes.data
    ptr = <char *>address
    with nogil:
        err = fm_math_rows(fn, f64, ptr, n)
    _check(err)
    return z.reshape(np.shape(x))


cdef tuple _product_shape(str name, bint trans_a, bint trans_b, tuple a_shape, tuple b_shape,
                          tuple c_shape):
    """(m, n, k) of C = op(A) @ op(B) from the arrays' shapes; ValueError when they do not
    conform (the GEMM test hooks)."""
    m, k = (a_shape[1], a_shape[0]) if trans_a else (a_shape[0], a_shape[1])
    kb, n = (b_shape[1], b_shape[0]) if trans_b else (b_shape[0], b_shape[1])
    if kb != k or c_shape[0] != m or c_shape[1] != n:
        raise ValueError("%s: shapes do not conform" % name)
    return m, n, k


def gemm(bint trans_a, bint trans_b, double alpha, const floating[:, ::1] A,
         const floating[:, ::1] B, double beta, floating[:, ::1] C):
    """C = alpha * op(A) @ op(B) + beta * C with the core's GEMM (a test hook)."""
    cdef int64_t m, n, k
    m, n, k = _product_shape("gemm", trans_a, trans_b, (A.shape[0], A.shape[1]),
                             (B.shape[0], B.shape[1]), (C.shape[0], C.shape[1]))
    cdef int err
    if m == 0 or n == 0:
        return
    cdef const floating *a_ptr = &A[0, 0] if A.shape[0] * A.shape[1] > 0 else NULL
    cdef const floating *b_ptr = &B[0, 0] if B.shape[0] * B.shape[1] > 0 else NULL
    cdef int64_t lda = A.shape[1] if A.shape[1] > 0 else 1
    cdef int64_t ldb = B.shape[1] if B.shape[1] > 0 else 1
    if floating is float:
        with nogil:
            err = fm_gemm_f32(trans_a, trans_b, m, n, k, <float>alpha, a_ptr, lda, b_ptr, ldb,
                              <float>beta,
                              &C[0, 0], C.shape[1], NULL)
    else:
        with nogil:
            err = fm_gemm_f64(trans_a, trans_b, m, n, k, alpha, a_ptr, lda, b_ptr, ldb, beta,
                              &C[0, 0], C.shape[1], NULL)
    _check(err)


cdef extern from "fastmlp.h":
    int fm_gemm_bf16(const char *kernel, int trans_a, int trans_b, int64_t m, int64_t n,
                     int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                     int64_t ldb, float beta, float *c, int64_t ldc) nogil
    const char *fm_bf16_kernel()
    int fm_bf16_hardware(int mode)
    int fm_bf16_supported(const char *kernel)


BF16_KERNELS = ("amx", "avx512", "avx2", "generic")


def bf16_kernel():
    """The bfloat16 GEMM kernel networks with matmul_precision="bfloat16" use: the instruction
    set's emulation ("avx512", "avx2", "generic"), or "amx" (TDPBF16PS) when the instruction
    set in use is AVX-512, the CPU has AMX-BF16, the operating system grants the tile state and
    it measured faster than the emulation (set_isa measures it). All of them give the same
    bits."""
    return fm_bf16_kernel().decode()


def available_bf16_kernels():
    """The bfloat16 GEMM kernels this build has and this CPU runs, the fastest first."""
    return tuple(name for name in BF16_KERNELS if fm_bf16_supported(name.encode()))


BF16_HARDWARE_MODES = ("never", "auto", "always")


def set_bf16_hardware(mode):
    """Testing and benchmarking hook: when AVX-512 uses AMX where the CPU has it: "never" (the
    AVX-512F emulation), "auto" (when it measured faster, the default) or "always".
    Returns the previous mode. Not while another thread trains or predicts."""
    if mode not in BF16_HARDWARE_MODES:
        raise ValueError("set_bf16_hardware: mode must be one of %s, got %r"
                         % (BF16_HARDWARE_MODES, mode))
    return BF16_HARDWARE_MODES[fm_bf16_hardware(BF16_HARDWARE_MODES.index(mode))]


def gemm_bf16(bint trans_a, bint trans_b, double alpha, const float[:, ::1] A,
              const float[:, ::1] B, double beta, float[:, ::1] C, kernel=None):
    """C = alpha * op(A) @ op(B) + beta * C with the operands rounded to bfloat16 and float32
    sums (csrc/gemm/bf16.h), by a named kernel of available_bf16_kernels() or, with None, the
    networks' (a test and benchmark hook)."""
    cdef int64_t m, n, k
    m, n, k = _product_shape("gemm_bf16", trans_a, trans_b, (A.shape[0], A.shape[1]),
                             (B.shape[0], B.shape[1]), (C.shape[0], C.shape[1]))
    cdef int err
    if kernel is not None and kernel not in available_bf16_kernels():
        raise ValueError("gemm_bf16: kernel %r is not available here; available: %s"
                         % (kernel, ", ".join(available_bf16_kernels())))
    if m == 0 or n == 0:
        return
    cdef bytes name = (kernel if kernel is not None else bf16_kernel()).encode()
    cdef const char *name_ptr = name
    cdef const float *a_ptr = &A[0, 0] if A.shape[0] * A.shape[1] > 0 else NULL
    cdef const float *b_ptr = &B[0, 0] if B.shape[0] * B.shape[1] > 0 else NULL
    cdef int64_t lda = A.shape[1] if A.shape[1] > 0 else 1
    cdef int64_t ldb = B.shape[1] if B.shape[1] > 0 else 1
    with nogil:
        err = fm_gemm_bf16(name_ptr, trans_a, trans_b, m, n, k, <float>alpha, a_ptr, lda, b_ptr,
                           ldb, <float>beta, &C[0, 0], C.shape[1])
    _check(err)


from libc.stdint cimport int8_t, int32_t

cdef extern from "fastmlp.h":
    int fm_perceptron_epoch_f64(const double *x, const int8_t *y_sign, const double *sw,
                                int64_t n_samples, int64_t n_features, double *w, double *b,
                                double eta0, int fit_intercept, int shuffle, uint64_t seed,
                                uint64_t epoch, int64_t *perm, int64_t *n_mistakes,
                                double *loss_sum) nogil
    int fm_perceptron_epoch_csr_f64(const double *data, const void *indices, int index_size,
                                    const int64_t *indptr, int64_t n_samples,
                                    int64_t n_features, const int8_t *y_sign, const double *sw,
                                    double *w, double *b, double eta0, int fit_intercept,
                                    int shuffle, uint64_t seed, uint64_t epoch_key,
                                    int64_t *perm, int64_t *n_mistakes, double *loss_sum) nogil


def perceptron_epoch_csr(const double[::1] data, indices, const int64_t[::1] indptr,
                         int64_t n_features, const int8_t[::1] y_sign, const double[::1] sw,
                         double[::1] w, double[::1] b, double eta0, bint fit_intercept,
                         bint shuffle, uint64_t seed, uint64_t epoch, int64_t[::1] perm):
    """perceptron_epoch on X in compressed sparse row form (data, indices, indptr of a
    canonical scipy CSR matrix; indices a contiguous int32 or int64 array, indptr int64): the
    bits of the same rows dense."""
    cdef int64_t n = indptr.shape[0] - 1
    cdef int64_t n_mistakes = 0
    cdef double loss_sum = 0
    cdef const double *data_ptr = NULL
    cdef const void *indices_ptr = NULL
    cdef const int32_t[::1] indices32
    cdef const int64_t[::1] indices64
    cdef int index_size
    cdef const double *sw_ptr = NULL
    cdef int64_t *perm_ptr = NULL
    cdef int err
    import numpy as np
    if n < 1 or n_features < 1:
        raise ValueError("perceptron_epoch_csr: X must have at least one sample and one feature")
    if indices.dtype == np.int32:
        indices32 = indices
        index_size = 4
        if indices32.shape[0] > 0:
            indices_ptr = &indices32[0]
    elif indices.dtype == np.int64:
        indices64 = indices
        index_size = 8
        if indices64.shape[0] > 0:
            indices_ptr = &indices64[0]
    else:
        raise ValueError("perceptron_epoch_csr: indices must be int32 or int64, got %s"
                         % indices.dtype)
    if (y_sign.shape[0] != n or w.shape[0] != n_features or b.shape[0] != 1
            or indices.shape[0] != data.shape[0] or indptr[n] != data.shape[0]):
        raise ValueError("perceptron_epoch_csr: array shapes do not match X")
    if data.shape[0] > 0:
        data_ptr = &data[0]
    if sw is not None:
        if sw.shape[0] != n:
            raise ValueError("perceptron_epoch_csr: sample_weight length does not match X")
        sw_ptr = &sw[0]
    if perm is not None:
        if perm.shape[0] != n:
            raise ValueError("perceptron_epoch_csr: perm length does not match X")
        perm_ptr = &perm[0]
    with nogil:
        err = fm_perceptron_epoch_csr_f64(data_ptr, indices_ptr, index_size, &indptr[0], n,
                                          n_features, &y_sign[0], sw_ptr, &w[0], &b[0], eta0,
                                          fit_intercept, shuffle, seed, epoch, perm_ptr,
                                          &n_mistakes, &loss_sum)
    _check(err)
    return n_mistakes, loss_sum


def perceptron_epoch(const double[:, ::1] X, const int8_t[::1] y_sign, const double[::1] sw,
                     double[::1] w, double[::1] b, double eta0, bint fit_intercept,
                     bint shuffle, uint64_t seed, uint64_t epoch, int64_t[::1] perm):
    """One epoch of the perceptron rule in C on one binary problem (labels +1/-1 in y_sign):
    updates w (n_features) and b (one value) in place; returns (mistakes, perceptron loss sum).
    sw may be None (weights 1); perm is n_samples of scratch, None allowed without shuffle."""
    cdef int64_t n = X.shape[0], n_features = X.shape[1]
    cdef int64_t n_mistakes = 0
    cdef double loss_sum = 0
    cdef const double *sw_ptr = NULL
    cdef int64_t *perm_ptr = NULL
    cdef int err
    if y_sign.shape[0] != n or w.shape[0] != n_features or b.shape[0] != 1:
        raise ValueError("perceptron_epoch: array shapes do not match X")
    if sw is not None:
        if sw.shape[0] != n:
            raise ValueError("perceptron_epoch: sample_weight length does not match X")
        sw_ptr = &sw[0]
    if perm is not None:
        if perm.shape[0] != n:
            raise ValueError("perceptron_epoch: perm length does not match X")
        perm_ptr = &perm[0]
    if n == 0 or n_features == 0:
        raise ValueError("perceptron_epoch: X must have at least one sample and one feature")
    with nogil:
        err = fm_perceptron_epoch_f64(&X[0, 0], &y_sign[0], sw_ptr, n, n_features, &w[0], &b[0],
                                      eta0, fit_intercept, shuffle, seed, epoch, perm_ptr,
                                      &n_mistakes, &loss_sum)
    _check(err)
    return n_mistakes, loss_sum
