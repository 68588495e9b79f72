"""Timing a plan's steps and cells with the device's own clock: CUDA events on a GPU,
time.perf_counter on a CPU. Results are read only after a synchronisation."""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import torch


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC", "Intel(R) Xeon(R) ..."), as /proc/cpuinfo gives it where
    there is one, else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads()
    return f"CPU: {cpu_model()}, {n} thread{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class Timings:
    device: str
    cell_spans: tuple[tuple[tuple[float, float], ...], ...]  # per step, per cell: (start, end) seconds from the run's start
    total_seconds: float                                      # wall time of the whole plan, synchronised

    @property
    def cell_seconds(self) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(b - a for a, b in step) for step in self.cell_spans)

    @property
    def step_seconds(self) -> tuple[float, ...]:
        """Each step from its first cell's start to its last cell's end (cells of a step may overlap
        when they run concurrently)."""
        return tuple(max(b for _, b in step) - min(a for a, _ in step) for step in self.cell_spans)


class StepTimer:
    """Marks the start and end of each cell. On CUDA it records events on the current stream (no
    synchronisation on the hot path); on a CPU it reads perf_counter. Safe to use from several
    threads: each cell's marks are stored under the cell."""

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self._marks: dict = {}

    def mark(self):
        if self.cuda:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def begin(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
        self._t0 = time.perf_counter()
        self._origin = self.mark()

    def record(self, cell, start, end) -> None:
        self._marks[cell] = (start, end)

    def finish(self, plan) -> Timings:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            since = lambda e: self._origin.elapsed_time(e) / 1000.0  # noqa: E731  (ms → s)
        else:
            since = lambda t: t - self._origin  # noqa: E731
        total = time.perf_counter() - self._t0
        spans = tuple(tuple((since(self._marks[c][0]), since(self._marks[c][1])) for c in step) for step in plan.steps)
        return Timings(device_name(self.device), spans, total)


def run_in_order(plan, run_cell, timer: StepTimer | None = None) -> None:
    """Every cell of the plan, one after another in plan order (run_cell(cell)); each cell's span
    recorded when a timer is given. The one loop every model kind's run_plan executes a plan with."""
    for step in plan.steps:
        for cell in step:
            t0 = timer.mark() if timer else None
            run_cell(cell)
            if timer:
                timer.record(cell, t0, timer.mark())
