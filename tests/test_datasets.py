"""Tests for fastmlp.datasets: IDX parsing, MNIST-format folders, digits."""

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import data_folder
from fastmlp.datasets import load_digits, load_fashion_mnist, load_idx, load_mnist


TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ---------------------------------------------------------------- helpers


def _images_bytes(images, magic=0x00000803):
    """Serialize a uint8 array of shape (n, rows, cols) as an IDX file."""
    images = np.asarray(images, dtype=np.uint8)
    n, rows, cols = images.shape
    return struct.pack(">IIII", magic, n, rows, cols) + images.tobytes()


def _labels_bytes(labels, magic=0x00000801):
    """Serialize a uint8 array of shape (n,) as an IDX file."""
    labels = np.asarray(labels, dtype=np.uint8)
    return struct.pack(">II", magic, labels.shape[0]) + labels.tobytes()


def _write(path, data, compress):
    path = Path(path)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def _random_set(n=7, rows=3, cols=5, seed=0):
    """Random images (non-square, to catch transposed flattening) and labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    images[0, 0, 0] = 0
    images[0, 0, 1] = 255
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def _write_pair(tmp_path, images, labels, gz_images=False, gz_labels=False):
    img = _write(tmp_path / "images", _images_bytes(images), gz_images)
    lab = _write(tmp_path / "labels", _labels_bytes(labels), gz_labels)
    return img, lab


def _check_loaded(X, y, images, labels):
    n, rows, cols = images.shape
    assert X.shape == (n, rows * cols)
    assert X.dtype == np.float32
    assert X.flags.c_contiguous
    assert y.shape == (n,)
    assert y.dtype == np.int64
    # Row-major flattening, scaled by 1/255.
    expected = images.reshape(n, rows * cols).astype(np.float64) / 255.0
    np.testing.assert_allclose(X, expected, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(y, labels.astype(np.int64))
    assert X.min() >= 0.0 and X.max() <= 1.0


# ------------------------------------------------------------- load_idx


@pytest.mark.parametrize("gz_images", [False, True])
@pytest.mark.parametrize("gz_labels", [False, True])
def test_load_idx_plain_and_gzip(tmp_path, gz_images, gz_labels):
    images, labels = _random_set()
    img, lab = _write_pair(tmp_path, images, labels, gz_images, gz_labels)
    X, y = load_idx(img, lab)
    _check_loaded(X, y, images, labels)
    assert X[0, 0] == 0.0 and X[0, 1] == 1.0
    # Pixel (i, r, c) lands at column r * cols + c.
    assert X[3, 2 * 5 + 4] == np.float32(images[3, 2, 4]) / np.float32(255)


def test_load_idx_accepts_str_paths(tmp_path):
    images, labels = _random_set()
    img, lab = _write_pair(tmp_path, images, labels)
    X, y = load_idx(str(img), str(lab))
    _check_loaded(X, y, images, labels)


def test_load_idx_detects_gzip_by_content_not_extension(tmp_path):
    images, labels = _random_set()
    # Gzipped content without a .gz suffix, plain content with one.
    img = _write(tmp_path / "images.idx3", _images_bytes(images), compress=True)
    lab = _write(tmp_path / "labels.idx1.gz", _labels_bytes(labels), compress=False)
    X, y = load_idx(img, lab)
    _check_loaded(X, y, images, labels)


def test_load_idx_empty_set(tmp_path):
    images = np.zeros((0, 4, 4), dtype=np.uint8)
    labels = np.zeros(0, dtype=np.uint8)
    img, lab = _write_pair(tmp_path, images, labels)
    X, y = load_idx(img, lab)
    assert X.shape == (0, 16) and X.dtype == np.float32
    assert y.shape == (0,) and y.dtype == np.int64


def test_load_idx_bad_images_magic(tmp_path):
    images, labels = _random_set()
    img = _write(tmp_path / "imgs", _images_bytes(images, magic=0x00000903), False)
    lab = _write(tmp_path / "labs", _labels_bytes(labels), False)
    with pytest.raises(ValueError, match=r"(?i)magic") as exc:
        load_idx(img, lab)
    assert "imgs" in str(exc.value)
    assert "0x00000803" in str(exc.value)


def test_load_idx_bad_labels_magic(tmp_path):
    images, labels = _random_set()
    img = _write(tmp_path / "imgs", _images_bytes(images), False)
    lab = _write(tmp_path / "labs", _labels_bytes(labels, magic=0x12345678), True)
    with pytest.raises(ValueError, match=r"(?i)magic") as exc:
        load_idx(img, lab)
    assert "labs" in str(exc.value)


def test_load_idx_swapped_paths(tmp_path):
    images, labels = _random_set()
    img, lab = _write_pair(tmp_path, images, labels)
    with pytest.raises(ValueError, match="swapped"):
        load_idx(lab, img)


def test_load_idx_not_idx_at_all(tmp_path):
    images, labels = _random_set()
    _, lab = _write_pair(tmp_path, images, labels)
    text = tmp_path / "readme.txt"
    text.write_text("this is not an IDX file\n")
    with pytest.raises(ValueError, match="readme.txt"):
        load_idx(text, lab)


@pytest.mark.parametrize("compress", [False, True])
def test_load_idx_truncated_images(tmp_path, compress):
    images, labels = _random_set()
    data = _images_bytes(images)[:-1]
    img = _write(tmp_path / "imgs", data, compress)
    lab = _write(tmp_path / "labs", _labels_bytes(labels), False)
    with pytest.raises(ValueError, match="truncated") as exc:
        load_idx(img, lab)
    assert "imgs" in str(exc.value)


@pytest.mark.parametrize("n_bytes", [0, 3, 4, 10, 15])
def test_load_idx_truncated_images_header(tmp_path, n_bytes):
    images, labels = _random_set()
    img = _write(tmp_path / "imgs", _images_bytes(images)[:n_bytes], False)
    lab = _write(tmp_path / "labs", _labels_bytes(labels), False)
    with pytest.raises(ValueError, match="truncated") as exc:
        load_idx(img, lab)
    assert "imgs" in str(exc.value)


def test_load_idx_truncated_labels(tmp_path):
    images, labels = _random_set()
    img = _write(tmp_path / "imgs", _images_bytes(images), False)
    lab = _write(tmp_path / "labs", _labels_bytes(labels)[:-2], True)
    with pytest.raises(ValueError, match="truncated") as exc:
        load_idx(img, lab)
    assert "labs" in str(exc.value)


def test_load_idx_trailing_bytes(tmp_path):
    images, labels = _random_set()
    img = _write(tmp_path / "imgs", _images_bytes(images) + b"\x00", False)
    lab = _write(tmp_path / "labs", _labels_bytes(labels), False)
    with pytest.raises(ValueError, match="imgs"):
        load_idx(img, lab)


def test_load_idx_truncated_gzip_stream(tmp_path):
    images, labels = _random_set(n=50)
    packed = gzip.compress(_images_bytes(images))
    img = tmp_path / "imgs.gz"
    img.write_bytes(packed[: len(packed) // 2])
    lab = _write(tmp_path / "labs", _labels_bytes(labels), False)
    with pytest.raises(ValueError, match="imgs.gz"):
        load_idx(img, lab)


def test_load_idx_corrupt_gzip(tmp_path):
    images, labels = _random_set()
    img = _write(tmp_path / "imgs", _images_bytes(images), False)
    lab = tmp_path / "labs.gz"
    lab.write_bytes(b"\x1f\x8b" + b"\xff" * 40)
    with pytest.raises(ValueError, match="labs.gz"):
        load_idx(img, lab)


def test_load_idx_count_mismatch(tmp_path):
    images, labels = _random_set(n=7)
    img = _write(tmp_path / "imgs", _images_bytes(images), False)
    lab = _write(tmp_path / "labs", _labels_bytes(labels[:6]), False)
    with pytest.raises(ValueError, match="7 images") as exc:
        load_idx(img, lab)
    assert "6 labels" in str(exc.value)


def test_load_idx_missing_file(tmp_path):
    images, labels = _random_set()
    img, _ = _write_pair(tmp_path, images, labels)
    missing = tmp_path / "no-such-labels"
    with pytest.raises((FileNotFoundError, ValueError), match="no-such-labels"):
        load_idx(img, missing)


# ------------------------------------------------- MNIST-format folders


def _make_folder(folder, n_train=12, n_test=5, gz_train=True, gz_test=False,
                 names=(TRAIN_FILES, TEST_FILES)):
    """Write a tiny MNIST-format folder; return the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    train = _random_set(n=n_train, rows=4, cols=4, seed=1)
    test = _random_set(n=n_test, rows=4, cols=4, seed=2)
    for (img_name, lab_name), (images, labels), gz in (
        (names[0], train, gz_train),
        (names[1], test, gz_test),
    ):
        suffix = ".gz" if gz else ""
        _write(folder / (img_name + suffix), _images_bytes(images), gz)
        _write(folder / (lab_name + suffix), _labels_bytes(labels), gz)
    return train, test


@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist])
@pytest.mark.parametrize("as_str", [False, True])
def test_load_mnist_format_folder(tmp_path, loader, as_str):
    folder = tmp_path / "data"
    train, test = _make_folder(folder, gz_train=True, gz_test=False)
    arg = str(folder) if as_str else folder
    X, y = loader(arg)  # default split is "train"
    _check_loaded(X, y, *train)
    X, y = loader(arg, split="test")
    _check_loaded(X, y, *test)
    X, y = loader(arg, "train")
    _check_loaded(X, y, *train)


def test_load_mnist_plain_train_gzip_test(tmp_path):
    folder = tmp_path / "data"
    train, test = _make_folder(folder, gz_train=False, gz_test=True)
    _check_loaded(*load_mnist(folder, "train"), *train)
    _check_loaded(*load_mnist(folder, "test"), *test)


def test_load_mnist_dotted_names(tmp_path):
    dotted = tuple(
        tuple(name.replace("-idx", ".idx") for name in pair)
        for pair in (TRAIN_FILES, TEST_FILES)
    )
    folder = tmp_path / "data"
    train, test = _make_folder(folder, names=dotted)
    _check_loaded(*load_mnist(folder, "train"), *train)
    _check_loaded(*load_mnist(folder, "test"), *test)


@pytest.mark.parametrize("split", ["val", "t10k", "Train", "", None])
@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist])
def test_load_mnist_bad_split(tmp_path, loader, split):
    _make_folder(tmp_path)
    with pytest.raises(ValueError, match="split") as exc:
        loader(tmp_path, split=split)
    assert "'train'" in str(exc.value) and "'test'" in str(exc.value)


@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist])
def test_load_mnist_missing_folder(tmp_path, loader):
    missing = tmp_path / "nowhere"
    with pytest.raises((FileNotFoundError, ValueError)) as exc:
        loader(missing)
    message = str(exc.value)
    assert "nowhere" in message
    for name in TRAIN_FILES + TEST_FILES:
        assert name in message


def test_load_mnist_folder_is_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_bytes(b"")
    with pytest.raises((OSError, ValueError), match="file"):
        load_mnist(path)


def test_load_mnist_missing_labels_file(tmp_path):
    _make_folder(tmp_path, gz_train=True)
    (tmp_path / (TRAIN_FILES[1] + ".gz")).unlink()
    with pytest.raises((FileNotFoundError, ValueError)) as exc:
        load_mnist(tmp_path, "train")
    message = str(exc.value)
    assert TRAIN_FILES[1] in message
    assert TRAIN_FILES[1] + ".gz" in message
    # The test split is still complete and loads.
    X, _ = load_mnist(tmp_path, "test")
    assert X.shape == (5, 16)


def test_load_mnist_empty_folder_lists_expected_names(tmp_path):
    with pytest.raises((FileNotFoundError, ValueError)) as exc:
        load_mnist(tmp_path, "test")
    for name in TRAIN_FILES + TEST_FILES:
        assert name in str(exc.value)


def test_load_mnist_malformed_file_is_named(tmp_path):
    _make_folder(tmp_path, gz_test=False)
    bad = tmp_path / TEST_FILES[0]
    bad.write_bytes(bad.read_bytes()[:-3])
    with pytest.raises(ValueError, match=TEST_FILES[0]):
        load_mnist(tmp_path, "test")


def test_load_mnist_mismatched_counts(tmp_path):
    _make_folder(tmp_path, gz_train=False)
    _, labels = _random_set(n=11, rows=4, cols=4)
    _write(tmp_path / TRAIN_FILES[1], _labels_bytes(labels), False)
    with pytest.raises(ValueError, match="12 images"):
        load_mnist(tmp_path, "train")


# ----------------------------------------------------------- load_digits


def test_load_digits():
    from sklearn.datasets import load_digits as sk_load_digits

    X, y = load_digits()
    assert X.shape == (1797, 64)
    assert X.dtype == np.float32
    assert X.flags.c_contiguous
    assert y.shape == (1797,)
    assert y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.unique(y), np.arange(10))
    X_ref, y_ref = sk_load_digits(return_X_y=True)
    np.testing.assert_allclose(X, X_ref / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(y, y_ref)


# ------------------------------------------------------------ real data

# Published MD5 checksums of the uncompressed files.
_REAL = {
    "mnist": {
        "env": "FASTMLP_MNIST",
        "loader": load_mnist,
        "md5": {
            "train-images": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels": "a25bea736e30d166cdddb491f175f624",
            "t10k-images": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels": "27ae3e4e09519cfbb04c329615203637",
        },
        "first": {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
                  "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]},
        "counts": {
            "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
            "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
        },
    },
    "fashion-mnist": {
        "env": "FASTMLP_FASHION_MNIST",
        "loader": load_fashion_mnist,
        "md5": {
            "train-images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        "first": {"train": [9, 0, 0, 3, 0, 2, 7, 2, 5, 5],
                  "test": [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]},
        "counts": {"train": [6000] * 10, "test": [1000] * 10},
    },
}


def _real_folder(name):
    env = _REAL[name]["env"]
    folder = os.environ.get(env) or data_folder(name)
    if folder is None or not Path(folder).is_dir():
        pytest.skip(f"{name} data not found (set FASTMLP_DATA to the folder holding {name}/, "
                    f"or {env} to {name}'s own folder)")
    return folder


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_real_data(name, split):
    info = _REAL[name]
    folder = _real_folder(name)
    X, y = info["loader"](folder, split)
    n = 60000 if split == "train" else 10000
    assert X.shape == (n, 784)
    assert X.dtype == np.float32
    assert X.flags.c_contiguous
    assert y.shape == (n,)
    assert y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(y[:10], info["first"][split])
    np.testing.assert_array_equal(np.bincount(y, minlength=10), info["counts"][split])

    # Rebuild the uncompressed IDX files from (X, y) and compare with the
    # published checksums: this checks the scaling and the pixel order.
    pixels = np.rint(X * 255.0)
    assert np.abs(X * 255.0 - pixels).max() < 1e-4
    prefix = "train" if split == "train" else "t10k"
    images = pixels.astype(np.uint8).reshape(n, 28, 28)
    assert (
        hashlib.md5(_images_bytes(images)).hexdigest()
        == info["md5"][f"{prefix}-images"]
    )
    assert (
        hashlib.md5(_labels_bytes(y.astype(np.uint8))).hexdigest()
        == info["md5"][f"{prefix}-labels"]
    )
