"""Where a campaign's batches run: here, in worker processes, or on a Dask cluster.

The Python side of a case (parsing the shim's result, the model, the
comparison and triage) holds the GIL, so threads in one process give about
one core of it however many there are: batches go to worker processes
instead.  A batch is a few dozen cases, so a lost worker loses little and
progress stays smooth; what every batch shares (the plan) goes to each
worker once.  Results come back to the calling process, which alone writes
them: a run's directory, resume and reports are the same whichever workers
ran it.

On a Dask cluster (`--scheduler`), shims are built where they run: the
shared plan carries the rendered C text and each worker compiles it into
its own content-checked cache (compile/shims.build), since a binary built
on one machine may not run on another (glibc and sanitizer runtimes differ).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import queue
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.context import BaseContext, ForkContext
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Final, Protocol, TypeVar

from harness.core.errors import UserError

Shared = TypeVar("Shared")
Item = TypeVar("Item")
Result = TypeVar("Result")

# fork: a worker starts with the plan and every module already in memory
# (measured: 0.03 s to start and end two workers; forkserver 1.3 s, and a fresh hash seed).
START_METHOD: Final = "fork"
# What `--scheduler` takes for a cluster of --jobs workers on this machine.
LOCAL = "local"
# How long a scheduler has to answer before the run is refused.
CONNECT_SECONDS = 5
# How often the caller looks for a worker that died while it waits.
_POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1
# Cases per batch at most: few enough that a lost worker loses little and
# progress moves smoothly, enough that starting a batch's shim servers is
# cheap beside booting them...
BATCH_CASES = 50
# ...and at most this many cpus' worth of NR_CPUS: a batch's results come
# back whole, before they are cut to size, and a 4096-cpu case's findings
# are megabytes, so big machines travel a few at a time.
BATCH_CPUS = 16384


def slices(items: Sequence[Item], jobs: int, nr_cpus: int) -> list[Sequence[Item]]:
    """The cases of one shim in batches every one of `jobs` workers gets a
    share of, within BATCH_CASES and BATCH_CPUS."""
    size = max(1, min(BATCH_CASES, BATCH_CPUS // max(1, nr_cpus),
                      -(-len(items) // max(1, jobs))))
    return [items[at:at + size] for at in range(0, len(items), size)]


class Workers(Protocol):
    def stream(self, task: Callable[[Shared, Item], Result], shared: Shared,
               items: Sequence[Item]) -> Iterator[tuple[int, Result]]:
        """(index in items, task(shared, item)) of every item, as each finishes."""
        ...


class InProcess:
    """One job: no worker to start, the batches run here in order."""

    def stream(self, task: Callable[[Shared, Item], Result], shared: Shared,
               items: Sequence[Item]) -> Iterator[tuple[int, Result]]:
        for index, item in enumerate(items):
            yield index, task(shared, item)


class Processes:
    """Worker processes on this machine, started for each stream and ended
    with it (a Ctrl-C or an error included)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def stream(self, task: Callable[[Shared, Item], Result], shared: Shared,
               items: Sequence[Item]) -> Iterator[tuple[int, Result]]:
        if self.count <= 1 or len(items) <= 1:
            yield from InProcess().stream(task, shared, items)
            return
        context = multiprocessing.get_context(START_METHOD)
        todo: multiprocessing.Queue[tuple[int, Item] | None] = context.Queue()
        done: multiprocessing.Queue[tuple[int, Any, BaseException | None]] = context.Queue()
        workers = _start(context, min(self.count, len(items)), task, shared, todo, done)
        try:
            for index, item in enumerate(items):
                todo.put((index, item))
            for _ in workers:
                todo.put(None)
            for _ in items:
                index, result, error = _next(done, workers)
                if error is not None:
                    raise error
                yield index, result
        finally:
            _stop(workers)
            todo.cancel_join_thread()
            done.cancel_join_thread()


def _start(context: ForkContext, count: int, task: Callable[[Any, Any], Any], shared: object,
           todo: multiprocessing.Queue[Any], done: multiprocessing.Queue[Any]
           ) -> list[BaseProcess]:
    arguments = (task, shared, todo, done, _parent(context))
    workers: list[BaseProcess] = [
        context.Process(target=_serve, args=arguments, daemon=True,
                        name=f"percpu-diff worker {n}") for n in range(count)]
    for worker in workers:
        worker.start()
    return workers


def _parent(context: BaseContext) -> int:
    """The pid a worker's parent has: this one's, when it forks them itself."""
    return os.getpid() if context.get_start_method() == "fork" else 0


def _serve(task: Callable[[Any, Any], Any], shared: object, todo: multiprocessing.Queue[Any],
           done: multiprocessing.Queue[Any], parent: int) -> None:
    """A worker: batches until told to stop.  It ends with its parent (a
    SIGKILLed run leaves no worker behind) and on SIGTERM unwinds, so the
    shim servers it started are ended too; Ctrl-C is the parent's to handle."""
    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _exit)
    _die_with(parent)
    while (job := todo.get()) is not None:
        index, item = job
        try:
            done.put((index, task(shared, item), None))
        except Exception as err:  # the caller raises it
            done.put((index, None, _portable(err)))


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A handler, not SIG_IGN: the shim servers a worker starts get the default back."""


def _exit(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def _die_with(parent: int) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent and os.getppid() != parent:  # it died before the request took hold
        sys.exit(1)


def _portable(err: Exception) -> Exception:
    """The error, or its text where it will not cross a pipe."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")
    return err


def _next(done: multiprocessing.Queue[Any], workers: Sequence[BaseProcess]
          ) -> tuple[int, Any, BaseException | None]:
    """The next finished batch; a worker that died with batches to go is an error."""
    while True:
        with contextlib.suppress(queue.Empty):
            item: tuple[int, Any, BaseException | None] = done.get(timeout=_POLL_SECONDS)
            return item
        for worker in workers:
            if worker.exitcode not in (None, 0):
                raise UserError(
                    f"a worker process (pid {worker.pid}) ended with "
                    f"{_ending(worker.exitcode)} in the middle of its cases: every "
                    "finished case is recorded; run the same command with --resume "
                    "for the rest")


def _ending(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return signal.Signals(-exitcode).name
    return f"exit status {exitcode}"


def _stop(workers: Sequence[BaseProcess]) -> None:
    """End the workers still running: SIGTERM, then SIGKILL for one that lingers."""
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join(timeout=10)
        if worker.is_alive():
            worker.kill()
            worker.join()


class Cluster:
    """A Dask distributed cluster: batches as tasks, results as they complete.
    A worker that dies has its tasks run on another (Dask's own retry)."""

    def __init__(self, client: Any, local: Any = None) -> None:
        self.client = client
        self.local = local  # the LocalCluster we started, if any

    def stream(self, task: Callable[[Shared, Item], Result], shared: Shared,
               items: Sequence[Item]) -> Iterator[tuple[int, Result]]:
        from distributed import KilledWorker, as_completed

        if not items:
            return
        # Once to every worker, not with every task; a worker started
        # later fetches it from another.
        everywhere = self.client.scatter(shared, broadcast=True, hash=False)
        futures = [self.client.submit(task, everywhere, item, pure=False) for item in items]
        index_of = {future.key: index for index, future in enumerate(futures)}
        try:
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                yield index_of[future.key], future.result()
        except KilledWorker as err:
            raise UserError(f"the workers running one batch of cases kept dying ({err}): every "
                            "finished case is recorded; look at the workers' logs, then run "
                            "the same command with --resume") from None
        finally:
            self.client.cancel(futures)

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()


def in_order(stream: Iterator[tuple[int, list[Result]]]) -> Iterator[Result]:
    """The results of a stream of batches in the batches' order, each as
    soon as every batch before its own is done."""
    waiting: dict[int, list[Result]] = {}
    next_index = 0
    for index, results in stream:
        waiting[index] = results
        while next_index in waiting:
            yield from waiting.pop(next_index)
            next_index += 1


def check_coverage(scheduler: str | None, coverage: bool) -> None:
    """gcov writes its counters on the machine that ran the boot: a
    coverage run keeps its boots on this one."""
    if coverage and scheduler not in (None, LOCAL):
        raise UserError("--coverage needs the boots on this machine: leave out --scheduler, "
                        f"or give --scheduler {LOCAL}")


@contextlib.contextmanager
def connect(scheduler: str | None, jobs: int) -> Iterator[Workers]:
    """The workers of a command: `jobs` processes here (one: none, the work
    runs in this process), or a Dask cluster - the scheduler at
    `scheduler`, or with "local" a LocalCluster of `jobs` one-thread
    workers.  Connected before the command writes anything."""
    if scheduler is None:
        yield Processes(jobs) if jobs > 1 else InProcess()
        return
    cluster = _dask(scheduler, jobs)
    try:
        yield cluster
    finally:
        cluster.close()


def _dask(scheduler: str, jobs: int) -> Cluster:
    from distributed import Client, LocalCluster

    if scheduler == LOCAL:
        local = LocalCluster(n_workers=jobs, threads_per_worker=1,  # type: ignore[no-untyped-call]
                             processes=True, dashboard_address=None)
        return Cluster(Client(local), local)  # type: ignore[no-untyped-call]
    try:
        client = Client(scheduler, timeout=f"{CONNECT_SECONDS}s")  # type: ignore[no-untyped-call]
    except (OSError, ValueError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"no Dask scheduler answers at {scheduler} ({reason}): start one "
                        f"there (`dask scheduler`), or give --scheduler {LOCAL} for a "
                        "cluster on this machine") from None
    return Cluster(client)
