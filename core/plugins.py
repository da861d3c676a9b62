"""Plugin discovery, validation and the per-cluster hook callers."""

from __future__ import annotations

import importlib
import sys
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "grappe.plugins"
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
    source: str = ""  # entry point "name = module" or "explicit"
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


def discover(explicit: Iterable[ModuleType | str] | None = None) -> list[PluginInfo]:
    """Import the plugins: the given modules, or every ``grappe.plugins`` entry point."""
    found: list[PluginInfo] = []
    if explicit is not None:
        sources = [("explicit", m) for m in explicit]
    else:
        sources = [(f"{ep.name} = {ep.value}", ep) for ep in entry_points(group=ENTRY_POINT_GROUP)]
    for source, target in sources:
        guess = getattr(target, "name", None) or str(target).rsplit(".", 2)[-2 if "." in str(target) else -1]
        info = PluginInfo(name=guess, source=source)
        try:
            if isinstance(target, ModuleType):
                module = target
            elif isinstance(target, str):
                module = importlib.import_module(target)
            else:
                module = target.load()
            info.module = module
            info.manifest = _manifest_of(module)
            info.name = info.manifest.name
        except PluginError as exc:
            info.error = str(exc)
        except Exception as exc:  # a broken third-party plugin must not take us down
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
            where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
            info.error = f"import failed: {type(exc).__name__}: {exc}{where}"
        found.append(info)
    return found


def resolve(infos: list[PluginInfo]) -> list[PluginInfo]:
    """Mark duplicates, missing dependencies and cycles as broken; return all in load order."""
    by_name: dict[str, PluginInfo] = {}
    for info in infos:
        if info.broken:
            continue
        if info.name == CORE_PLUGIN:
            info.error = "the name 'core' is reserved"
        elif info.name in by_name:
            other = by_name[info.name]
            info.error = f"two plugins are named '{info.name}' ({other.source} and {info.source})"
            other.error = info.error
        else:
            by_name[info.name] = info
    for name in [n for n, i in by_name.items() if i.broken]:
        del by_name[name]

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
                broken = next((i for i in infos if i.name == dep), None)
                why = f"it is broken ({broken.error})" if broken and broken.broken else "it is not installed"
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
    """One pluggy PluginManager with its plugins; stored on the app."""

    def __init__(self, explicit: Iterable[ModuleType | str] | None = None, core_plugins: Iterable[Any] = ()):
        self.pm = pluggy.PluginManager("grappe")
        self.pm.add_hookspecs(hookspecs)
        for obj in core_plugins:
            self.pm.register(obj, name=f"{CORE_PLUGIN}.{getattr(obj, '__name__', id(obj))}")
        self.pm.hook.grappe_addhooks.call_historic(kwargs={"pluginmanager": self.pm})
        self.plugins: dict[str, PluginInfo] = {}
        infos = resolve(discover(explicit))
        for info in infos:
            self.plugins[info.name if info.name not in self.plugins else f"{info.name}#{len(self.plugins)}"] = info
            if info.broken:
                continue
            if any(self.plugins[d].broken for d in info.depends if d in self.plugins):
                info.error = f"depends on a broken plugin ({', '.join(info.depends)})"
                continue
            try:
                self.pm.register(info.module, name=info.name)
            except Exception as exc:
                info.error = f"invalid hook implementation: {exc}"
                if self.pm.is_registered(info.module):
                    self.pm.unregister(info.module)
        self._check_pending()
        self._callers: dict[frozenset[str], _SubsetRelay] = {}

    def _check_pending(self) -> None:
        """Unregister plugins that implement hooks nobody specified (typos fail loudly)."""
        for hook_name in dir(self.pm.hook):
            if hook_name.startswith("_"):
                continue
            caller = getattr(self.pm.hook, hook_name)
            if not isinstance(caller, pluggy.HookCaller) or caller.spec is not None:
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                info = self.plugins.get(impl.plugin_name)
                if info is not None and not info.broken:
                    info.error = f"implements '{hook_name}', which no hook specification declares"
                    self.pm.unregister(name=impl.plugin_name)
        # dependents of what just broke break too
        changed = True
        while changed:
            changed = False
            for info in self.loaded():
                bad = [d for d in info.depends if self.plugins.get(d) is None or self.plugins[d].broken]
                if bad:
                    info.error = f"depends on '{bad[0]}', which is broken"
                    self.pm.unregister(name=info.name)
                    changed = True
        self.pm.check_pending()

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
