"""A safe container for nested state: a NumPy ``.npz`` archive whose arrays are plain ``.npy``
entries and whose structure is one JSON document. No pickle anywhere, so reading a file cannot
run code: ``np.load(path, allow_pickle=False)`` opens it (object arrays are refused), and
:func:`read_archive` rebuilds the tree.

Leaves may be None, bools, ints (any size), floats (NaN and infinities too), strings, numpy
arrays and scalars, and torch tensors (stored as arrays, bfloat16 as its raw 16 bits, restored
as tensors on the CPU); containers are dicts (any keys of those kinds), lists and tuples.
Anything else is a ``TypeError`` at save time, never a silent pickle.

Torch is imported only when an archive holds tensors, so runs without networks (tabular
algorithms) never import it.
"""

from __future__ import annotations

import json
import math
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from framework.records.io import atomic_write

TREE = "__tree__"


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def encode(tree: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON-able structure and the arrays it refers to."""
    arrays: dict[str, np.ndarray] = {}

    def put(arr: np.ndarray) -> str:
        key = f"a{len(arrays)}"
        arrays[key] = arr if arr.flags.c_contiguous else arr.copy()  # keeps 0-d arrays 0-d
        return key

    def enc(x: Any) -> Any:
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, int):
            return x
        if isinstance(x, float):
            return x if math.isfinite(x) else {"__float__": repr(x)}
        if isinstance(x, (np.ndarray, np.generic)):
            if np.asarray(x).dtype.hasobject:
                raise TypeError("object arrays cannot be stored (they would need pickle)")
            return {"__ndarray__": put(np.asarray(x)), "scalar": isinstance(x, np.generic)}
        if _is_tensor(x):
            t = x.detach().cpu()
            dtype = str(t.dtype).removeprefix("torch.")
            if dtype == "bfloat16":
                arr = t.contiguous().view(sys.modules["torch"].int16).numpy()
            else:
                arr = t.contiguous().numpy()
            return {"__tensor__": put(arr), "dtype": dtype}
        if isinstance(x, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in x):
                return {k: enc(v) for k, v in x.items()}
            return {"__items__": [[enc(k), enc(v)] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {"__tuple__": [enc(v) for v in x]}
        if isinstance(x, list):
            return [enc(v) for v in x]
        raise TypeError(f"a {type(x).__name__} cannot be stored in an rldojo archive")

    return enc(tree), arrays


def decode(node: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(node, list):
        return [decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    if "__ndarray__" in node:
        arr = arrays[node["__ndarray__"]]
        return arr[()] if node.get("scalar") else arr
    if "__tensor__" in node:
        import torch

        arr = arrays[node["__tensor__"]]
        if node["dtype"] == "bfloat16":
            return torch.from_numpy(arr.copy()).view(torch.bfloat16)
        return torch.from_numpy(arr.copy())
    if "__float__" in node:
        return float(node["__float__"])
    if "__tuple__" in node:
        return tuple(decode(v, arrays) for v in node["__tuple__"])
    if "__items__" in node:
        return {decode(k, arrays): decode(v, arrays) for k, v in node["__items__"]}
    return {k: decode(v, arrays) for k, v in node.items()}


def write_archive(path: str | Path, tree: Any, compress: bool = False) -> Path:
    """Write ``tree`` to ``path`` atomically (uncompressed unless ``compress``)."""
    structure, arrays = encode(tree)
    text = json.dumps(structure, allow_nan=False, separators=(",", ":"))
    arrays[TREE] = np.frombuffer(text.encode(), np.uint8)
    save = np.savez_compressed if compress else np.savez
    return atomic_write(path, lambda f: save(f, **arrays))


def array_bytes(tree: Any) -> int:
    """The bytes of the numpy arrays in ``tree`` (what dominates its archive's size)."""
    if isinstance(tree, np.ndarray):
        return tree.nbytes
    if isinstance(tree, dict):
        return sum(array_bytes(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return sum(array_bytes(v) for v in tree)
    return 0


class ArchiveError(ValueError):
    """Not a readable rldojo archive."""


def read_archive(path: str | Path) -> Any:
    """The tree stored at ``path``; ArchiveError when it is not an archive of this kind.
    FileNotFoundError when it does not exist."""
    if not zipfile.is_zipfile(path):
        if not Path(path).exists():
            raise FileNotFoundError(path)
        raise ArchiveError("not an .npz archive: perhaps a pickle or another program's file")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files") or TREE not in z.files:
                raise ArchiveError("no rldojo structure in it")
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except ArchiveError:
        raise
    except Exception as err:  # zipfile, npy header and pickle-refusal errors
        raise ArchiveError(str(err).splitlines()[0] if str(err) else type(err).__name__) from None
    try:
        structure = json.loads(bytes(arrays.pop(TREE)).decode())
        return decode(structure, arrays)
    except (ValueError, KeyError, TypeError) as err:
        raise ArchiveError(f"damaged structure ({err})") from None
