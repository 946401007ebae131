"""Sizes and unit layout of the first chunk, shared by both API generations.

Both generations document the same rules, in the kernel-doc of
pcpu_embed_first_chunk (how the dynamic size is rounded),
pcpu_lpage_build_unit_map (old) and pcpu_build_alloc_info (new):

* cpus that are LOCAL_DISTANCE from each other both ways are grouped and
  share allocations; cpus of different nodes never share a group;
* an allocation is a multiple of the atom (the large page) and is cut
  into page-aligned units no smaller than the needed size;
* no more than 25% of the allocated address space may be wasted on empty
  units, and among the layouts that keep to that, the one using the fewest
  allocations wins, with units as large as that count allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.core.arch_sizes import page_align
from harness.core.topology import group_cpus
from py_impl.machine import Machine

MIN_UNIT_SIZE = 64 << 10  # the smallest unit percpu.h allows (a page multiple on 4K and 8K)


@dataclass(frozen=True)
class AreaSizes:
    """The three areas at the start of every unit."""

    static: int
    reserved: int
    dyn: int

    @property
    def used(self) -> int:
        return self.static + self.reserved + self.dyn


def area_sizes(static: int, reserved: int, dyn_request: int, page_size: int) -> AreaSizes:
    """The dynamic area as pcpu_embed_first_chunk's kernel-doc promises it.

    A positive request may grow to fill page alignment; "auto" (negative) is
    just big enough to fill the alignment after static and reserved.  Zero
    is not mentioned; the evident intent of asking for none is to get none,
    so it stays zero and the used size is left unaligned.
    """
    if dyn_request == 0:
        return AreaSizes(static, reserved, 0)
    aligned = page_align(static + reserved + max(dyn_request, 0), page_size)
    return AreaSizes(static, reserved, aligned - static - reserved)


def min_unit_size(sizes: AreaSizes, page_size: int, min_unit: int = MIN_UNIT_SIZE) -> int:
    return max(page_align(sizes.used, page_size), min_unit)


@dataclass(frozen=True)
class UnitPlan:
    """How units are cut from allocations."""

    alloc_size: int
    units_per_alloc: int

    @property
    def unit_size(self) -> int:
        return self.alloc_size // self.units_per_alloc


def plan_units(
    group_sizes: Sequence[int], needed: int, atom_size: int, page_size: int
) -> UnitPlan:
    """The documented search for units per allocation.

    The allocation is the smallest multiple of the atom that holds one unit
    of the needed size.  Any page-aligned cut of it into units no smaller
    than `needed` is a candidate; candidates wasting more than 25% of the
    units they allocate are out; of the rest the fewest allocations win,
    then the largest units ("as much as possible without using more address
    space").
    """
    alloc_size = -(-needed // atom_size) * atom_size
    nr_possible = sum(group_sizes)
    best: tuple[int, int] | None = None  # (allocations, units per allocation)
    for upa in range(1, alloc_size // needed + 1):
        unit = alloc_size // upa
        if alloc_size % upa or unit % page_size:
            continue
        allocs = sum(-(-n // upa) for n in group_sizes)
        wasted = allocs * upa - nr_possible
        # At most a quarter of the allocated units empty.
        if 4 * wasted > allocs * upa:
            continue
        if best is None or allocs < best[0]:
            best = (allocs, upa)
    # One unit per allocation never wastes anything, so a plan always exists.
    assert best is not None
    return UnitPlan(alloc_size, best[1])


def padded(group: Sequence[int], units_per_alloc: int) -> list[int | None]:
    """A group's cpus followed by empty units up to whole allocations."""
    slots: list[int | None] = list(group)
    slots += [None] * (-len(slots) % units_per_alloc)
    return slots


def lpage_groups(machine: Machine, reserved: int, dyn_request: int, atom_size: int,
                 use_distance: bool) -> tuple[AreaSizes, UnitPlan, list[list[int]]]:
    """Sizes, unit plan and cpu groups for a first chunk built from atoms."""
    sizes = area_sizes(machine.case.static_size, reserved, dyn_request, machine.page_size)
    needed = min_unit_size(sizes, machine.page_size)
    if use_distance:
        groups = group_cpus(machine.possible, machine.node_of, machine.nodes_local)
    else:
        groups = [list(machine.possible)]
    plan = plan_units([len(g) for g in groups], needed, atom_size, machine.page_size)
    return sizes, plan, groups
