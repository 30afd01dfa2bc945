"""A small progress protocol so long loads can show a bar without the library knowing about rich."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives the stages of a long job and how far each has got."""

    def stage(self, description: str, total: float | None = None) -> None: ...

    def advance(self, amount: float = 1.0) -> None: ...


class NullProgress:
    """Progress that shows nothing (library default, tests)."""

    def stage(self, description: str, total: float | None = None) -> None:
        pass

    def advance(self, amount: float = 1.0) -> None:
        pass
