"""What the first chunk allocators print, by revision.

The messages are observable output, and "percpu: improve boot messages"
(004018e2c06, August 2009) changed every one of them: before it embed
said "Embedded N pages at ADDR, static data S bytes", the 4k allocator
"N 4k pages per cpu, static data S bytes" and the large page allocator
"Remapped at ADDR with large pages, static data S bytes"; after it each
prints its sizes uniformly (`s r d u`).  "percpu: rename 4k first chunk
allocator to page" (00ae4064b14) then named the page size ("4K", or the
revision's PAGE_SIZE) where the text said "4k", and "percpu: make
@dyn_size mandatory" (1d9d3257216) added the dynamic size to the page
allocator's line.  Which a revision prints are facts of its source
(harness/core/generations/unit_map.py); without them, the latest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from py_impl.layout import AreaSizes


@dataclass(frozen=True)
class Words:
    uniform: bool = True  # the `s r d u` lines of 004018e2c06
    page_size_named: bool = True  # "4K" (PAGE_SIZE) rather than the literal "4k"
    page_dyn: bool = True  # the page allocator's line names the dynamic size

    @classmethod
    def of(cls, facts: Mapping[str, int]) -> Words:
        latest = cls()
        return cls(uniform=bool(facts.get("uniform_messages", latest.uniform)),
                   page_size_named=bool(facts.get("page_message_psize",
                                                  latest.page_size_named)),
                   page_dyn=bool(facts.get("page_message_dyn", latest.page_dyn)))

    def page_word(self, page_size: int) -> str:
        return f"{page_size >> 10}K" if self.page_size_named else "4k"

    def embedded(self, pages: int, sizes: AreaSizes, unit_size: int) -> str:
        if not self.uniform:
            return (f"PERCPU: Embedded {pages} pages at <bootmem>, static data "
                    f"{sizes.static} bytes")
        return (f"PERCPU: Embedded {pages} pages/cpu @<bootmem> s{sizes.static} "
                f"r{sizes.reserved} d{sizes.dyn} u{unit_size}")

    def paged(self, unit_pages: int, page_size: int, sizes: AreaSizes,
              prefix: str = "PERCPU: ", address: str = " @<vmalloc>") -> str:
        """`prefix` and `address`: the later revisions' "percpu: " and a
        banner with no address (py_impl/alloc_era.py)."""
        if not self.uniform:
            return f"{prefix}{unit_pages} 4k pages per cpu, static data {sizes.static} bytes"
        line = (f"{prefix}{unit_pages} {self.page_word(page_size)} pages/cpu{address} "
                f"s{sizes.static} r{sizes.reserved}")
        return f"{line} d{sizes.dyn}" if self.page_dyn else line

    def large_pages(self, sizes: AreaSizes, unit_size: int) -> str:
        if not self.uniform:
            return (f"PERCPU: Remapped at <vmalloc> with large pages, static data "
                    f"{sizes.static} bytes")
        return (f"PERCPU: large pages @<vmalloc> s{sizes.static} r{sizes.reserved} "
                f"d{sizes.dyn} u{unit_size}")


# What a revision prints when its facts say nothing: the latest words.
LATEST = Words()
