"""One registry mechanism for everything that is found by name.

Tasks, task families (generators), models and metrics each get a :class:`Registry`
instance. An entry can be registered

* with a decorator or a direct call: ``@MODELS.register("mynet")``,
* lazily as a ``"module:attr"`` string, imported only when first used
  (``MODELS.register("transformer", lazy="anchorbench.models.transformer:Transformer")``),
* by another installed package through an entry-point group
  (``[project.entry-points."anchorbench.models"] mynet = "my_pkg.models:MyNet"``).

Registering a name twice raises; looking up an unknown name raises a one-line
:class:`UnknownNameError` with "did you mean" and the list of known names. Where the
registry allows it, a ``"module:attr"`` string that is not registered is imported
directly, so a plug-in model can be used without registering it at all.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from anchorbench.errors import UnknownNameError, UserError

T = TypeVar("T")


class DuplicateNameError(UserError):
    """Two registrations under one name (often two plug-ins that disagree)."""


@dataclass
class Entry(Generic[T]):
    name: str
    origin: str  # where the registration came from, for error messages and `list`
    meta: dict[str, Any] = field(default_factory=dict)
    _target: Any = None  # the object, or None while still lazy
    _lazy: str | None = None  # "module:attr" to import on first use

    def load(self) -> T:
        if self._target is None:
            self._target = import_object(self._lazy)  # type: ignore[arg-type]
        return self._target


def import_object(path: str) -> Any:
    """Import ``"package.module:attr"`` (attr may be dotted). Failures are user errors."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"'{path}' is not of the form 'module:attr'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"cannot import '{path}': {exc}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"cannot import '{path}': module '{module_name}' has no attribute '{attr}'") from None
    return obj


class Registry(Generic[T]):
    """Name -> object, with lazy imports, entry points and helpful misses.

    ``discover`` is called once, before the first lookup, to register the built-in
    entries; keeping it lazy means ``import anchorbench`` stays cheap (no torch).
    """

    def __init__(
        self,
        kind: str,
        *,
        entry_point_group: str | None = None,
        discover: Callable[[Registry[T]], None] | None = None,
        allow_import_paths: bool = False,
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.allow_import_paths = allow_import_paths
        self._discover = discover
        self._discovered = False
        self._entries: dict[str, Entry[T]] = {}

    # -- registration -------------------------------------------------------------
    def register(
        self,
        name: str,
        obj: T | None = None,
        *,
        lazy: str | None = None,
        origin: str = "registered",
        **meta: Any,
    ) -> Any:
        """Register ``obj`` (or ``lazy="module:attr"``) under ``name``.

        Called without ``obj`` and ``lazy`` it returns a decorator.
        """
        if obj is None and lazy is None:

            def decorator(target: T) -> T:
                self._add(Entry(name, origin, dict(meta), _target=target))
                return target

            return decorator
        if obj is not None and lazy is not None:
            raise TypeError("give either obj or lazy, not both")
        self._add(Entry(name, origin, dict(meta), _target=obj, _lazy=lazy))
        return obj

    def _add(self, entry: Entry[T]) -> None:
        if entry.name in self._entries:
            other = self._entries[entry.name]
            raise DuplicateNameError(f"{self.kind} '{entry.name}' is registered twice ({other.origin}; {entry.origin})")
        self._entries[entry.name] = entry

    def unregister(self, name: str) -> None:
        """Remove an entry (tests and interactive use)."""
        self._entries.pop(name, None)

    # -- discovery ----------------------------------------------------------------
    def _ensure_discovered(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        if self._discover is not None:
            self._discover(self)
        if self.entry_point_group:
            for ep in entry_points(group=self.entry_point_group):
                dist = getattr(ep.dist, "name", "?")
                self._add(Entry(ep.name, f"entry point of {dist}", {}, _lazy=ep.value))

    # -- lookup ---------------------------------------------------------------------
    def names(self) -> list[str]:
        self._ensure_discovered()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._ensure_discovered()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def entry(self, name: str) -> Entry[T]:
        self._ensure_discovered()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def get(self, name: str) -> T:
        """The object registered as ``name``, or imported from ``"module:attr"``."""
        self._ensure_discovered()
        if name in self._entries:
            return self._entries[name].load()
        if self.allow_import_paths and ":" in name:
            return import_object(name)
        raise UnknownNameError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        how = " (or give 'module:attr')" if self.allow_import_paths else ""
        return f"unknown {self.kind} '{name}'.{hint} Known {self.kind}s{how}: {', '.join(known) or 'none'}"


# -- the registries ------------------------------------------------------------------
# Built-in entries are registered by the packages named here, on first lookup.


def _importer(target: str) -> Callable[[Registry[Any]], None]:
    """Discover by importing a module (which registers on import) or calling ``module:func``."""

    def discover(registry: Registry[Any]) -> None:
        if ":" in target:
            import_object(target)(registry)
        else:
            importlib.import_module(target)

    return discover


class TaskRegistry(Registry[T]):
    """Tasks have versioned ids (``name-vN``); an outdated id names the current one."""

    def unknown_message(self, name: str) -> str:
        base, _, version = name.rpartition("-v")
        if base and version.isdigit():
            current = [n for n in self.names() if n.rpartition("-v")[0] == base]
            if current:
                return f"task '{name}' is not available; the current version is {', '.join(current)}"
        return super().unknown_message(name)


# A plug-in family is registered through the entry-point group, or named as "module:attr" in a task spec.
FAMILIES: Registry[Any] = Registry(
    "task family",
    entry_point_group="anchorbench.families",
    discover=_importer("anchorbench.data"),
    allow_import_paths=True,
)
OBJECTIVES: Registry[Any] = Registry("objective", discover=_importer("anchorbench.training.objectives"))
TASKS: TaskRegistry[Any] = TaskRegistry(
    "task", entry_point_group="anchorbench.tasks", discover=_importer("anchorbench.specs:register_builtin_tasks")
)
MODELS: Registry[Any] = Registry(
    "model",
    entry_point_group="anchorbench.models",
    discover=_importer("anchorbench.models"),
    allow_import_paths=True,
)
METRICS: Registry[Any] = Registry("metric", discover=_importer("anchorbench.scoring"))
INTERVENTIONS: Registry[Any] = Registry("intervention", discover=_importer("anchorbench.models.interventions"))
REPORTS: Registry[Any] = Registry("report", discover=_importer("anchorbench.render.suite_reports"))
PROBES: Registry[Any] = Registry("probe", discover=_importer("anchorbench.scoring.mechanism"))
DYNAMICS_PROBES: Registry[Any] = Registry("training-dynamics probe", discover=_importer("anchorbench.scoring.dynamics"))
# Experiment trackers (run --log): plug-ins register a class through the entry-point group.
TRACKERS: Registry[Any] = Registry(
    "tracker", entry_point_group="anchorbench.trackers", discover=_importer("anchorbench.execution.trackers")
)
