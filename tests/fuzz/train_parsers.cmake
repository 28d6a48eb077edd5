# Fuzz targets for the training settings' parsers; include()d by tests/fuzz/CMakeLists.txt.
#   settings: --config FILE and a run's config.json (gs_train_settings_read, then the settings
#             table's parser on every pair)
#   state:    state.json as --resume reads it against the checkpoint (train_state_parse)
#   set:      --set NAME=VALUE lines resolved against declared hyperparameters
# Each is built from the parsers' own sources by gessl_add_fuzz_target (tests/fuzz/CMakeLists.txt):
# a replay of the committed corpus (label unit), so every input that once crashed stays a
# regression test, and with GESSL_FUZZ=ON and clang a libFuzzer binary and its ctest (label fuzz).
set(GESSL_TP_SRC_settings ${GESSL_ROOT}/runtime/train/settings.c
  ${GESSL_ROOT}/runtime/train/setting_table.c ${GESSL_ROOT}/runtime/io/read_file.c)
set(GESSL_TP_SRC_state ${GESSL_ROOT}/runtime/train/state_json.c)
set(GESSL_TP_SRC_set ${GESSL_ROOT}/runtime/train/hparams_resolve.c ${GESSL_ROOT}/runtime/hparams.c)

foreach(name settings state set)
  gessl_add_fuzz_target(${name} SOURCES ${GESSL_TP_SRC_${name}} ${GESSL_ROOT}/runtime/errors.c
    INCLUDES ${GESSL_ROOT}/include LIBS cjson m)
endforeach()
