"""Argument checks for the public entry points: one place, one wording.

Each check takes the argument's name and value and either returns the value in the form the caller
uses (a Python ``int``, a ``torch.dtype``) or raises with a message that names the argument, what was
given and what is allowed: ``batch_size must be an integer >= 1, got '2' (str)``. Errors are raised
before anything is run or written, so a bad call leaves no half-made store or figure behind.

This is the one private module whose names other mechint modules import.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol, Union, cast, overload, runtime_checkable

import torch

from ._suggest import did_you_mean, nearest

__all__ = [
    "HasTexts",
    "TextsLike",
    "given",
    "integer",
    "number",
    "choice",
    "dtype",
    "boolean",
    "texts",
    "finite",
    "finite_rows",
    "labels",
    "device",
    "numbers",
    "warn_at_caller",
]


@runtime_checkable
class HasTexts(Protocol):
    """Anything with a ``texts`` attribute (a :class:`mechint.data.Dataset`, say)."""

    @property
    def texts(
        self,
    ) -> Sequence[str]: ...  # read-only: Dataset.texts is a property, which a plain attribute would refuse


TextsLike = Union[str, Sequence[str], HasTexts]
"""What entry points that run texts take: one text, a list of them, or a data set with ``.texts``."""

_DTYPE_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "half": "float16", "float": "float32"}


def given(value: Any) -> str:
    """How an error message shows a value the user gave: its repr and, for non-obvious types, its
    type (``'2' (str)``, ``2.5 (float)``)."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


@overload
def integer(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None, optional: Literal[False] = False
) -> int: ...
@overload
def integer(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None, optional: bool
) -> int | None: ...
def integer(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None, optional: bool = False
) -> int | None:
    """``value`` as a Python ``int`` (numpy and 0-d tensor integers accepted; bools, floats and
    strings refused), within ``[minimum, maximum]``; ``None`` passes when ``optional``."""
    if value is None and optional:
        return None
    bounds = (
        (f" >= {minimum}" if maximum is None else f" in {minimum}..{maximum}")
        if minimum is not None
        else (f" <= {maximum}" if maximum is not None else "")
    )
    wanted = f"{name} must be an integer{bounds}" + (" or None" if optional else "")
    if isinstance(value, bool) or (isinstance(value, torch.Tensor) and value.dtype == torch.bool):
        raise TypeError(f"{wanted}, got {given(value)}")
    try:
        number = operator.index(value)  # pyright: ignore[reportArgumentType]  # a non-integer raises, caught below
    except TypeError:
        raise TypeError(f"{wanted}, got {given(value)}") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"{wanted}, got {number}")
    return number


def number(name: str, value: Any, *, low: float, low_open: bool = False, optional: bool = False) -> float | None:
    """``value`` as a finite float ``>= low`` (``> low`` with ``low_open``); ``None`` passes when ``optional``."""
    if value is None and optional:
        return None
    wanted = f"{name} must be a number {'>' if low_open else '>='} {low:g}" + (" or None" if optional else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{wanted}, got {given(value)}")
    result = float(value)
    if not math.isfinite(result) or result < low or (low_open and result == low):
        raise ValueError(f"{wanted}, got {value!r}")
    return result


def boolean(name: str, value: Any) -> bool:
    """``value`` if it is a bool (numpy bools too); anything else is refused rather than read as truthy."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {given(value)}")


def choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """``value`` if it is one of ``allowed``; else an error listing them, with the nearest spelling."""
    allowed = tuple(allowed)
    try:
        ok = value in allowed
    except TypeError:  # unhashable or incomparable
        ok = False
    if ok and not isinstance(value, bool):
        return value
    near = nearest(value, [a for a in allowed if isinstance(a, str)], n=1) if isinstance(value, str) else []
    shown = ", ".join(map(repr, allowed))
    raise ValueError(f"{name} must be one of {shown}, got {given(value)}{did_you_mean(near)}")


@overload
def dtype(name: str, value: Any, *, optional: Literal[False]) -> torch.dtype: ...
@overload
def dtype(name: str, value: Any, *, optional: bool = True) -> torch.dtype | None: ...
def dtype(name: str, value: Any, *, optional: bool = True) -> torch.dtype | None:
    """A ``torch.dtype`` from a dtype or its name (``"bfloat16"``, ``"bf16"``, ``"torch.float32"``)."""
    if value is None and optional:
        return None
    if isinstance(value, torch.dtype):
        return value
    if isinstance(value, str):
        key = value.strip().removeprefix("torch.")
        resolved = getattr(torch, _DTYPE_ALIASES.get(key, key), None)
        if isinstance(resolved, torch.dtype):
            return resolved
    raise (ValueError if isinstance(value, str) else TypeError)(
        ("unknown dtype: " if isinstance(value, str) else "")
        + f"{name} must be a torch.dtype or its name (e.g. 'float32', 'bfloat16')"
        + (" or None" if optional else "")
        + f", got {given(value)}"
    )


def texts(value: Any, name: str = "texts") -> list[str]:
    """``value`` as a non-empty list of strings: one string, a sequence of them, or a data set with
    ``.texts``."""
    if hasattr(value, "texts"):
        value = value.texts
    if isinstance(value, str):
        value = [value]
    if value is None or isinstance(value, (bytes, int, float)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a string, a list of strings or a data set, got {given(value)}")
    value = list(value)
    if not value:
        raise ValueError(f"no {name} given (empty data)")
    bad = [i for i, t in enumerate(value) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{name} must be strings; item {bad[0]} is {given(value[bad[0]])}")
    return value


def finite(name: str, value: torch.Tensor) -> None:
    """Raise if a floating-point ``value`` (a direction, a scale) holds NaN or inf: an edit by it
    would turn every activation it touches into NaN."""
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} has non-finite entries (nan or inf)")


def finite_rows(name: str, acts: torch.Tensor, *, row_axis: int = -2) -> None:
    """Raise if ``acts`` holds NaN or inf, naming how many values and the first rows (along
    ``row_axis``) that hold them: a NaN row would silently make a mean, a direction or a fit NaN."""
    if not acts.is_floating_point():
        return
    bad = ~torch.isfinite(acts)
    if not bool(bad.any()):
        return
    axis = row_axis % acts.ndim
    per_row = bad.movedim(axis, 0).reshape(acts.shape[axis], -1).any(-1).nonzero().reshape(-1).tolist()
    shown = ", ".join(map(str, per_row[:5])) + (", ..." if len(per_row) > 5 else "")
    raise ValueError(
        f"{name} holds {int(bad.sum())} NaN or infinite value(s), in {len(per_row)} of its {acts.shape[axis]} rows "
        f"(rows {shown}): drop those rows, or find the forward that produced them"
    )


def labels(value: Any, name: str = "labels", *, device: torch.device | str | None = None) -> torch.Tensor:
    """``value`` as a tensor of class labels, refusing text (``"harmful"``, ``"1"``) by name: torch
    reads a list of strings as "too many dimensions 'str'", which names neither the argument nor the fix."""
    if isinstance(value, torch.Tensor):
        return value.to(device) if device is not None else value
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of 0/1 integers or booleans, got the string {value!r}")
    import numpy as np

    try:
        array = np.asarray(value)
    except ValueError:  # ragged: let torch say so
        array = None
    if array is not None and array.dtype.kind in "USO":
        text = next((v for v in array.reshape(-1).tolist() if isinstance(v, (str, bytes))), None)
        if text is not None:
            raise TypeError(
                f"{name} must be 0/1 integers or booleans (1 = the positive class, e.g. harmful), got text such as "
                f"{text!r}: map them first, e.g. [int(label == {text!r}) for label in {name}]"
            )
    return torch.as_tensor(value, device=device)


def device(name: str, value: Any) -> torch.device | None:
    """A ``torch.device`` that exists on this machine (``None`` passes): ``"cuda:9"`` on a machine with
    one GPU, or ``"cuda"`` without CUDA, is refused here rather than deep inside a ``.to()``."""
    if value is None:
        return None
    if not isinstance(value, (str, torch.device, int)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a device such as 'cpu' or 'cuda:0', got {given(value)}")
    try:
        resolved = torch.device(value)
    except (RuntimeError, ValueError):
        raise ValueError(f"{name} must be a device such as 'cpu', 'cuda' or 'cuda:0', got {given(value)}") from None
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name}={value!r} asks for CUDA, but this machine has no CUDA device (use 'cpu')")
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(f"{name}={value!r}: this machine has CUDA devices 0..{count - 1}")
    return resolved


def numbers(name: str, value: Any) -> torch.Tensor:
    """``value`` (a number, a tensor, or a sequence of numbers) as a tensor, refusing text, ``None``
    and booleans by name: torch would say "new(): invalid data type 'str'"."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool:
            raise TypeError(f"{name} must be numbers, got a boolean tensor")
        return value
    if value is None or isinstance(value, (str, bytes, bool)):
        raise TypeError(f"{name} must be a number or a tensor of numbers, got {given(value)}")
    try:
        out = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a number or a tensor of numbers, got {given(value)}") from None
    if out.dtype == torch.bool:
        raise TypeError(f"{name} must be numbers, got booleans {given(value)}")
    return out


def warn_at_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """A warning attributed to the first frame outside mechint, torch, transformers and any run-time
    type checker's wrappers: the caller's line that asked for the work, not the code that noticed."""
    import os
    import sys
    import warnings

    roots = [sys.modules[cast(str, __package__)]] + [  # mechint: always set in a package's module
        sys.modules[m] for m in ("torch", "transformers", "jaxtyping", "beartype", "importlib") if m in sys.modules
    ]
    skip = tuple(os.path.dirname(m.__file__) + os.sep for m in roots if m.__file__ is not None)
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith((*skip, "<@beartype", "<frozen importlib")):
        frame = frame.f_back
    # warn_explicit at the frame found: a stacklevel count would be thrown off by the frames that
    # warnings itself skips (importlib's)
    where = dict(module=frame.f_globals.get("__name__"), registry=frame.f_globals.setdefault("__warningregistry__", {}))
    try:
        warnings.warn_explicit(
            message, category, frame.f_code.co_filename, frame.f_lineno, module_globals=frame.f_globals, **where
        )
    except ImportError:
        # `python -c` and the interactive prompt: warn_explicit asks __main__'s loader (the built-in
        # importer) for the source line before it warns, and that loader raises ImportError
        warnings.warn_explicit(message, category, frame.f_code.co_filename, frame.f_lineno, **where)


def moved(namespace: dict, old: str, new: str) -> None:
    """Make the deprecated module ``old`` (its ``globals()``) an alias of ``new`` for one release: the
    same public objects, and one DeprecationWarning at the importing line."""
    import importlib

    target = importlib.import_module(new)
    namespace.update({name: getattr(target, name) for name in target.__all__})
    namespace["__all__"] = list(target.__all__)
    warn_at_caller(
        f"{old} is deprecated and will be removed in the next release: import from {new} instead", DeprecationWarning
    )
