"""machine_record.py: the fields read from `nvidia-smi -q` text (an excerpt
in its layout, written for this test) and from a fake /sys and /proc tree."""
import os
import tempfile
import unittest

from tool_path import TOOLS  # noqa: F401 (sys.path)

import machine_record as mr

SMI_Q = """
==============NVSMI LOG==============

Timestamp                                 : Thu Dec  3 08:00:00 2026
Driver Version                            : 999.1.2
CUDA Version                              : 13.0

Attached GPUs                             : 1
GPU 00000000:1B:00.0
    Product Name                          : Example GPU
    FB Memory Usage
        Total                             : 1000 MiB
    PCI
        Bus                               : 0x1B
        Bus Id                            : 00000000:1B:00.0
        GPU Link Info
            PCIe Generation
                Max                       : 5
                Current                   : 4
                Device Current            : 4
                Device Max                : 5
                Host Max                  : 5
            Link Width
                Max                       : 16x
                Current                   : 8x
    Clocks
        Max                               : 1980 MHz
"""


def write(root, path, text):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)


class MachineRecord(unittest.TestCase):
    def test_smi_fields(self):
        f = mr.parse_smi(SMI_Q)
        self.assertEqual(f["driver"], "999.1.2")
        self.assertEqual(f["gpu"], "Example GPU")
        self.assertEqual(f["pci_bus_id"], "00000000:1B:00.0")
        self.assertEqual((f["pcie_gen_current"], f["pcie_gen_max"]), ("4", "5"))
        self.assertEqual((f["pcie_width_current"], f["pcie_width_max"]), ("8x", "16x"))
        self.assertEqual(f["gpu_memory"], "1000 MiB")
        self.assertNotIn("1980", str(f))  # "Max" under Clocks is not a PCIe field

    def test_record_from_a_fake_tree(self):
        with tempfile.TemporaryDirectory() as root:
            write(root, "/sys/bus/pci/devices/0000:1b:00.0/numa_node", "1\n")
            write(root, "/proc/meminfo", "MemTotal:       2097152 kB\n")
            write(root, "/proc/sys/kernel/osrelease", "6.1.0-test\n")
            write(root, "/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n")
            os.makedirs(os.path.join(root, "sys/devices/system/node/node0"))
            os.makedirs(os.path.join(root, "sys/devices/system/node/node1"))
            r = mr.record(root, SMI_Q)
        self.assertEqual(r["numa_node"], "1")
        self.assertEqual(r["iommu"], "none (no iommu_group)")
        self.assertEqual(r["memory_gib"], 2.0)
        self.assertEqual(r["kernel"], "6.1.0-test")
        self.assertEqual(r["numa_nodes"], 2)
        self.assertEqual(r["thp_enabled"], "always [madvise] never")
        self.assertEqual(r["thp_defrag"], "unknown")
        self.assertFalse(r["virtio_balloon"])

    def test_no_nvidia_smi_is_unknown_not_a_failure(self):
        with tempfile.TemporaryDirectory() as root:
            r = mr.record(root, "")
        for key in ("gpu", "driver", "pcie_gen_current", "pcie_width_current", "numa_nodes"):
            self.assertEqual(r[key], "unknown", key)


if __name__ == "__main__":
    unittest.main()
