"""Timing a plan's steps and cells with the device's own clock: CUDA events on a GPU,
time.perf_counter on a CPU. Results are read only after a synchronisation."""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import torch


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    proc = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    proc = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU: {proc}, {torch.get_num_threads()} threads"


@dataclass(frozen=True)
class Timings:
    device: str
    cell_seconds: tuple[tuple[float, ...], ...]  # per step, per cell in the plan's order
    total_seconds: float                           # wall time of the whole plan

    @property
    def step_seconds(self) -> tuple[float, ...]:
        return tuple(sum(cells) for cells in self.cell_seconds)


class StepTimer:
    """Marks the start and end of each cell. On CUDA it records events (no synchronisation on
    the hot path); on a CPU it reads perf_counter."""

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self._marks: list[list[tuple]] = []

    def _now(self):
        if self.cuda:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def begin(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
        self._t0 = time.perf_counter()
        self._first = self._now()

    def new_step(self) -> None:
        self._marks.append([])

    def cell(self, start, stop) -> None:
        self._marks[-1].append((start, stop))

    def mark(self):
        return self._now()

    def finish(self) -> Timings:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            dt = lambda a, b: a.elapsed_time(b) / 1000.0  # noqa: E731  (milliseconds → seconds)
        else:
            dt = lambda a, b: b - a  # noqa: E731
        total = time.perf_counter() - self._t0
        cells = tuple(tuple(dt(a, b) for a, b in step) for step in self._marks)
        return Timings(device_name(self.device), cells, total)
