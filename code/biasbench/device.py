"""The run's device plumbing, apart from the evaluation loop (``runner.py``): the precision (autocast
context and the process-wide TF32/determinism flags, set and restored in one place), models prepared
for a device (frozen, channels-last, compiled, with dynamo's recompile limits raised per chunk of
models) and the CUDA out-of-memory split of one step into halves. See docs/devices.md.
"""

from __future__ import annotations

import contextlib
import os

import torch

from .errors import ConfigError, UserError

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


def device_name(device: torch.device) -> str:
    """What a record stores as ``device``: "cpu", or "cuda:" and the GPU's name."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


@contextlib.contextmanager
def global_flags(precision: str, deterministic: bool):
    """TF32 and determinism flags for the run, restored afterwards (they are process-global): the one
    place a run changes them. fp32 means fp32: PyTorch lets cuDNN use TF32 by default, which the
    faithful mode must not."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic)
    saved_algorithms = (torch.are_deterministic_algorithms_enabled(),
                        torch.is_deterministic_algorithms_warn_only_enabled())
    saved_workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    if deterministic:
        # cuBLAS is deterministic only with a fixed workspace (read when CUDA first initialises it)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark,
         torch.backends.cudnn.deterministic) = saved
        torch.use_deterministic_algorithms(saved_algorithms[0], warn_only=saved_algorithms[1])
        if saved_workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def precision_context(precision: str, device: torch.device):
    """A factory of the autocast context of ``precision`` (a no-op context for fp32/tf32)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return lambda: torch.autocast(device.type, dtype=dtype)
    return contextlib.nullcontext


def prepare_model(model: torch.nn.Module, device: torch.device, *, channels_last: bool = False,
                  compile: bool = False) -> torch.nn.Module:
    """``model`` on ``device`` for evaluation: eval mode, frozen, channels-last and compiled when asked."""
    # Frozen parameters: an attack's backward computes the input gradient only, never weight gradients.
    model = model.to(device).eval().requires_grad_(False)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        model = torch.compile(model)
    return model


def compile_limits(n_models: int) -> None:
    """Every wrapped model shares one forward code object, and dynamo recompiles it per model
    (and per batch shape) up to its cache limit (8), then silently falls back to eager: raise
    the limit with the number of models of a chunk, and start each chunk from a clean cache."""
    import torch._dynamo

    torch._dynamo.reset()
    limit = max(8, 4 * n_models)  # full batches, the last one, with and without gradients
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, limit)
    if hasattr(torch._dynamo.config, "accumulated_cache_size_limit"):
        torch._dynamo.config.accumulated_cache_size_limit = max(
            torch._dynamo.config.accumulated_cache_size_limit, limit)


def free_cuda_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def forward(model: torch.nn.Module, x: torch.Tensor, autocast) -> torch.Tensor:
    """Logits in float32, without gradients, under ``autocast`` (a ``precision_context``)."""
    with torch.no_grad(), autocast():
        return model(x).float()


class SplitOnOOM:
    """Runs one (condition, model) step; on CUDA out-of-memory, runs it on the two halves of its
    batch instead (recursively) and concatenates. Every step is per image, so the numbers do not
    change; only the failing step is split, not the whole pass."""

    def __init__(self):
        self.splits, self.smallest = 0, 0

    def __call__(self, fn, *batch: torch.Tensor) -> torch.Tensor:
        try:
            return fn(*batch)
        except torch.cuda.OutOfMemoryError:
            n = len(batch[0])
            if n == 1:
                raise UserError("CUDA out of memory even at batch size 1: use fewer models per pass "
                                "(--models_per_pass) or a GPU with more memory") from None
        # outside the except block, so the failed attempt's tensors are freed first
        free_cuda_memory()
        half = n // 2
        self.splits += 1
        self.smallest = min(self.smallest or half, half)
        return torch.cat([self(fn, *(t[:half] for t in batch)), self(fn, *(t[half:] for t in batch))])
