"""The decoded-image cache: identical pixels, write-through resume, disk-room check."""

from collections import namedtuple

import numpy as np
import pytest
import torch

import biasbench.data.decoded_cache as dc
import biasbench.data.loader as loader
from biasbench.data.decode import decode
from biasbench.data.decoded_cache import DecodedCache
from biasbench.data.imagenet import imagenet_val
from biasbench.errors import DatasetError

from helpers import write_val_tree


@pytest.fixture
def val(tmp_path):
    return imagenet_val(write_val_tree(tmp_path / "in", [0, 7, 42], per_class=3), check=False)


def _all(images, cache, batch_size=4, **kw):
    out = list(loader.batches(images, batch_size, 0, cache=cache, **kw))
    return torch.cat([b.images for b in out]), torch.cat([b.indices for b in out])


def test_cached_pixels_equal_direct_decode(tmp_path, val):
    direct = torch.stack([decode(val.path(i), val.preprocess) for i in range(len(val))])
    cache = DecodedCache(val, tmp_path / "cache")
    first, idx = _all(val, cache)  # fills the cache
    assert cache.complete()
    second, idx2 = _all(val, DecodedCache(val, tmp_path / "cache"), batch_size=5)  # reads it back
    assert torch.equal(first, direct) and torch.equal(second, direct)
    assert idx.tolist() == idx2.tolist() == list(range(len(val)))


def test_interrupted_fill_resumes_decoding_only_the_rest(tmp_path, val, monkeypatch):
    calls = []
    real_decode = loader.decode
    monkeypatch.setattr(loader, "decode", lambda p, pre: calls.append(p) or real_decode(p, pre))
    it = loader.batches(val, 4, 0, cache=DecodedCache(val, tmp_path / "c"))
    next(it)
    it.close()  # the pass dies after one batch
    assert len(calls) == 4
    cache = DecodedCache(val, tmp_path / "c")
    assert cache.missing().tolist() == list(range(4, len(val)))
    calls.clear()
    pixels, _ = _all(val, cache)
    assert len(calls) == len(val) - 4 and cache.complete()
    assert torch.equal(pixels, torch.stack([real_decode(val.path(i), val.preprocess) for i in range(len(val))]))


def test_unreadable_images_are_never_marked_done(tmp_path, val):
    val.path(1).write_bytes(b"garbage")
    cache = DecodedCache(val, tmp_path / "c")
    _all(val, cache, skip_unreadable=True)
    assert cache.missing().tolist() == [1]
    with pytest.raises(DatasetError, match=str(val.path(1).name)):
        _all(val, DecodedCache(val, tmp_path / "c"))


def test_not_enough_disk_is_a_clear_error(tmp_path, val, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(dc.shutil, "disk_usage", lambda p: usage(10**9, 10**9, 1000))
    with pytest.raises(DatasetError, match=r"needs 1\.35 MB .* only 1 kB are free.*--decoded_cache off"):
        DecodedCache(val, tmp_path / "c").open()


def test_cache_is_keyed_by_the_dataset_fingerprint(tmp_path, val):
    a = DecodedCache(val, tmp_path / "c")
    b = DecodedCache(val.subset(3), tmp_path / "c")
    assert a.dir != b.dir
    assert np.asarray(a.open().missing()).size == len(val)


def test_a_complete_cache_is_read_ahead_off_the_main_thread(tmp_path, val, monkeypatch):
    import threading
    import time

    direct = torch.stack([decode(val.path(i), val.preprocess) for i in range(len(val))])
    _all(val, DecodedCache(val, tmp_path / "cache"))  # fill
    cache = DecodedCache(val, tmp_path / "cache")
    reads, real = [], cache.read

    def spy(start, stop):
        reads.append((threading.current_thread() is threading.main_thread(), start))
        return real(start, stop)

    monkeypatch.setattr(cache, "read", spy)
    gen = loader.batches(val, 2, 0, cache=cache)
    first = next(gen)
    assert torch.equal(first.images, direct[:2])
    for _ in range(200):  # the next slice is being read ahead, while the first batch is in use
        if len(reads) >= 2:
            break
        time.sleep(0.01)
    assert len(reads) >= 2 and not any(main for main, _ in reads)
    rest = list(gen)
    assert torch.equal(torch.cat([first.images] + [b.images for b in rest]), direct)
    assert sorted(start for _, start in reads) == list(range(0, len(val), 2))  # each slice read once


def test_a_given_fingerprint_is_not_recomputed(tmp_path, val, monkeypatch):
    real = type(val).fingerprint(val)
    monkeypatch.setattr(type(val), "fingerprint", lambda self: pytest.fail("fingerprint recomputed"))
    cache = DecodedCache(val, tmp_path / "cache", real)  # the runner passes the pass's fingerprint
    assert cache.dir.name == f"{val.name}-{real}"


def test_a_batch_write_syncs_only_the_pages_of_its_rows(tmp_path):
    """np.memmap.flush syncs the whole mapping (7.5 GB for ImageNet val) per batch; _flush_rows
    asks for the written rows' pages alone, and they are on disk afterwards."""
    import mmap

    import numpy as np

    from biasbench.data.decoded_cache import _flush_rows

    shape = (10, 3, 224, 224)
    path = tmp_path / "pixels.u8"
    array = np.memmap(path, dtype=np.uint8, mode="w+", shape=shape)
    calls = []

    class Spy:
        def __init__(self, raw):
            self.raw = raw

        def flush(self, *args):
            calls.append(args)
            return self.raw.flush(*args)

        def close(self):
            self.raw.close()

    array._mmap = Spy(array._mmap)
    array[4:6] = 7
    _flush_rows(array, 4, 6)
    row = 3 * 224 * 224
    ((start, length),) = calls
    assert start % mmap.ALLOCATIONGRANULARITY == 0
    assert start <= 4 * row and start + length == 6 * row  # covers rows 4 and 5 ...
    assert length < 3 * row  # ... and not the other 8
    on_disk = np.fromfile(path, dtype=np.uint8).reshape(shape)
    assert (on_disk[4:6] == 7).all() and (on_disk[:4] == 0).all() and (on_disk[6:] == 0).all()
