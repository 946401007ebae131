/*
 * Results the kernel's own state does not show: what the entry point
 * returned, whether every unit got its copy of the static data, and the
 * bootmem report of what was allocated, freed and still held.
 */
#include "internal.h"

void shim_note_return(long long value)
{
	struct shim_json *w = shim_section_begin("return");
	shim_json_i64(w, value);
	shim_section_end(w);
}

/*
 * Every possible cpu's unit must start with a copy of the static data.
 * An embedded chunk lives in bootmem, so what it still holds there shows
 * whether the unused tails and empty units were given back.  No unit_map
 * (the first API's revisions, which keep none): cpu N's unit is unit N.
 */
void shim_emit_static_copies(const void *base, const int *unit_map, unsigned long unit_size,
			     unsigned long nr_units, const unsigned long *unit_offsets,
			     int nr_groups, const unsigned long *group_offsets,
			     const size_t *group_sizes)
{
	struct shim_json *w = shim_section_begin("static_copies");
	unsigned long size = shim_case.static_size;
	unsigned long checked = 0;
	unsigned long arena = (unsigned long)shim_arena_base, vmal = (unsigned long)shim_vmalloc_base;

	shim_json_obj_begin(w);
	shim_json_key(w, "bad_cpus");
	shim_json_arr_begin(w);
	for (unsigned int cpu = 0; cpu < shim_nr_cpu_ids; cpu++) {
		if (!(shim_possible_bits[cpu / 64] & (1UL << (cpu % 64))))
			continue;
		long unit = unit_map ? unit_map[cpu] : (long)cpu;
		unsigned long a = (unsigned long)base + (unit_offsets ? unit_offsets[cpu] :
				  (unsigned long)unit * unit_size);
		a = (unsigned long)shim_arch_translate((const void *)a);
		bool inside = (a >= arena && a + size <= arena + bm.limit) ||
			      (a >= vmal && a + size <= vmal + bm.vm_cursor);
		checked++;
		if (!inside || memcmp((void *)a, shim_per_cpu_load, size))
			shim_json_u64(w, cpu);
	}
	shim_json_arr_end(w);
	json_kv_u64(w, "checked", checked);
	shim_json_key(w, "chunk_held");
	if ((unsigned long)base >= arena && (unsigned long)base < arena + REGION_RESERVE) {
		unsigned long start = shim_pa(base), held = 0;
		int spans = group_offsets ? nr_groups : 1;

		for (int g = 0; g < spans; g++) {
			unsigned long from = start + (group_offsets ? group_offsets[g] : 0);
			unsigned long to = from + (group_sizes ? group_sizes[g] : nr_units * unit_size);

			held += held_at_setup ? overlap_in(held_at_setup, nr_held_at_setup, from, to) :
						held_overlap(from, to);
		}
		shim_json_u64(w, held);
	} else {
		shim_json_null(w);
	}
	shim_json_obj_end(w);
	shim_section_end(w);
}

/* The frees that were not applied, and the vm areas, as far as kept. */
static void emit_bootmem_lists(struct shim_json *w)
{
	shim_json_key(w, "bad_frees");
	shim_json_arr_begin(w);
	for (int i = 0; i < bm.nr_bad && i < MAX_BAD_FREES; i++) {
		shim_json_obj_begin(w);
		json_kv_u64(w, "phys", bm.bad[i].phys);
		json_kv_u64(w, "size", bm.bad[i].size);
		json_kv_u64(w, "not_held", bm.bad[i].unheld);
		shim_json_obj_end(w);
	}
	shim_json_arr_end(w);
	shim_json_key(w, "vm_areas");
	shim_json_arr_begin(w);
	for (int i = 0; i < bm.nr_vm && i < 16; i++) {
		shim_json_obj_begin(w);
		json_kv_u64(w, "offset", bm.vm[i].offset);
		json_kv_u64(w, "size", bm.vm[i].size);
		json_kv_u64(w, "align", bm.vm[i].align);
		shim_json_obj_end(w);
	}
	shim_json_arr_end(w);
}

static void json_kv_per_node(struct shim_json *w, const char *key, const unsigned long *bytes)
{
	shim_json_key(w, key);
	shim_json_arr_begin(w);
	for (int n = 0; n < shim_case.nr_nodes; n++)
		shim_json_u64(w, bytes[n]);
	shim_json_arr_end(w);
}

/* [phys, size] of the first chunk allocations still placed (fc.c). */
static void emit_fc_spans(struct shim_json *w)
{
	shim_json_key(w, "fc_spans");
	shim_json_arr_begin(w);
	for (int i = 0; i < bm.nr_fc_spans; i++) {
		shim_json_arr_begin(w);
		shim_json_u64(w, bm.fc_spans[i].phys);
		shim_json_u64(w, bm.fc_spans[i].size);
		shim_json_arr_end(w);
	}
	shim_json_arr_end(w);
}

static void emit_bootmem(void)
{
	struct shim_json *w = shim_section_begin("bootmem");
	unsigned long held_bytes = 0;

	for (size_t i = 0; i < bm.nr_held; i++)
		held_bytes += bm.held[i].end - bm.held[i].start;
	shim_json_obj_begin(w);
	json_kv_u64(w, "allocated", bm.allocated);
	json_kv_u64(w, "freed", bm.freed);
	json_kv_u64(w, "held", held_bytes);
	json_kv_u64(w, "allocations", bm.nr_allocs);
	json_kv_u64(w, "frees", bm.nr_frees);
	json_kv_u64(w, "failed_allocations", bm.nr_failed);
	json_kv_u64(w, "bad_free_count", (unsigned long)bm.nr_bad);
	json_kv_u64(w, "bad_free_bytes", bm.bad_free_bytes);
	emit_bootmem_lists(w);
	json_kv_u64(w, "fc_allocs", bm.fc_allocs);
	json_kv_u64(w, "fc_alloc_bytes", bm.fc_alloc_bytes);
	json_kv_u64(w, "fc_frees", bm.fc_frees);
	json_kv_u64(w, "fc_free_bytes", bm.fc_free_bytes);
	json_kv_per_node(w, "fc_alloc_bytes_by_node", bm.fc_alloc_bytes_on_node);
	emit_fc_spans(w);
	if (bm.node_directed)
		json_kv_per_node(w, "node_bytes", bm.node_bytes);
	json_kv_u64(w, "maps", bm.maps);
	json_kv_u64(w, "ptes_populated", bm.ptes);
	shim_json_obj_end(w);
	shim_section_end(w);
}
