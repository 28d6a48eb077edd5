/* Validation and display of the declared hyperparameters of method and meta plugins. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gessl/hparams.h"

/* The index of `word` among decl->choices ('|'-separated), or -1. */
static int choice_index(const char *choices, const char *word, size_t wlen) {
  int idx = 0;
  const char *p = choices ? choices : "";
  while (*p) {
    size_t n = strcspn(p, "|");
    if (n == wlen && strncasecmp(p, word, n) == 0) return idx;
    p += n;
    if (*p == '|') p++;
    idx++;
  }
  return -1;
}

static int parse_bool(const char *t, double *out) {
  static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
  for (size_t k = 0; k < sizeof yes / sizeof *yes; k++) {
    if (strcasecmp(t, yes[k]) == 0) return *out = 1, 1;
    if (strcasecmp(t, no[k]) == 0) return *out = 0, 1;
  }
  return 0;
}

gs_status gs_hparam_parse(const gs_hparam_decl *decl, const char *text, double *out) {
  if (!decl || !out) return gs_fail(GS_ERR_INVALID, "hparam: no declaration or result");
  const char *name = decl->name ? decl->name : "?";
  if (!text) text = "";
  while (isspace((unsigned char)*text)) text++;
  size_t len = strlen(text);
  while (len && isspace((unsigned char)text[len - 1])) len--;
  char buf[256];
  if (len >= sizeof buf) return gs_fail(GS_ERR_INVALID, "%s: value too long", name);
  memcpy(buf, text, len);
  buf[len] = 0;
  switch (decl->type) {
  case GS_HP_FLOAT:
  case GS_HP_INT: {
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    int is_int = decl->type == GS_HP_INT;
    if (len == 0 || *end || errno == ERANGE || !isfinite(v) || (is_int && v != floor(v)))
      return gs_fail(GS_ERR_INVALID, "%s: '%s' is not %s (range %g..%g)", name, buf,
                     is_int ? "an integer" : "a number", decl->min, decl->max);
    if (v < decl->min || v > decl->max)
      return gs_fail(GS_ERR_INVALID, "%s: %s is outside the range %g..%g", name, buf, decl->min,
                     decl->max);
    *out = v;
    return GS_OK;
  }
  case GS_HP_BOOL:
    if (parse_bool(buf, out)) return GS_OK;
    return gs_fail(GS_ERR_INVALID, "%s: '%s' is not a boolean (true|false|1|0|yes|no|on|off)", name,
                   buf);
  case GS_HP_CHOICE: {
    int k = choice_index(decl->choices, buf, len);
    if (k < 0 || len == 0)
      return gs_fail(GS_ERR_INVALID, "%s: '%s' is not one of %s", name, buf,
                     decl->choices ? decl->choices : "(none)");
    *out = k;
    return GS_OK;
  }
  }
  return gs_fail(GS_ERR_INVALID, "%s: unknown type %d", name, (int)decl->type);
}

const char *gs_hparam_format(const gs_hparam_decl *decl, double v, char *buf, size_t len) {
  if (!buf || len == 0) return buf;
  buf[0] = 0;
  if (!decl) return buf;
  switch (decl->type) {
  case GS_HP_FLOAT: snprintf(buf, len, "%g", v); break;
  case GS_HP_INT: snprintf(buf, len, "%.0f", v); break;
  case GS_HP_BOOL: snprintf(buf, len, "%s", v != 0 ? "true" : "false"); break;
  case GS_HP_CHOICE: {
    int want = (int)v, idx = 0;
    const char *p = decl->choices ? decl->choices : "";
    while (*p) {
      size_t n = strcspn(p, "|");
      if (idx == want) {
        snprintf(buf, len, "%.*s", (int)n, p);
        return buf;
      }
      p += n;
      if (*p == '|') p++;
      idx++;
    }
    snprintf(buf, len, "%d", want);
    break;
  }
  }
  return buf;
}
