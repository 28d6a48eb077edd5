/* Safetensors reader and writer.
 *
 * The reader follows the checks of the reference implementation (huggingface/safetensors,
 * SafeTensors::deserialize and validate) so that whatever it accepts, PyTorch users can read,
 * and whatever it refuses is refused before a single tensor byte is interpreted. The header is
 * untrusted input: every number is range-checked before it is used in arithmetic. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gessl/io.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this host would need byte swapping"
#endif

/* The reference's MAX_HEADER_SIZE. */
#define ST_MAX_HEADER 100000000ull
/* Largest integer a JSON number (a double in cJSON) holds exactly. */
#define ST_MAX_EXACT 9007199254740992.0

typedef struct st_dtype_info {
  const char *name;
  int bits;
  int code; /* gs_dtype, or -1 */
} st_dtype_info;

/* The reference's Dtype enum, with element sizes in bits (sub-byte floats included). */
static const st_dtype_info st_dtypes[] = {
    {"BOOL", 8, -1},    {"F4", 4, -1},       {"F6_E2M3", 6, -1}, {"F6_E3M2", 6, -1},
    {"U8", 8, -1},      {"I8", 8, -1},       {"F8_E5M2", 8, -1}, {"F8_E4M3", 8, -1},
    {"F8_E8M0", 8, -1}, {"I16", 16, -1},     {"U16", 16, -1},    {"F16", 16, -1},
    {"BF16", 16, -1},   {"I32", 32, GS_I32}, {"U32", 32, -1},    {"F32", 32, GS_F32},
    {"C64", 64, -1},    {"F64", 64, -1},     {"I64", 64, -1},    {"U64", 64, -1},
};

static const st_dtype_info *st_dtype_find(const char *s) {
  for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
    if (strcmp(st_dtypes[i].name, s) == 0) return &st_dtypes[i];
  return NULL;
}

typedef struct st_entry {
  char *name;
  const st_dtype_info *dt;
  gs_shape shape;
  uint64_t begin, end; /* relative to the start of the data section */
} st_entry;

struct gs_safetensors {
  char *file;
  int n;
  st_entry *t;
  int n_meta;
  gs_st_kv *meta; /* owned strings */
  unsigned char *data;
  size_t data_len;
};

void gs_st_close(gs_safetensors *st) {
  if (!st) return;
  for (int i = 0; i < st->n; i++) free(st->t[i].name);
  for (int i = 0; i < st->n_meta; i++) {
    free((char *)st->meta[i].key);
    free((char *)st->meta[i].value);
  }
  free(st->t);
  free(st->meta);
  free(st->data);
  free(st->file);
  free(st);
}

/* ---- Reading ---- */

/* Offset of the first byte that is not strict UTF-8 (no overlongs, surrogates or code points
 * above U+10FFFF), or of a control character JSON never allows (anything below 0x20 except
 * tab, newline and carriage return); -1 if there is none. *what says which. */
static long long st_bad_text(const unsigned char *s, uint64_t n, const char **what) {
  uint64_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        *what = "a control character";
        return (long long)i;
      }
      i++;
      continue;
    }
    int len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      *what = "invalid UTF-8";
      return (long long)i;
    }
    if (n - i < (uint64_t)len) {
      *what = "invalid UTF-8";
      return (long long)i;
    }
    for (int k = 1; k < len; k++) {
      unsigned b = s[i + (uint64_t)k];
      unsigned blo = k == 1 ? lo : 0x80, bhi = k == 1 ? hi : 0xBF;
      if (b < blo || b > bhi) {
        *what = "invalid UTF-8";
        return (long long)i;
      }
    }
    i += (uint64_t)len;
  }
  return -1;
}

/* A JSON number that is an exact non-negative integer. */
static int st_get_uint(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return 0;
  double v = j->valuedouble;
  if (!(v >= 0 && v <= ST_MAX_EXACT) || v != (double)(uint64_t)v) return 0;
  *out = (uint64_t)v;
  return 1;
}

/* Fails the open: NULL with "FILE: message". */
#define ST_FAIL(status, ...)                                                                       \
  do {                                                                                             \
    char msg_[768];                                                                                \
    snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                      \
    gs_fail(status, "%s: %s", fname, msg_);                                                        \
    goto fail;                                                                                     \
  } while (0)

/* Validates the fixed 8-byte prefix against the file size; *hlen = header length. */
static gs_status st_check_prefix(const char *fname, const unsigned char *p8, uint64_t file_size,
                                 uint64_t *hlen) {
  if (file_size < 8)
    return gs_fail(GS_ERR_FORMAT,
                   "%s: truncated: %llu bytes, shorter than the 8-byte header length", fname,
                   (unsigned long long)file_size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | p8[i];
  if (n > ST_MAX_HEADER)
    return gs_fail(GS_ERR_FORMAT, "%s: header length %llu exceeds the limit of %llu bytes", fname,
                   (unsigned long long)n, ST_MAX_HEADER);
  if (n > file_size - 8)
    return gs_fail(GS_ERR_FORMAT,
                   "%s: header length %llu runs past the end of the file (%llu bytes)", fname,
                   (unsigned long long)n, (unsigned long long)file_size);
  *hlen = n;
  return GS_OK;
}

static int st_cmp_offsets(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* Parses and validates the header (hdr, hlen bytes) of a file of file_size bytes. Returns the
 * object with every field but the data filled in. */
static gs_safetensors *st_parse_header(const char *fname, const char *hdr, uint64_t hlen,
                                       uint64_t file_size) {
  gs_safetensors *st = NULL;
  cJSON *root = NULL;
  const char *what = "";
  long long bad = st_bad_text((const unsigned char *)hdr, hlen, &what);
  st = calloc(1, sizeof *st);
  if (!st || !(st->file = strdup(fname))) {
    gs_fail(GS_ERR_NOMEM, "%s: out of memory", fname);
    goto fail;
  }
  if (bad >= 0)
    ST_FAIL(GS_ERR_FORMAT, "header is not valid UTF-8 JSON: %s at byte %lld", what, bad);
  const char *end = NULL;
  root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
  if (!root) {
    const char *at = cJSON_GetErrorPtr();
    long long off = at && at >= hdr && at <= hdr + hlen ? (long long)(at - hdr) : -1;
    ST_FAIL(GS_ERR_FORMAT, "header is not valid JSON (error near byte %lld)", off);
  }
  for (const char *p = end; p && p < hdr + hlen; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
      ST_FAIL(GS_ERR_FORMAT, "header is not valid JSON: text after the object at byte %lld",
              (long long)(p - hdr));
  if (!cJSON_IsObject(root)) ST_FAIL(GS_ERR_FORMAT, "header is not valid JSON: not an object");

  int members = cJSON_GetArraySize(root);
  st->t = calloc((size_t)members + 1, sizeof *st->t);
  if (!st->t) ST_FAIL(GS_ERR_NOMEM, "out of memory");
  int seen_meta = 0;
  for (const cJSON *m = root->child; m; m = m->next) {
    const char *key = m->string ? m->string : "";
    if (strcmp(key, "__metadata__") == 0) {
      if (seen_meta++) ST_FAIL(GS_ERR_FORMAT, "header has __metadata__ twice");
      if (cJSON_IsNull(m)) continue; /* the reference reads it as an optional map */
      if (!cJSON_IsObject(m))
        ST_FAIL(GS_ERR_FORMAT, "__metadata__ is not a map of strings to strings");
      int nm = cJSON_GetArraySize(m);
      st->meta = calloc((size_t)nm + 1, sizeof *st->meta);
      if (!st->meta) ST_FAIL(GS_ERR_NOMEM, "out of memory");
      for (const cJSON *kv = m->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
          ST_FAIL(GS_ERR_FORMAT,
                  "__metadata__ is not a map of strings to strings: value of \"%.64s\" is not a "
                  "string",
                  kv->string ? kv->string : "");
        gs_st_kv *e = &st->meta[st->n_meta];
        e->key = strdup(kv->string ? kv->string : "");
        e->value = strdup(kv->valuestring);
        if (!e->key || !e->value) {
          free((char *)e->key), free((char *)e->value);
          ST_FAIL(GS_ERR_NOMEM, "out of memory");
        }
        st->n_meta++;
      }
      continue;
    }
    for (int i = 0; i < st->n; i++)
      if (strcmp(st->t[i].name, key) == 0)
        ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\" appears twice in the header", key);
    if (!cJSON_IsObject(m)) ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": entry is not an object", key);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(m, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(m, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(m, "data_offsets");
    if (!cJSON_IsString(jd)) ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": no dtype string", key);
    const st_dtype_info *dt = st_dtype_find(jd->valuestring);
    if (!dt)
      ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": unknown dtype \"%.32s\"", key, jd->valuestring);
    if (!cJSON_IsArray(js)) ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": no shape array", key);
    int rank = cJSON_GetArraySize(js);
    if (rank > GS_MAX_RANK)
      ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": rank %d exceeds the supported %d", key, rank,
              GS_MAX_RANK);
    st_entry *e = &st->t[st->n];
    e->dt = dt;
    e->shape.rank = rank;
    /* Element count and byte size in unsigned 64-bit with explicit overflow checks, as the
     * reference does with checked_mul: a huge shape must not wrap around to a small size. */
    uint64_t count = 1;
    int k = 0;
    for (const cJSON *d = js->child; d; d = d->next, k++) {
      uint64_t v;
      if (!st_get_uint(d, &v))
        ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": shape entry %d is not a non-negative integer",
                key, k);
      e->shape.dim[k] = (int64_t)v;
      if (v != 0 && count > UINT64_MAX / v)
        ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": element count overflows", key);
      count *= v;
    }
    if (count > UINT64_MAX / (uint64_t)dt->bits)
      ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": byte size overflows", key);
    uint64_t bits = count * (uint64_t)dt->bits;
    if (bits % 8)
      ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": %llu elements of %s do not fill whole bytes", key,
              (unsigned long long)count, dt->name);
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !st_get_uint(jo->child, &e->begin) ||
        !st_get_uint(jo->child->next, &e->end))
      ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": data_offsets is not two non-negative integers",
              key);
    if (e->end < e->begin)
      ST_FAIL(GS_ERR_FORMAT, "tensor \"%.64s\": data_offsets [%llu, %llu] end before they begin",
              key, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (bits / 8 != e->end - e->begin) {
      char sh[160];
      ST_FAIL(GS_ERR_FORMAT,
              "tensor \"%.64s\": shape %s of %s needs %llu bytes but data_offsets [%llu, %llu] "
              "span %llu",
              key, gs_shape_str(&e->shape, sh, sizeof sh), dt->name, (unsigned long long)(bits / 8),
              (unsigned long long)e->begin, (unsigned long long)e->end,
              (unsigned long long)(e->end - e->begin));
    }
    if (!(e->name = strdup(key))) ST_FAIL(GS_ERR_NOMEM, "out of memory");
    st->n++;
  }
  cJSON_Delete(root);
  root = NULL;

  /* Tensors in offset order must tile the data section exactly: no gaps, no overlaps. */
  qsort(st->t, (size_t)st->n, sizeof *st->t, st_cmp_offsets);
  uint64_t at = 0;
  for (int i = 0; i < st->n; i++) {
    const st_entry *e = &st->t[i];
    if (e->begin > at)
      ST_FAIL(GS_ERR_FORMAT, "gap in the data: tensor \"%.64s\" begins at %llu, not %llu", e->name,
              (unsigned long long)e->begin, (unsigned long long)at);
    if (e->begin < at)
      ST_FAIL(GS_ERR_FORMAT,
              "overlap in the data: tensor \"%.64s\" begins at %llu, before the previous one "
              "ends at %llu",
              e->name, (unsigned long long)e->begin, (unsigned long long)at);
    at = e->end;
  }
  uint64_t need = 8 + hlen; /* hlen <= file_size - 8, so no overflow */
  if (at > file_size - need)
    ST_FAIL(GS_ERR_FORMAT,
            "truncated: the tensors need %llu bytes after the header, the file has %llu",
            (unsigned long long)at, (unsigned long long)(file_size - need));
  if (at < file_size - need)
    ST_FAIL(GS_ERR_FORMAT,
            "%llu trailing bytes after the last tensor (data ends at %llu, file has %llu)",
            (unsigned long long)(file_size - need - at), (unsigned long long)(need + at),
            (unsigned long long)file_size);
  st->data_len = (size_t)at;
  return st;
fail:
  cJSON_Delete(root);
  gs_st_close(st);
  return NULL;
}
#undef ST_FAIL

gs_safetensors *gs_st_parse_bytes(const void *buf, size_t len, const char *name) {
  const char *fname = name ? name : "<memory>";
  const unsigned char *b = buf;
  uint64_t hlen = 0;
  if (!buf && len) {
    gs_fail(GS_ERR_INVALID, "%s: NULL buffer", fname);
    return NULL;
  }
  if (st_check_prefix(fname, b, len, &hlen) != GS_OK) return NULL;
  gs_safetensors *st = st_parse_header(fname, (const char *)b + 8, hlen, len);
  if (!st) return NULL;
  st->data = malloc(st->data_len ? st->data_len : 1);
  if (!st->data) {
    gs_fail(GS_ERR_NOMEM, "%s: out of memory for %zu bytes of tensor data", fname, st->data_len);
    gs_st_close(st);
    return NULL;
  }
  if (st->data_len) memcpy(st->data, b + 8 + hlen, st->data_len);
  return st;
}

/* Reads exactly n bytes; a short read is a file that changed under us. */
static gs_status st_read_all(int fd, const char *path, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return gs_fail(GS_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    if (r == 0) return gs_fail(GS_ERR_FORMAT, "%s: truncated while reading", path);
    p += r;
    n -= (size_t)r;
  }
  return GS_OK;
}

gs_safetensors *gs_st_open(const char *path) {
  if (!path) {
    gs_fail(GS_ERR_INVALID, "safetensors: NULL path");
    return NULL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    gs_fail(GS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  gs_safetensors *st = NULL;
  char *hdr = NULL;
  struct stat sb;
  unsigned char p8[8] = {0};
  uint64_t hlen = 0;
  if (fstat(fd, &sb) != 0) {
    gs_fail(GS_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(sb.st_mode)) {
    gs_fail(GS_ERR_IO, "%s: not a regular file", path);
    goto done;
  }
  uint64_t size = (uint64_t)sb.st_size;
  if (size >= 8 && st_read_all(fd, path, p8, 8) != GS_OK) goto done;
  if (st_check_prefix(path, p8, size, &hlen) != GS_OK) goto done;
  hdr = malloc(hlen ? hlen : 1);
  if (!hdr) {
    gs_fail(GS_ERR_NOMEM, "%s: out of memory for a %llu-byte header", path,
            (unsigned long long)hlen);
    goto done;
  }
  if (st_read_all(fd, path, hdr, (size_t)hlen) != GS_OK) goto done;
  st = st_parse_header(path, hdr, hlen, size);
  if (!st) goto done;
  if ((uint64_t)(size_t)st->data_len != st->data_len || !(st->data = malloc(st->data_len + 1))) {
    gs_fail(GS_ERR_NOMEM, "%s: out of memory for %zu bytes of tensor data", path, st->data_len);
    gs_st_close(st);
    st = NULL;
    goto done;
  }
  if (st_read_all(fd, path, st->data, st->data_len) != GS_OK) {
    gs_st_close(st);
    st = NULL;
  }
done:
  free(hdr);
  close(fd);
  return st;
}

int gs_st_count(const gs_safetensors *st) { return st ? st->n : 0; }

int gs_st_find(const gs_safetensors *st, const char *name) {
  for (int i = 0; st && name && i < st->n; i++)
    if (strcmp(st->t[i].name, name) == 0) return i;
  return -1;
}

static const st_entry *st_at(const gs_safetensors *st, int i) {
  return st && i >= 0 && i < st->n ? &st->t[i] : NULL;
}

const char *gs_st_name(const gs_safetensors *st, int i) {
  const st_entry *e = st_at(st, i);
  return e ? e->name : NULL;
}

const char *gs_st_dtype_str(const gs_safetensors *st, int i) {
  const st_entry *e = st_at(st, i);
  return e ? e->dt->name : NULL;
}

gs_status gs_st_dtype(const gs_safetensors *st, int i, gs_dtype *dt) {
  const st_entry *e = st_at(st, i);
  if (!e) return gs_fail(GS_ERR_INVALID, "safetensors: no tensor %d", i);
  if (e->dt->code < 0)
    return gs_fail(GS_ERR_UNSUPPORTED, "%s: tensor \"%s\" has dtype %s; only F32 and I32 are used",
                   st->file, e->name, e->dt->name);
  *dt = (gs_dtype)e->dt->code;
  return GS_OK;
}

gs_shape gs_st_shape(const gs_safetensors *st, int i) {
  const st_entry *e = st_at(st, i);
  gs_shape none = {0, {0}};
  return e ? e->shape : none;
}

const void *gs_st_data(const gs_safetensors *st, int i, size_t *nbytes) {
  const st_entry *e = st_at(st, i);
  if (nbytes) *nbytes = e ? (size_t)(e->end - e->begin) : 0;
  return e ? st->data + e->begin : NULL;
}

gs_status gs_st_read(const gs_safetensors *st, int i, gs_dtype dtype, void *dst, int64_t numel) {
  const st_entry *e = st_at(st, i);
  if (!e) return gs_fail(GS_ERR_INVALID, "safetensors: no tensor %d", i);
  const char *want = dtype == GS_I32 ? "I32" : "F32";
  if (strcmp(e->dt->name, want) != 0)
    return gs_fail(GS_ERR_FORMAT, "%s: tensor \"%s\" has dtype %s, expected %s", st->file, e->name,
                   e->dt->name, want);
  uint64_t have = (e->end - e->begin) / 4;
  if (numel < 0 || have != (uint64_t)numel) {
    char sh[160];
    return gs_fail(GS_ERR_SHAPE, "%s: tensor \"%s\" has shape %s (%llu elements), expected %lld",
                   st->file, e->name, gs_shape_str(&e->shape, sh, sizeof sh),
                   (unsigned long long)have, (long long)numel);
  }
  if (have) memcpy(dst, st->data + e->begin, (size_t)(have * 4));
  return GS_OK;
}

int gs_st_meta_count(const gs_safetensors *st) { return st ? st->n_meta : 0; }

gs_st_kv gs_st_meta_at(const gs_safetensors *st, int i) {
  gs_st_kv none = {NULL, NULL};
  return st && i >= 0 && i < st->n_meta ? st->meta[i] : none;
}

const char *gs_st_meta(const gs_safetensors *st, const char *key) {
  for (int i = 0; st && key && i < st->n_meta; i++)
    if (strcmp(st->meta[i].key, key) == 0) return st->meta[i].value;
  return NULL;
}
