# Fuzz targets for the training settings' parsers; include()d by tests/fuzz/CMakeLists.txt.
#   settings: --config FILE and a run's config.json (gs_train_settings_read, then the settings
#             table's parser on every pair)
#   state:    state.json as --resume reads it against the checkpoint (train_state_parse)
#   set:      --set NAME=VALUE lines resolved against declared hyperparameters
# Each is built from the parsers' own sources (instrumented with GESSL_FUZZ=ON and clang, as a
# libFuzzer binary and a ctest labelled fuzz that runs GESSL_FUZZ_SECONDS from the corpus, writing
# new inputs into the build tree), and always as a replay of the committed corpus (label unit),
# so every input that once crashed stays a regression test.
set(GESSL_TP_DIR ${CMAKE_CURRENT_LIST_DIR})
set(GESSL_TP_SRC_settings ${GESSL_ROOT}/runtime/train/settings.c
  ${GESSL_ROOT}/runtime/train/setting_table.c ${GESSL_ROOT}/runtime/io/read_file.c)
set(GESSL_TP_SRC_state ${GESSL_ROOT}/runtime/train/state_json.c)
set(GESSL_TP_SRC_set ${GESSL_ROOT}/runtime/train/hparams_resolve.c ${GESSL_ROOT}/runtime/hparams.c)

function(gessl_add_train_parser_fuzzer name)
  set(srcs ${GESSL_TP_DIR}/fuzz_${name}.c ${GESSL_TP_SRC_${name}} ${GESSL_ROOT}/runtime/errors.c)
  set(corpus ${GESSL_TP_DIR}/corpus/${name})
  add_executable(fuzz_${name}_replay ${srcs} ${GESSL_TP_DIR}/replay_main.c)
  target_include_directories(fuzz_${name}_replay PRIVATE ${GESSL_ROOT}/include)
  target_link_libraries(fuzz_${name}_replay PRIVATE cjson m)
  add_test(NAME fuzz_${name}_replay COMMAND fuzz_${name}_replay ${corpus})
  set_tests_properties(fuzz_${name}_replay PROPERTIES LABELS unit)
  if(GESSL_FUZZ_CLANG)
    add_executable(fuzz_${name} ${srcs})
    target_include_directories(fuzz_${name} PRIVATE ${GESSL_ROOT}/include)
    target_compile_options(fuzz_${name} PRIVATE -g -fsanitize=fuzzer,address,undefined)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_${name} PRIVATE cjson m)
    set(work ${CMAKE_CURRENT_BINARY_DIR}/corpus-${name})
    file(MAKE_DIRECTORY ${work})
    add_test(NAME fuzz_${name}
      COMMAND fuzz_${name} -max_total_time=${GESSL_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048
              ${work} ${corpus})
    set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 300)
  endif()
endfunction()

foreach(name settings state set)
  gessl_add_train_parser_fuzzer(${name})
endforeach()
