/* Safetensors: round trip through the writer and reader, and every malformed header the
 * reference implementation refuses, refused here with a message that says what is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gessl/io.h"

/* A file image: 8-byte length, header text, then `data` zero bytes. hlen_override >= 0 replaces
 * the length field. */
static unsigned char *image(const char *hdr, size_t data, long long hlen_override, size_t *len) {
  size_t h = strlen(hdr);
  *len = 8 + h + data;
  unsigned char *b = calloc(1, *len + 1);
  unsigned long long v = hlen_override >= 0 ? (unsigned long long)hlen_override : h;
  for (int k = 0; k < 8; k++) b[k] = (unsigned char)(v >> (8 * k));
  memcpy(b + 8, hdr, h);
  return b;
}

/* Expects the bytes to be refused with a message containing `want`. */
static void refused(const char *what, const char *hdr, size_t data, long long hlen, size_t cut,
                    const char *want) {
  size_t len;
  unsigned char *b = image(hdr, data, hlen, &len);
  if (cut) len = cut < len ? cut : len;
  gs_safetensors *st = gs_st_parse_bytes(b, len, "bad.safetensors");
  CHECKF(st == NULL, "%s: accepted", what);
  CHECKF(strstr(gs_errmsg(), "bad.safetensors:") && strstr(gs_errmsg(), want),
         "%s: message \"%s\" lacks \"%s\"", what, gs_errmsg(), want);
  gs_st_close(st);
  free(b);
}

static void accepted(const char *what, const char *hdr, size_t data) {
  size_t len;
  unsigned char *b = image(hdr, data, -1, &len);
  gs_safetensors *st = gs_st_parse_bytes(b, len, "ok.safetensors");
  CHECKF(st != NULL, "%s: refused: %s", what, gs_errmsg());
  gs_st_close(st);
  free(b);
}

static void test_round_trip(const char *dir) {
  char path[160];
  snprintf(path, sizeof path, "%s/rt.safetensors", dir);
  float a[6] = {1, -2, 3.5f, 0, 1e-30f, -7};
  int32_t b[4] = {1, -1, 2147483647, -2147483647 - 1};
  float c = 42;
  gs_st_tensor t[] = {
      {"layer.weight", GS_F32, GS_SHAPE(2, 3), a},
      {"step", GS_I32, GS_SHAPE(4), b},
      {"scalar", GS_F32, {0, {0}}, &c},
      {"empty", GS_F32, GS_SHAPE(0, 3), NULL},
      {"odd \"name\"\n\xc3\xa9", GS_F32, GS_SHAPE(1), &c},
  };
  gs_st_kv meta[] = {{"format", "pt"}, {"note", "quote \" backslash \\ tab \t \xe2\x82\xac"}};
  CHECKF(gs_st_write(path, t, 5, meta, 2) == GS_OK, "%s", gs_errmsg());

  FILE *f = fopen(path, "rb");
  unsigned char head[8];
  CHECK(f && fread(head, 1, 8, f) == 8);
  unsigned long long hlen = 0;
  for (int k = 7; k >= 0; k--) hlen = hlen << 8 | head[k];
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fclose(f);
  CHECKF(hlen % 8 == 0, "header length %llu not padded to 8", hlen);
  CHECK((unsigned long long)size == 8 + hlen + 24 + 16 + 4 + 0 + 4);

  gs_safetensors *st = gs_st_open(path);
  CHECKF(st != NULL, "%s", gs_errmsg());
  if (!st) return;
  CHECK(gs_st_count(st) == 5);
  for (int i = 0; i < 5; i++) CHECK(strcmp(gs_st_name(st, i), t[i].name) == 0);
  float a2[6];
  int i0 = gs_st_find(st, "layer.weight");
  gs_shape s0 = gs_st_shape(st, i0);
  CHECK(s0.rank == 2 && s0.dim[0] == 2 && s0.dim[1] == 3);
  gs_dtype dt;
  CHECK(gs_st_dtype(st, i0, &dt) == GS_OK && dt == GS_F32);
  CHECK(gs_st_read(st, i0, GS_F32, a2, 6) == GS_OK && memcmp(a, a2, sizeof a) == 0);
  int32_t b2[4];
  int i1 = gs_st_find(st, "step");
  CHECK(strcmp(gs_st_dtype_str(st, i1), "I32") == 0);
  CHECK(gs_st_read(st, i1, GS_I32, b2, 4) == GS_OK && memcmp(b, b2, sizeof b) == 0);
  CHECK(gs_st_read(st, i1, GS_F32, b2, 4) == GS_ERR_FORMAT);
  CHECKF(strstr(gs_errmsg(), "\"step\"") && strstr(gs_errmsg(), "I32"), "%s", gs_errmsg());
  CHECK(gs_st_read(st, i0, GS_F32, a2, 5) == GS_ERR_SHAPE);
  CHECKF(strstr(gs_errmsg(), "[2, 3]") && strstr(gs_errmsg(), path), "%s", gs_errmsg());
  int i2 = gs_st_find(st, "scalar");
  CHECK(gs_st_shape(st, i2).rank == 0);
  float c2 = 0;
  CHECK(gs_st_read(st, i2, GS_F32, &c2, 1) == GS_OK && c2 == 42);
  size_t nb = 99;
  int i3 = gs_st_find(st, "empty");
  CHECK(gs_st_data(st, i3, &nb) != NULL && nb == 0);
  CHECK(gs_st_shape(st, i3).dim[0] == 0 && gs_st_shape(st, i3).dim[1] == 3);
  CHECK(gs_st_find(st, "odd \"name\"\n\xc3\xa9") == 4);
  CHECK(gs_st_find(st, "nope") == -1);
  CHECK(gs_st_meta_count(st) == 2);
  CHECK(strcmp(gs_st_meta(st, "format"), "pt") == 0);
  CHECK(strcmp(gs_st_meta(st, "note"), meta[1].value) == 0);
  CHECK(gs_st_meta(st, "absent") == NULL);
  gs_st_close(st);

  /* Writer refusals leave the file as it was. */
  gs_st_tensor dup[] = {{"x", GS_F32, GS_SHAPE(1), &c}, {"x", GS_F32, GS_SHAPE(1), &c}};
  CHECK(gs_st_write(path, dup, 2, NULL, 0) == GS_ERR_INVALID);
  CHECKF(strstr(gs_errmsg(), "\"x\" given twice"), "%s", gs_errmsg());
  gs_st_tensor nodata[] = {{"x", GS_F32, GS_SHAPE(2), NULL}};
  CHECK(gs_st_write(path, nodata, 1, NULL, 0) == GS_ERR_INVALID);
  gs_st_tensor neg[] = {{"x", GS_F32, GS_SHAPE(-2), &c}};
  CHECK(gs_st_write(path, neg, 1, NULL, 0) == GS_ERR_INVALID);
  gs_st_tensor reserved[] = {{"__metadata__", GS_F32, GS_SHAPE(1), &c}};
  CHECK(gs_st_write(path, reserved, 1, NULL, 0) == GS_ERR_INVALID);
  st = gs_st_open(path);
  CHECK(st && gs_st_count(st) == 5);
  gs_st_close(st);

  /* A file cut short on disk. */
  CHECK(truncate(path, size - 3) == 0);
  st = gs_st_open(path);
  CHECKF(!st && strstr(gs_errmsg(), path) && strstr(gs_errmsg(), "truncated"), "%s", gs_errmsg());
  CHECK(truncate(path, 5) == 0);
  st = gs_st_open(path);
  CHECKF(!st && strstr(gs_errmsg(), "truncated"), "%s", gs_errmsg());
  unlink(path);
  st = gs_st_open(path);
  CHECKF(!st && strstr(gs_errmsg(), "No such file"), "%s", gs_errmsg());

  /* No tensors at all is a valid file. */
  CHECK(gs_st_write(path, NULL, 0, NULL, 0) == GS_OK);
  st = gs_st_open(path);
  CHECKF(st && gs_st_count(st) == 0 && gs_st_meta_count(st) == 0, "%s", gs_errmsg());
  gs_st_close(st);
  unlink(path);
}

#define T(dtype, shape, b, e)                                                                      \
  "{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" b "," e "]}"

static void test_malformed(void) {
  const char *good = "{\"a\":" T("F32", "[2]", "0", "8") "}";
  accepted("good", good, 8);
  accepted("metadata", "{\"__metadata__\":{\"k\":\"v\"},\"a\":" T("F32", "[2]", "0", "8") "}", 8);
  accepted("other dtypes",
           "{\"a\":" T("BF16", "[3]", "0", "6") ",\"b\":" T("I64", "[1]", "6", "14") "}", 14);
  accepted("leading whitespace", " {\"a\":" T("F32", "[2]", "0", "8") "}", 8);
  accepted("metadata null", "{\"__metadata__\":null}", 0);
  accepted("padding", "{\"a\":" T("F32", "[2]", "0", "8") "}    \n ", 8);
  accepted("listed out of order",
           "{\"b\":" T("F32", "[1]", "4", "8") ",\"a\":" T("F32", "[1]", "0", "4") "}", 8);

  refused("shorter than 8 bytes", good, 8, -1, 5, "truncated");
  refused("data cut short", good, 8, -1, 8 + strlen(good) + 5, "truncated");
  refused("header length over 100 MB", good, 8, 100000001, 0, "exceeds the limit");
  refused("header length 2^64-1", good, 8, 0x7fffffffffffffffLL, 0, "exceeds the limit");
  refused("header beyond the file", good, 8, 1000, 0, "runs past the end");
  refused("invalid JSON", "{\"a\":{\"dtype\":", 0, -1, 0, "not valid JSON");
  refused("not an object", "[1,2]", 0, -1, 0, "not valid JSON");
  refused("text after the object", "{} x", 0, -1, 0, "text after the object");
  refused("invalid UTF-8", "{\"\xff\":" T("F32", "[2]", "0", "8") "}", 8, -1, 0, "UTF-8");
  refused("overlong UTF-8", "{\"\xc0\xaf\":" T("F32", "[2]", "0", "8") "}", 8, -1, 0, "UTF-8");
  refused("surrogate", "{\"\xed\xa0\x80\":" T("F32", "[2]", "0", "8") "}", 8, -1, 0, "UTF-8");
  refused("control character", "{\"a\x01\":" T("F32", "[2]", "0", "8") "}", 8, -1, 0, "control");
  refused("unknown dtype", "{\"a\":" T("F31", "[2]", "0", "8") "}", 8, -1, 0,
          "unknown dtype \"F31\"");
  refused("metadata value not a string", "{\"__metadata__\":{\"k\":1}}", 0, -1, 0,
          "__metadata__ is not a map of strings to strings");
  refused("metadata not a map", "{\"__metadata__\":[\"k\"]}", 0, -1, 0,
          "__metadata__ is not a map of strings to strings");
  refused("metadata nested", "{\"__metadata__\":{\"k\":{\"a\":\"b\"}}}", 0, -1, 0,
          "__metadata__ is not a map");
  refused("count x size != end - begin", "{\"a\":" T("F32", "[2,3]", "0", "20") "}", 20, -1, 0,
          "needs 24 bytes but data_offsets [0, 20] span 20");
  refused("count overflows", "{\"a\":" T("F32", "[4294967296,4294967296,4294967296]", "0", "8") "}",
          8, -1, 0, "overflows");
  refused("size overflows", "{\"a\":" T("F64", "[4294967296,1073741824]", "0", "8") "}", 8, -1, 0,
          "overflows");
  refused("negative dim", "{\"a\":" T("F32", "[-2]", "0", "8") "}", 8, -1, 0,
          "not a non-negative integer");
  refused("fractional dim", "{\"a\":" T("F32", "[2.5]", "0", "8") "}", 8, -1, 0,
          "not a non-negative integer");
  refused("rank too large", "{\"a\":" T("F32", "[1,1,1,1,1,1,1]", "0", "4") "}", 4, -1, 0,
          "rank 7");
  refused("offsets reversed", "{\"a\":" T("F32", "[0]", "8", "0") "}", 8, -1, 0,
          "end before they begin");
  refused("missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, -1, 0,
          "data_offsets is not two");
  refused("gap", "{\"a\":" T("F32", "[1]", "0", "4") ",\"b\":" T("F32", "[1]", "8", "12") "}", 12,
          -1, 0, "gap in the data: tensor \"b\" begins at 8, not 4");
  refused("not from 0", "{\"a\":" T("F32", "[1]", "4", "8") "}", 8, -1, 0, "gap in the data");
  refused("overlap", "{\"a\":" T("F32", "[2]", "0", "8") ",\"b\":" T("F32", "[2]", "4", "12") "}",
          12, -1, 0, "overlap in the data: tensor \"b\" begins at 4");
  refused("trailing bytes", good, 9, -1, 0, "1 trailing bytes");
  refused("duplicate tensor",
          "{\"a\":" T("F32", "[1]", "0", "4") ",\"a\":" T("F32", "[1]", "4", "8") "}", 8, -1, 0,
          "appears twice");
  refused("metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, -1, 0,
          "__metadata__ twice");
  refused("entry not an object", "{\"a\":3}", 0, -1, 0, "not an object");
}

int main(void) {
  char dir[] = "/tmp/gessl-st-XXXXXX";
  if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
  test_round_trip(dir);
  test_malformed();
  rmdir(dir);
  return check_summary();
}
