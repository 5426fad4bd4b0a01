"""Holding the CPUs out of deep idle states while a measurement runs (the kernel's PM QoS).

A process that opens ``/dev/cpu_dma_latency``, writes a 32-bit latency in microseconds in
the machine's byte order, and keeps the file open asks the kernel's PM QoS to keep every
CPU out of idle states whose exit latency is above it; 0 keeps them out of every deep state
(on a VM whose cpuidle driver is haltpoll, out of the halt that hands the CPU back to the
host).  The request lasts while the file is open: closing it, or the process ending,
withdraws it.  cyclictest does this, and tuned's latency-performance profile.

Why the latency scenario's theory check wants it: a request that finds the server's CPU
idle pays the CPU's wake-up before any work, and how often a request finds it idle depends
on the load (90% of requests at 10% of capacity, half at ρ 0.5), so the wake-up would not
cancel between the low-load reference and the loaded runs.

Where the file cannot be opened or written (not root, no such device), :meth:`LatencyHold.acquire`
says so in its record and holds nothing; the caller goes on and reports it.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

#: The kernel's PM QoS interface for the CPUs' wake-up latency.
DEVICE = Path("/dev/cpu_dma_latency")


class LatencyHold:
    """A request that CPUs wake within ``value_us``, held from :meth:`acquire` to :meth:`release`.

    ``path`` is the device; a test passes a file of its own.  :attr:`record` says what happened:
    ``{"held": bool, "value_us": int, "path": str, "error": str | None}``.
    """

    def __init__(self, value_us: int = 0, path: Path | str = DEVICE) -> None:
        if value_us < 0:
            raise ValueError(f"a wake-up latency is at least 0 µs, not {value_us}")
        self.value_us, self.path = value_us, Path(path)
        self.fd: int | None = None
        self.record: dict = {"held": False, "value_us": value_us, "path": str(self.path), "error": None}

    @property
    def held(self) -> bool:
        """Whether the request is in force: the file is open and the value was written."""
        return self.fd is not None

    def acquire(self) -> dict:
        """Opens the device write-only, writes the value as a native int32 and keeps it open; returns the record.

        A failure (the file missing, no permission, a short write) is recorded, not raised.
        """
        self.release()
        try:
            # Write-only, as the kernel's interface expects; the descriptor is the request.
            fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as e:
            return self._failed(f"cannot open {self.path}: {e.strerror or e}")
        try:
            # The value in the machine's byte order, 4 bytes: the kernel reads it as an s32.
            written = os.write(fd, struct.pack("=i", self.value_us))
        except OSError as e:
            os.close(fd)
            return self._failed(f"cannot write to {self.path}: {e.strerror or e}")
        if written != 4:
            os.close(fd)
            return self._failed(f"wrote {written} of 4 bytes to {self.path}")
        self.fd = fd
        self.record = {"held": True, "value_us": self.value_us, "path": str(self.path), "error": None}
        return self.record

    def release(self) -> None:
        """Closes the file, which withdraws the request; does nothing when nothing is held."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def _failed(self, why: str) -> dict:
        """The record of a request not held, and why."""
        self.record = {"held": False, "value_us": self.value_us, "path": str(self.path), "error": why}
        return self.record

    def __enter__(self) -> "LatencyHold":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:
        # A holder dropped without release() (a run that raised) withdraws its request too; at the
        # interpreter's exit the kernel closes the descriptor anyway.
        try:
            self.release()
        except (OSError, TypeError, AttributeError):
            pass
