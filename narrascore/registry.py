"""Name -> backend registries for the swappable stages (sensor, reasoner, synthesizer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import OptionError

T = TypeVar("T")


class Registry(Generic[T]):
    """A registry of factories keyed by name; an unknown name lists the valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        return sorted(self._factories)

    def check(self, name: str) -> None:
        """Raise ``OptionError`` listing the valid names unless ``name`` is registered."""
        if name not in self._factories:
            raise OptionError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")

    def create(self, name: str, **kwargs: object) -> T:
        self.check(name)
        return self._factories[name](**kwargs)
