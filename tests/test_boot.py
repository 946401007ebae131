"""Real boots, the parts that need no QEMU: the machine's command line, the
probe's initramfs, the image's unpacking, and reading a captured serial log
(tests/test_data/boot, from a real boot of Debian's 6.1 image)."""

from __future__ import annotations

import lzma
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from harness.boot import initramfs, reading
from harness.boot.machine import Machine
from harness.campaign import oracle
from harness.cli.app import main
from harness.core.errors import UserError
from harness.sources import images

DATA = Path(__file__).parent / "test_data" / "boot"
NUMA_LOG = (DATA / "numa-4of6-6.1.log").read_text()


def test_a_captured_boot_reads_as_the_kernel_left_it() -> None:
    boot = reading.read(NUMA_LOG, timed_out=False)
    assert boot.outcome == "ok" and not boot.missing
    assert boot.possible == [0, 1, 2, 3, 4, 5]
    assert boot.cpu_node == [0, 0, 0, 1, 0, 1]  # x86 gives hot-pluggable cpus nodes round robin
    assert boot.distance == [[10, 20], [20, 10]]
    assert boot.state["unit_map"] == [0, 1, 2, 4, 3, 5]
    assert boot.state["group_offsets"] == [0, 512 << 20]
    assert (boot.state["low_unit_cpu"], boot.state["high_unit_cpu"]) == (0, 5)
    assert boot.base_region == "phys" and boot.first_chunk_listed is True
    assert boot.lines[0] == "percpu: Embedded 62 pages/cpu s217088 r8192 d28672 u524288"


def test_a_first_chunk_on_no_list_is_seen() -> None:
    log = NUMA_LOG.replace("//////ffff88803ffdf1c0,", "//////")
    assert reading.read(log, timed_out=False).first_chunk_listed is False


def test_a_value_the_probe_could_not_read_is_missing_not_zero() -> None:
    log = NUMA_LOG.replace("val pcpu_low_unit_cpu 00000000", "val pcpu_low_unit_cpu missing")
    boot = reading.read(log, timed_out=False)
    assert "pcpu_low_unit_cpu" in boot.missing and "low_unit_cpu" not in boot.state


@pytest.mark.parametrize(("log", "timed_out", "outcome"), [
    ("[    0.1] Kernel panic - not syncing: VFS: Unable to mount root fs\n", False, "panic"),
    ("[    0.1] percpu: Embedded 62 pages/cpu\n", True, "timeout"),
    ("[    0.1] percpu: Embedded 62 pages/cpu\n", False, "harness"),
])
def test_a_boot_that_never_reached_the_probe_says_how_it_ended(
        log: str, timed_out: bool, outcome: str) -> None:
    boot = reading.read(log, timed_out)
    assert boot.outcome == outcome and boot.message and boot.state == {}


def test_a_numa_machine_is_qemus_nodes_memory_and_distances() -> None:
    machine = Machine(2, 4, ((0, 2), (1, 3), ()), (512, 256, 0), ((10, 20, 30), (20, 10, 20),
                                                                   (30, 20, 10)))
    args = " ".join(machine.qemu_args())
    assert "-smp 2,maxcpus=4 -m 768M" in args
    assert "-numa node,nodeid=0,cpus=0,cpus=2,memdev=mem0" in args
    assert "-numa node,nodeid=2 " in args + " "  # no cpus, no memory
    assert "memory-backend-ram,id=mem2" not in args
    assert "-numa dist,src=0,dst=2,val=30" in args


@pytest.mark.parametrize(("machine", "problem"), [
    (Machine(1, 256), "maxcpus <= 255"),
    (Machine(3, 2), "cpus <= maxcpus"),
    (Machine(2, 2, ((0,), ()), (512, 0)), "exactly one node"),
    (Machine(1, 1, ((0,),), (64,)), "at least 256 MB"),
    (Machine(1, 1, params=("init=/bin/sh",)), "kernel parameter"),
])
def test_what_qemu_cannot_express_is_refused(machine: Machine, problem: str) -> None:
    with pytest.raises(UserError, match=problem.replace("+", r"\+")):
        machine.check()


def _cpio_members(data: bytes) -> dict[str, tuple[int, int, bytes]]:
    """name -> (mode, rdevmajor, data) of a newc archive."""
    members, at = {}, 0
    while True:
        header = data[at:at + 110].decode()
        assert header.startswith("070701")
        field = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        name_end = at + 110 + field[11] - 1
        name = data[at + 110:name_end].decode()
        start = (name_end + 1 + 3) & ~3
        members[name] = (field[1], field[9], data[start:start + field[6]])
        at = (start + field[6] + 3) & ~3
        if name == "TRAILER!!!":
            return members


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_the_initramfs_holds_a_static_probe_and_its_requests(tmp_path: Path) -> None:
    archive = initramfs.initramfs(["val pcpu_nr_units 4"], tmp_path / "i")
    members = _cpio_members(archive.read_bytes())
    assert members["init"][2].startswith(b"\x7fELF")
    assert members["requests"][2] == b"val pcpu_nr_units 4\n"
    assert members["dev/console"][:2] == (0o020600, 5)
    file = subprocess.run(["readelf", "-l", str(initramfs.probe_binary())], capture_output=True,
                          text=True, check=True).stdout
    assert "INTERP" not in file  # static: the initramfs has no loader


def _bzimage(payload: bytes) -> bytes:
    setup_sects = 3
    image = bytearray((setup_sects + 1) * 512 + 64)
    image[0x1F1] = setup_sects
    image[0x248:0x250] = struct.pack("<II", 64, len(payload))
    return bytes(image) + payload + b"\0" * 16


def test_the_vmlinux_is_the_bzimages_payload_unpacked() -> None:
    elf = b"\x7fELF" + bytes(range(200))
    packed = lzma.compress(elf, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    assert images._vmlinux_of(_bzimage(packed + b"\x00\x01\x02\x03"), "p") == elf
    with pytest.raises(UserError, match="cannot unpack the kernel of p"):
        images._vmlinux_of(_bzimage(b"not compressed"), "p")


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_the_static_size_is_the_percpu_sections(tmp_path: Path) -> None:
    source = tmp_path / "v.c"
    source.write_text('__attribute__((section(".data..percpu"))) char area[12288] = {1};\n'
                      "int main(void) { return area[0]; }\n")
    # An object file: a program's link would fold the section into .data
    subprocess.run(["cc", "-c", "-o", str(tmp_path / "v"), str(source)], check=True)
    assert images.section_size(tmp_path / "v", ".data..percpu") == 12288
    assert images.section_size(tmp_path / "v", ".nothing") is None


def test_the_config_reads_set_and_unset_options() -> None:
    config = images._parse_config('CONFIG_NR_CPUS=8192\n# CONFIG_X is not set\nCONFIG_S="a b"\n')
    assert config == {"CONFIG_NR_CPUS": "8192", "CONFIG_X": "n", "CONFIG_S": "a b"}


def test_a_case_is_what_the_kernel_saw(tmp_path: Path) -> None:
    boot = reading.read(NUMA_LOG, timed_out=False)
    vmlinux = tmp_path / "vmlinux"
    source = tmp_path / "v.c"
    source.write_text('__attribute__((section(".data..percpu"))) char area[217088] = {1};\n'
                      "int main(void) { return area[0]; }\n")
    subprocess.run(["cc", "-c", "-o", str(vmlinux), str(source)], check=True)
    image = images.KernelImage("linux-image-x", "1", vmlinux,
                               {"CONFIG_NR_CPUS": "8192", "CONFIG_NUMA": "y"})
    case = oracle.case_for(boot, image, Machine(4, 6), "c")
    assert (case.scenario, case.nr_cpus, case.static_size, case.numa) == ("x86", 8192, 217088,
                                                                         True)
    assert case.possible == (0, 1, 2, 3, 4, 5) and case.cpu_node == (0, 0, 0, 1, 0, 1)
    assert case.distance == ((10, 20), (20, 10)) and case.offline_nodes == ()


@pytest.mark.parametrize(("argv", "says"), [
    (["boot", "tree:/x@HEAD"], "real boots use Debian's own images"),
    (["boot", "debian:6.1", "--node", "0@abc"], "write CPUS@MB"),
    (["boot", "debian:6.1", "--cpus", "300"], "QEMU cannot boot this machine"),
    (["oracle", "debian:6.1", "--max-cpus", "999"], "1 to 255 cpus"),
])
def test_bad_boot_input_is_one_line_and_status_2(
        argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err


def test_no_qemu_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PERCPU_DIFF_QEMU", "/nonexistent/qemu")
    assert main(["oracle", "debian:6.1"]) == 2
    assert "apt-get install qemu-system-x86" in capsys.readouterr().err


def test_a_boot_that_hangs_is_killed_and_its_log_kept(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Only QEMU is stood in for here: a machine that prints a line and hangs.
    hanging = tmp_path / "qemu"
    hanging.write_text('#!/bin/sh\nfor a; do case "$a" in file:*) log="${a#file:}";; esac; done\n'
                       'echo "[    0.1] percpu: Embedded 1 pages/cpu" > "$log"\nexec sleep 60\n')
    hanging.chmod(0o755)
    monkeypatch.setenv("PERCPU_DIFF_QEMU", str(hanging))
    from harness.boot import qemu

    serial = qemu.boot(tmp_path / "vmlinux", Machine(1, 1), ["val x 4"], tmp_path / "b", 1.0)
    assert serial.timed_out and serial.seconds < 10
    boot = reading.read(serial.text, serial.timed_out)
    assert boot.outcome == "timeout" and boot.lines == ["percpu: Embedded 1 pages/cpu"]
    assert (tmp_path / "b" / "serial.log").is_file() and (tmp_path / "b" / "qemu.cmd").is_file()


@pytest.mark.skipif(shutil.which("apt-cache") is None or shutil.which("qemu-system-x86_64") is None,
                    reason="needs apt and QEMU (./bootstrap installs it)")
def test_a_version_with_no_image_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boot", "debian:6.1=0.0.1-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no linux-image-*-amd64 package of version 0.0.1-1" in err and "\n" not in err


@pytest.mark.parametrize("machine", [
    oracle.FIXED[1], oracle.FIXED[3], oracle.FIXED[4], Machine(2, 3, params=("numa=off",)),
    Machine(2, 2, ((0,), (1,)), (256, 256), ((10, 21), (21, 10)))])
def test_a_reproducer_makes_the_same_machine(machine: Machine) -> None:
    from harness.cli import options
    from harness.cli.requests import BootRequest

    request = options.parse(["boot", "debian:6.1", *machine.boot_options()])
    assert isinstance(request, BootRequest) and request.machine == machine


def test_nodes_are_renamed_by_where_their_memory_lies(tmp_path: Path) -> None:
    # The kernel names nodes in SRAT order; here its node 1 holds the low memory.
    ranges = ("[    0.0]   node   1: [mem 0x0000000000001000-0x000000001fffffff]\n"
              "[    0.0]   node   0: [mem 0x0000000020000000-0x000000003fffffff]\n")
    boot = reading.read(ranges + NUMA_LOG, timed_out=False)
    assert boot.node_ranges == {1: [(0x1000, 0x20000000)], 0: [(0x20000000, 0x40000000)]}
    source = tmp_path / "v.c"
    source.write_text('__attribute__((section(".data..percpu"))) char area[40960] = {1};\n')
    subprocess.run(["cc", "-c", "-o", str(tmp_path / "v"), str(source)], check=True)
    image = images.KernelImage("p", "1", tmp_path / "v", {"CONFIG_NR_CPUS": "64",
                                                          "CONFIG_NUMA": "y"})
    case = oracle.case_for(boot, image, Machine(4, 6), "c")
    assert case.cpu_node == (1, 1, 1, 0, 1, 0)
    assert case.node_memory == (0x20000000 - 0x1000, 0x20000000)
    assert "kernel nodes 0->1 1->0" in case.description


def test_an_oracle_directory_with_results_is_not_written_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERCPU_DIFF_QEMU", shutil.which("true") or "/bin/true")
    (tmp_path / "debian_6.1=1").mkdir()
    (tmp_path / "debian_6.1=1" / "results.jsonl").write_text("{}\n")
    assert main(["oracle", "debian:6.1", "--out", str(tmp_path)]) == 2
    assert "already holds oracle results" in capsys.readouterr().err
    assert (tmp_path / "debian_6.1=1" / "results.jsonl").read_text() == "{}\n"
