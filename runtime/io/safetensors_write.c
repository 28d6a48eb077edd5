/* Safetensors writer: the header the reference serializer produces (`__metadata__` first, then
 * one entry per tensor; length padded with spaces to a multiple of 8 so the data that follows is
 * aligned), then the tensors back to back, all through a durable write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gessl/io.h"

typedef struct st_buf {
  char *p;
  size_t n, cap;
  int oom;
} st_buf;

static void buf_put(st_buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

static void buf_str(st_buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* Whether s is valid UTF-8 (the header must be). */
static int utf8_ok(const unsigned char *s) {
  while (*s) {
    unsigned c = *s;
    int len = c < 0x80                 ? 1
              : c >= 0xC2 && c <= 0xDF ? 2
              : c >= 0xE0 && c <= 0xEF ? 3
              : c >= 0xF0 && c <= 0xF4 ? 4
                                       : 0;
    if (!len) return 0;
    unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    for (int k = 1; k < len; k++) {
      unsigned b = s[k];
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    }
    s += len;
  }
  return 1;
}

/* A JSON string literal. */
static void buf_json(st_buf *b, const char *s) {
  buf_put(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      buf_put(b, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      buf_put(b, esc, 6);
    } else {
      buf_put(b, (const char *)&c, 1);
    }
  }
  buf_put(b, "\"", 1);
}

gs_status gs_st_write(const char *path, const gs_st_tensor *t, int n, const gs_st_kv *meta,
                      int n_meta) {
  if (!path) return gs_fail(GS_ERR_INVALID, "safetensors: NULL path");
  if (n < 0 || (n > 0 && !t) || n_meta < 0 || (n_meta > 0 && !meta))
    return gs_fail(GS_ERR_INVALID, "%s: bad tensor or metadata list", path);
  st_buf b = {0};
  gs_status s = GS_OK;
  buf_str(&b, "{");
  if (n_meta > 0) {
    buf_str(&b, "\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
      if (!meta[i].key || !meta[i].value || !utf8_ok((const unsigned char *)meta[i].key) ||
          !utf8_ok((const unsigned char *)meta[i].value)) {
        s = gs_fail(GS_ERR_INVALID, "%s: metadata entry %d is NULL or not UTF-8", path, i);
        goto done;
      }
      for (int j = 0; j < i; j++)
        if (strcmp(meta[i].key, meta[j].key) == 0) {
          s = gs_fail(GS_ERR_INVALID, "%s: metadata key \"%s\" given twice", path, meta[i].key);
          goto done;
        }
      if (i) buf_str(&b, ",");
      buf_json(&b, meta[i].key);
      buf_str(&b, ":");
      buf_json(&b, meta[i].value);
    }
    buf_str(&b, "}");
  }
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    const gs_st_tensor *e = &t[i];
    if (!e->name || !*e->name || !utf8_ok((const unsigned char *)e->name) ||
        strcmp(e->name, "__metadata__") == 0) {
      s = gs_fail(GS_ERR_INVALID, "%s: tensor %d has an empty, reserved or non-UTF-8 name", path,
                  i);
      goto done;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(e->name, t[j].name) == 0) {
        s = gs_fail(GS_ERR_INVALID, "%s: tensor \"%s\" given twice", path, e->name);
        goto done;
      }
    if (e->dtype != GS_F32 && e->dtype != GS_I32) {
      s = gs_fail(GS_ERR_INVALID, "%s: tensor \"%s\": unknown dtype %d", path, e->name,
                  (int)e->dtype);
      goto done;
    }
    if (e->shape.rank < 0 || e->shape.rank > GS_MAX_RANK) {
      s = gs_fail(GS_ERR_INVALID, "%s: tensor \"%s\": rank %d", path, e->name, e->shape.rank);
      goto done;
    }
    uint64_t count = 1;
    for (int k = 0; k < e->shape.rank; k++) {
      int64_t d = e->shape.dim[k];
      if (d < 0 || (d > 0 && count > (UINT64_MAX / 8) / (uint64_t)d)) {
        char sh[160];
        s = gs_fail(GS_ERR_INVALID, "%s: tensor \"%s\": bad shape %s", path, e->name,
                    gs_shape_str(&e->shape, sh, sizeof sh));
        goto done;
      }
      count *= (uint64_t)d;
    }
    if (count > 0 && !e->data) {
      s = gs_fail(GS_ERR_INVALID, "%s: tensor \"%s\": NULL data", path, e->name);
      goto done;
    }
    char num[64];
    if (i || n_meta > 0) buf_str(&b, ",");
    buf_json(&b, e->name);
    buf_str(&b, e->dtype == GS_F32 ? ":{\"dtype\":\"F32\",\"shape\":["
                                   : ":{\"dtype\":\"I32\",\"shape\":[");
    for (int k = 0; k < e->shape.rank; k++) {
      snprintf(num, sizeof num, k ? ",%lld" : "%lld", (long long)e->shape.dim[k]);
      buf_str(&b, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
             (unsigned long long)(off + count * 4));
    buf_str(&b, num);
    off += count * 4;
  }
  buf_str(&b, "}");
  while (!b.oom && b.n % 8) buf_str(&b, " ");
  if (b.oom) {
    s = gs_fail(GS_ERR_NOMEM, "%s: out of memory building the header", path);
    goto done;
  }
  unsigned char len8[8];
  for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)b.n >> (8 * k));
  gs_durable *d = gs_durable_open(path);
  if (!d) {
    s = GS_ERR_IO;
    goto done;
  }
  s = gs_durable_write(d, len8, 8);
  if (s == GS_OK) s = gs_durable_write(d, b.p, b.n);
  for (int i = 0; s == GS_OK && i < n; i++)
    s = gs_durable_write(d, t[i].data, (size_t)(gs_shape_numel(&t[i].shape) * 4));
  s = s == GS_OK ? gs_durable_commit(d) : (gs_durable_abort(d), s);
done:
  free(b.p);
  return s;
}
