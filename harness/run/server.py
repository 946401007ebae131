"""Run cases through a shim executable, one isolated boot per case.

The shim is a fork server: it stays up and forks a fresh child per case,
so a case that crashes, hangs or trips a sanitizer is recorded as that
outcome and the next case boots from a clean state.  Cases are streamed
in and results streamed out, so per-case cost is a fork, not an exec.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.compile.shims import Shim
from harness.core import attempts
from harness.core import scratch as scratch_dirs
from harness.core.cases import Case
from harness.core.errors import UserError
from harness.core.result import BootResult, parse_result

# Sanitizers report and exit with a status the runtime recognises; SEGV is
# left to the shim so crashes look the same with and without sanitizers.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0:"
    "detect_leaks=0:exitcode=66:allocator_may_return_null=1:symbolize=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=66",
}


@dataclass(frozen=True)
class Limits:
    """Per boot: `timeout_ms` of CPU time (user + system) of the boot's own
    process, with a backstop of ten times that (at least a minute) of
    wall-clock time spent blocked, not waiting for a core, for a boot that
    blocks; `mem_mb` of resident memory, the simulated memory included."""

    timeout_ms: int = 5000
    mem_mb: int = 2048
    wall_ms: int = 0  # the backstop, when not derived from timeout_ms (tests)

    def arguments(self) -> list[str]:
        wall = [f"--wall-ms={self.wall_ms}"] if self.wall_ms else []
        return [f"--timeout-ms={self.timeout_ms}", f"--mem-mb={self.mem_mb}", *wall]


def check_case_fits(case: Case, shim: Shim) -> None:
    if case.nr_cpus != shim.config.nr_cpus:
        raise UserError(
            f"case '{case.name}' needs NR_CPUS={case.nr_cpus} but the shim was built with "
            f"{shim.config.nr_cpus}: build with --nr-cpus {case.nr_cpus}"
        )
    if (case.arch, case.numa) != (shim.config.arch, shim.config.numa):
        raise UserError(
            f"case '{case.name}' runs the {case.arch} flow with numa={case.numa} but the shim "
            f"was built for {shim.config.arch} with numa={shim.config.numa}"
        )
    if case.page_size != shim.config.page_size:
        raise UserError(
            f"case '{case.name}' needs PAGE_SIZE={case.page_size} but the shim was built with "
            f"{shim.config.page_size}"
        )


def gcov_env(shim: Shim, gcov_dir: Path) -> dict[str, str]:
    """Where a coverage shim's children write their counters: `gcov_dir`,
    beside a copy of the notes files gcov reads them with.  The counters'
    compiled-in path is the build directory, a sibling of the shim's cache
    directory, so stripping as many leading directories leaves the file name."""
    gcov_dir.mkdir(parents=True, exist_ok=True)
    for notes in shim.path.parent.glob("*.gcno"):
        if not (gcov_dir / notes.name).exists():
            shutil.copyfile(notes, gcov_dir / notes.name)
    strip = len(shim.path.parent.absolute().parts) - 1
    return {"GCOV_PREFIX": str(gcov_dir.resolve()), "GCOV_PREFIX_STRIP": str(strip)}


def run_cases(
    shim: Shim, cases: Iterable[Case], limits: Limits = Limits(), gcov_dir: Path | None = None
) -> Iterator[BootResult]:
    """Results in case order; a dead server fails the remaining cases, loudly.
    A coverage shim's counters go to `gcov_dir` (none: a directory thrown away)."""
    case_list = list(cases)
    for case in case_list:
        check_case_fits(case, shim)
    env = {**os.environ, **SANITIZER_ENV}
    scratch = None
    if shim.config.coverage:
        if gcov_dir is None:
            scratch = gcov_dir = scratch_dirs.make("gcov")
        env.update(gcov_env(shim, gcov_dir))
    proc = subprocess.Popen(
        [str(shim.path), *limits.arguments()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        bufsize=1,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def feed() -> None:
        assert proc.stdin is not None
        try:
            for case in case_list:
                proc.stdin.write(case.shim_line() + "\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for case in case_list:
            line = proc.stdout.readline()
            if not line:
                err = proc.stderr.read() if proc.stderr else ""
                yield harness_failure(case, f"shim server exited: {err.strip()[-300:]}")
                continue
            result = parse_result(json.loads(line), f"the shim {shim.path}")
            if "trace" in result:
                # Read once here; comparisons, triage and reports all use it.
                result["attempts"] = attempts.attempts(result["trace"] or [])
            result["case"] = case.name
            result["possible"] = list(case.possible)
            if result["outcome"]["kind"] == "hang":
                place_hang(result, shim.path)
            yield result
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        writer.join(timeout=5)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def run_one(shim: Shim, case: Case, limits: Limits = Limits()) -> BootResult:
    return next(iter(run_cases(shim, [case], limits)))


def harness_failure(case: Case, message: str) -> BootResult:
    return {"id": case.name, "case": case.name, "outcome": {"kind": "harness", "message": message},
            "log": ""}


@dataclass(frozen=True)
class Place:
    function: str
    file: str
    line: int

    @property
    def in_kernel_code(self) -> bool:
        """Kernel items carry their tree's path (#line "mm/percpu.c"); the
        runtime and the stubs have absolute paths, the glue <named> ones."""
        return bool(self.file) and not self.file.startswith(("/", "<", "?"))


# The debug info joins a #line path to the directory the shim was compiled
# in (harness/compile/shims.py's .build-* scratch directory, gone by now).
_BUILD_DIR = re.compile(r"^.*/\.build-[^/]+/")


def symbolize(executable: Path, frames: list[str]) -> list[Place]:
    """Each frame's places, innermost first (an inlined call gives several);
    none when addr2line is missing or cannot read the executable."""
    if not frames:
        return []
    try:
        done = subprocess.run(["addr2line", "-a", "-f", "-i", "-e", str(executable), *frames],
                              capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    places: list[Place] = []
    lines = [ln for ln in done.stdout.splitlines() if not ln.startswith("0x")]
    for function, where in zip(lines[::2], lines[1::2], strict=False):
        # "DIR/mm/percpu.c:1441 (discriminator 2)"
        file, _, number = _BUILD_DIR.sub("", where).split(" (", 1)[0].rpartition(":")
        places.append(Place(function, file, int(number) if number.isdigit() else 0))
    return places


def place_hang(result: BootResult, executable: Path) -> None:
    """Where a boot that used all its CPU time was: the innermost kernel
    function on its stack, as a BUG names its place.  With no kernel code on
    the stack the time went to the shim's own code, which says nothing about
    the kernel: the boot is a timeout, inconclusive, like the wall-clock one."""
    outcome = result["outcome"]
    places = symbolize(executable, outcome.get("frames", []))
    kernel = next((p for p in places if p.in_kernel_code), None)
    if kernel is not None:
        outcome["function"], outcome["file"] = kernel.function, kernel.file
        outcome["line"] = kernel.line
    elif places:
        outcome["kind"] = "timeout"
        outcome["message"] = (f"the CPU limit ran out in the shim's own code "
                              f"({places[0].function}), not in kernel code")
