"""memblock as the modern model sees it: the boot allocator of 3.13 on.

Written from memblock's kernel-doc (mm/memblock.c): allocations are taken
top-down, memory is zeroed, a failed allocation returns NULL (or panics,
for the forms that do it themselves), memblock_free() gives back exactly
the bytes named.  Which calls the case makes fail is the case's:
fail_bootmem counts the calls that may fail.

Memory belongs to nodes.  memblock_alloc_try_nid()'s kernel-doc: @nid is
the "nid of the free area to find, %NUMA_NO_NODE for any node"; "If the
specified node can not hold the requested memory ... the allocation falls
back to any node in the system"; "The @min_addr limit is dropped if it can
not be satisfied".  The machine's nodes hold consecutive ranges of memory
in node order from address 0 (the case's node_memory).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


class Memblock:
    """Boot memory as memblock hands it out: top-down, exact frees.

    An allocation takes the highest place aligned as asked that fits in a
    free range at or above the lower limit, and anywhere when nothing above
    it fits; every call counts towards the one the case makes fail.
    """

    def __init__(self, size: int, fail_at: int, node_sizes: Sequence[int] | None = None) -> None:
        self.size = size
        self.fail_at = fail_at
        # Each node's [start, end), node 0 lowest; one node holding it all
        # when the kernel has no NUMA.
        self.nodes: list[tuple[int, int]] = []
        at = 0
        for bytes_on_node in node_sizes if node_sizes is not None else (size,):
            self.nodes.append((at, at + bytes_on_node))
            at += bytes_on_node
        self.calls = 0
        self.bad_frees = 0
        self._starts: list[int] = []  # held ranges, sorted, disjoint, merged
        self._ends: list[int] = []

    def _fit(self, size: int, align: int, floor: int, memory: tuple[int, int]
             ) -> tuple[int, int] | None:
        """(place, bottom of its free range clamped to floor and to the
        node), the highest place of the node's memory first."""
        start, end = memory
        for i in range(bisect.bisect_left(self._starts, end), -1, -1):
            free_from = self._ends[i - 1] if i else 0
            high = min(self._starts[i] if i < len(self._starts) else self.size, end)
            bottom = max(free_from, start, floor)
            if high - bottom >= size:
                place = (high - size) & ~(align - 1)
                if place >= bottom:
                    return place, bottom
            if free_from <= start:
                break  # the free ranges below lie under the node
        return None

    def _in_node(self, size: int, align: int, floor: int, node: int | None
                 ) -> tuple[int, int] | None:
        """In `node`'s memory, or for None in any node's, the highest first."""
        if node is not None:
            if not 0 <= node < len(self.nodes):
                return None
            return self._fit(size, align, floor, self.nodes[node])
        for memory in reversed(self.nodes):
            found = self._fit(size, align, floor, memory)
            if found is not None:
                return found
        return None

    def _find(self, size: int, align: int, floor: int, node: int | None = None
              ) -> tuple[int, int] | None:
        if size <= 0:
            return None
        for limit in (floor, 0) if floor else (0,):
            for where in (node, None) if node is not None else (None,):
                found = self._in_node(size, align, limit, where)
                if found is not None:
                    return found
        return None

    def _hold(self, start: int, end: int) -> None:
        i = bisect.bisect_left(self._ends, start)
        j = bisect.bisect_right(self._starts, end)
        if i < j:  # merge with every held range it touches
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def overlap(self, start: int, end: int) -> int:
        """Bytes of [start, end) that are held."""
        total = 0
        i = bisect.bisect_right(self._ends, start)
        while i < len(self._starts) and self._starts[i] < end:
            total += min(end, self._ends[i]) - max(start, self._starts[i])
            i += 1
        return total

    def alloc(self, size: int, align: int, floor: int = 0, counted: bool = True,
              node: int | None = None) -> int | None:
        """One memblock_alloc*() call, for `node` (None: any): the address,
        or None.  An allocation that panics itself (memblock_virt_alloc())
        is not `counted` among those the case can make fail."""
        if counted:
            index = self.calls
            self.calls += 1
            if index == self.fail_at:
                return None
        found = self._find(size, align, floor, node)
        if found is None:
            return None
        self._hold(found[0], found[0] + size)
        return found[0]

    def alloc_run(self, count: int, size: int, align: int, floor: int = 0,
                  node: int | None = None) -> list[tuple[int, int]]:
        """`count` calls of one size, stopping after the first that fails.

        Returns runs (address of the first block, blocks), each run's blocks
        lying one below the other: a free range fills from its top down
        before a lower one is used, so runs are computed, not looped.
        """
        runs: list[tuple[int, int]] = []
        done = 0
        while done < count:
            found = None if self.calls == self.fail_at else self._find(size, align, floor, node)
            if found is None:
                self.calls += 1  # the failing call
                break
            place, bottom = found
            n = 1 + ((place - bottom) // size if size % align == 0 else 0)
            n = min(n, count - done)
            if self.calls < self.fail_at < self.calls + n:
                n = self.fail_at - self.calls
            self._hold(place - (n - 1) * size, place + size)
            self.calls += n
            runs.append((place, n))
            done += n
        return runs

    def free(self, start: int, size: int) -> None:
        """memblock_free(): exactly these bytes; a range not wholly held is
        a bad free."""
        if size == 0:
            return
        end = start + size
        if self.overlap(start, end) != size:
            self.bad_frees += 1
        i = bisect.bisect_right(self._ends, start)
        j = bisect.bisect_left(self._starts, end)
        if i >= j:
            return
        pieces: list[tuple[int, int]] = []
        if self._starts[i] < start:
            pieces.append((self._starts[i], start))
        if self._ends[j - 1] > end:
            pieces.append((end, self._ends[j - 1]))
        self._starts[i:j] = [s for s, _ in pieces]
        self._ends[i:j] = [e for _, e in pieces]


def run_addresses(runs: Sequence[tuple[int, int]], size: int) -> list[int]:
    return [top - k * size for top, n in runs for k in range(n)]
