"""Loading checkpoint files without running the code a pickle can carry.

``.safetensors`` files hold tensors only. Everything else goes through
``torch.load(weights_only=True)``, which rebuilds tensors and plain containers
and refuses every other Python object, plus the allow-list below: harmless
objects the published training scripts store beside the weights. A file that
needs anything else is refused with a ModelError naming the object; the user
can load it anyway with ``--trust-checkpoint`` (``trust=True``), which lists
what it lets through before running full pickle.
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import pickle
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ModelError

log = logging.getLogger("biasbench")

try:  # numpy >= 2 moved the implementation to numpy._core; pickles name either
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray

_NUMERIC_DTYPES = ("Bool", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
                   "Byte", "UByte", "Short", "UShort", "Int", "UInt", "Long", "ULong", "LongLong",
                   "ULongLong", "Float16", "Float32", "Float64", "LongDouble", "Complex64", "Complex128")


def _numpy_globals() -> list:
    """numpy scalars and numeric arrays (e.g. ``best_acc1`` saved as np.float64). Registered under both
    module spellings so pickles written with numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) load."""
    out: list = [np.dtype, np.ndarray]
    for fn in (_multiarray.scalar, _multiarray._reconstruct):
        out += [(fn, f"numpy.core.multiarray.{fn.__name__}"), (fn, f"numpy._core.multiarray.{fn.__name__}")]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25: the class of each dtype instance
    if dtypes is not None:
        out += [getattr(dtypes, f"{n}DType") for n in _NUMERIC_DTYPES if hasattr(dtypes, f"{n}DType")]
    return out


# What published checkpoints carry beside tensors, dicts, lists, numbers and strings (which
# weights_only accepts anyway): the training script's argparse arguments (often holding paths),
# and numpy scalars/arrays for metrics. None of these can run code when rebuilt.
ALLOWED_GLOBALS: list = [
    argparse.Namespace,
    (pathlib.PosixPath, "pathlib.PosixPath"),
    (pathlib.PurePosixPath, "pathlib.PurePosixPath"),
    *_numpy_globals(),
]


# The allow-list in words, for checkpoints.md and docs/models.md (independent of the numpy version).
ALLOW_LIST_SUMMARY = ("`argparse.Namespace` (training arguments), `pathlib.PosixPath`/`PurePosixPath` (paths "
                      "inside those arguments), numpy scalars and arrays of numeric dtypes (`numpy.core` / "
                      "`numpy._core` `multiarray.scalar` and `_reconstruct`, `numpy.dtype`, `numpy.ndarray`, "
                      "`numpy.dtypes.<numeric>DType`)")


def allowed_global_names() -> list[str]:
    """The allow-list as the names a pickle uses (for documentation and error messages)."""
    names = []
    for g in ALLOWED_GLOBALS:
        names.append(g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}")
    return sorted(set(names))


_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)")  # "Unsupported global: GLOBAL x.y" / "unsupported GLOBAL x.y whose..."
_BUILD_RE = re.compile(r"but got <class '([\w.]+)'>")
_WO_ERROR_RE = re.compile(r"WeightsUnpickler error:\s*(.+)")
_BOILERPLATE = ("Weights only load failed", "(1)", "(2)", "Check the documentation", "\x1b")
_TRUST_HINT = ("Load it only if you trust where the file came from: --trust-checkpoint "
               "(load_model(..., trust_checkpoint=True))")


def _redo(local: bool) -> str:
    """What to do about a damaged file: a cached download is fetched again; a local file:// checkpoint is
    the user's only copy, which nothing here can fetch."""
    if local:
        return "restore it from your copy or save it again (torch.save(model.state_dict(), PATH))"
    return "delete it and fetch it again (python code/prefetch.py --models NAME)"


def _unpickling_error(path: Path, err: pickle.UnpicklingError, local: bool = False) -> ModelError:
    """A refusal naming the offending object, or (for opcodes safe loading does not know, which is what
    random bytes look like) a message that covers both a corrupt file and an unusual pickle."""
    text = str(err)
    m = _GLOBAL_RE.search(text) or _BUILD_RE.search(text)
    if m:
        return ModelError(f"{path}: refused to unpickle the global {m.group(1)}: it is not on the safe-loading "
                          f"allow-list, and rebuilding it could run code. {_TRUST_HINT}")
    m = _WO_ERROR_RE.search(text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(_BOILERPLATE)]
    detail = m.group(1).strip() if m else (lines or [type(err).__name__])[0]
    return ModelError(f"{path}: not a readable checkpoint ({detail}): the file is corrupt or truncated "
                      f"({_redo(local)}), or its pickle uses features safe loading refuses. {_TRUST_HINT}")


def _corrupt(path: Path, err: BaseException, local: bool = False) -> ModelError:
    detail = (str(err).splitlines() or [""])[0] or type(err).__name__
    return ModelError(f"{path}: not a readable checkpoint (corrupt or truncated: {detail}); {_redo(local)}")


# What torch.load raises on damaged files (zip reader, legacy reader, struct unpacking, decoding).
_CORRUPT_ERRORS = (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError, TypeError, struct.error)


def load_checkpoint(path: str | os.PathLike, *, trust: bool = False, local: bool = False) -> Any:
    """The object saved in ``path``, on the CPU, loaded safely (see the module docstring). ``local``: the
    user's own file (a ``file://`` checkpoint), not a cached download, as messages about damage say."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint file not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise _corrupt(path, e, local) from None
    if trust:
        return _load_trusted(path, local)
    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise _unpickling_error(path, e, local) from None
    except _CORRUPT_ERRORS as e:
        raise _corrupt(path, e, local) from None


def _load_trusted(path: Path, local: bool) -> Any:
    try:
        extra = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        shown = ", ".join(extra) if extra else "nothing beyond the safe allow-list"
    except Exception:  # legacy (non-zip) files cannot be listed without unpickling them
        shown = "(legacy-format file: its globals cannot be listed before loading)"
    log.warning("--trust-checkpoint: loading %s with full pickle; it may construct: %s", path, shown)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, *_CORRUPT_ERRORS) as e:
        raise _corrupt(path, e, local) from None
    except (AttributeError, ModuleNotFoundError, ImportError) as e:
        raise ModelError(f"{path}: the pickle needs {e}, which is not importable here") from None
