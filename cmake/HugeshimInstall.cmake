# The installed layout (`cmake --install`) and the Debian package (CPack).
#
#   bin/            hugeshim, its subcommand executables hugeshim-<cmd> (git-style
#                   dispatch looks next to hugeshim): hugeshim-doctor, hugeshim-node,
#                   hugeshim-bench.
#                   The benchmark and demo programs (tools/) stay in the build tree.
#   lib/            libhugeshim.so.<major> (soname), .so.<version>, and the
#                   libhugeshim.so link that LD_PRELOAD lines and `hugeshim run` name
#   include/hugeshim/  the ring ABI (ring.h, events.h): C, no other dependency
#   lib/cmake/hugeshim/  find_package(hugeshim) -> hugeshim::ring_abi
#   share/man/man1/ pages generated from each command's --help (help2man)
#   share/bash-completion/completions/hugeshim
#   share/doc/hugeshim/  README, docs, copyright, changelog
# and, at absolute paths (a package or DESTDIR install; see docs/DEPLOY.md):
#   /etc/hugeshim/node.conf, the systemd units, tmpfiles.d for /run/hugeshim.
#
# `lib`, not the multiarch directory: `hugeshim run` finds the shim at
# ../lib/libhugeshim.so from its own directory, in the build tree and installed.
include(CMakePackageConfigHelpers)

set(HUGESHIM_SYSCONFDIR "/etc/hugeshim" CACHE PATH "where node.conf is installed")
set(HUGESHIM_SYSTEMD_UNITDIR "/lib/systemd/system" CACHE PATH "where the systemd units are installed")
set(HUGESHIM_TMPFILESDIR "/usr/lib/tmpfiles.d" CACHE PATH "where the tmpfiles.d entry is installed")
set(deploy_dir ${PROJECT_SOURCE_DIR}/deploy)
set(packaging_dir ${PROJECT_SOURCE_DIR}/packaging)

install(TARGETS hugeshim LIBRARY DESTINATION lib)
install(TARGETS hugeshim_cli hugeshim-doctor hugeshim-bench RUNTIME DESTINATION bin)
install(PROGRAMS ${deploy_dir}/node/hugeshim-node DESTINATION bin)
# The built tree mirrors the installed one: `hugeshim node` from build/bin.
configure_file(${deploy_dir}/node/hugeshim-node ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/hugeshim-node COPYONLY)

# The ring ABI for readers of the rings (find_package(hugeshim)).
add_library(hugeshim_ring_abi INTERFACE)
set_target_properties(hugeshim_ring_abi PROPERTIES EXPORT_NAME ring_abi)
target_include_directories(hugeshim_ring_abi INTERFACE $<INSTALL_INTERFACE:include>)
install(FILES ${PROJECT_SOURCE_DIR}/common/include/hugeshim/ring.h
              ${PROJECT_SOURCE_DIR}/common/include/hugeshim/events.h
        DESTINATION include/hugeshim)
install(TARGETS hugeshim_ring_abi EXPORT hugeshimTargets)
install(EXPORT hugeshimTargets NAMESPACE hugeshim:: DESTINATION lib/cmake/hugeshim)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/hugeshimConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/hugeshimConfig.cmake INSTALL_DESTINATION lib/cmake/hugeshim)
# The ring ABI carries its own version (HUGESHIM_RING_ABI_VERSION); the
# package version is what find_package(hugeshim 0.1) compares.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/hugeshimConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES ${CMAKE_BINARY_DIR}/cmake/hugeshimConfig.cmake ${CMAKE_BINARY_DIR}/cmake/hugeshimConfigVersion.cmake
        DESTINATION lib/cmake/hugeshim)

# Man pages from each command's --help. Subcommands are documented through
# a one-line wrapper named hugeshim-<cmd>, so each page has its own title.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(man_pages hugeshim hugeshim-doctor hugeshim-node hugeshim-bench)
  # The subcommands built into `hugeshim` (collector/src/cmd_<name>.cpp).
  foreach(cmd run record report export serve top config)
    list(APPEND man_pages hugeshim-${cmd})
  endforeach()
  set(man_outputs)
  foreach(page ${man_pages})
    set(out ${CMAKE_BINARY_DIR}/man/${page}.1.gz)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/man-page.sh ${HELP2MAN} ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}
              ${page} ${PROJECT_VERSION} ${out}
      DEPENDS hugeshim_cli hugeshim-doctor hugeshim-bench ${deploy_dir}/node/hugeshim-node ${CMAKE_CURRENT_LIST_DIR}/man-page.sh
      COMMENT "Man page ${page}.1" VERBATIM)
    list(APPEND man_outputs ${out})
  endforeach()
  add_custom_target(hugeshim_man ALL DEPENDS ${man_outputs})
  install(FILES ${man_outputs} DESTINATION share/man/man1)
else()
  message(WARNING "help2man not found (tools/install-deps.sh installs it): no man pages, and the package test fails")
endif()

install(FILES ${packaging_dir}/bash-completion/hugeshim DESTINATION share/bash-completion/completions)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/DEPLOY.md ${PROJECT_SOURCE_DIR}/docs/RING.md
              ${PROJECT_SOURCE_DIR}/docs/DOCTOR.md ${packaging_dir}/debian/copyright
        DESTINATION share/doc/hugeshim)
# Debian wants the changelog compressed with no timestamp (lintian).
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/packaging/changelog.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/packaging
  COMMAND sh -c "gzip -9nc '${packaging_dir}/debian/changelog' > '${CMAKE_BINARY_DIR}/packaging/changelog.gz'"
  DEPENDS ${packaging_dir}/debian/changelog VERBATIM)
add_custom_target(hugeshim_changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/packaging/changelog.gz)
install(FILES ${CMAKE_BINARY_DIR}/packaging/changelog.gz DESTINATION share/doc/hugeshim)

install(FILES ${deploy_dir}/node/node.conf DESTINATION ${HUGESHIM_SYSCONFDIR})
install(FILES ${deploy_dir}/systemd/hugeshim-node.service ${deploy_dir}/systemd/hugeshim-exporter.service
        DESTINATION ${HUGESHIM_SYSTEMD_UNITDIR})
install(FILES ${deploy_dir}/systemd/hugeshim.tmpfiles DESTINATION ${HUGESHIM_TMPFILESDIR} RENAME hugeshim.conf)

# The .deb: `cpack -G DEB` in the build directory (tests/deploy does).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hugeshim)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "huge pages for the large host allocations of unmodified programs")
set(CPACK_PACKAGE_DESCRIPTION "An LD_PRELOAD library (libhugeshim.so) that places the large malloc,\nmmap and CUDA pinned host allocations of an unmodified program on huge pages\nand records what each one cost, the hugeshim collector that drains those\nrecords into SQLite and reports on them, and hugeshim doctor, which audits\nand prepares a host (THP, hugetlb pools per NUMA node) for GPU serving.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "hugeshim maintainers <maintainers@hugeshim.invalid>")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Run-time dependencies from the binaries' NEEDED entries (dpkg-shlibdeps):
# glibc, libstdc++/libgcc for the CLI, libsqlite3. CUDA is looked up at run
# time (dlopen) and stays optional; the shim itself needs only glibc.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The shlibs file for packages built against libhugeshim.so.0. CPack then
# adds a postinst/postrm running ldconfig; lintian wants the ldconfig
# trigger as well (debian/triggers) and warns about the scripts.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${packaging_dir}/debian/conffiles ${packaging_dir}/debian/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
