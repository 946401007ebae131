"""The stub layer against invented fixture kernels, one per API shape.

Each api_* fixture under fixtures/kernels calls the interfaces of one span of
kernels (bootmem; memblock_virt_alloc; memblock with physical frees;
memblock with pointer frees and memblock_alloc_or_panic) and prints what it
got as "fx: ..." lines.  The tests hold each stub to the contract its
comment and the README's "Stubs by era" state: zeroing, alignment, which
calls fail_bootmem counts, failure as NULL or as a panic, exact or
page-rounded frees, the printed mask formats, the page table checks.  The
stub a source gets is the one its calls select (macros expand where called,
the argument's type picks memblock_free()'s form, mm/vmalloc.c picks what
map_kernel_range_noflush() returns): no version numbers anywhere.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import CaseFactory, ShimFactory, dir_snapshot, kernel

from harness.compile import shims
from harness.extract import ctext, stubs
from harness.run import server

BOOTMEM = kernel("api_bootmem")
MEMBLOCK_VIRT = kernel("api_memblock_virt")
MEMBLOCK_PHYS = kernel("api_memblock_phys")
MEMBLOCK_PTR = kernel("api_memblock_ptr")
NODES = kernel("api_nodes")
PAGE = 4096
MB = 1 << 20


def boot(make_shim: ShimFactory, make_case: CaseFactory, path: Path, scenario: str = "embed",
         nr_cpus: int = 8, **fields: Any) -> dict[str, Any]:
    shim = make_shim(path, nr_cpus=nr_cpus)
    return server.run_one(shim, make_case(scenario, scenario=scenario, nr_cpus=nr_cpus,
                                          **fields))


def fx_lines(result: dict[str, Any]) -> list[str]:
    """The fixture's own report, log levels aside."""
    return [line.split("fx: ", 1)[1] for line in str(result["log"]).splitlines()
            if "fx: " in line]


# --- 2.6.32 - 3.12: bootmem, cpumask_scnprintf(), the rounding helpers -------------


def test_bootmem_blocks_are_zeroed_and_frees_are_whole_pages(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = boot(make_shim, make_case, BOOTMEM)
    assert result["outcome"]["kind"] == "ok"
    assert "reused 1 zeroed 1" in fx_lines(result)
    # exact even where the caller wrote past its block into memory never handed out
    assert "after overrun 1 zeroed 1" in fx_lines(result)
    # 3 pages, then a 2-page free starting 100 bytes into a page: 1 whole page
    assert result["bootmem"]["freed"] == 4 * PAGE
    assert result["bootmem"]["bad_free_count"] == 0


def test_fail_bootmem_counts_the_nopanic_bootmem_calls_only(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    first = boot(make_shim, make_case, BOOTMEM, fail_bootmem=0)
    assert first["outcome"]["kind"] == "ok"
    assert fx_lines(first)[0] == "nopanic null"
    # alloc_bootmem_pages() panics in the allocator: never the one made to fail
    second = boot(make_shim, make_case, BOOTMEM, fail_bootmem=1)
    assert second["outcome"]["kind"] == "ok"
    assert fx_lines(second)[0] == "nopanic got"


@pytest.mark.parametrize(("nr_cpus", "mask"), [(8, "2 15"), (64, "17 00000000,00000015")])
def test_cpumask_scnprintf_prints_nr_cpus_bits_in_32_bit_chunks(
        make_shim: ShimFactory, make_case: CaseFactory, nr_cpus: int, mask: str) -> None:
    lines = fx_lines(boot(make_shim, make_case, BOOTMEM, nr_cpus=nr_cpus))
    assert f"mask {mask}" in lines
    # scnprintf(): cut at the buffer, counting what was written
    assert ("cut 1 1" if nr_cpus == 8 else "cut 1 0") in lines


def test_rounding_helpers(make_shim: ShimFactory, make_case: CaseFactory) -> None:
    assert "round 8192 4096 8192 1 0" in fx_lines(boot(make_shim, make_case, BOOTMEM))


def test_fc_alloc_callback_follows_the_typedef_without_align(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    lines = fx_lines(boot(make_shim, make_case, BOOTMEM, "page"))
    assert "fc block aligned to its size 1" in lines
    assert "fc block high 0" in lines  # from bootmem: the source calls bootmem
    # no mm/vmalloc.c: map_kernel_range_noflush() returns the pages mapped
    assert "map 2" in lines


# --- 3.13 - 4.19: memblock_virt_alloc*(), memblock_free_early(), %*pb -------------------


def test_memblock_virt_alloc_is_zeroed_cache_aligned_and_frees_exactly(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = boot(make_shim, make_case, MEMBLOCK_VIRT)
    lines = fx_lines(result)
    assert result["outcome"]["kind"] == "ok"
    assert lines[:3] == ["nopanic got", "reused 1 zeroed 1", "default align 1"]
    assert result["bootmem"]["freed"] == 3 * PAGE + 100
    assert "mask 15" in lines  # %*pb over nr_cpu_ids bits


def test_memblock_virt_alloc_nopanic_fails_and_the_panicking_one_is_not_counted(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    first = boot(make_shim, make_case, MEMBLOCK_VIRT, fail_bootmem=0)
    assert (first["outcome"]["kind"], fx_lines(first)[0]) == ("ok", "nopanic null")
    second = boot(make_shim, make_case, MEMBLOCK_VIRT, fail_bootmem=1)
    assert (second["outcome"]["kind"], fx_lines(second)[1]) == ("ok", "reused 1 zeroed 1")


def test_memblock_virt_alloc_panics_when_memory_runs_out(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = boot(make_shim, make_case, MEMBLOCK_VIRT, bootmem_size=2 * PAGE)
    assert result["outcome"]["kind"] == "panic"
    assert result["outcome"]["message"].startswith(
        "memblock_virt_alloc_try_nid: Failed to allocate 12288 bytes align=0x1000")


# --- 4.20 - 5.15: memblock_alloc(), physical frees, bitmap regions, mapping -----------


def test_memblock_free_of_a_physical_address_frees_exactly(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = boot(make_shim, make_case, MEMBLOCK_PHYS)
    assert fx_lines(result)[:2] == ["alloc got", "reused 1 zeroed 1"]
    assert result["bootmem"]["freed"] == 3 * PAGE + 200
    assert result["bootmem"]["bad_free_count"] == 0
    failed = boot(make_shim, make_case, MEMBLOCK_PHYS, fail_bootmem=0)
    assert fx_lines(failed)[0] == "alloc null"


def test_bitmap_region_iterators(make_shim: ShimFactory, make_case: CaseFactory) -> None:
    lines = fx_lines(boot(make_shim, make_case, MEMBLOCK_PHYS))
    assert [line for line in lines if "clear" in line or "set" in line] == [
        "clear 0-2", "clear 4-6", "clear 7-9", "set 3-4", "set 6-7", "set 9-16",
        "next clear 5-6", "next clear 16-16"]


def test_map_kernel_range_returns_what_the_revisions_vmalloc_says(
        make_shim: ShimFactory, make_case: CaseFactory, tmp_path: Path) -> None:
    assert stubs.MAP_RETURNS_ZERO in shims.render(dir_snapshot(MEMBLOCK_PHYS)).stub_defines
    lines = fx_lines(boot(make_shim, make_case, MEMBLOCK_PHYS, "page"))
    assert lines[1:] == ["map 0", "vmap before -12", "vmap after 0"]
    # the same source without its mm/vmalloc.c keeps the older contract
    older = tmp_path / "older"
    shutil.copytree(MEMBLOCK_PHYS, older)
    (older / "mm" / "vmalloc.c").unlink()
    assert fx_lines(boot(make_shim, make_case, older, "page"))[1] == "map 1"


def test_fc_callbacks_take_from_the_allocator_the_source_calls(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    assert stubs.FC_FROM_MEMBLOCK in shims.render(dir_snapshot(MEMBLOCK_PHYS)).stub_defines
    assert stubs.FC_FROM_MEMBLOCK not in shims.render(dir_snapshot(BOOTMEM)).stub_defines
    result = boot(make_shim, make_case, MEMBLOCK_PHYS, "page")
    assert fx_lines(result)[0] == "fc block high 1"
    # memblock frees are exact, and the callbacks are counted as before
    assert (result["bootmem"]["fc_allocs"], result["bootmem"]["fc_frees"]) == (1, 1)
    assert result["bootmem"]["freed"] == PAGE
    # fail_bootmem counts memblock's calls, the callback's among them
    failed = boot(make_shim, make_case, MEMBLOCK_PHYS, "page", fail_bootmem=0)
    assert (failed["return"], failed["bootmem"]["fc_allocs"]) == (-12, 0)


# --- 5.16 - 7.x: memblock_alloc_or_panic(), pointer frees, asm/pgalloc.h -------------


def test_memblock_free_of_a_pointer_frees_exactly(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = boot(make_shim, make_case, MEMBLOCK_PTR)
    assert fx_lines(result) == ["or_panic got", "reused 1 zeroed 1"]
    # the same frees as the physical form: the argument's type chose the stub
    assert result["bootmem"]["freed"] == 3 * PAGE + 200
    assert result["bootmem"]["bad_free_count"] == 0


def test_memblock_alloc_or_panic_is_counted_and_panics_naming_its_caller(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    result = boot(make_shim, make_case, MEMBLOCK_PTR, fail_bootmem=0)
    assert result["outcome"]["kind"] == "panic"
    assert result["outcome"]["message"] == (
        "pcpu_embed_first_chunk: Failed to allocate 0x0000000000003000 bytes\n")


def test_vmap_with_a_gfp_mask_needs_the_page_tables(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    lines = fx_lines(boot(make_shim, make_case, MEMBLOCK_PTR, "page"))
    assert lines == ["vmap before -12", "vmap after 0"]


# --- memory per node: memblock_alloc_try_nid(), __alloc_bootmem_node*() -----------------

# Node 0 and 1 32M each, node 2 64K, node 3 offline (no memory): node 0 at
# [0, 32M), node 1 at [32M, 64M), node 2 at [64M, 64M + 64K).
NODE_MEMORY = (32 * MB, 32 * MB, 64 << 10, 0)


def nodes_boot(make_shim: ShimFactory, make_case: CaseFactory,
               node_memory: tuple[int, ...] | None = NODE_MEMORY,
               bootmem_size: int = 64 * MB + (64 << 10)) -> dict[str, int]:
    shim = shims.build(shims.render(dir_snapshot(NODES)), shims.BuildConfig(8, numa=True))
    case = make_case("nodes", numa=True, cpu_node=(0, 1, 2), offline_nodes=(3,),
                     distance=((10, 20, 20, 20), (20, 10, 20, 20), (20, 20, 10, 20),
                               (20, 20, 20, 10)),
                     node_memory=node_memory, bootmem_size=bootmem_size)
    result = server.run_one(shim, case)
    assert result["outcome"]["kind"] == "ok", result["outcome"]
    return {what: int(at, 16) for what, _, at in
            (line.rpartition(" ") for line in fx_lines(result)) if what != "reused 1 zeroed"}


def test_memblock_places_a_node_directed_block_at_the_top_of_its_node(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    at = nodes_boot(make_shim, make_case)
    assert at["mb node0"] == 32 * MB - PAGE
    assert at["mb node1"] == 64 * MB - PAGE
    assert at["mb node2"] == 64 * MB + (64 << 10) - PAGE
    # NUMA_NO_NODE: the top of all memory, node by node
    assert at["mb any"] == 64 * MB + (64 << 10) - 3 * PAGE


def test_memblock_falls_back_to_any_node_when_the_node_is_full_or_has_no_memory(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    at = nodes_boot(make_shim, make_case)
    # 32 pages do not fit node 2's 64K less a page: the highest node that
    # holds them, below what node 1 gave out
    assert at["mb node2 too big"] == 64 * MB - PAGE - 32 * PAGE
    # node 3 is offline, with no memory: the top of memory, node 2's rest
    assert at["mb node3 offline"] == 64 * MB + (64 << 10) - 2 * PAGE


def test_memblock_node_blocks_are_aligned_and_zeroed_after_a_free(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    at = nodes_boot(make_shim, make_case)
    assert at["mb aligned"] % (1 << 16) == 0 and 32 * MB <= at["mb aligned"] < 64 * MB
    assert at["mb node1 again"] == at["mb node1"]


def test_bootmem_places_a_node_directed_block_first_fit_in_its_node(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    at = nodes_boot(make_shim, make_case)
    # the goal (16M) lies below node 1: from the node's start
    assert at["bm node1"] == 32 * MB
    # the goal lies inside node 0: from the goal
    assert at["bm node0 goal"] == 16 * MB
    # too big for node 2: every node from the goal up, node 0 first
    assert at["bm node2 too big"] == 16 * MB + PAGE


def test_default_node_memory_is_equal_shares_of_the_online_nodes(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    at = nodes_boot(make_shim, make_case, node_memory=None, bootmem_size=96 * MB)
    # three online nodes of 32M each; offline node 3 has none
    assert (at["mb node0"], at["mb node1"], at["mb node2"]) == (
        32 * MB - PAGE, 64 * MB - PAGE, 96 * MB - PAGE)


def test_the_shim_refuses_node_memory_that_is_not_the_machines(
        make_shim: ShimFactory, make_case: CaseFactory) -> None:
    shim = shims.build(shims.render(dir_snapshot(NODES)), shims.BuildConfig(8, numa=True))
    case = make_case("nodes", numa=True, cpu_node=(0, 0, 0), distance=((10, 20), (20, 10)),
                     node_memory=(MB, MB), bootmem_size=2 * MB)
    line = case.shim_line().replace(f"node_memory={MB},{MB}", f"node_memory={MB},{2 * MB}")
    out = subprocess.run([str(shim.path)], input=line + "\n", capture_output=True, text=True,
                         timeout=60).stdout
    assert json.loads(out.splitlines()[0])["outcome"] == {
        "kind": "invalid", "message": f"node_memory adds up to {3 * MB}, not bootmem_size "
                                      f"{2 * MB}"}


# --- what harness/extract/stubs.py reads ---------------------------------------------


def test_map_returns_zero_reads_the_last_return() -> None:
    counted = "int map_kernel_range_noflush(unsigned long a, unsigned long s)\n" \
              "{\n\treturn fx_map(a, a + s);\n}\n"
    zero = "int map_kernel_range_noflush(unsigned long a, unsigned long s)\n" \
           "{\n\tint err = fx_map(a, s);\n\n\tif (err)\n\t\treturn err;\n\treturn 0;\n}\n"
    assert not stubs.map_returns_zero(counted)
    assert stubs.map_returns_zero(zero)
    assert not stubs.map_returns_zero("int other(void)\n{\n\treturn 0;\n}\n")


def test_lpage_needs_nodes_reads_the_allocators_condition() -> None:
    numa_only = "#ifdef CONFIG_NEED_MULTIPLE_NODES\n" \
                "int pcpu_lpage_first_chunk(int x)\n{\n\treturn x;\n}\n#endif\n"
    switched = numa_only.replace("CONFIG_NEED_MULTIPLE_NODES",
                                 "CONFIG_NEED_PER_CPU_LPAGE_FIRST_CHUNK")
    assert stubs.lpage_needs_nodes(ctext.split(numa_only, "mm/percpu.c"))
    assert not stubs.lpage_needs_nodes(ctext.split(switched, "mm/percpu.c"))
    assert stubs.stub_defines({}, ctext.split(numa_only, "mm/percpu.c")) == (
        stubs.LPAGE_NEEDS_NODES,)


# --- x86 without bootmem: read from an invented arch/x86/Kconfig -------------------------

NO_BOOTMEM_KCONFIGS = {
    "config FX_THING\n\tdef_bool y\n\nconfig NO_BOOTMEM\n\tdef_bool y\n": True,
    "config NO_BOOTMEM\n\tdefault y\n\tbool \"Skip the fixture's bootmem\"\n": True,
    "config X86\n\tdef_bool y\n\tselect FX_OTHER\n\tselect NO_BOOTMEM\n": True,
    "config NO_BOOTMEM\n\tbool\n\nconfig FX_THING\n\tdef_bool y\n": False,
    "config FX_THING\n\tdef_bool y\n": False,
}


@pytest.mark.parametrize("kconfig,expected", NO_BOOTMEM_KCONFIGS.items())
def test_x86_without_bootmem_is_read_from_its_kconfig(kconfig: str, expected: bool) -> None:
    files = {"arch/x86/Kconfig": kconfig}
    assert stubs.x86_no_bootmem(files) is expected
    assert (stubs.ARCH_NO_BOOTMEM in stubs.arch_stub_defines(files, "x86")) is expected
    assert stubs.arch_stub_facts(files, "x86") == ({stubs.X86_NO_BOOTMEM: 1} if expected else {})
    assert stubs.arch_stub_defines(files, "sparc64") == ()


def test_a_tree_without_an_x86_kconfig_keeps_bootmem() -> None:
    assert not stubs.x86_no_bootmem({})


def test_a_two_argument_arch_allocator_is_counted_aligned_to_its_size() -> None:
    # Before "percpu: add @align to pcpu_fc_alloc_fn_t" the arch's callback
    # took (cpu, size); x86's aligned to the size, and the counter says so.
    old = ctext.split("static void * __init pcpu_fc_alloc(unsigned int cpu, size_t size)\n"
                      "{ return NULL; }\n", "arch.c").items[0]
    new = ctext.split("static void * __init pcpu_fc_alloc(unsigned int cpu, size_t size, "
                      "size_t align)\n{ return NULL; }\n", "arch.c").items[0]
    assert shims._wrap_plan(old)["counted_args"] == ["cpu", "size", "size"]
    assert shims._wrap_plan(new)["counted_args"] == ["cpu", "size", "align"]
