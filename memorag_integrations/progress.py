"""Progress of long steps (gisting, embedding): a tqdm bar on a terminal, or a callback.

``progress`` is what the engine and the memories take: ``True`` for a bar, ``False`` for nothing,
or a callable ``(stage, done, total)`` that is called as work is done (what a server or a GUI
shows, with its own ETA).
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm  # the console bar: tqdm.auto warns in notebooks without ipywidgets

ProgressCallback = Callable[[str, int, int], None]
Progress = bool | ProgressCallback


class Bar:
    """One stage of ``total`` steps, reported the way ``progress`` asks."""

    def __init__(self, progress: Progress, stage: str, total: int, *, unit: str = "it") -> None:
        self.stage, self.total, self.done = stage, total, 0
        self.callback = progress if callable(progress) else None
        self.bar = tqdm(total=total, desc=stage, unit=unit, disable=progress is not True or not total)
        if self.callback is not None:
            self.callback(stage, 0, total)

    def update(self, n: int) -> None:
        self.done += n
        self.bar.update(n)
        if self.callback is not None:
            self.callback(self.stage, self.done, self.total)

    def close(self) -> None:
        self.bar.close()
