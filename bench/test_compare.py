"""bench/compare.py's summary helpers."""

import compare  # bench/ is on sys.path while its conftest is in use


def test_median_ratio_is_one_thread_median_over_default_median():
    workload = compare.WORKLOADS[2]  # digits 64-100-10, float32
    results = {"fastmlp": {"median": 0.004}, "fastmlp-1t": {"median": 0.006}}
    assert compare.median_ratio(workload, results) == "digits 64-100-10 float32 1.50x"
    # either run missing or failed: no figure
    assert compare.median_ratio(workload, {"fastmlp": {"median": 0.004}}) is None
    assert compare.median_ratio(workload, {"fastmlp": {"median": 0.004},
                                           "fastmlp-1t": "failed: ValueError"}) is None
