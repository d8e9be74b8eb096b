# hugeshim's version (project(VERSION)) and the git commit it was built from,
# for `hugeshim --version`. The commit is read at configure time; the files
# git moves on a commit or a checkout are configure dependencies, so a build
# after either configures again and never reports a stale commit. Outside a
# git checkout (a source tarball) the commit is "unknown".
find_package(Git QUIET)
set(HUGESHIM_GIT_COMMIT "unknown")
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND commit)
    set(HUGESHIM_GIT_COMMIT ${commit})
    # HEAD, the branch it names, and packed-refs (where a branch may live).
    execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --symbolic-full-name HEAD
      WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
      OUTPUT_VARIABLE branch OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    foreach(ref HEAD ${branch} packed-refs)
      execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --path-format=absolute --git-path ${ref}
        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
        OUTPUT_VARIABLE ref_file OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(ref_file AND EXISTS ${ref_file})
        set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${ref_file})
      endif()
    endforeach()
  endif()
endif()

target_compile_definitions(hugeshim_cli PRIVATE
  HUGESHIM_VERSION="${PROJECT_VERSION}" HUGESHIM_GIT_COMMIT="${HUGESHIM_GIT_COMMIT}")
