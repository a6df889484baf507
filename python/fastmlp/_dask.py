"""Dask input: fit, partial_fit, predict and score on data that lives on a cluster.

The estimators hand dask arrays and dask DataFrames (recognised by duck typing: their type has
``__dask_graph__``) to this module, which imports dask only then. Nothing here gathers X to the
driver:

- ``FullBatchObjective`` (solver 'lbfgs'): each chunk's task computes the data term of the loss
  and its gradient with the C core where the chunk lives, as sums (the C core's per-chunk mean
  times the chunk's weight); the sums are added in a fixed tree over the chunk order on the
  workers, so one loss, one gradient and one weight reach the driver per evaluation, and the
  result is the same for a given chunking whatever the placement. The penalty terms are added
  once, on the driver, as the C core adds them to the in-memory objective.
- ``ChunkRunner`` (stochastic solvers): an epoch is one pass over the chunks, in an order drawn
  from the shuffling key and the epoch, with the rows of each chunk in an order drawn likewise;
  the chunks come to the driver one at a time, the next one fetched while the current one
  trains. Rows left over at the end of a chunk (fewer than a batch) open the next chunk's first
  batch, so every batch but the epoch's last is full, as in memory.
- ``ChunkValidation`` (early stopping): the validation rows are a fixed random share of each
  chunk's rows (``Split``); the validation score and loss are computed on the workers from
  per-chunk sums.
- ``predict_blocks`` / ``score``: block-wise on the workers, the model sent once per call.

The scheduler is the one ``dask.compute`` would use. With a distributed client (a
``LocalCluster`` or ``Client("tcp://scheduler:8786")``) a fit persists the data and prepares
each chunk once on the worker holding it (``Chunks``); its per-chunk work is pinned there.
dask's in-process schedulers run the same functions in the same fixed order, so they give the
same bits.
"""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _core, _training
from ._model_state import ModelState, network_like

# Parts summed by one task of the fixed reduction tree (in chunk order).
TREE_FAN_IN = 8
# Rows per call into the C core's loss and gradient (bounds the workspace; as in memory).
LOSS_GRAD_ROWS = 4096
_KEY_MASK = 2**64 - 1


def is_collection(obj):
    """Whether obj is a dask collection (array, DataFrame, Series), without importing dask."""
    cls = type(obj)
    # (ndarrays first: this is on every predict call's path)
    return cls is not np.ndarray and obj is not None and callable(
        getattr(cls, "__dask_graph__", None))


def import_dask():
    """(dask, dask.array), or an ImportError saying what to install."""
    try:
        import dask
        import dask.array
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "fastmlp was given a dask collection, which needs dask: pip install "
            "'fastmlp[dask]' (or pip install 'dask[distributed]')."
        ) from exc
    return dask, dask.array


def feature_names(X):
    """The column names of a dask DataFrame (None for other input), as scikit-learn reads them:
    only when they are all strings."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "to_dask_array"):
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) and all(isinstance(name, str) for name in names):
        return names
    return None


def _as_dask_array(obj, name):
    """A dask array from a dask array, DataFrame or Series; in-memory input as a numpy array."""
    if hasattr(obj, "to_dask_array"):  # dask DataFrame or Series
        return obj.to_dask_array(lengths=True)
    if is_collection(obj):
        if not hasattr(obj, "chunks"):
            raise TypeError(
                "%s is a dask collection of type %s; fastmlp accepts dask arrays, DataFrames and "
                "Series." % (name, type(obj).__name__)
            )
        return obj
    return np.asarray(obj)


def _known_rows(array):
    """array with known row chunk sizes (computed on the cluster when they are not)."""
    if any(math.isnan(c) for c in array.chunks[0]):
        array = array.compute_chunk_sizes()
    return array


def training_dtype(dtype):
    """The precision fit trains in: float32 input stays float32, anything else float64."""
    return np.dtype(np.float32) if dtype == np.float32 else np.dtype(np.float64)


class ChunkedData:
    """X, y and sample_weight as dask arrays with the same row chunks, X in one column chunk.

    y and sample_weight may be in memory (numpy, lists): they are then cut into X's row chunks.
    ``blocks`` holds one (X block, y block, weight block or None) of dask delayed objects per
    chunk, in row order; ``rows`` the chunks' lengths."""

    def __init__(self, X, y=None, sample_weight=None):
        dask, da = import_dask()
        X = _as_dask_array(X, "X")
        if not is_collection(X):
            X = da.from_array(np.asarray(X))
        if X.ndim != 2:
            raise ValueError(
                "Expected a 2-dimensional dask array or DataFrame for X, got %d dimension(s) "
                "of shape %s." % (X.ndim, X.shape)
            )
        if X.dtype.kind not in "biuf":
            raise ValueError(
                "X must hold numbers (bool, integer or float); got dtype %s." % X.dtype
            )
        X = _known_rows(X)
        if X.numblocks[1] != 1:
            X = X.rechunk({1: -1})
        self.X = X
        self.rows = tuple(int(r) for r in X.chunks[0])
        self.n_samples = int(sum(self.rows))
        self.n_features = int(X.shape[1])
        self.dtype = training_dtype(X.dtype)
        self.y = None if y is None else self._aligned(y, "y")
        self.sample_weight = (
            None if sample_weight is None else self._aligned(sample_weight, "sample_weight")
        )
        if self.sample_weight is not None and self.sample_weight.ndim != 1:
            raise ValueError(
                "sample_weight must be 1-dimensional; got shape %s." % (self.sample_weight.shape,)
            )
        x_blocks = list(X.to_delayed(optimize_graph=False).ravel())
        y_blocks = [None] * len(x_blocks) if self.y is None else list(self.y.to_delayed(optimize_graph=False).ravel())
        w_blocks = (
            [None] * len(x_blocks)
            if self.sample_weight is None
            else list(self.sample_weight.to_delayed(optimize_graph=False).ravel())
        )
        self.blocks = list(zip(x_blocks, y_blocks, w_blocks))

    def _aligned(self, values, name):
        _, da = import_dask()
        array = _as_dask_array(values, name)
        if array.ndim not in (1, 2):
            raise ValueError("%s must be 1- or 2-dimensional; got shape %s." % (name, array.shape))
        if is_collection(array):
            array = _known_rows(array)
            if int(array.shape[0]) != self.n_samples:
                raise ValueError(
                    "Found input variables with inconsistent numbers of samples: [%d, %d] (X "
                    "and %s)." % (self.n_samples, int(array.shape[0]), name)
                )
            chunks = (self.rows,) + tuple(-1 for _ in array.shape[1:])
            if array.chunks[0] != self.rows or (array.ndim == 2 and array.numblocks[1] != 1):
                array = array.rechunk(chunks)
            return array
        if array.shape[0] != self.n_samples:
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: [%d, %d] (X and "
                "%s)." % (self.n_samples, array.shape[0], name)
            )
        return da.from_array(array, chunks=(self.rows,) + array.shape[1:])

    def target_summary(self, classifier):
        """What fit needs to know of y before training, computed on the cluster in one pass:
        (classes, counts) for a classifier, the minimum of y for a regressor; and whether X,
        y and the weights are all finite."""
        dask, da = import_dask()
        finite = [da.isfinite(self.X).all()] if self.X.dtype.kind == "f" else []
        if self.sample_weight is not None:
            finite.append(da.isfinite(self.sample_weight).all())
        if classifier:
            if self.y.ndim != 1 and not (self.y.ndim == 2 and self.y.shape[1] == 1):
                raise ValueError(
                    "Classification targets from dask must be 1-dimensional class labels; "
                    "multilabel targets (shape %s) are not supported with dask input." %
                    (self.y.shape,)
                )
            labels = self.y.ravel() if self.y.ndim == 2 else self.y
            summary = da.unique(labels, return_counts=True)
        else:
            if self.y.dtype.kind not in "biuf":
                raise ValueError("Regression targets y must be numbers; got dtype %s." % self.y.dtype)
            finite.append(da.isfinite(self.y).all())
            summary = (self.y.min(),)
        results = dask.compute(*finite, *summary)
        if not all(bool(f) for f in results[: len(finite)]):
            raise ValueError(
                "Input X, y or sample_weight contains NaN or infinity (found on the cluster)."
            )
        return results[len(finite):]


class TargetEncoder:
    """Encodes a chunk's targets as the C core trains on them (the in-memory encoding), and its
    weights times the class weights; sent to the workers with each task."""

    def __init__(self, dtype, classes=None, y_type=None, margin=False, class_weights=None,
                 n_outputs=1, poisson=False):
        self.dtype = np.dtype(dtype)
        self.classes = classes
        self.y_type = y_type
        self.margin = margin
        self.class_weights = class_weights
        self.n_outputs = n_outputs
        self.poisson = poisson

    def __call__(self, y, sample_weight):
        """(Y, weights or None) for a chunk's targets y and weights sample_weight."""
        dtype = self.dtype
        if self.classes is None:
            Y = np.asarray(y, dtype=dtype).reshape(len(y), -1)
            if self.poisson and np.any(Y < 0):
                raise ValueError("loss='poisson' requires non-negative targets y; got min(y) = "
                                 "%r." % float(Y.min()))
            weights = sample_weight
        else:
            labels = np.asarray(y).ravel()
            classes = self.classes
            indices = np.minimum(np.searchsorted(classes, labels), len(classes) - 1)
            if labels.size and not np.all(classes[indices] == labels):
                unknown = np.unique(labels[classes[indices] != labels])
                raise ValueError(
                    "`y` has classes not in `self.classes_`. `self.classes_` has %s. 'y' has "
                    "%s." % (classes, unknown[:10])
                )
            n_classes = len(classes)
            if self.y_type == "multiclass" or self.margin:
                Y = np.zeros((labels.size, max(n_classes, 2) if self.margin else n_classes),
                             dtype=dtype)
                Y[np.arange(labels.size), indices] = 1
            elif n_classes == 2:
                Y = (indices == 1).astype(dtype).reshape(-1, 1)
            else:
                Y = np.zeros((labels.size, 1), dtype=dtype)
            weights = sample_weight
            if self.class_weights is not None:
                row_weights = self.class_weights[indices]
                weights = row_weights if weights is None else np.asarray(weights) * row_weights
        if weights is not None:
            weights = np.ascontiguousarray(weights, dtype=dtype).ravel()
        return np.ascontiguousarray(Y, dtype=dtype), weights


class ChunkModel:
    """What a worker needs to compute on its chunks: the network, the precision and the target
    encoder (the parameters travel separately, once per evaluation)."""

    def __init__(self, network, dtype, encoder):
        self.network = network
        self.dtype = np.dtype(dtype)
        self.encoder = encoder
        self.data_network = network_like(network, alpha=0.0, alpha_l1=0.0)

    def prepare(self, x, y, sample_weight):
        """A chunk as the C core reads it: (X, Y, weights or None), C-contiguous, in the
        model's precision."""
        X = np.ascontiguousarray(x, dtype=self.dtype)
        Y, weights = self.encoder(y, sample_weight)
        return X, Y, weights

    def data_sums(self, X, Y, weights, params):
        """(data-term loss sum, gradient sum (float64), weight) of the rows X, Y: the C core's
        loss and gradient without the penalty terms, times the rows' weight."""
        network = self.data_network
        n = X.shape[0]
        weight = float(n) if weights is None else float(np.sum(weights, dtype=np.float64))
        if n == 0 or weight == 0.0:
            return 0.0, np.zeros(network.n_params), weight
        workspace = _core.Workspace(network, min(n, LOSS_GRAD_ROWS), self.dtype.itemsize)
        grad = np.empty(network.n_params, dtype=self.dtype)
        loss = _core.loss_grad(workspace, params, X, Y, weights, grad)
        return loss * weight, grad.astype(np.float64) * weight, weight


def _data_sums_at(chunk, model, params, index):
    X, Y, weights = chunk
    return model.data_sums(X, Y, weights, np.asarray(params, dtype=model.dtype))


def _prepared_chunk(x, y, sample_weight, model):
    return model.prepare(x, y, sample_weight)


def _add_parts(*parts):
    """The sum of tuples of numbers and arrays, added in the order given."""
    total = [np.array(value, dtype=np.float64, copy=True) for value in parts[0]]
    for part in parts[1:]:
        for i, value in enumerate(part):
            total[i] += value
    return tuple(total)


def _tree_sum(parts):
    """The sum of delayed parts, as a fixed tree over their order (TREE_FAN_IN per node): the
    same additions in the same order whichever workers compute them."""
    dask, _ = import_dask()
    while len(parts) > 1:
        parts = [
            dask.delayed(_add_parts, pure=True)(*parts[i : i + TREE_FAN_IN])
            for i in range(0, len(parts), TREE_FAN_IN)
        ]
    return parts[0]


def distributed_client():
    """The dask.distributed client dask.compute would use now, or None: no client, or another
    scheduler chosen (``dask.config.set(scheduler="threads")``)."""
    dask, _ = import_dask()
    try:
        from distributed import Client
    except ImportError:
        return None
    scheduler = dask.base.get_scheduler()
    client = getattr(scheduler, "__self__", None)
    return client if isinstance(client, Client) else None


class Chunks:
    """The chunks of a fit, prepared as the C core reads them (``ChunkModel.prepare``), and the
    computations on them.

    With a distributed client the data is persisted on the cluster and each chunk prepared
    once, on the worker holding it; every computation on a chunk then runs on a worker holding
    the prepared chunk (a strict restriction, refreshed from the scheduler at each call, so
    that neither the scheduler's placement nor work stealing moves chunks between workers),
    and only its small result travels. Without one (dask's in-process schedulers), each call
    prepares the chunks again inside its tasks.

    ``reduce(func, *args)`` is the sum, over the chunks in a fixed tree in chunk order, of
    ``func(chunk, *args, index)``; ``fetch(i)`` brings chunk i to the caller."""

    # seconds between checks that the workers a call is restricted to are still there
    WATCH_SECONDS = 5.0

    def __init__(self, data, model):
        self.data = data
        self.model = model
        self.rows = data.rows
        self.client = distributed_client()
        self.futures = None
        if self.client is not None:
            self._prepare_on_cluster()

    def _prepare_on_cluster(self):
        from distributed import futures_of, wait

        client = self.client
        arrays = [a for a in (self.data.X, self.data.y, self.data.sample_weight) if a is not None]
        arrays = client.persist(arrays)
        by_key = {}
        for array in arrays:
            for future in futures_of(array):
                by_key[future.key] = future
        columns = [[by_key[k] for k in _block_keys(array)] for array in arrays]
        x_futures = columns[0]
        y_futures = columns[1] if self.data.y is not None else [None] * len(x_futures)
        w_futures = columns[-1] if self.data.sample_weight is not None else [None] * len(x_futures)
        model = client.scatter(self.model, broadcast=True, hash=False)
        wait(x_futures)
        holders = client.who_has(x_futures)
        self.futures = [
            client.submit(_prepared_chunk, x, y, w, model, pure=False,
                          workers=list(holders.get(x.key, ())) or None, allow_other_workers=True)
            for x, y, w in zip(x_futures, y_futures, w_futures)
        ]
        wait(self.futures)
        self._model_future = model
        self._arrays = arrays  # the persisted data, held while the fit runs

    def _delayed_chunks(self):
        dask, _ = import_dask()
        model = dask.delayed(self.model)
        return [dask.delayed(_prepared_chunk, pure=True)(x, y, w, model)
                for x, y, w in self.data.blocks]

    def reduce(self, func, *args):
        """The sum over chunks of func(chunk, *args, index), added in a fixed tree."""
        if self.client is None:
            dask, _ = import_dask()
            shared = [dask.delayed(a) if isinstance(a, (np.ndarray, ChunkModel)) else a
                      for a in args]
            parts = [dask.delayed(func, pure=True)(chunk, *shared, i)
                     for i, chunk in enumerate(self._delayed_chunks())]
            (total,) = dask.compute(_tree_sum(parts))
            return total
        for _ in range(3):
            result = self._reduce_on_cluster(func, args)
            if result is not None:
                return result
        raise RuntimeError("dask workers holding the training data kept leaving the cluster")

    def _reduce_on_cluster(self, func, args):
        from distributed import TimeoutError as DistributedTimeoutError

        client = self.client
        shared = [self._model_future if a is self.model
                  else client.scatter(a, hash=False) if isinstance(a, np.ndarray) else a
                  for a in args]
        holders = client.who_has(self.futures)
        restricted = []
        parts = []
        for i, chunk in enumerate(self.futures):
            workers = list(holders.get(chunk.key, ()))
            restricted.append(workers)
            parts.append(client.submit(func, chunk, *shared, i, workers=workers or None,
                                       allow_other_workers=not workers, pure=False))
        while len(parts) > 1:
            parts = [client.submit(_add_parts, *parts[i : i + TREE_FAN_IN], pure=False)
                     for i in range(0, len(parts), TREE_FAN_IN)]
        root = parts[0]
        while True:
            try:
                return root.result(timeout=self.WATCH_SECONDS)
            except (DistributedTimeoutError, TimeoutError):
                alive = set(client.scheduler_info().get("workers", {}))
                if any(workers and not alive.intersection(workers) for workers in restricted):
                    return None  # a restriction names only departed workers: submit again

    def fetch(self, index):
        """Chunk index (X, Y, weights) as numpy arrays here."""
        if self.client is None:
            dask, _ = import_dask()
            (chunk,) = dask.compute(self._delayed_chunks()[index])
            return chunk
        return self.futures[index].result()


def _block_keys(array):
    keys = array.__dask_keys__()
    while keys and isinstance(keys[0], list):
        keys = [k for sub in keys for k in sub]
    return keys


def weight_penalty(params, n_weights, alpha, alpha_l1):
    """(0.5 * alpha * sum(W ** 2) + alpha_l1 * sum(|W|), its gradient on W) in float64, W the
    first n_weights parameters (every weight matrix; biases and the rest are not penalized)."""
    weights = np.asarray(params[:n_weights], dtype=np.float64)
    value = 0.0
    grad = np.zeros(n_weights)
    if alpha != 0:
        value += 0.5 * alpha * float(np.dot(weights, weights))
        grad += alpha * weights
    if alpha_l1 != 0:
        value += alpha_l1 * float(np.abs(weights).sum())
        grad += alpha_l1 * np.sign(weights)
    return value, grad


class FullBatchObjective:
    """The full-batch objective of 'lbfgs' on chunked data: called with the parameters (float64,
    as scipy's L-BFGS-B passes them), returns (loss, gradient in float64). Counts its calls
    (``n_calls``)."""

    def __init__(self, chunks, n_weights, alpha, alpha_l1):
        self.chunks = chunks
        self.model = chunks.model
        self.n_weights = n_weights
        self.alpha = alpha
        self.alpha_l1 = alpha_l1
        self.n_calls = 0

    def sums(self, params):
        """(data loss sum, gradient sum, weight) over every chunk, for params of the model's
        dtype."""
        return self.chunks.reduce(_data_sums_at, self.model,
                                  np.array(params, dtype=self.model.dtype, copy=True))

    def __call__(self, packed):
        self.n_calls += 1
        params = np.asarray(packed, dtype=self.model.dtype)
        loss_sum, grad_sum, weight = self.sums(params)
        weight = float(weight)
        penalty, penalty_grad = weight_penalty(params, self.n_weights, self.alpha, self.alpha_l1)
        grad = np.array(grad_sum, dtype=np.float64)
        grad[: self.n_weights] += penalty_grad
        grad /= weight
        # the C core's gradient is of the parameters' precision
        grad = grad.astype(self.model.dtype).astype(np.float64)
        return float(loss_sum) / weight + penalty / weight, grad


# ---------------------------------------------------------------------- stochastic solvers


def chunk_key(seed, index):
    """The shuffling key of chunk index's rows, derived from the fit's key."""
    return (int(seed) + 0x9E3779B97F4A7C15 * (int(index) + 1)) & _KEY_MASK


class Split:
    """Early stopping's validation rows: in chunk i of n rows, the ceil(fraction * n) rows that
    come first in the permutation keyed by (seed, i); the others train. The same on the driver
    and on the workers, so no rows travel for it."""

    def __init__(self, seed, fraction):
        self.seed = int(seed)
        self.fraction = float(fraction)

    def _permutation(self, index, n):
        return _core.permutation(chunk_key(self.seed, index), 0, n)

    def n_validation(self, n):
        return int(math.ceil(self.fraction * n)) if n else 0

    def validation_rows(self, index, n):
        return np.sort(self._permutation(index, n)[: self.n_validation(n)])

    def training_rows(self, index, n):
        return np.sort(self._permutation(index, n)[self.n_validation(n):])


def _training_figures(chunk, split, index):
    """(weight, weighted sum of Y, weighted sum of Y ** 2) over a chunk's training rows."""
    _, Y, weights = chunk
    if split is not None:
        rows = split.training_rows(index, Y.shape[0])
        Y = Y[rows]
        weights = None if weights is None else weights[rows]
    Y = Y.astype(np.float64)
    w = np.ones(Y.shape[0]) if weights is None else weights.astype(np.float64)
    return float(w.sum()), w @ Y, w @ (Y * Y)


def training_figures(chunks, split):
    """(weight of the training rows, their total sum of squares about the weighted mean of each
    output, pooled over outputs), computed on the cluster from the targets."""
    weight, s1, s2 = chunks.reduce(_training_figures, split)
    weight = float(weight)
    sst = float(np.sum(s2 - s1 * s1 / weight)) if weight > 0 else 0.0
    return weight, max(sst, 0.0)


class ChunkStream:
    """The prepared chunks brought to the driver one at a time in a given order, the next one
    fetched (by a background thread) while the current one is used: at most two chunks are on
    the driver."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.n_features = chunks.data.n_features

    def for_each(self, order, use):
        """Calls use(index, X, Y, weights) for each chunk index in order. The next chunk is
        fetched while use runs, and a chunk is dropped before the fetch after the next one
        starts: at most two chunks are here at once."""
        order = [int(i) for i in order]
        if not order:
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastmlp-dask-fetch")
        pending = None
        try:
            pending = pool.submit(self.chunks.fetch, order[0])
            for k, index in enumerate(order):
                chunk = pending.result()
                pending = (pool.submit(self.chunks.fetch, order[k + 1])
                           if k + 1 < len(order) else None)
                use(index, *chunk)
                del chunk
        finally:
            if pending is not None:
                pending.cancel()
            pool.shutdown(wait=True)


class ChunkRunner:
    """Runs the epochs of a stochastic fit on chunked data (the interface of
    ``_training.EpochRunner``): each epoch trains on the chunks in the order
    ``permutation(seed, epoch, n_chunks)`` (in row order without shuffle), the training rows
    of each chunk in the order ``permutation(chunk_key(seed, i), epoch, n)``; rows left over at
    a chunk's end open the next chunk's first batch. Deterministic for a given chunking, seed
    and thread count-independent, as the C core is."""

    def __init__(self, optimizer, workspace, params, stream, split, rows, batch_size, seed,
                 shuffle, progress):
        self.optimizer, self.workspace, self.params = optimizer, workspace, params
        self.stream, self.split, self.rows = stream, split, rows
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.progress = progress
        self.rows_per_call = _training.rows_per_call(
            workspace.network.n_params, stream.n_features, batch_size,
            workspace.elem_size, False,
        )

    def _chunk_order(self, epoch):
        n = len(self.rows)
        if self.shuffle:
            return _core.permutation(self.seed, epoch, n)
        return np.arange(n)

    def _row_order(self, index, n, epoch):
        rows = self.split.training_rows(index, n) if self.split is not None else None
        count = n if rows is None else rows.shape[0]
        if self.shuffle:
            order = _core.permutation(chunk_key(self.seed, index), epoch, count)
            return order if rows is None else rows[order]
        return np.arange(n, dtype=np.int64) if rows is None else rows

    def _train(self, X, Y, weights, rows, epoch, position, sums):
        self.optimizer.train(self.workspace, self.params, sums, X, Y, weights, rows,
                             self.batch_size, self.seed, epoch, position)

    def run(self, epoch, sums):
        """One epoch keyed by epoch (the samples seen before it), adding to sums in place."""
        self._epoch, self._sums = epoch, sums
        self._position = 0
        self._carry = None  # (X, Y, weights) of fewer than batch_size rows, in training order
        self.progress.start()
        self.stream.for_each(self._chunk_order(epoch), self._train_chunk)
        if self._carry is not None:
            X, Y, weights = self._carry
            self._carry = None
            self._train(X, Y, weights, None, epoch, self._position, sums)
            self.progress.update(X.shape[0])
        self.progress.finish()

    def _train_chunk(self, index, X, Y, weights):
        """Trains on chunk index's training rows in this epoch's order, the rows carried over
        from the chunks before first."""
        batch_size, epoch, sums = self.batch_size, self._epoch, self._sums
        order = self._row_order(index, X.shape[0], epoch)
        start = 0
        if self._carry is not None:
            need = batch_size - self._carry[0].shape[0]
            head = order[:need]
            carry = self._carry
            w = None if weights is None else np.concatenate([carry[2], weights[head]])
            self._carry = (np.concatenate([carry[0], X[head]]),
                           np.concatenate([carry[1], Y[head]]), w)
            start = head.shape[0]
            if self._carry[0].shape[0] < batch_size:
                return
            cX, cY, cw = self._carry
            self._carry = None
            self._train(cX, cY, cw, None, epoch, self._position, sums)
            self._position += batch_size
            self.progress.update(batch_size)
        full = start + (order.shape[0] - start) // batch_size * batch_size
        for begin in range(start, full, self.rows_per_call):
            end = min(full, begin + self.rows_per_call)
            self._train(X, Y, weights, order[begin:end], epoch, self._position, sums)
            self._position += end - begin
            self.progress.update(end - begin)
        if full < order.shape[0]:
            rest = order[full:]
            self._carry = (X[rest], Y[rest], None if weights is None else weights[rest])

    def close(self):
        self.progress.close()


def _validation_sums(chunk, model, params, split, classifier, index):
    """Per-chunk sums of early stopping's validation rows: (data loss sum, weight, score
    sums): for a classifier the weight of the rows predicted right; for a regressor the
    weighted sums of squared errors, of Y and of Y ** 2 per output."""
    X, Y, weights = chunk
    rows = split.validation_rows(index, X.shape[0])
    X = np.ascontiguousarray(X[rows])
    Y = np.ascontiguousarray(Y[rows])
    weights = None if weights is None else np.ascontiguousarray(weights[rows])
    n_out = Y.shape[1]
    w = np.ones(X.shape[0]) if weights is None else weights.astype(np.float64)
    weight = float(w.sum())
    if X.shape[0] == 0 or weight == 0.0:
        return (0.0, weight, 0.0) if classifier else (0.0, weight, np.zeros(3 * n_out))
    params = np.asarray(params, dtype=model.dtype)
    network = model.network
    output = ModelState(network, params).predict_converted(X)
    data_network = network_like(network, alpha=0.0, alpha_l1=0.0)
    data_loss = ModelState(data_network, params).evaluation_loss(X, Y, weights, penalty_rows=1,
                                                                 weight=weight)
    if classifier:
        if Y.shape[1] == 1:
            right = (output[:, 0] > 0.5) == (Y[:, 0] > 0.5)
        else:
            right = output.argmax(axis=1) == Y.argmax(axis=1)
        score = float(w @ right)
    else:
        Yd = Y.astype(np.float64)
        score = np.concatenate([w @ ((Yd - output) ** 2), w @ Yd, w @ (Yd * Yd)])
    return data_loss * weight, weight, score


def r2_from_sums(sums, weight):
    """R^2 averaged over outputs (r2_score's 'uniform_average', 1 or 0 for a constant output)
    from the weighted sums of squared errors, of y and of y ** 2 per output."""
    n_out = sums.shape[0] // 3
    sse, s1, s2 = sums[:n_out], sums[n_out:2 * n_out], sums[2 * n_out:]
    sst = s2 - s1 * s1 / weight
    r2 = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), np.where(sse == 0, 1.0, 0.0))
    return float(np.mean(r2))


class ChunkValidation:
    """Early stopping's validation on chunked data (the interface of
    ``_training.Validation``): evaluate() returns (score, loss) of the current parameters,
    computed on the workers from each chunk's validation rows (``Split``). The score is the
    weighted accuracy (classifiers) or R^2 averaged over outputs (regressors), the loss the data
    term plus the penalty of one training batch, as in memory."""

    def __init__(self, chunks, params, split, classifier, n_weights, batch_size):
        self.chunks, self.params, self.split = chunks, params, split
        self.classifier = classifier
        self.n_weights = n_weights
        self.batch_size = batch_size

    def evaluate(self):
        model = self.chunks.model
        loss_sum, weight, score_sums = self.chunks.reduce(
            _validation_sums, model, np.array(self.params, copy=True), self.split,
            self.classifier)
        weight = float(weight)
        network = model.network
        penalty, _ = weight_penalty(self.params, self.n_weights, network.alpha, network.alpha_l1)
        loss = float(loss_sum) / weight + penalty / self.batch_size
        if self.classifier:
            return float(score_sums) / weight, loss
        return r2_from_sums(np.asarray(score_sums), weight), loss


# ---------------------------------------------------------------------- predict and score


def _apply(x, estimator, method):
    return getattr(estimator, method)(x)


def predict_blocks(estimator, method, X):
    """estimator.<method> applied block by block to the dask array or DataFrame X on the
    workers, as a dask array with X's row chunks (the estimator is sent once per call)."""
    dask, da = import_dask()
    X = _as_dask_array(X, "X")
    if X.ndim != 2:
        raise ValueError("Expected a 2-dimensional dask array or DataFrame for X, got shape %s."
                         % (X.shape,))
    X = _known_rows(X)
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    # the output's dtype and width, from one row computed here
    sample = np.asarray(getattr(estimator, method)(np.zeros((1, X.shape[1]), dtype=X.dtype)))
    model = dask.delayed(estimator)
    blocks = [
        da.from_delayed(dask.delayed(_apply, pure=True)(block, model, method),
                        shape=(int(rows),) + sample.shape[1:], dtype=sample.dtype)
        for block, rows in zip(X.to_delayed(optimize_graph=False).ravel(), X.chunks[0])
    ]
    return da.concatenate(blocks, axis=0)


def _score_sums(x, y, sample_weight, estimator, classifier):
    predictions = estimator.predict(x)
    y = np.asarray(y)
    w = np.ones(y.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if classifier:
        return float(w @ (predictions.reshape(y.shape) == y).reshape(y.shape[0], -1).all(axis=1)), \
            float(w.sum())
    Y = y.astype(np.float64).reshape(y.shape[0], -1)
    P = np.asarray(predictions, dtype=np.float64).reshape(Y.shape)
    return np.concatenate([w @ ((Y - P) ** 2), w @ Y, w @ (Y * Y)]), float(w.sum())


def score(estimator, X, y, sample_weight, classifier):
    """estimator.score on dask input, from per-chunk sums computed on the workers: the weighted
    accuracy (classifiers) or R^2 averaged over outputs (regressors, as r2_score)."""
    dask, _ = import_dask()
    data = ChunkedData(X, y, sample_weight)
    model = dask.delayed(estimator)
    parts = [
        dask.delayed(_score_sums, pure=True)(x, yb, w, model, classifier)
        for x, yb, w in data.blocks
    ]
    (sums, weight), = dask.compute(_tree_sum(parts))
    weight = float(weight)
    if classifier:
        return float(sums) / weight
    return r2_from_sums(np.asarray(sums), weight)
