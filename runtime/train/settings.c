/* Settings files: a JSON object whose keys are `gessl train` flag names and hyperparameter names,
 * turned into the text each flag would take so the command line and the file go through one
 * parser. A run's config.json works too (its "settings" member). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/io.h"
#include "gessl/train.h"

void gs_train_settings_free(gs_train_settings *s) {
  if (!s) return;
  for (int k = 0; k < s->n; k++) {
    free(s->keys[k]);
    free(s->values[k]);
  }
  free(s->keys);
  free(s->values);
  memset(s, 0, sizeof *s);
}

/* The shortest decimal that reads back as the same double (0.3, not 0.29999999999999999). */
static void fmt_number(char *buf, size_t len, double v) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, len, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

gs_status gs_train_settings_read(const char *path, gs_train_settings *out) {
  if (!path || !out) return gs_fail(GS_ERR_INVALID, "gs_train_settings_read: no path or output");
  memset(out, 0, sizeof *out);
  uint8_t *raw = NULL;
  size_t text_len = 0;
  gs_status st = gs_read_file(path, 16u << 20, &raw, &text_len);
  if (st != GS_OK) return st;
  char *text = (char *)raw;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
  if (!root) {
    size_t at = end && end >= text ? (size_t)(end - text) : 0;
    int line = 1;
    for (size_t k = 0; k < at; k++) line += text[k] == '\n';
    free(text);
    return gs_fail(GS_ERR_FORMAT, "%s: not valid JSON (near line %d)", path, line);
  }
  free(text);
  const cJSON *obj = root;
  const cJSON *inner = cJSON_GetObjectItemCaseSensitive(root, "settings");
  if (cJSON_IsObject(inner)) obj = inner;
  if (!cJSON_IsObject(obj)) {
    cJSON_Delete(root);
    return gs_fail(GS_ERR_FORMAT, "%s: expected a JSON object of settings", path);
  }
  int n = cJSON_GetArraySize(obj);
  out->keys = calloc((size_t)(n > 0 ? n : 1), sizeof *out->keys);
  out->values = calloc((size_t)(n > 0 ? n : 1), sizeof *out->values);
  if (!out->keys || !out->values) st = gs_fail(GS_ERR_NOMEM, "%s: out of memory", path);
  for (const cJSON *it = obj->child; it && st == GS_OK; it = it->next) {
    char num[64];
    const char *v = NULL;
    if (!it->string || !*it->string)
      st = gs_fail(GS_ERR_FORMAT, "%s: a setting with an empty name", path);
    else if (cJSON_IsString(it))
      v = it->valuestring;
    else if (cJSON_IsBool(it))
      v = cJSON_IsTrue(it) ? "true" : "false";
    else if (cJSON_IsNumber(it) && isfinite(it->valuedouble)) {
      fmt_number(num, sizeof num, it->valuedouble);
      v = num;
    } else
      st = gs_fail(GS_ERR_FORMAT, "%s: setting '%s': expected a string, a number or true/false",
                   path, it->string);
    for (int k = 0; st == GS_OK && k < out->n; k++)
      if (!strcmp(out->keys[k], it->string))
        st = gs_fail(GS_ERR_FORMAT, "%s: setting '%s' appears twice", path, it->string);
    if (st != GS_OK) break;
    out->keys[out->n] = strdup(it->string);
    out->values[out->n] = strdup(v);
    if (!out->keys[out->n] || !out->values[out->n]) {
      free(out->keys[out->n]);
      free(out->values[out->n]);
      st = gs_fail(GS_ERR_NOMEM, "%s: out of memory", path);
      break;
    }
    out->n++;
  }
  cJSON_Delete(root);
  if (st != GS_OK) gs_train_settings_free(out);
  return st;
}
