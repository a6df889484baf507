"""Tests for the ``python -m fastmlp`` command line."""

import gzip
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from fastmlp._cli import main

EPOCH_LINE = re.compile(
    r"^epoch\s+(\d+)/(\d+)\s+loss\s+(\d+\.\d+)\s+elapsed\s+(\d+\.\d+)s$"
)
ACCURACY_LINE = re.compile(r"^test accuracy: (\d\.\d{4}) \((\d+)/(\d+)\)$")
TIME_LINE = re.compile(r"^training time: (\d+\.\d+) s$")


def _run_cli(*args, cwd=None, timeout=300):
    """Run ``python -m fastmlp ARGS`` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "fastmlp", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def _parse(stdout):
    """Return (epoch lines as tuples, accuracy, n_correct, n_test, seconds)."""
    lines = stdout.strip().splitlines()
    epochs = [m.groups() for m in map(EPOCH_LINE.match, lines) if m]
    acc = [m.groups() for m in map(ACCURACY_LINE.match, lines) if m]
    times = [m.group(1) for m in map(TIME_LINE.match, lines) if m]
    assert len(acc) == 1, stdout
    assert len(times) == 1, stdout
    accuracy, n_correct, n_test = acc[0]
    return epochs, float(accuracy), int(n_correct), int(n_test), float(times[0])


def _assert_one_line_error(result):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "error" in lines[0]
    assert result.stdout == ""
    return lines[0]


# ------------------------------------------------------------ digits runs


def test_default_run(tmp_path):
    result = _run_cli(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    epochs, accuracy, n_correct, n_test, seconds = _parse(result.stdout)
    assert "digits" in result.stdout
    n_epochs = len(epochs)
    assert 20 <= n_epochs <= 60
    assert [int(e[0]) for e in epochs] == list(range(1, n_epochs + 1))
    assert all(int(e[1]) == n_epochs for e in epochs)
    # 25 % stratified test split of the 1797 digits.
    assert n_test == 450
    assert accuracy > 0.9
    assert n_correct == round(accuracy * n_test)
    assert seconds > 0


def test_short_run_progress_lines(tmp_path):
    result = _run_cli("--epochs", 3, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    epochs, accuracy, _, n_test, seconds = _parse(result.stdout)
    assert [(int(e[0]), int(e[1])) for e in epochs] == [(1, 3), (2, 3), (3, 3)]
    losses = [float(e[2]) for e in epochs]
    elapsed = [float(e[3]) for e in epochs]
    assert losses[0] > losses[1] > losses[2] > 0
    assert elapsed == sorted(elapsed)
    assert seconds >= elapsed[-1]
    assert n_test == 450
    # Better than chance (0.1) after three epochs.
    assert accuracy > 0.5
    assert "1347 train / 450 test" in result.stdout
    assert "64 features, 10 classes, float32" in result.stdout


def test_quiet(tmp_path):
    result = _run_cli("--epochs", 2, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2, result.stdout
    assert ACCURACY_LINE.match(lines[0])
    assert TIME_LINE.match(lines[1])


def test_same_seed_same_result(tmp_path):
    args = ("--epochs", 3, "--hidden", "16", "--seed", 3)
    first = _run_cli(*args, cwd=tmp_path)
    second = _run_cli(*args, cwd=tmp_path)
    assert first.returncode == second.returncode == 0
    losses = [[e[2] for e in _parse(r.stdout)[0]] for r in (first, second)]
    assert losses[0] == losses[1]


@pytest.mark.parametrize(
    "args",
    [
        ("--solver", "sgd", "--learning-rate-init", "0.05", "--batch-size", "32"),
        ("--hidden", "32,16", "--dtype", "float64", "--learning-rate-init", "0.01"),
        ("--solver", "lbfgs"),
    ],
    ids=["sgd", "adam-float64", "lbfgs"],
)
def test_options(tmp_path, args):
    result = _run_cli("--epochs", 10, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    epochs, accuracy, _, _, _ = _parse(result.stdout)
    if "lbfgs" in args:
        assert epochs == []
        assert re.search(r"^lbfgs\s+\d+ iterations", result.stdout, re.M)
    else:
        assert len(epochs) == 10
    if "float64" in args:
        assert "float64" in result.stdout
    if "32,16" in args:
        assert "(32, 16)" in result.stdout
    assert accuracy > 0.8


def test_help():
    result = _run_cli("--help")
    assert result.returncode == 0
    assert result.stderr == ""
    for option in (
        "--hidden",
        "--epochs",
        "--batch-size",
        "--solver",
        "--learning-rate-init",
        "--seed",
        "--data",
        "--dtype",
        "--quiet",
    ):
        assert option in result.stdout
    assert "{sgd,adam,adamw,adagrad,rmsprop,adadelta,lbfgs}" in result.stdout
    assert "{float32,float64}" in result.stdout


# ------------------------------------------------------------ bad arguments


BAD_ARGUMENTS = [
    (["--bogus"], "--bogus"),
    (["extra"], "extra"),
    (["--hidden", "10,x"], "--hidden"),
    (["--hidden", "0"], "--hidden"),
    (["--hidden", "10,,5"], "--hidden"),
    (["--hidden", ""], "--hidden"),
    (["--hidden", "2.5"], "--hidden"),
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "-3"], "--epochs"),
    (["--epochs", "two"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--learning-rate-init", "-0.1"], "--learning-rate-init"),
    (["--learning-rate-init", "nan"], "--learning-rate-init"),
    (["--solver", "nadam"], "--solver"),
    (["--activation", "swish"], "--activation"),
    (["--dropout", "1"], "--dropout"),
    (["--dropout", "x"], "--dropout"),
    (["--dtype", "float16"], "--dtype"),
    (["--seed", "-1"], "--seed"),
    (["--epochs"], "--epochs"),
]


@pytest.mark.parametrize(
    "args, needle",
    [BAD_ARGUMENTS[i] for i in (0, 2, 7, 9, 14)],
)
def test_bad_arguments_subprocess(tmp_path, args, needle):
    line = _assert_one_line_error(_run_cli(*args, cwd=tmp_path))
    assert line.startswith("python -m fastmlp: error: ")
    assert needle in line


@pytest.mark.parametrize("args, needle", BAD_ARGUMENTS)
def test_bad_arguments(capsys, args, needle):
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "error" in lines[0] and needle in lines[0]


def test_missing_data_folder(tmp_path):
    missing = tmp_path / "no-such-folder"
    line = _assert_one_line_error(_run_cli("--data", missing, cwd=tmp_path))
    assert "no-such-folder" in line


def test_data_folder_is_a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("x")
    line = _assert_one_line_error(_run_cli("--data", path, cwd=tmp_path))
    assert "a-file" in line


def test_data_folder_without_idx_files(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    line = _assert_one_line_error(_run_cli("--data", folder, cwd=tmp_path))
    assert "train-images-idx3-ubyte" in line


def test_data_folder_with_malformed_file(tmp_path):
    folder = tmp_path / "data"
    _make_idx_folder(folder)
    bad = folder / "t10k-labels-idx1-ubyte"
    bad.write_bytes(bad.read_bytes()[:-5])
    line = _assert_one_line_error(_run_cli("--data", folder, cwd=tmp_path))
    assert "t10k-labels-idx1-ubyte" in line
    assert "truncated" in line


# --------------------------------------------------------------- --data


def _make_images(n, rng):
    """8x8 images of 4 classes: class k lights up quadrant k, plus noise."""
    y = np.arange(n) % 4
    rng.shuffle(y)
    images = rng.integers(0, 60, size=(n, 8, 8))
    for i, k in enumerate(y):
        r, c = divmod(int(k), 2)
        images[i, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] += 180
    return images.astype(np.uint8), y.astype(np.uint8)


def _idx_images(images):
    n, rows, cols = images.shape
    return struct.pack(">IIII", 0x803, n, rows, cols) + images.tobytes()


def _idx_labels(labels):
    return struct.pack(">II", 0x801, labels.shape[0]) + labels.tobytes()


def _make_idx_folder(folder, n_train=200, n_test=60):
    """Train split gzipped, test split plain."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    X, y = _make_images(n_train, rng)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(_idx_images(X))
    )
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx_labels(y))
    )
    X, y = _make_images(n_test, rng)
    (folder / "t10k-images-idx3-ubyte").write_bytes(_idx_images(X))
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_idx_labels(y))


def test_data_folder(tmp_path):
    folder = tmp_path / "tiny"
    _make_idx_folder(folder)
    result = _run_cli(
        "--data", folder, "--epochs", 8, "--hidden", 16,
        "--batch-size", 20, "--learning-rate-init", 0.01,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    epochs, accuracy, n_correct, n_test, _ = _parse(result.stdout)
    assert len(epochs) == 8
    assert "200 train / 60 test" in result.stdout
    assert "64 features, 4 classes" in result.stdout
    assert n_test == 60
    assert accuracy >= 0.9


# ------------------------------------------------------- main() in-process


def test_main_help_returns_zero(capsys):
    assert main(["--help"]) == 0
    assert "--hidden" in capsys.readouterr().out


def test_main_quiet_run(capsys):
    assert main(["--epochs", "2", "--hidden", "8", "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2
    assert ACCURACY_LINE.match(out[0])


def test_activation_and_dropout_options(capsys):
    assert main(["--epochs", "2", "--activation", "gelu", "--dropout", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "activation='gelu', dropout=0.2" in out
    assert "test accuracy" in out



def test_save_writes_a_model_of_the_stored_digits_values(tmp_path, capsys):
    """--save folds the loader's /16 and the standardization into the first layer: the loaded
    model, fed scikit-learn's raw digits (counts 0 to 16), scores what the run printed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import fastmlp
    from fastmlp._cli import _DIGITS_SPLIT_SEED, _DIGITS_TEST_SIZE

    path = tmp_path / "model.npz"
    assert main(["--epochs", "5", "--save", str(path)]) == 0
    out = capsys.readouterr().out
    n_correct = int(ACCURACY_LINE.match(out.splitlines()[-3]).group(2))
    assert f"model saved: {path} (it predicts from the digits' 0-16 counts" in out
    X, y = load_digits(return_X_y=True)
    assert X.max() == 16
    _, X_test, _, y_test = train_test_split(
        X, y, test_size=_DIGITS_TEST_SIZE, stratify=y, random_state=_DIGITS_SPLIT_SEED
    )
    model = fastmlp.load(path)
    assert int((model.predict(X_test) == y_test).sum()) == n_correct


def test_save_writes_a_model_of_the_stored_pixel_bytes(tmp_path, capsys):
    """With --data, the saved model takes the IDX files' pixel bytes (0 to 255) as they are."""
    import fastmlp

    folder = tmp_path / "tiny"
    _make_idx_folder(folder)
    path = tmp_path / "model.npz"
    args = ["--data", str(folder), "--epochs", "3", "--hidden", "16", "--batch-size", "20",
            "--learning-rate-init", "0.01", "--save", str(path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    n_correct = int(ACCURACY_LINE.match(out.splitlines()[-3]).group(2))
    assert "it predicts from raw pixel bytes 0-255" in out
    raw = np.frombuffer((folder / "t10k-images-idx3-ubyte").read_bytes(), np.uint8, offset=16)
    labels = np.frombuffer((folder / "t10k-labels-idx1-ubyte").read_bytes(), np.uint8, offset=8)
    model = fastmlp.load(path)
    predicted = model.predict(raw.reshape(len(labels), -1).astype(np.float32))
    assert int((predicted == labels).sum()) == n_correct
    # not the same model as one fed the loader's [0, 1] values: the scaling is in the weights
    assert not np.array_equal(model.predict_proba(raw.reshape(len(labels), -1) / 255.0),
                              model.predict_proba(raw.reshape(len(labels), -1) * 1.0))


def test_plot_writes_the_learning_curves(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    assert main(["--epochs", "3", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "learning curves saved" in capsys.readouterr().out


@pytest.mark.parametrize("option", ["--save", "--plot"])
@pytest.mark.parametrize("where", ["missing_folder", "file_as_folder", "folder_as_file"])
def test_unwritable_output_path_fails_before_training(tmp_path, option, where):
    """--save / --plot to a path that cannot be created fails at once (no training), with one
    line naming the option and the path, and no temporary file name."""
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    path = {
        "missing_folder": tmp_path / "no" / "such" / "out.npz",
        "file_as_folder": tmp_path / "a_file" / "out.npz",
        "folder_as_file": tmp_path / "a_folder",
    }[where]
    result = _run_cli("--epochs", 50, option, path, cwd=tmp_path)
    line = _assert_one_line_error(result)  # nothing on stdout: no epoch was run
    assert option in line and str(path) in line
    assert ".tmp" not in line
    assert not path.is_file()
