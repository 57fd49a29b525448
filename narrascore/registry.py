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

    def create(self, name: str, **kwargs: object) -> T:
        try:
            factory = self._factories[name]
        except KeyError:
            raise OptionError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}"
            ) from None
        return factory(**kwargs)
