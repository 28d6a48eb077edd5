# The safetensors reader's fuzz target; include()d by tests/fuzz/CMakeLists.txt.
#
# GESSL_FUZZ=ON with clang: bin/fuzz_safetensors, a libFuzzer binary built from the reader's own
# sources so they carry coverage instrumentation whatever flags the library was built with, and
# a ctest (label fuzz) that fuzzes for GESSL_FUZZ_SECONDS from the corpus, writing new inputs
# into the build tree. By hand:
#   build/bin/fuzz_safetensors -dict=tests/fuzz/safetensors.dict -max_total_time=60 \
#     tests/fuzz/corpus/safetensors
# Always: the seed corpus replayed through the same entry point as a unit test, so every input
# that once crashed stays a regression test (run it under GESSL_SANITIZE for the full checks).
set(GESSL_ST_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})

if(GESSL_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz_safetensors
    ${GESSL_ST_FUZZ_DIR}/fuzz_safetensors.c
    ${CMAKE_SOURCE_DIR}/runtime/io/safetensors.c
    ${CMAKE_SOURCE_DIR}/runtime/errors.c)
  target_include_directories(fuzz_safetensors PRIVATE ${CMAKE_SOURCE_DIR}/include)
  target_compile_options(fuzz_safetensors PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_safetensors PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_safetensors PRIVATE gessl_io_deps m)
  if(NOT DEFINED GESSL_FUZZ_SECONDS)
    set(GESSL_FUZZ_SECONDS 20)
  endif()
  set(GESSL_ST_FUZZ_WORK ${CMAKE_CURRENT_BINARY_DIR}/corpus-safetensors)
  file(MAKE_DIRECTORY ${GESSL_ST_FUZZ_WORK})
  add_test(NAME fuzz_safetensors
    COMMAND fuzz_safetensors -dict=${GESSL_ST_FUZZ_DIR}/safetensors.dict
            -max_total_time=${GESSL_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048
            ${GESSL_ST_FUZZ_WORK} ${GESSL_ST_FUZZ_DIR}/corpus/safetensors)
  set_tests_properties(fuzz_safetensors PROPERTIES LABELS fuzz TIMEOUT 300)
endif()

add_executable(fuzz_safetensors_replay ${GESSL_ST_FUZZ_DIR}/fuzz_safetensors.c)
target_compile_definitions(fuzz_safetensors_replay PRIVATE GS_FUZZ_REPLAY=1)
target_link_libraries(fuzz_safetensors_replay PRIVATE gessl)
add_test(NAME fuzz_safetensors_replay
  COMMAND fuzz_safetensors_replay ${GESSL_ST_FUZZ_DIR}/corpus/safetensors)
set_tests_properties(fuzz_safetensors_replay PROPERTIES LABELS unit)
