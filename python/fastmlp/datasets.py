"""Small dataset loaders for examples, benchmarks and the command line.

The loaders return ``(X, y)`` pairs ready for :class:`fastmlp.MLPClassifier`:
``X`` is a C-contiguous ``float32`` array of shape ``(n_samples, n_features)``
with pixel values scaled to ``[0, 1]`` and ``y`` is an ``int64`` array of
shape ``(n_samples,)``. Nothing is ever downloaded: :func:`load_mnist` and
:func:`load_fashion_mnist` read IDX files from a local folder and
:func:`load_digits` uses the small digits set embedded in scikit-learn.
"""

import gzip
import os
import zlib

import numpy as np

__all__ = ["load_idx", "load_mnist", "load_fashion_mnist", "load_digits"]

# What the loaders divide the stored values by to put them in [0, 1]: IDX pixels are bytes
# (0 to 255), scikit-learn's digits are counts 0 to 16. The command line folds the same factors
# into the models it saves, which then take the stored values.
_PIXEL_SCALE = 255
_DIGITS_SCALE = 16

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension

# Base file names of the MNIST-format splits, as (images, labels).
_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_file_bytes(path, what):
    """Return the (decompressed) content of ``path``.

    The file is treated as gzip data when it starts with the gzip magic bytes
    ``1f 8b``, whatever its name; otherwise its raw bytes are returned.

    Parameters
    ----------
    path : str or os.PathLike
        File to read.
    what : str
        Human readable description of the file used in error messages,
        e.g. ``"IDX images file"``.

    Returns
    -------
    data : bytes
        The file content, decompressed if it was gzipped.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head != _GZIP_MAGIC:
                return f.read()
            try:
                with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                    return gz.read()
            except EOFError:
                raise ValueError(
                    f"{what} '{path}' is a truncated gzip file (the compressed "
                    "stream ends early); re-download or re-extract it"
                ) from None
            except (OSError, zlib.error) as exc:
                raise ValueError(
                    f"{what} '{path}' starts like a gzip file but could not be "
                    f"decompressed: {exc}"
                ) from None
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: '{path}'") from None
    except IsADirectoryError:
        raise ValueError(
            f"{what} '{path}' is a directory; expected a file"
        ) from None


def _parse_idx(data, path, what, magic, n_dims):
    """Validate an IDX header and return the dimensions and the payload offset.

    Parameters
    ----------
    data : bytes
        Whole (decompressed) file content.
    path : str or os.PathLike
        File name, only used in error messages.
    what : str
        Human readable description of the file used in error messages.
    magic : int
        Expected magic number.
    n_dims : int
        Number of dimensions announced by ``magic``.

    Returns
    -------
    dims : tuple of int
        The ``n_dims`` dimension sizes from the header.
    offset : int
        Byte offset of the first data byte.
    """
    header_size = 4 + 4 * n_dims
    if len(data) < 4:
        raise ValueError(
            f"{what} '{path}' is truncated: it holds {len(data)} bytes, too few "
            "for an IDX magic number"
        )
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        msg = (
            f"{what} '{path}' has a bad magic number: expected "
            f"0x{magic:08X}, found 0x{found:08X}"
        )
        if found in (_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC):
            kind = "images" if found == _IDX_IMAGES_MAGIC else "labels"
            msg += f" (this is an IDX {kind} file; are the paths swapped?)"
        raise ValueError(msg)
    if len(data) < header_size:
        raise ValueError(
            f"{what} '{path}' is truncated: the header needs {header_size} "
            f"bytes but the file holds {len(data)}"
        )
    dims = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)
    )
    expected = 1
    for d in dims:
        expected *= d
    available = len(data) - header_size
    if available < expected:
        raise ValueError(
            f"{what} '{path}' is truncated: the header declares "
            f"{' x '.join(map(str, dims))} bytes of data ({expected}) but only "
            f"{available} follow"
        )
    if available > expected:
        raise ValueError(
            f"{what} '{path}' is malformed: the header declares "
            f"{' x '.join(map(str, dims))} bytes of data ({expected}) but "
            f"{available} follow"
        )
    return dims, header_size


def load_idx(images_path, labels_path):
    """Load an images file and a labels file in IDX format.

    IDX is the format of MNIST and Fashion-MNIST. The images file holds
    unsigned bytes with magic number ``0x00000803`` and dimensions
    ``(n_images, n_rows, n_cols)``; the labels file holds unsigned bytes with
    magic number ``0x00000801`` and dimension ``(n_labels,)``. Either file
    may be gzip-compressed: compression is detected from the content (the
    gzip magic bytes), not from the file name.

    Parameters
    ----------
    images_path : str or os.PathLike
        Path of the IDX images file, e.g. ``train-images-idx3-ubyte.gz``.
    labels_path : str or os.PathLike
        Path of the IDX labels file, e.g. ``train-labels-idx1-ubyte.gz``.

    Returns
    -------
    X : ndarray of shape (n_images, n_rows * n_cols), dtype float32
        C-contiguous pixel values divided by 255, so in ``[0, 1]``; each
        image is flattened row by row.
    y : ndarray of shape (n_images,), dtype int64
        The labels.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        If a file has a bad magic number, is truncated or has trailing
        bytes, is a corrupt gzip file, or if the number of images differs
        from the number of labels. The message names the offending file.

    See Also
    --------
    load_mnist : Load a split of MNIST from a folder of IDX files.

    Examples
    --------
    Two 2 x 3 images written as IDX files (big-endian header: magic number,
    then the dimensions), and read back:

    >>> import os, struct, tempfile
    >>> from fastmlp.datasets import load_idx
    >>> folder = tempfile.mkdtemp()
    >>> images = os.path.join(folder, "images-idx3-ubyte")
    >>> labels = os.path.join(folder, "labels-idx1-ubyte")
    >>> with open(images, "wb") as f:
    ...     _ = f.write(struct.pack(">IIII", 0x803, 2, 2, 3) + bytes(range(0, 252, 21)))
    >>> with open(labels, "wb") as f:
    ...     _ = f.write(struct.pack(">II", 0x801, 2) + bytes([7, 1]))
    >>> X, y = load_idx(images, labels)
    >>> X.shape, X.dtype, y.tolist()
    ((2, 6), dtype('float32'), [7, 1])
    >>> [round(float(v), 2) for v in X[1]]
    [0.49, 0.58, 0.66, 0.74, 0.82, 0.91]

    On MNIST's training files:

    >>> X, y = load_idx("mnist/train-images-idx3-ubyte.gz",
    ...                 "mnist/train-labels-idx1-ubyte.gz")  # doctest: +SKIP
    >>> X.shape, X.dtype, y.shape, y.dtype  # doctest: +SKIP
    ((60000, 784), dtype('float32'), (60000,), dtype('int64'))
    """
    images_path = os.fspath(images_path)
    labels_path = os.fspath(labels_path)

    what = "IDX images file"
    data = _read_file_bytes(images_path, what)
    (n_images, n_rows, n_cols), offset = _parse_idx(
        data, images_path, what, _IDX_IMAGES_MAGIC, 3
    )

    what = "IDX labels file"
    label_data = _read_file_bytes(labels_path, what)
    (n_labels,), label_offset = _parse_idx(
        label_data, labels_path, what, _IDX_LABELS_MAGIC, 1
    )

    if n_images != n_labels:
        raise ValueError(
            f"IDX images file '{images_path}' holds {n_images} images but IDX "
            f"labels file '{labels_path}' holds {n_labels} labels; they must "
            "match"
        )

    pixels = np.frombuffer(
        data, dtype=np.uint8, count=n_images * n_rows * n_cols, offset=offset
    )
    X = pixels.reshape(n_images, n_rows * n_cols).astype(np.float32)
    X /= np.float32(_PIXEL_SCALE)
    y = np.frombuffer(
        label_data, dtype=np.uint8, count=n_labels, offset=label_offset
    ).astype(np.int64)
    return X, y


def _find_split_file(folder, base, dataset):
    """Return the path of ``base`` in ``folder``, gzipped or not.

    Accepted names are ``base``, ``base + ".gz"`` and the variants that use a
    dot before ``idx`` (``train-images.idx3-ubyte``), which some archives use.
    Uncompressed files are preferred when both exist since they load faster.
    """
    dotted = base.replace("-idx", ".idx")
    for name in (base, base + ".gz", dotted, dotted + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    try:
        present = sorted(os.listdir(folder))
    except OSError:
        present = []
    listing = ", ".join(present[:6]) + (", ..." if len(present) > 6 else "")
    raise FileNotFoundError(
        f"{dataset} folder '{folder}' has no file '{base}' or '{base}.gz' "
        f"(it contains: {listing or 'nothing'}); expected the files "
        f"{', '.join(n for pair in _SPLIT_FILES.values() for n in pair)} "
        "(each optionally ending in .gz)"
    )


def _load_mnist_format(folder, split, dataset):
    """Load ``split`` of an MNIST-format dataset stored in ``folder``."""
    if split not in _SPLIT_FILES:
        raise ValueError(
            f"split must be 'train' or 'test', got {split!r}"
        )
    folder = os.fspath(folder)
    if not os.path.exists(folder):
        raise FileNotFoundError(
            f"{dataset} folder not found: '{folder}'; expected a folder "
            "holding the IDX files "
            f"{', '.join(n for pair in _SPLIT_FILES.values() for n in pair)} "
            "(each optionally ending in .gz)"
        )
    if not os.path.isdir(folder):
        raise NotADirectoryError(
            f"{dataset} folder '{folder}' is not a directory; pass the folder "
            "that holds the IDX files, not a file"
        )
    images_base, labels_base = _SPLIT_FILES[split]
    images_path = _find_split_file(folder, images_base, dataset)
    labels_path = _find_split_file(folder, labels_base, dataset)
    return load_idx(images_path, labels_path)


def load_mnist(folder, split="train"):
    """Load the MNIST handwritten digits from a folder of IDX files.

    Nothing is downloaded: ``folder`` must already hold the four standard
    files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each either
    plain or gzipped with a ``.gz`` suffix (names with ``.idx`` instead of
    ``-idx`` are accepted too). Only the files of the requested split are
    read.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder holding the IDX files.
    split : {"train", "test"}, default="train"
        ``"train"`` loads the 60,000 training images, ``"test"`` the 10,000
        test images (the ``t10k`` files).

    Returns
    -------
    X : ndarray of shape (n_samples, 784), dtype float32
        C-contiguous pixel values in ``[0, 1]``, each 28 x 28 image
        flattened row by row.
    y : ndarray of shape (n_samples,), dtype int64
        Digit labels 0 to 9.

    Raises
    ------
    ValueError
        If ``split`` is not ``"train"`` or ``"test"``, or a file is
        malformed (see :func:`load_idx`).
    FileNotFoundError
        If the folder or one of the needed files is missing; the message
        lists the expected file names.

    See Also
    --------
    load_fashion_mnist : The same loader for Fashion-MNIST.
    load_idx : Load any pair of IDX images and labels files.

    Examples
    --------
    >>> from fastmlp.datasets import load_mnist
    >>> X_train, y_train = load_mnist("data/mnist")  # doctest: +SKIP
    >>> X_test, y_test = load_mnist("data/mnist", split="test")  # doctest: +SKIP
    >>> X_train.shape, X_test.shape  # doctest: +SKIP
    ((60000, 784), (10000, 784))
    """
    return _load_mnist_format(folder, split, "MNIST")


def load_fashion_mnist(folder, split="train"):
    """Load Fashion-MNIST from a folder of IDX files.

    Fashion-MNIST uses the same file names and format as MNIST: ``folder``
    must hold ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each either
    plain or gzipped with a ``.gz`` suffix. Nothing is downloaded.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder holding the IDX files.
    split : {"train", "test"}, default="train"
        ``"train"`` loads the 60,000 training images, ``"test"`` the 10,000
        test images (the ``t10k`` files).

    Returns
    -------
    X : ndarray of shape (n_samples, 784), dtype float32
        C-contiguous pixel values in ``[0, 1]``, each 28 x 28 image
        flattened row by row.
    y : ndarray of shape (n_samples,), dtype int64
        Class labels 0 to 9 (0 T-shirt/top, 1 trouser, 2 pullover, 3 dress,
        4 coat, 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot).

    Raises
    ------
    ValueError
        If ``split`` is not ``"train"`` or ``"test"``, or a file is
        malformed (see :func:`load_idx`).
    FileNotFoundError
        If the folder or one of the needed files is missing; the message
        lists the expected file names.

    See Also
    --------
    load_mnist : The same loader for MNIST.

    Examples
    --------
    >>> from fastmlp.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist("data/fashion-mnist", "test")  # doctest: +SKIP
    >>> X.shape, y.shape  # doctest: +SKIP
    ((10000, 784), (10000,))
    """
    return _load_mnist_format(folder, split, "Fashion-MNIST")


def load_digits():
    """Load the small 8 x 8 digits dataset embedded in scikit-learn.

    The 1,797 images ship with scikit-learn, so nothing is downloaded. This
    is the quickest dataset to try an estimator on.

    Returns
    -------
    X : ndarray of shape (1797, 64), dtype float32
        C-contiguous pixel values divided by 16, so in ``[0, 1]``.
    y : ndarray of shape (1797,), dtype int64
        Digit labels 0 to 9.

    See Also
    --------
    load_mnist : The full-size 28 x 28 handwritten digits.

    Examples
    --------
    >>> from fastmlp.datasets import load_digits
    >>> X, y = load_digits()
    >>> X.shape, X.dtype, y.shape, y.dtype
    ((1797, 64), dtype('float32'), (1797,), dtype('int64'))
    >>> float(X.min()), float(X.max())
    (0.0, 1.0)
    """
    from sklearn.datasets import load_digits as _sklearn_load_digits

    X, y = _sklearn_load_digits(return_X_y=True)
    X = np.ascontiguousarray(X, dtype=np.float32)
    X /= np.float32(_DIGITS_SCALE)
    y = np.ascontiguousarray(y, dtype=np.int64)
    return X, y
