/* scikit-learn's digits (UCI optdigits, test part): a CSV of 8x8 images, one per line, 64 pixel
 * counts 0..16 (set pixels of a 4x4 block of the 32x32 bitmap) then the label 0..9. The counts
 * are scaled to 0..255 so the image store holds what every other data set holds. */
#include <stdlib.h>

#include "data_internal.h"

#define DIGITS_SIDE 8
#define DIGITS_PIXELS (DIGITS_SIDE * DIGITS_SIDE)
#define DIGITS_MAX 16
#define DIGITS_CLASSES 10

/* The number at *p (digits only, at most 9 of them) and the position after it; -1: none. */
static long read_uint(const uint8_t **p, const uint8_t *end) {
  const uint8_t *q = *p;
  long v = 0;
  int nd = 0;
  while (q < end && *q >= '0' && *q <= '9' && nd < 9) v = v * 10 + (*q++ - '0'), nd++;
  if (nd == 0 || (q < end && *q >= '0' && *q <= '9')) return -1;
  *p = q;
  return v;
}

/* Parses one line [p, end) into px (64 bytes, 0..255) and *label. */
static gs_status parse_line(const uint8_t *p, const uint8_t *end, const char *name, int64_t line,
                            uint8_t *px, int32_t *label) {
  int col = 0;
  for (;;) {
    long v = read_uint(&p, end);
    if (v < 0)
      return gs_fail(GS_ERR_FORMAT, "%s: line %lld, column %d: not a number (not a digits CSV?)",
                     name, (long long)line, col + 1);
    if (col < DIGITS_PIXELS) {
      if (v > DIGITS_MAX)
        return gs_fail(GS_ERR_FORMAT, "%s: line %lld, column %d: pixel %ld outside 0..%d", name,
                       (long long)line, col + 1, v, DIGITS_MAX);
      px[col] = (uint8_t)((v * 255 + DIGITS_MAX / 2) / DIGITS_MAX);
    } else if (col == DIGITS_PIXELS) {
      if (v >= DIGITS_CLASSES)
        return gs_fail(GS_ERR_FORMAT, "%s: line %lld: label %ld outside 0..%d", name,
                       (long long)line, v, DIGITS_CLASSES - 1);
      *label = (int32_t)v;
    }
    col++;
    if (p == end) break;
    if (*p != ',')
      return gs_fail(GS_ERR_FORMAT, "%s: line %lld, column %d: unexpected byte 0x%02x", name,
                     (long long)line, col, *p);
    p++;
  }
  if (col != DIGITS_PIXELS + 1)
    return gs_fail(GS_ERR_FORMAT, "%s: line %lld has %d columns, expected %d (64 pixels, label)",
                   name, (long long)line, col, DIGITS_PIXELS + 1);
  return GS_OK;
}

gs_status gs_digits_parse(const uint8_t *buf, size_t len, const char *name, gs_images *im) {
  int64_t lines = 0;
  for (size_t k = 0; k < len; k++) lines += buf[k] == '\n';
  lines += len > 0 && buf[len - 1] != '\n';
  uint8_t *px = malloc((size_t)(lines > 0 ? lines : 1) * DIGITS_PIXELS);
  int32_t *lab = malloc((size_t)(lines > 0 ? lines : 1) * sizeof *lab);
  if (!px || !lab) {
    free(px);
    free(lab);
    return gs_fail(GS_ERR_NOMEM, "%s: cannot allocate %lld images", name, (long long)lines);
  }
  int64_t n = 0, line = 0;
  gs_status s = GS_OK;
  for (size_t at = 0; at < len && !s;) {
    size_t e = at;
    while (e < len && buf[e] != '\n') e++;
    size_t next = e + 1;
    if (e > at && buf[e - 1] == '\r') e--;
    line++;
    if (e > at) {
      s = parse_line(buf + at, buf + e, name, line, px + (size_t)n * DIGITS_PIXELS, lab + n);
      n++;
    }
    at = next;
  }
  if (!s && n == 0) s = gs_fail(GS_ERR_FORMAT, "%s: holds no images", name);
  if (s) {
    free(px);
    free(lab);
    return s;
  }
  im->n = n;
  im->h = im->w = DIGITS_SIDE;
  im->c = 1;
  im->classes = DIGITS_CLASSES;
  im->pixels = px;
  im->labels = lab;
  return GS_OK;
}
