/* Fuzz target for settings files (--config FILE, a run's config.json read back by --resume):
 * gs_train_settings_read on any bytes either refuses them with a message or returns keys that
 * are non-empty and unique with a value each; every pair then goes through the settings table's
 * parser (gs_train_config_set), which must accept it into range or refuse it with a message, and
 * the table's check must hold for whatever it accepted. The bytes reach the reader as a file
 * (a memfd), as a user's file does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../runtime/train/train_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("fuzz-settings", MFD_CLOEXEC);
  if (fd < 0) return 0;
  for (size_t at = 0; at < size;) {
    ssize_t w = write(fd, data + at, size - at);
    if (w <= 0) break;
    at += (size_t)w;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  gs_train_settings s;
  gs_status st = gs_train_settings_read(path, &s);
  close(fd);
  if (st != GS_OK) {
    if (!gs_errmsg()[0]) abort(); /* a refusal always says why */
    return 0;
  }
  /* gs_train_config_init's defaults (it lives with the training loop, not linked here). */
  gs_train_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.backend = "cpu", cfg.data = "synthetic", cfg.model = "convnet", cfg.method = "simclr";
  cfg.meta = "none", cfg.batch = 256, cfg.epochs = 1, cfg.lr = 0.3f, cfg.width = 1.0f;
  cfg.warmup_steps = -1, cfg.weight_decay = -1.0f, cfg.log_every = 10;
  for (int k = 0; k < s.n; k++) {
    if (!s.keys[k] || !s.keys[k][0] || !s.values[k]) abort();
    for (int j = 0; j < k; j++)
      if (!strcmp(s.keys[j], s.keys[k])) abort();
    if (gs_train_config_set(&cfg, s.keys[k], s.values[k]) != GS_OK && !gs_errmsg()[0]) abort();
  }
  /* Whatever the parser accepted is in range (the strings point into s, still alive). */
  if (train_check_settings(&cfg) != GS_OK) abort();
  gs_train_settings_free(&s);
  return 0;
}
