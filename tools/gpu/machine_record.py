"""The machine a gpu-check run measured, as one JSON line.

    machine_record.py [--smi-q FILE] [--root /]

GPU name, driver, PCIe generation and width (current and max) from
`nvidia-smi -q` (its whole output is kept in --smi-q FILE), the GPU's NUMA
node and IOMMU group type from sysfs, THP settings, the hugetlb pool, the
kernel, CPU count, memory, and whether a virtio balloon (free page reporting
gives freed guest memory back to the host, so it is cold again) is bound.
Every field that cannot be read is "unknown"; never fails. Standard library
only. --root reads /proc and /sys below another directory (tests).
"""
import argparse
import json
import os
import platform
import re
import subprocess


def read(root, path, default="unknown"):
    try:
        with open(os.path.join(root, path.lstrip("/"))) as f:
            return f.read().strip()
    except OSError:
        return default


def smi_q():
    try:
        return subprocess.run(["nvidia-smi", "-q"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def parse_smi(text):
    """Fields of the first GPU in `nvidia-smi -q` text (its indented
    'Key : Value' lines; PCIe generation and width sit under 'GPU Link Info')."""
    out = {}
    section = []
    for line in text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        # Keys are padded before their colon; a header line such as
        # "GPU 00000000:1B:00.0" has colons but no " :".
        m = re.match(r"\s*(\S.*?)\s+:\s*(.*)$", line)
        key = m.group(1) if m else line.strip()
        value = m.group(2).strip() if m else ""
        depth = indent // 4
        section = section[:depth]
        if not value:
            section.append(key)
            continue
        path = "/".join(section + [key])
        if key == "Driver Version":
            out.setdefault("driver", value)
        elif key == "CUDA Version":
            out.setdefault("cuda_driver_api", value)
        elif key == "Product Name":
            out.setdefault("gpu", value)
        elif key == "Bus Id" and "PCI" in path:
            out.setdefault("pci_bus_id", value)
        elif "PCIe Generation" in path and key in ("Max", "Current", "Device Current", "Host Max"):
            out.setdefault("pcie_gen_" + key.lower().replace(" ", "_"), value)
        elif "Link Width" in path and key in ("Max", "Current"):
            out.setdefault("pcie_width_" + key.lower(), value)
        elif key == "Total" and "FB Memory Usage" in path:
            out.setdefault("gpu_memory", value)
    return out


def gpu_sysfs(root, bus_id):
    """numa_node and IOMMU domain type of the GPU's PCI device."""
    if not bus_id or bus_id == "unknown":
        return {}
    bdf = bus_id[-12:].lower()  # nvidia-smi: 00000000:1B:00.0; sysfs: 0000:1b:00.0
    dev = os.path.join(root, "sys/bus/pci/devices", bdf)
    out = {"numa_node": read(root, f"/sys/bus/pci/devices/{bdf}/numa_node")}
    group = os.path.join(dev, "iommu_group")
    if os.path.exists(group):
        out["iommu"] = read("/", os.path.join(os.path.realpath(group), "type"))
    else:
        out["iommu"] = "none (no iommu_group)"
    return out


def record(root="/", smi_text=None):
    smi_text = smi_q() if smi_text is None else smi_text
    r = {"test": "machine"}
    r.update(parse_smi(smi_text))
    r.update(gpu_sysfs(root, r.get("pci_bus_id")))
    meminfo = read(root, "/proc/meminfo", "")
    mem = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    r.update({
        "kernel": read(root, "/proc/sys/kernel/osrelease", platform.release()),
        "cpus": os.cpu_count(),
        "memory_gib": round(int(mem.group(1)) / 1048576, 1) if mem else "unknown",
        "thp_enabled": read(root, "/sys/kernel/mm/transparent_hugepage/enabled"),
        "thp_defrag": read(root, "/sys/kernel/mm/transparent_hugepage/defrag"),
        "thp_shmem_enabled": read(root, "/sys/kernel/mm/transparent_hugepage/shmem_enabled"),
        "nr_hugepages_2m": read(root, "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"),
        "numa_nodes": len([d for d in os.listdir(os.path.join(root, "sys/devices/system/node"))
                           if re.fullmatch(r"node\d+", d)])
        if os.path.isdir(os.path.join(root, "sys/devices/system/node")) else "unknown",
        "virtio_balloon": os.path.isdir(os.path.join(root, "sys/bus/virtio/drivers/virtio_balloon")),
    })
    for key in ("gpu", "driver", "pcie_gen_current", "pcie_gen_max", "pcie_width_current", "pcie_width_max"):
        r.setdefault(key, "unknown")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smi-q", help="write the whole `nvidia-smi -q` output here")
    ap.add_argument("--root", default="/")
    args = ap.parse_args()
    text = smi_q()
    if args.smi_q:
        with open(args.smi_q, "w") as f:
            f.write(text or "nvidia-smi -q gave nothing\n")
    print(json.dumps(record(args.root, text)), flush=True)


if __name__ == "__main__":
    main()
