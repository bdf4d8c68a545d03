"""The counter-based generator against the Random123 known answers, an independent pure-Python
Philox4x32-10 with NumPy's Box-Muller, and scipy's distribution tests."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from biasbench import rng

# Random123's kat_vectors for philox4x32 10: counter (4 words), key (2 words) -> output (4 words).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def philox_python(ctr, key, rounds=10):
    """Philox4x32 in plain Python integers, written from the paper's round function."""
    c, (k0, k1) = list(ctr), key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) % 2 ** 32, (k1 + 0xBB67AE85) % 2 ** 32
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 % 2 ** 32, (p0 >> 32) ^ c[3] ^ k1, p0 % 2 ** 32]
    return tuple(c)


@pytest.mark.parametrize("ctr,key,want", KAT)
def test_philox_known_answers(ctr, key, want):
    assert philox_python(ctr, key) == want
    got = rng.philox4x32(torch.tensor([ctr], dtype=torch.long), key)
    assert tuple(got[0].tolist()) == want


def test_philox_equals_python_on_random_counters():
    g = np.random.default_rng(0)
    ctrs = g.integers(0, 2 ** 32, size=(300, 4), dtype=np.int64)
    key = (0x12345678, 0xFEDCBA98)
    got = rng.philox4x32(torch.from_numpy(ctrs), key).tolist()
    assert got == [list(philox_python(tuple(int(v) for v in c), key)) for c in ctrs]


def reference_normal(key: int, image: int, n: int, draw: int = 0, start: int = 0) -> np.ndarray:
    """Elements start..start+n-1 of the documented layout, with Python ints and NumPy's float64 libm."""
    k = (key % 2 ** 32, key >> 32)
    out = []
    for q in range(start // 2, -(-(start + n) // 2)):
        w = philox_python((q, draw, image % 2 ** 32, image >> 32), k)
        u1 = (((w[0] >> 5) << 26) + (w[1] >> 6) + 0.5) * 2.0 ** -53
        u2 = (((w[2] >> 5) << 26) + (w[3] >> 6) + 0.5) * 2.0 ** -53
        r = np.sqrt(-2.0 * np.log(u1))
        out += [r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)]
    return np.array(out[start % 2:start % 2 + n])


def test_normal_equals_reference_sequence():
    key = rng.stream_key("test|normal")
    images = torch.tensor([0, 7, 2 ** 40 + 3])
    got = rng.normal(key, images, 9, draw=2).numpy()
    for row, i in zip(got, images.tolist()):
        np.testing.assert_allclose(row, reference_normal(key, i, 9, draw=2), rtol=1e-14, atol=1e-15)
    # a few scattered elements give the same values
    elems = torch.tensor([8, 0, 5])
    at = rng.normal_at(key, images, elems, draw=2).numpy()
    np.testing.assert_array_equal(at, got[np.arange(3), elems.numpy()])


def test_uniform_equals_reference_sequence():
    key = rng.stream_key("test|uniform")
    got = rng.uniform(key, torch.tensor([11]), 10)[0].tolist()
    k = (key % 2 ** 32, key >> 32)
    want = [w >> 8 for q in range(3) for w in philox_python((q, 0, 11, 0), k)][:10]
    assert got == [v * 2.0 ** -24 for v in want]


def test_draws_do_not_depend_on_batching():
    key = rng.stream_key("test|batch")
    idx = torch.arange(20, 36)
    whole = rng.normal(key, idx, 1000)
    parts = torch.cat([rng.normal(key, idx[a:b], 1000) for a, b in [(0, 1), (1, 5), (5, 16)]])
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(1))
    assert torch.equal(whole, parts)
    assert torch.equal(rng.normal(key, idx[perm], 1000), whole[perm])
    assert torch.equal(rng.uniform(key, idx[perm], 33), rng.uniform(key, idx, 33)[perm])
    # other keys, images and draw rounds are other streams
    for other in (rng.normal(key + 1, idx[:1], 1000), rng.normal(key, idx[:1] + 100, 1000),
                  rng.normal(key, idx[:1], 1000, draw=1)):
        assert np.corrcoef(other[0].numpy(), whole[0].numpy())[0, 1] < 0.1


def test_distributions():
    z = rng.normal(rng.stream_key("test|stats"), torch.arange(40), 5000).flatten().numpy()
    assert abs(z.mean()) < 4 / math.sqrt(z.size) and abs(z.var() - 1) < 0.02
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert stats.normaltest(z).pvalue > 1e-3
    u = rng.uniform(rng.stream_key("test|stats"), torch.arange(40), 5000).flatten().numpy()
    assert u.min() >= 0 and u.max() < 1 and stats.kstest(u, "uniform").pvalue > 1e-3
    # neighbouring elements and images are uncorrelated
    assert abs(stats.pearsonr(z[:-1], z[1:]).statistic) < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_draws_equal_cpu_draws():
    key = rng.stream_key("test|cuda")
    idx = torch.arange(1000, 1064)
    words_cpu = rng.philox4x32(rng._counters(idx, 4096, 0, "cpu"), (1, 2))
    assert torch.equal(rng.philox4x32(rng._counters(idx, 4096, 0, "cuda"), (1, 2)).cpu(), words_cpu)
    assert torch.equal(rng.uniform(key, idx, 4096, device="cuda").cpu(), rng.uniform(key, idx, 4096))
    torch.testing.assert_close(rng.normal(key, idx, 4096, device="cuda").cpu(), rng.normal(key, idx, 4096),
                               rtol=1e-13, atol=1e-14)
