"""One boot under QEMU: TCG, the PVH entry, no network, under a timeout.

Only the boot cpu is brought up (maxcpus=1): the first chunk is set up for
every possible cpu before any other cpu starts, so the others would only
cost time under TCG.  KASLR is off, so that two boots of one machine place
memory alike.  The serial log is the only output; it is kept in the boot's
directory whatever happens.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.boot.initramfs import initramfs
from harness.boot.machine import Machine
from harness.core.errors import UserError

QEMU = "qemu-system-x86_64"
BASE_PARAMS = ("console=ttyS0", "nokaslr", "panic=-1", "maxcpus=1", "ignore_loglevel")


@dataclass(frozen=True)
class Serial:
    text: str
    path: Path  # where the log is kept
    seconds: float
    timed_out: bool
    status: int | None  # QEMU's exit status; None when it was killed


def qemu_binary() -> str:
    path = shutil.which(os.environ.get("PERCPU_DIFF_QEMU", QEMU))
    if path is None:
        raise UserError(f"real boots need QEMU ({QEMU} not found): apt-get install "
                        "qemu-system-x86")
    return path


def command(vmlinux: Path, machine: Machine, initrd: Path, serial: Path) -> list[str]:
    params = " ".join((*BASE_PARAMS, *machine.params))
    return [qemu_binary(), "-accel", "tcg", "-machine", "pc", "-nodefaults", "-no-user-config",
            "-display", "none", "-monitor", "none", "-nic", "none", "-no-reboot",
            "-serial", f"file:{serial}", *machine.qemu_args(),
            "-kernel", str(vmlinux), "-initrd", str(initrd), "-append", params]


def boot(vmlinux: Path, machine: Machine, requests: list[str], where: Path,
         timeout_s: float) -> Serial:
    """Boot once; the serial log, however the boot ended."""
    where.mkdir(parents=True, exist_ok=True)
    serial = where / "serial.log"
    serial.write_bytes(b"")
    argv = command(vmlinux, machine.check(), initramfs(requests, where / "probe.cpio"), serial)
    (where / "qemu.cmd").write_text(" ".join(argv) + "\n")
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    timed_out = False
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        stderr = b""
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: QEMU alone
            proc.wait()
    if stderr:
        (where / "qemu.stderr").write_bytes(stderr)
    return Serial(serial.read_text(errors="replace"), serial, time.monotonic() - started,
                  timed_out, None if timed_out else proc.returncode)
