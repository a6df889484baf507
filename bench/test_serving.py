"""bench/serving.py keeps working: a short run (timing off in spirit: tiny call counts) whose
libraries all predict the same probabilities (serving.py checks that before timing)."""

import serving  # bench/ is on sys.path while its conftest is in use


def test_serving_script_runs(capsys):
    results = serving.main(["--quick", "--calls", "50", "--repeats", "1"])
    out = capsys.readouterr().out
    assert [name for name, *_ in results] == [name for name, _ in serving.NETS]
    for _, runners, latency, rate in results:
        assert {"fastmlp", "scikit-learn", "from_sklearn"} <= set(runners)
        assert all(value > 0 for value in latency.values())
        assert all(value > 0 for value in rate.values())
    assert "ratios against ONNX Runtime" in out
