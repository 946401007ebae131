"""Real boots: a Debian kernel image under QEMU, read out by a small probe.

The shim's ground truth.  machine (what QEMU can be asked to be) ->
initramfs (the probe as /init) -> qemu (the boot, under a timeout, with no
network) -> reading (the serial log as a result in the shim's shape).
"""
