"""bench/gpu_check.py at tiny sizes on the CPU: every step runs and its figures are consistent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def check(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    env = {**os.environ, "PYTHONPATH": str(REPO / "code")}
    done = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--out", str(out), "--device", "cpu",
                           "--tiny", "--model", "mobilenet_v3_small", "--tests", "tests/test_rng.py"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text()


def test_cuda_tests_step_ran_them(check):
    result, _ = check
    assert result["tests"]["failed"] == 0 and result["tests"]["skipped"] >= 1  # CUDA tests skip on a CPU
    assert "-k cuda" in result["tests"]["command"]


def test_cpu_against_itself_is_exact(check):
    same = check[0]["same_numbers"]
    assert same["max_top1_diff"] == 0 and set(same["transforms_max_abs_diff"].values()) == {0.0}
    assert same["cpu"] == same["device"] and same["columns"] >= 4 + 23 + 29
    assert same["top1_tolerance"] == pytest.approx(100 / 8)  # one image of 8


def test_ratios_are_rates_over_the_floor(check):
    result, md = check
    floor = result["floor"]["fp32"]
    for label, kinds in result["passes"].items():
        n_models = int(label.split()[0])
        assert set(kinds) == {"clean", "natural", "as-is", "spectral", "criticalband", "pgd"}
        for kind, r in kinds.items():
            assert r["forwards_per_s"] == pytest.approx(r["images_per_s"] * n_models)
            per_forward = floor["forward_backward_images_per_s"] / 41 if kind == "pgd" else floor["forward_images_per_s"]
            assert r["ratio_to_floor"] == pytest.approx(r["forwards_per_s"] / per_forward)
            assert f"| {kind} | {n_models} | {r['images_per_s']:.2f} | {r['ratio_to_floor']:.2f} |" in md


def test_projection_follows_the_measured_rates(check):
    sys.path.insert(0, str(REPO / "bench"))
    import bench_precision as bp

    result, _ = check
    rates = {k: v["images_per_s"] for k, v in result["passes"]["1 model(s)"].items()}
    fp32_h = sum(n / rates[kind] / 3600 for n, kind in bp.SUITE.values())
    for name, p in result["projection"].items():
        speedup = result["floor"][name]["forward_images_per_s"] / result["floor"]["fp32"]["forward_images_per_s"]
        assert p["per_checkpoint_h"] == pytest.approx(fp32_h / speedup)
        assert p["paper48_h"] == pytest.approx(48 * p["per_checkpoint_h"])
    assert "fp16" not in result["projection"]  # not measured on a CPU, so not projected
    assert result["deviations"]["fp32"]["top1"] >= 0 and "top1_deviation" in result["deviations"]["bf16"]
