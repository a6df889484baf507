"""bench/serving.py keeps working: a short run (timing off in spirit: tiny call counts) whose
libraries all predict the same probabilities (serving.py checks that before timing)."""

import serving  # bench/ is on sys.path while its conftest is in use


def test_serving_script_runs(capsys):
    results = serving.main(["--quick", "--calls", "50", "--repeats", "1"])
    out = capsys.readouterr().out
    assert [name for name, *_ in results] == [name for name, _ in serving.NETS]
    for _, layers, runners, latency, rate in results:
        assert {"fastmlp", "scikit-learn", "from_sklearn"} <= set(runners)
        assert all(value > 0 for value in latency.values())
        assert all(value > 0 for value in rate.values())
    assert "ratios against ONNX Runtime" in out
    # the share of the multiply-add peak, for each net and thread count
    assert "multiply-add peak" in out
    for name, _ in serving.NETS:
        assert "%-15s 1t: fastmlp " % name in out
        assert "%-15s 2t: fastmlp " % name in out


def test_forward_flops():
    # two classes: one logistic output unit
    assert serving.forward_flops((20, 64, 64, 2)) == 2 * (20 * 64 + 64 * 64 + 64 * 1)
    assert serving.forward_flops((784, 512, 256, 10)) == 2 * (784 * 512 + 512 * 256 + 256 * 10)


def test_fma_peak_measures_a_rate():
    from compare import fma_peak
    from fastmlp import _core

    for threads in (1, 2):
        peak = fma_peak(threads)
        if _core.isa() == "generic":
            assert peak is None
        else:
            assert peak > 0
