/* Kernel configuration the shim builds with; build switches select it. */
#ifndef SHIM_CONFIG_H
#define SHIM_CONFIG_H
#define CONFIG_SMP 1
#define CONFIG_MODULES 1
#define CONFIG_64BIT 1
#define CONFIG_HAVE_SETUP_PER_CPU_AREA 1
/* The arch uses the dynamic percpu allocator: the switch of February and
 * March 2009, which later kernels no longer test (they test the inverse,
 * CONFIG_HAVE_LEGACY_PER_CPU_AREA, left undefined). */
#define CONFIG_HAVE_DYNAMIC_PER_CPU_AREA 1
/* Which first chunk allocators mm/percpu.c builds: all of them for the
 * generic scenarios; what the arch's Kconfig selects for an arch flow
 * (x86: lpage only with NUMA; sparc64: none, it sets the chunk up itself). */
#if defined(SHIM_ARCH_SPARC64)
#elif defined(SHIM_ARCH_ARCH_NUMA)
/* arm64 and riscv (GENERIC_ARCH_NUMA): embed, and page from 5.17/5.18 on
 * ("def_bool y, depends on NUMA"); the shim builds both. */
#define CONFIG_NEED_PER_CPU_EMBED_FIRST_CHUNK 1
#define CONFIG_NEED_PER_CPU_PAGE_FIRST_CHUNK 1
#elif defined(SHIM_ARCH_X86)
#define CONFIG_NEED_PER_CPU_EMBED_FIRST_CHUNK 1
#define CONFIG_NEED_PER_CPU_PAGE_FIRST_CHUNK 1
#ifdef SHIM_CONFIG_NUMA
#define CONFIG_NEED_PER_CPU_LPAGE_FIRST_CHUNK 1
#endif
#else
#define CONFIG_NEED_PER_CPU_EMBED_FIRST_CHUNK 1
#define CONFIG_NEED_PER_CPU_PAGE_FIRST_CHUNK 1
#define CONFIG_NEED_PER_CPU_LPAGE_FIRST_CHUNK 1
/* Before those switches (Aug 2009) lpage was built with NUMA only; the
 * build defines this for such a revision (harness/extract/stubs.py), and
 * nothing else of those revisions or of the stubs tests it. */
#ifdef SHIM_LPAGE_NEEDS_MULTIPLE_NODES
#define CONFIG_NEED_MULTIPLE_NODES 1
#endif
#endif
#ifdef SHIM_CONFIG_NUMA
#define CONFIG_NUMA 1
#define CONFIG_NEED_MULTIPLE_NODES 1
#endif
/* Arch flows: the configuration of the arch file being built. */
#ifdef SHIM_ARCH_X86
#define CONFIG_X86 1
#define CONFIG_X86_64 1
#define CONFIG_X86_LOCAL_APIC 1
#endif
#ifdef SHIM_ARCH_ARCH_NUMA
#define CONFIG_GENERIC_ARCH_NUMA 1
#endif
#ifdef SHIM_ARCH_SPARC64
#define CONFIG_SPARC 1
#define CONFIG_SPARC64 1
#endif
#ifndef NR_CPUS
#error "build with -DNR_CPUS=n"
#endif
#define CONFIG_NR_CPUS NR_CPUS
#endif
