/* Shared by the training-loop tests: a tiny, fast, deterministic configuration (a narrow ConvNet
 * on 16x16 synthetic images, 8 steps per epoch) and readers for the run directory's files. */
#ifndef GESSL_TEST_TRAIN_UTIL_H
#define GESSL_TEST_TRAIN_UTIL_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gessl/train.h"

static const char *const tiny_names[] = {"proj_hidden_dim", "proj_output_dim"};
static const char *const tiny_values[] = {"32", "16"};

static inline void tiny_config(gs_train_config *cfg) {
  gs_train_config_init(cfg);
  cfg->data = "synthetic:16x16x3";
  cfg->data_limit = 128;
  cfg->batch = 16;
  cfg->epochs = 2;
  cfg->width = 0.25f;
  cfg->seed = 5;
  cfg->threads = 2;
  cfg->data_threads = 1;
  cfg->log_every = 1;
  cfg->set_names = tiny_names;
  cfg->set_values = tiny_values;
  cfg->n_set = 2;
}

/* The whole file, NUL-terminated (NULL when unreadable); *len its size. */
static inline char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) buf[n] = 0;
  if (len) *len = (size_t)n;
  return buf;
}

static inline int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && st.st_size > 0;
}

/* Losses of the "step" lines of DIR/log.jsonl by step (loss[step - 1]); returns the count of
 * lines, or -1 when a line is not a JSON object. */
static inline int log_losses(const char *dir, double *loss, int max, int *epoch_lines) {
  char path[1024];
  snprintf(path, sizeof path, "%s/log.jsonl", dir);
  char *text = slurp(path, NULL);
  if (!text) return -1;
  int n = 0;
  if (epoch_lines) *epoch_lines = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    cJSON *o = cJSON_Parse(line);
    if (!cJSON_IsObject(o)) {
      cJSON_Delete(o);
      free(text);
      return -1;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "loss");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "step") && cJSON_IsNumber(step) &&
        cJSON_IsNumber(l) && step->valueint >= 1 && step->valueint <= max) {
      loss[step->valueint - 1] = l->valuedouble;
      n++;
    }
    if (epoch_lines && cJSON_IsString(type) && !strcmp(type->valuestring, "epoch"))
      (*epoch_lines)++;
    cJSON_Delete(o);
  }
  free(text);
  return n;
}

#endif
