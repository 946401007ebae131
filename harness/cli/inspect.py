"""percpu-diff extract and build: what the harness makes of a source."""

from __future__ import annotations

from rich.console import Console

from harness.cli import sources
from harness.cli.requests import BuildRequest, ExtractRequest
from harness.compile import shims
from harness.core.errors import UserError
from harness.extract import closure, ctext


def extract(request: ExtractRequest) -> int:
    err = Console(stderr=True)
    specs = request.sources.specs()
    if len(specs) > 2:
        raise UserError(f"extract takes one or two sources, got {len(specs)}")
    functions = []
    labels = []
    for spec in specs:
        snap = sources.load(spec, err)
        rendered = shims.render(snap, [request.scenario] if request.scenario else None)
        ex = rendered.extraction
        labels.append(snap.label)
        functions.append(ex.functions())
        if len(specs) == 1:
            print(f"{snap.label}: generation {rendered.api.generation}, scenarios "
                  f"{', '.join(ex.scenarios)}")
            for item in ex.header_items + ex.source_items:
                print(f"  {item.kind:<12} {item.name:<32} {item.path}:{item.line:<5} "
                      f"{closure.item_digest(item)}")
    if len(specs) == 2:
        return _compare(labels, *functions)
    return 0


def _compare(labels: list[str], a: dict[str, ctext.Item], b: dict[str, ctext.Item]) -> int:
    same = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"  only in {labels[0] if name in a else labels[1]}: {name}")
        elif a[name].text == b[name].text:
            same += 1
            print(f"  identical  {name} {closure.item_digest(a[name])}")
        else:
            print(f"  DIFFERENT  {name} {closure.item_digest(a[name])} "
                  f"{closure.item_digest(b[name])}")
    total = len(set(a) | set(b))
    print(f"{same} of {total} extracted functions byte-identical between "
          f"{labels[0]} and {labels[1]}")
    return 0 if same == total else 1


def build(request: BuildRequest) -> int:
    err = Console(stderr=True)
    for spec in request.sources.specs():
        snap = sources.load(spec, err)
        rendered = shims.render(snap)
        for nr_cpus in request.nr_cpus or (64,):
            shim = shims.build(rendered, request.build.config(nr_cpus, request.page_size))
            print(f"{snap.label} {rendered.api.generation} NR_CPUS={nr_cpus} "
                  f"{'sanitized' if request.build.sanitize else 'plain'} "
                  f"{'cached' if shim.cached else 'built'} {shim.path}")
    return 0
