"""percpu-diff boot and oracle: real boots of Debian's images."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from rich.console import Console

from harness.boot import qemu, reading
from harness.campaign import oracle
from harness.cli import sources
from harness.cli.requests import BootRequest, OracleRequest
from harness.compile import shims
from harness.core.errors import UserError
from harness.judge import compare
from harness.sources import debian, images, snapshot


def _debian_spec(source: str) -> debian.DebianSpec:
    kind, colon, rest = source.partition(":")
    if kind != "debian" or not colon:
        raise UserError(f"source '{source}': real boots use Debian's own images, name "
                        "debian:X.Y or debian:X.Y=VERSION")
    return debian.parse_debian_arg(rest)


def boot_main(request: BootRequest) -> int:
    err = Console(stderr=True)
    request.machine.check()
    qemu.qemu_binary()
    image = images.image_for(_debian_spec(request.source), lambda m: err.print(m, markup=False))
    nr_cpus = int(image.option("CONFIG_NR_CPUS"))
    where = request.out or Path(tempfile.mkdtemp(prefix="percpu-diff-boot-"))
    serial = qemu.boot(image.vmlinux, request.machine, reading.requests(), where,
                       request.timeout_s)
    real = reading.read(serial.text, serial.timed_out)
    result = reading.as_result(real, "boot", f"{image.package} {image.version}", nr_cpus)
    kept = request.out is not None or real.outcome != "ok"
    if not kept:
        shutil.rmtree(where, ignore_errors=True)
    if request.json:
        print(json.dumps(result, indent=2))
    else:
        out = Console()
        out.print(f"{image.package} {image.version}: {request.machine.describe()}: "
                  f"{real.outcome} in {serial.seconds:.1f} s"
                  + (f" ({real.message})" if real.message else ""), markup=False)
        for line in real.lines:
            out.print(f"  {line}", markup=False, highlight=False)
        for key, value in (result.get("state") or {}).items():
            out.print(f"  {key}: {value}", markup=False, highlight=False)
    if kept:
        err.print(f"serial log: {serial.path}", markup=False)
    return 0 if real.outcome == "ok" else 1


def oracle_main(request: OracleRequest) -> int:
    out, err = Console(), Console(stderr=True)
    qemu.qemu_binary()
    if not 1 <= request.max_cpus <= 255:
        raise UserError(f"--max-cpus {request.max_cpus}: QEMU's pc machine has 1 to 255 cpus")
    if any(request.out.glob("*/results.jsonl")):
        raise UserError(f"{request.out} already holds oracle results: name a new --out, or "
                        "remove it")
    kernels = [_kernel(source, err) for source in request.sources]
    todo = list(oracle.machines(request.count, request.seed, request.max_cpus))
    summary: dict[str, Counter[str]] = {}
    everything = []
    for kernel in kernels:
        label = kernel.snapshot.label
        counts = summary.setdefault(label, Counter())

        def say(index: int, total: int, case: oracle.OracleCase, label: str = label,
                counts: Counter[str] = counts) -> None:
            counts[case.verdict] += 1
            first = case.reason
            if case.differences:
                diff = case.differences[0]
                first = (f"{diff.field}: real {compare.short(diff.kernel)}, shim "
                         f"{compare.short(diff.model)}")
            err.print(f"[{index + 1}/{total}] {label} {case.name} {case.verdict} "
                      f"({case.seconds:.1f} s) {case.machine.describe()}"
                      + (f": {first}" if first else ""), markup=False, highlight=False)

        where = request.out / label.replace("/", "_").replace(":", "_")
        everything += [c.to_json() for c in oracle.run(kernel, todo, where, request.timeout_s, say)]
    for result in everything:
        if result["verdict"] != "agree":
            out.print(f"{result['source']} {result['name']} {result['verdict']}: "
                      + "; ".join(result["reproduce"]), markup=False, highlight=False)
    for label, counts in summary.items():
        out.print(f"{label}: {sum(counts.values())} boots: agree {counts['agree']}, "
                  f"differ {counts['differ']}, inconclusive {counts['inconclusive']}",
                  markup=False)
    if request.json:
        request.json.write_text(json.dumps({"summary": {k: dict(v) for k, v in summary.items()},
                                            "results": everything}, indent=1) + "\n")
    return 1 if any(c["differ"] for c in summary.values()) else 0


def _kernel(source: str, err: Console) -> oracle.Kernel:
    spec = _debian_spec(source)
    snap = sources.load(snapshot.parse_source_arg(source), err)
    image = images.image_for(spec, lambda m: err.print(m, markup=False))
    if image.version != snap.label.rpartition("=")[2] and "=" in snap.label:
        raise UserError(f"{source}: the image {image.package} is {image.version}, the source "
                        f"{snap.label}: pin one version, debian:X.Y=VERSION")
    return oracle.Kernel(snap, image, shims.render(snap))
