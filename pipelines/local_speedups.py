"""One change to Beam's local runner, made only when a pipeline runs on it.

``BundleBasedDirectRunner`` (the local streaming runner) rebuilds each ParDo's
``DoFnSignature`` at the start of every bundle, and asks ``is_stateful_dofn`` and
``get_dofn_specs``, which wrap every method of the DoFn (about forty, with ``DoFn``'s own)
and read each one's ``inspect.signature``. Bundles are small in streaming, so this was
the largest single cost of the local pipeline: 2.4 ms per bundle and ParDo, about a third
of its CPU on the demo's traffic (py-spy, Beam 2.77). Dataflow builds signatures once per
worker and is not affected.

The change memoizes ``apache_beam.transforms.core.get_function_arguments`` per class and
method, and ``userstate.get_dofn_specs`` per class: a method's arguments and their
defaults (the state and timer specs among them) belong to the function the class
defines, so they are the same for every instance and every bundle. Anything else (a
method set on the instance, a class with its own ``_inspect_`` hook) is passed through. It is applied only for the Beam version it was
measured with; another version runs unchanged, with a warning.
"""

from __future__ import annotations

import logging
import threading
from types import MethodType
from typing import Any

import apache_beam
from apache_beam.runners.direct import transform_evaluator
from apache_beam.transforms import core, userstate

log = logging.getLogger(__name__)

MEASURED_WITH = "2.77.0"
_ORIGINAL = core.get_function_arguments
_ORIGINAL_SPECS = userstate.get_dofn_specs
_ORIGINAL_IS_STATEFUL = userstate.is_stateful_dofn
_CACHE: dict[tuple[type, str], tuple[list[str], list[Any]]] = {}
_LOCK = threading.Lock()


def _memoized_function_arguments(obj: Any, func: str) -> tuple[list[str], list[Any]]:
    # A method set on the instance, or a class with its own ``_inspect_`` hook (Map's
    # wrapper), may answer differently per instance.
    if func in getattr(obj, "__dict__", ()) or hasattr(obj, f"_inspect_{func}"):
        return _ORIGINAL(obj, func)
    key = (type(obj), func)
    held = _CACHE.get(key)
    if held is None:
        held = _ORIGINAL(obj, func)
        with _LOCK:
            _CACHE[key] = held
    args, defaults = held
    return list(args), list(defaults)  # callers own their lists, as with the original


_SPECS: dict[type, tuple[set, set]] = {}


def _memoized_dofn_specs(dofn: Any) -> tuple[set, set]:
    # Beam reads the specs from the bound methods it finds on the DoFn, so only a bound
    # method held by the instance, or Map's wrapper of a function, can differ per instance;
    # other callables it holds (a configuration provider) do not count.
    if isinstance(dofn, core.CallableWrapperDoFn) or any(isinstance(v, MethodType) for v in vars(dofn).values()):
        return _ORIGINAL_SPECS(dofn)
    held = _SPECS.get(type(dofn))
    if held is None:
        held = _ORIGINAL_SPECS(dofn)
        with _LOCK:
            _SPECS[type(dofn)] = held
    return set(held[0]), set(held[1])


def _memoized_is_stateful(dofn: Any) -> bool:
    state_specs, timer_specs = _memoized_dofn_specs(dofn)
    return bool(state_specs or timer_specs)


def memoize_dofn_signatures() -> bool:
    """Install the memoization (idempotent); False when this Beam is not the one measured."""
    if apache_beam.__version__ != MEASURED_WITH:
        log.warning(
            "Beam %s, not %s: the local runner's per-bundle signature cache is off (it may be slower)",
            apache_beam.__version__,
            MEASURED_WITH,
        )
        return False
    core.get_function_arguments = _memoized_function_arguments
    # userstate's own callers look the name up in its module; the runner imported both
    userstate.get_dofn_specs = _memoized_dofn_specs
    transform_evaluator.get_dofn_specs = _memoized_dofn_specs
    transform_evaluator.is_stateful_dofn = _memoized_is_stateful
    return True


def original_function_arguments(obj: Any, func: str) -> tuple[list[str], list[Any]]:
    """Beam's own, for comparison."""
    return _ORIGINAL(obj, func)


def original_dofn_specs(dofn: Any) -> tuple[set, set]:
    return _ORIGINAL_SPECS(dofn)


def restore_beam() -> None:
    """Beam as it was (tests)."""
    core.get_function_arguments = _ORIGINAL
    userstate.get_dofn_specs = _ORIGINAL_SPECS
    transform_evaluator.get_dofn_specs = _ORIGINAL_SPECS
    transform_evaluator.is_stateful_dofn = _ORIGINAL_IS_STATEFUL
