# Writes the version source (common/version.cpp.in) at build time, run as
#   cmake -DSOURCE_DIR=... -DTEMPLATE=... -DOUTPUT=... -DPROJECT_VERSION=... [-DDESCRIBE=...]
#         -P GitVersion.cmake
# It runs at every build, because a commit changes nothing CMake watches; configure_file leaves
# OUTPUT untouched when the text is the same, so an unchanged checkout recompiles nothing and a
# new commit recompiles this one file and relinks the two programs.

if(DESCRIBE STREQUAL "")
  # A tarball, or a Docker build whose context leaves .git out, has no history: say so.
  set(DESCRIBE "unknown")
  find_program(GIT_EXECUTABLE git)
  if(GIT_EXECUTABLE)
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${SOURCE_DIR} describe --always --dirty --tags
                    OUTPUT_VARIABLE described OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE status ERROR_QUIET)
    if(status EQUAL 0 AND NOT described STREQUAL "")
      set(DESCRIBE "${described}")
    endif()
  endif()
endif()

# A tag name may hold characters that would end the C++ string literal: keep the harmless ones.
string(REGEX REPLACE "[^A-Za-z0-9._+~-]" "_" DESCRIBE "${DESCRIBE}")
set(PORTCULLIS_VERSION_STRING "${PROJECT_VERSION} (${DESCRIBE})")
configure_file(${TEMPLATE} ${OUTPUT} @ONLY)
