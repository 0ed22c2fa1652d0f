"""Progress-bar columns of a step method (PyMC's progress-bar interface)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.progress import TextColumn
from rich.table import Column


class Progress:
    """Progress-bar columns showing some stats, as ``(stat, header, format)``."""

    def __init__(self, *fields: tuple[str, str, str]) -> None:
        self.fields = fields

    def config(self, n_chains: int) -> tuple[list[TextColumn], dict[str, list[int]]]:
        """The progress bar's columns and their initial values, for ``n_chains`` chains (PyMC's
        progress-bar interface)."""
        columns = [
            TextColumn(f"{{task.fields[{stat}]:{fmt}}}", table_column=Column(header, ratio=1))
            for stat, header, fmt in self.fields
        ]
        return columns, {stat: [0] * n_chains for stat, _, _ in self.fields}

    def update_functions(self) -> tuple[Callable[[dict[str, Any]], dict[str, Any]]]:
        """The function that picks the shown stats from a step's stats (PyMC's progress-bar
        interface)."""

        def update_stats(step_stats: dict[str, Any]) -> dict[str, Any]:
            return {stat: step_stats[stat] for stat, _, _ in self.fields}

        return (update_stats,)
