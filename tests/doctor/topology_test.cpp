// shim/src/topology.cpp: bus id normalisation and sysfs reads over fake trees.
#define BOOST_TEST_MODULE topology
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>

#include "hugeshim/events.h"
#include "sysfs_tree_double.h"
#include "hugeshim/topology.h"

using hugeshim::PciDeviceInfo;
using hugeshim::test::SysfsTreeDouble;

namespace {

std::string normalized(const char* in) {
  char out[16];
  return hugeshim::normalize_pci_bus_id(in, out) ? std::string(out) : std::string("<rejected>");
}

}  // namespace

BOOST_AUTO_TEST_CASE(normalizes_cuda_spellings_to_sysfs) {
  BOOST_TEST(normalized("0000:1B:00.0") == "0000:1b:00.0");
  BOOST_TEST(normalized("00000000:1B:00.0") == "0000:1b:00.0");
  BOOST_TEST(normalized("0000:af:1f.7") == "0000:af:1f.7");
  BOOST_TEST(normalized("1b:00.1") == "0000:1b:00.1");
  BOOST_TEST(normalized("0001:3:0.0") == "0001:03:00.0");
  BOOST_TEST(normalized("10000:01:00.0") == "10000:01:00.0");  // VMD domain
  BOOST_TEST(normalized("0000:1b:00.0\n") == "0000:1b:00.0");
}

BOOST_AUTO_TEST_CASE(rejects_malformed_bus_ids) {
  for (const char* bad : {"", "0000:1b:00", "0000:1b:00.8", "0000:1b:20.0", "0000:100:00.0",
                          "0000:1g:00.0", "1:2:3:4.0", "0000:1b:00.0x", "100000000:1b:00.0",
                          "0000:1b.00.0", ":1b:00.0"}) {
    char out[16] = "junk";
    BOOST_TEST(!hugeshim::normalize_pci_bus_id(bad, out), bad);
    BOOST_TEST(out[0] == '\0');
  }
  char out[16];
  BOOST_TEST(!hugeshim::normalize_pci_bus_id(nullptr, out));
}

BOOST_AUTO_TEST_CASE(reads_numa_node_cpus_and_iommu_type) {
  SysfsTreeDouble tree;
  tree.add_gpu("0000:1b:00.0", 1, 27, "DMA-FQ", "16-31,48-63");
  PciDeviceInfo info;
  BOOST_TEST_REQUIRE(hugeshim::topology_pci_device(tree.root().c_str(), "00000000:1B:00.0", &info));
  BOOST_TEST(std::string(info.bus_id) == "0000:1b:00.0");
  BOOST_TEST(info.numa_node == 1);
  BOOST_TEST(info.iommu_group == 27);
  BOOST_TEST(info.iommu_type == HUGESHIM_IOMMU_DMA_FQ);
  BOOST_TEST(std::string(info.local_cpus) == "16-31,48-63");
}

BOOST_AUTO_TEST_CASE(maps_each_iommu_domain_type) {
  SysfsTreeDouble tree;
  tree.add_gpu("0000:01:00.0", 0, 1, "identity");
  tree.add_gpu("0000:02:00.0", 0, 2, "DMA");
  tree.add_gpu("0000:03:00.0", 0, 3, "DMA-FQ");
  tree.add_gpu("0000:04:00.0", 0, -1, "");         // no iommu_group link
  tree.add_gpu("0000:05:00.0", 0, 5, "");          // group without a type file
  tree.add_gpu("0000:06:00.0", 0, 6, "unmanaged");  // a type we do not know
  const std::pair<const char*, uint32_t> expected[] = {
      {"0000:01:00.0", HUGESHIM_IOMMU_IDENTITY}, {"0000:02:00.0", HUGESHIM_IOMMU_DMA},
      {"0000:03:00.0", HUGESHIM_IOMMU_DMA_FQ},   {"0000:04:00.0", HUGESHIM_IOMMU_NONE},
      {"0000:05:00.0", HUGESHIM_IOMMU_UNKNOWN},  {"0000:06:00.0", HUGESHIM_IOMMU_UNKNOWN}};
  for (const auto& [bdf, type] : expected) {
    PciDeviceInfo info;
    BOOST_TEST_REQUIRE(hugeshim::topology_pci_device(tree.root().c_str(), bdf, &info));
    BOOST_TEST(info.iommu_type == type, bdf << " is " << hugeshim_iommu_type_name(info.iommu_type));
  }
  PciDeviceInfo none;
  hugeshim::topology_pci_device(tree.root().c_str(), "0000:04:00.0", &none);
  BOOST_TEST(none.iommu_group == -1);
}

BOOST_AUTO_TEST_CASE(unknown_numa_node_and_missing_device) {
  SysfsTreeDouble tree;
  tree.add_gpu("0000:1b:00.0", -1, -1, "");
  tree.remove("/sys/bus/pci/devices/0000:1b:00.0/local_cpulist");
  PciDeviceInfo info;
  BOOST_TEST_REQUIRE(hugeshim::topology_pci_device(tree.root().c_str(), "0000:1b:00.0", &info));
  BOOST_TEST(info.numa_node == -1);
  BOOST_TEST(info.local_cpus[0] == '\0');
  BOOST_TEST(!hugeshim::topology_pci_device(tree.root().c_str(), "0000:99:00.0", &info));
  BOOST_TEST(!hugeshim::topology_pci_device(tree.root().c_str(), "not-a-bus-id", &info));
}

BOOST_AUTO_TEST_CASE(lists_only_nvidia_display_controllers_sorted) {
  SysfsTreeDouble tree;  // has an Intel bridge and an NVIDIA audio function
  tree.add_gpu("0000:b1:00.0", 1, 80, "identity");
  tree.add_pci_device("0000:17:00.0", "0x10de", "0x030000", 0, 20, "DMA");  // VGA class
  tree.add_pci_device("0000:41:00.0", "0x10de", "0x068000", 0, 30, "DMA");  // NVSwitch bridge
  tree.add_pci_device("0000:42:00.0", "0x1002", "0x038000", 0, 31, "DMA");  // another vendor
  PciDeviceInfo gpus[8];
  int n = hugeshim::topology_list_gpus(tree.root().c_str(), gpus, 8);
  BOOST_TEST_REQUIRE(n == 2);
  BOOST_TEST(std::string(gpus[0].bus_id) == "0000:17:00.0");
  BOOST_TEST(gpus[0].iommu_type == HUGESHIM_IOMMU_DMA);
  BOOST_TEST(std::string(gpus[1].bus_id) == "0000:b1:00.0");
  BOOST_TEST(gpus[1].numa_node == 1);
}

BOOST_AUTO_TEST_CASE(list_keeps_the_lowest_bus_ids_when_full) {
  SysfsTreeDouble tree;
  for (const char* bdf : {"0000:c1:00.0", "0000:21:00.0", "0000:81:00.0", "0000:41:00.0"})
    tree.add_gpu(bdf, 0, -1, "");
  PciDeviceInfo gpus[2];
  BOOST_TEST_REQUIRE(hugeshim::topology_list_gpus(tree.root().c_str(), gpus, 2) == 2);
  BOOST_TEST(std::string(gpus[0].bus_id) == "0000:21:00.0");
  BOOST_TEST(std::string(gpus[1].bus_id) == "0000:41:00.0");
  BOOST_TEST(hugeshim::topology_list_gpus("/nonexistent-root", gpus, 2) == 0);
}
