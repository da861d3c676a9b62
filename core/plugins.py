"""Plugin discovery, validation and the per-cluster hook callers."""

from __future__ import annotations

import difflib
import importlib
import sys
import traceback
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "grappe.plugins"
# hooks that a tool running on the app (a benchmark...) specifies itself, when it runs:
# entry point name = hook name, value = its specification ("package.hookspecs:hook_name")
TOOL_HOOKS_GROUP = "grappe.tool_hooks"
CORE_PLUGIN = "core"


@dataclass(frozen=True)
class Manifest:
    """What a plugin says of itself (its package's ``manifest``)."""

    name: str
    version: str
    label: str
    description: str = ""
    depends: tuple[str, ...] = ()


@dataclass
class PluginInfo:
    """A plugin as the platform sees it: loaded or broken."""

    name: str
    manifest: Manifest | None = None
    module: ModuleType | None = None
    source: str = ""  # "entry point NAME = MODULE" or "module MODULE"
    error: str | None = None

    @property
    def broken(self) -> bool:
        return self.error is not None

    @property
    def label(self) -> str:
        return self.manifest.label if self.manifest else self.name

    @property
    def depends(self) -> tuple[str, ...]:
        return self.manifest.depends if self.manifest else ()

    @property
    def package_path(self) -> Path | None:
        if self.module is None:
            return None
        pkg = sys.modules.get(self.module.__package__ or "") or self.module
        return Path(pkg.__file__).parent if getattr(pkg, "__file__", None) else None


class PluginError(Exception):
    """A plugin cannot be loaded; the message names the plugin and the cause."""


def _manifest_of(module: ModuleType) -> Manifest:
    manifest = getattr(module, "manifest", None)
    if manifest is None and module.__package__ and module.__package__ != module.__name__:
        manifest = getattr(sys.modules[module.__package__], "manifest", None)
    if not isinstance(manifest, Manifest):
        raise PluginError("it has no manifest (a core.Manifest named 'manifest' in its package)")
    return manifest


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _guess_name(target: Any) -> str:
    """A name for a plugin that could not say its own (it failed to import)."""
    if isinstance(target, EntryPoint):
        return target.name
    path = target.__name__ if isinstance(target, ModuleType) else str(target).partition(":")[0]
    parts = path.split(".")
    if len(parts) > 1 and parts[-1] == "hooks":
        return parts[-2]
    return parts[-1]


def _describe(exc: BaseException) -> str:
    """``Type: message (file:line)``, the line being the last one outside importlib."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<") and "importlib" not in Path(f.filename).parts]
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {_one_line(exc)}{where}"


def tool_hook_names() -> set[str]:
    """Names of the hooks installed tools specify themselves (the ``grappe.tool_hooks`` group).

    Only the entry points' names are read (no tool is imported): an implementation of such
    a hook is not taken for a typo while the tool does not run; the tool checks it when it
    adds its specifications (:meth:`PluginHost.add_hookspecs`).
    """
    return {ep.name for ep in entry_points(group=TOOL_HOOKS_GROUP)}


def discover(explicit: Iterable[ModuleType | str | EntryPoint] | None = None) -> list[PluginInfo]:
    """Import the plugins: the given ones, or every ``grappe.plugins`` entry point.

    ``explicit`` holds modules, import paths (``"pkg.hooks"`` or ``"pkg:attr"``) or entry
    points.  A plugin that fails to import is returned broken, with the reason.
    """
    found: list[PluginInfo] = []
    targets = list(entry_points(group=ENTRY_POINT_GROUP)) if explicit is None else list(explicit)
    for target in targets:
        if isinstance(target, EntryPoint):
            source = f"entry point {target.name} = {target.value}"
        elif isinstance(target, ModuleType):
            source = f"module {target.__name__}"
        else:
            source = f"module {target}"
        info = PluginInfo(name=_guess_name(target), source=source)
        try:
            if isinstance(target, ModuleType):
                module = target
            elif isinstance(target, str):
                module_name, _, attr = target.partition(":")
                module = importlib.import_module(module_name)
                if attr:
                    module = getattr(module, attr)
            else:
                module = target.load()
            info.module = module
            info.manifest = _manifest_of(module)
            info.name = info.manifest.name
            if isinstance(target, EntryPoint) and target.name != info.name:
                raise PluginError(f"its entry point is named '{target.name}' but its manifest says '{info.name}'")
        except PluginError as exc:
            info.error = str(exc)
        except Exception as exc:  # a broken third-party plugin must not take us down
            info.error = f"import failed: {_describe(exc)}"
        found.append(info)
    return found


def resolve(infos: list[PluginInfo]) -> list[PluginInfo]:
    """Mark duplicates, missing dependencies and cycles as broken; return all in load order."""
    by_name: dict[str, PluginInfo] = {}
    duplicates: dict[str, list[PluginInfo]] = {}
    for info in infos:
        if info.broken:
            continue
        if info.name == CORE_PLUGIN:
            info.error = "the name 'core' is reserved"
        else:
            duplicates.setdefault(info.name, []).append(info)
    for name, same in duplicates.items():
        if len(same) == 1:
            by_name[name] = same[0]
            continue
        sources = " and ".join(i.source for i in same)
        for info in same:
            info.error = f"{len(same)} plugins are named '{name}' ({sources}); none of them is loaded"

    order: list[PluginInfo] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        info = by_name[name]
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join(path[path.index(name):] + [name])
            for member in path[path.index(name):]:
                by_name[member].error = f"dependency cycle: {cycle}"
            return
        state[name] = "visiting"
        for dep in info.depends:
            if dep not in by_name:
                broken = next((i for i in infos if i.name == dep and i.broken), None)
                why = f"it is broken ({broken.error})" if broken else "it is not installed"
                info.error = info.error or f"depends on '{dep}', but {why}"
            else:
                visit(dep, path + [name])
                if by_name[dep].broken:
                    info.error = info.error or f"depends on '{dep}', which is broken"
        state[name] = "done"
        order.append(info)

    for name in sorted(by_name):
        visit(name, [])
    ordered = [i for i in order if not i.broken]
    return ordered + [i for i in infos if i.broken]


class PluginHost:
    """One pluggy PluginManager with its plugins; stored on the app.

    Whatever is wrong with a plugin (import, manifest, dependencies, hook
    implementations, a hook raising while the app is built) marks that plugin -- and
    the plugins that depend on it -- broken with the reason; the others load.
    """

    def __init__(self, explicit: Iterable[ModuleType | str | EntryPoint] | None = None,
                 core_plugins: Iterable[Any] = ()):
        self.pm = pluggy.PluginManager("grappe")
        self.pm.add_hookspecs(hookspecs)
        for obj in core_plugins:
            self.pm.register(obj, name=f"{CORE_PLUGIN}.{getattr(obj, '__name__', id(obj))}")
        self.pm.hook.grappe_addhooks.call_historic(kwargs={"pluginmanager": self.pm})
        self.plugins: dict[str, PluginInfo] = {}
        infos = resolve(discover(explicit))
        for info in infos:
            key = info.name
            while key in self.plugins:
                key = f"{info.name}#{len(self.plugins)}"
            self.plugins[key] = info
        # plugins that add hook specifications register first, so that an implementation
        # of their hooks is checked against the specification when it registers
        loadable = [i for i in self.plugins.values() if not i.broken]
        loadable.sort(key=lambda i: self.pm.parse_hookimpl_opts(i.module, "grappe_addhooks") is None)
        for info in loadable:
            self._register(info)
        self._check_pending()
        self._callers: dict[frozenset[str], _SubsetRelay] = {}

    def _register(self, info: PluginInfo) -> None:
        broken_deps = [d for d in info.depends if self.plugins.get(d) is None or self.plugins[d].broken]
        if broken_deps:
            info.error = f"depends on '{broken_deps[0]}', which is broken"
            return
        try:
            self.pm.register(info.module, name=info.name)
        except pluggy.PluginValidationError as exc:
            info.error = f"invalid hook implementation: {_one_line(exc)}"
        except Exception as exc:  # grappe_addhooks raised
            info.error = f"could not register its hooks: {_describe(exc)}"
        if info.broken and self.pm.is_registered(info.module):
            self.pm.unregister(info.module)

    def mark_broken(self, name: str, reason: str) -> list[str]:
        """Take a loaded plugin out (and every plugin depending on it); return their names."""
        info = self.plugins.get(name)
        if info is None or info.broken:
            return []
        out = []
        for dependent in self.dependents(name):
            self._unload(self.plugins[dependent], f"depends on '{name}', which is broken")
            out.append(dependent)
        self._unload(info, reason)
        return [name] + out

    def _unload(self, info: PluginInfo, reason: str) -> None:
        if info.broken:
            return
        info.error = reason
        if self.pm.is_registered(info.module):
            self.pm.unregister(info.module)
        self._callers = {}

    def _unspecified(self, tool_hooks: set[str]) -> Iterable[tuple[str, pluggy.HookCaller]]:
        """Hooks some plugin implements that no specification declares, tool hooks aside."""
        for hook_name in dir(self.pm.hook):
            if hook_name.startswith("_") or hook_name in tool_hooks:
                continue
            caller = getattr(self.pm.hook, hook_name)
            if isinstance(caller, pluggy.HookCaller) and caller.spec is None:
                yield hook_name, caller

    def _check_pending(self) -> None:
        """Break plugins that implement hooks nobody specified (typos fail loudly).

        A hook of the ``grappe.tool_hooks`` group (:func:`tool_hook_names`) is left alone:
        the tool that specifies it checks its implementations when it runs.
        """
        tool_hooks = tool_hook_names()
        specified = [n for n in dir(self.pm.hook) if not n.startswith("_")
                     and getattr(getattr(self.pm.hook, n), "spec", None) is not None]
        specified += sorted(tool_hooks - set(specified))
        for hook_name, caller in list(self._unspecified(tool_hooks)):
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                info = self.plugins.get(impl.plugin_name)
                if info is not None and not info.broken:
                    close = difflib.get_close_matches(hook_name, specified, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    self.mark_broken(info.name, f"implements '{hook_name}', which no hook specification declares{hint}")
        # what is left is the core's own (a bug): pluggy's check_pending, tool hooks aside
        for hook_name, caller in self._unspecified(tool_hooks):
            for impl in caller.get_hookimpls():
                if not impl.optionalhook:
                    raise pluggy.PluginValidationError(
                        impl.plugin, f"unknown hook {hook_name!r} in plugin {impl.plugin!r}")

    def add_hookspecs(self, module: Any) -> list[str]:
        """Add hook specifications once the plugins are registered; return the plugins taken out.

        For a tool that runs on the app and specifies hooks of its own (the benchmark, when
        it runs): each plugin's implementations of these hooks are checked
        against them, and a plugin whose implementation does not fit (an argument the
        specification does not give...) is marked broken with the reason, with its
        dependents; the others are kept.  Adding the same module again does nothing.
        """
        names = [n for n in dir(module) if self.pm.parse_hookspec_opts(module, n) is not None]
        if not names:
            raise ValueError(f"{module!r} holds no hook specification")
        callers = {n: getattr(self.pm.hook, n, None) for n in names}
        if all(c is not None and c.spec is not None and c.spec.namespace is module for c in callers.values()):
            return []
        # each plugin implementing some of these hooks, checked alone against the specifications
        scratch = pluggy.PluginManager(self.pm.project_name)
        scratch.add_hookspecs(module)
        plugins = {impl.plugin_name: impl.plugin
                   for c in callers.values() if c is not None for impl in c.get_hookimpls()}
        out: list[str] = []
        for name, plugin in plugins.items():
            try:
                scratch.register(plugin, name=name)
            except pluggy.PluginValidationError as exc:
                if name not in self.plugins:  # the core's own implementation: a bug
                    raise
                out += self.mark_broken(name, f"invalid hook implementation: {_one_line(exc)}")
            else:
                scratch.unregister(plugin)
        self.pm.add_hookspecs(module)
        self._callers = {}
        return out

    # -- queries ----------------------------------------------------------------
    def loaded(self) -> list[PluginInfo]:
        return [i for i in self.plugins.values() if not i.broken]

    def broken(self) -> list[PluginInfo]:
        return [i for i in self.plugins.values() if i.broken]

    def get(self, name: str) -> PluginInfo | None:
        info = self.plugins.get(name)
        return info if info and not info.broken else None

    def dependents(self, name: str) -> list[str]:
        """Loaded plugins that depend on ``name``, directly or not."""
        out: list[str] = []
        for info in self.loaded():
            if name in self._closure(info.name) and info.name != name:
                out.append(info.name)
        return out

    def _closure(self, name: str) -> set[str]:
        seen: set[str] = set()
        stack = [name]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            info = self.plugins.get(current)
            if info:
                stack.extend(info.depends)
        return seen

    def requirements(self, name: str) -> list[str]:
        """``name`` and everything it depends on, dependencies first."""
        closure = self._closure(name)
        return [i.name for i in self.loaded() if i.name in closure]

    # -- calling hooks ----------------------------------------------------------
    @property
    def hook(self):
        """Every implementation, whatever the cluster (for app-wide hooks)."""
        return self.pm.hook

    def hook_for(self, enabled: Iterable[str]) -> "_SubsetRelay":
        """Hook callers that skip plugins not in ``enabled`` (the core always runs)."""
        disabled = frozenset(i.name for i in self.loaded() if i.name not in set(enabled))
        relay = self._callers.get(disabled)
        if relay is None:
            relay = self._callers[disabled] = _SubsetRelay(self.pm, disabled)
        return relay

    def call_each(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Call a hook's implementations one by one and keep who returned what."""
        results = []
        for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
            value = impl.function(**{a: kwargs[a] for a in impl.argnames})
            if value is not None:
                results.append((impl.plugin_name, value))
        return results

    def call_loading(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        """Like :meth:`call_each`, while the app is built: a plugin whose implementation
        raises is marked broken (with its dependents) instead of stopping the platform."""
        results = []
        for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
            if impl.plugin_name not in self.plugins:  # the core: its errors are bugs
                value = impl.function(**{a: kwargs[a] for a in impl.argnames})
            else:
                if self.plugins[impl.plugin_name].broken:
                    continue
                try:
                    value = impl.function(**{a: kwargs[a] for a in impl.argnames})
                except Exception as exc:  # noqa: BLE001 - reported on the modules page
                    self.mark_broken(impl.plugin_name, f"{hook_name} raised {_describe(exc)}")
                    continue
            if value is not None:
                results.append((impl.plugin_name, value))
        return results


class _SubsetRelay:
    def __init__(self, pm: pluggy.PluginManager, disabled: frozenset[str]):
        self._pm = pm
        self._remove = [pm.get_plugin(n) for n in disabled if pm.get_plugin(n) is not None]
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str):
        caller = self._cache.get(name)
        if caller is None:
            caller = self._pm.subset_hook_caller(name, self._remove) if self._remove else getattr(self._pm.hook, name)
            self._cache[name] = caller
        return caller
