/* IDX files (MNIST, Fashion-MNIST, KMNIST) and the gzip layer they usually ship in. Everything
 * here parses bytes already in memory, so the fuzz targets exercise exactly the code data sets
 * use; sizes are checked against the header before anything is trusted. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data_internal.h"

gs_status gs_gunzip(const uint8_t *buf, size_t len, const char *name, size_t max_out, uint8_t **out,
                    size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (len < 18) return gs_fail(GS_ERR_FORMAT, "%s: truncated gzip file (%zu bytes)", name, len);
  /* The trailer's ISIZE (size mod 2^32) is a good first guess for the buffer. */
  size_t cap = (size_t)buf[len - 4] | (size_t)buf[len - 3] << 8 | (size_t)buf[len - 2] << 16 |
               (size_t)buf[len - 1] << 24;
  if (cap < 1024) cap = 1024;
  if (cap > max_out) cap = max_out;
  uint8_t *o = malloc(cap);
  if (!o) return gs_fail(GS_ERR_NOMEM, "%s: cannot allocate %zu bytes to decompress", name, cap);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    free(o);
    return gs_fail(GS_ERR_NOMEM, "%s: cannot start zlib", name);
  }
  size_t done = 0, in_done = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (done == cap) {
      if (cap >= max_out) {
        inflateEnd(&zs);
        free(o);
        return gs_fail(GS_ERR_FORMAT, "%s: decompresses to more than %zu bytes", name, max_out);
      }
      size_t ncap = cap > max_out / 2 ? max_out : cap * 2;
      uint8_t *n = realloc(o, ncap);
      if (!n) {
        inflateEnd(&zs);
        free(o);
        return gs_fail(GS_ERR_NOMEM, "%s: cannot allocate %zu bytes to decompress", name, ncap);
      }
      o = n;
      cap = ncap;
    }
    /* zlib counts in uInt; feed at most 1 GiB at a time. */
    size_t in_chunk = len - in_done > (1u << 30) ? (1u << 30) : len - in_done;
    size_t out_chunk = cap - done > (1u << 30) ? (1u << 30) : cap - done;
    zs.next_in = (Bytef *)(buf + in_done);
    zs.avail_in = (uInt)in_chunk;
    zs.next_out = o + done;
    zs.avail_out = (uInt)out_chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    in_done += in_chunk - zs.avail_in;
    done += out_chunk - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && in_done == len) rc = Z_DATA_ERROR; /* input ended mid-stream */
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      const char *why = rc == Z_DATA_ERROR && in_done == len ? "truncated gzip data"
                        : zs.msg                             ? zs.msg
                                                             : "corrupt gzip data";
      inflateEnd(&zs);
      free(o);
      return gs_fail(GS_ERR_FORMAT, "%s: %s", name, why);
    }
  }
  inflateEnd(&zs);
  *out = o;
  *out_len = done;
  return GS_OK;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the magic and that the header's dimensions account for the file size exactly. */
static gs_status idx_header(const uint8_t *buf, size_t len, const char *name, int want_rank,
                            uint32_t *dims) {
  if (len < 4) return gs_fail(GS_ERR_FORMAT, "%s: truncated IDX file (%zu bytes)", name, len);
  if (buf[0] != 0 || buf[1] != 0)
    return gs_fail(GS_ERR_FORMAT, "%s: not an IDX file (bad magic %02x %02x %02x %02x)", name,
                   buf[0], buf[1], buf[2], buf[3]);
  if (buf[2] != 0x08)
    return gs_fail(GS_ERR_FORMAT, "%s: IDX element type 0x%02x is not unsigned byte (0x08)", name,
                   buf[2]);
  if (buf[3] != want_rank)
    return gs_fail(GS_ERR_FORMAT, "%s: IDX rank %d, expected %d (%s)", name, buf[3], want_rank,
                   want_rank == 3 ? "images" : "labels");
  size_t hdr = 4 + 4 * (size_t)want_rank;
  if (len < hdr) return gs_fail(GS_ERR_FORMAT, "%s: truncated IDX header", name);
  uint64_t total = 1;
  for (int k = 0; k < want_rank; k++) {
    dims[k] = be32(buf + 4 + 4 * k);
    total *= dims[k];
    if (total > (uint64_t)1 << 40)
      return gs_fail(GS_ERR_FORMAT, "%s: IDX dimensions are implausibly large", name);
  }
  if (total != len - hdr)
    return gs_fail(GS_ERR_FORMAT,
                   "%s: IDX header promises %llu bytes of data but the file holds %zu%s", name,
                   (unsigned long long)total, len - hdr, total > len - hdr ? " (truncated)" : "");
  return GS_OK;
}

gs_status gs_idx_parse_images(const uint8_t *buf, size_t len, const char *name, gs_images *im) {
  uint32_t d[3] = {0, 0, 0};
  gs_status s = idx_header(buf, len, name, 3, d);
  if (s) return s;
  if (d[0] == 0) return gs_fail(GS_ERR_FORMAT, "%s: IDX file holds no images", name);
  if (d[1] == 0 || d[2] == 0 || d[1] > 65536 || d[2] > 65536)
    return gs_fail(GS_ERR_FORMAT, "%s: bad IDX image size %ux%u", name, d[1], d[2]);
  size_t bytes = len - 16;
  uint8_t *px = malloc(bytes);
  if (!px) return gs_fail(GS_ERR_NOMEM, "%s: cannot allocate %zu bytes", name, bytes);
  memcpy(px, buf + 16, bytes);
  im->n = d[0];
  im->h = (int)d[1];
  im->w = (int)d[2];
  im->c = 1;
  im->pixels = px;
  return GS_OK;
}

gs_status gs_idx_parse_labels(const uint8_t *buf, size_t len, const char *name, gs_images *im) {
  uint32_t d[1] = {0};
  gs_status s = idx_header(buf, len, name, 1, d);
  if (s) return s;
  if (d[0] == 0) return gs_fail(GS_ERR_FORMAT, "%s: IDX file holds no labels", name);
  int32_t *lab = malloc(sizeof(int32_t) * d[0]);
  if (!lab) return gs_fail(GS_ERR_NOMEM, "%s: cannot allocate %u labels", name, d[0]);
  int maxl = 0;
  for (uint32_t i = 0; i < d[0]; i++) {
    lab[i] = buf[8 + i];
    if (lab[i] > maxl) maxl = lab[i];
  }
  im->n = d[0];
  im->labels = lab;
  im->classes = maxl + 1;
  return GS_OK;
}
