/* The decode-once cache of a folder: every image decoded once, resized to S x S, in one file that
 * is mapped read-only at open, so a small folder trains from memory-speed pixels without decoding
 * and without holding them on the heap (the OS page cache holds them; N x S x S x C bytes).
 *
 * File layout, little-endian:
 *   0  "GESSLIMC"          magic
 *   8  u32 version         CACHE_VERSION (another version is rebuilt, never read)
 *  12  u32 size            S, the side of every stored image
 *  16  u32 channels        1 (a gray folder) or 3
 *  20  u32 0
 *  24  u64 count           images, in the folder's index order
 *  32  u64 fp.a, fp.b      fingerprint of the folder's index (paths, file sizes, mtimes)
 *  48  u64 bad             images that did not decode when the cache was built
 *  56  u32 crc32 of the record table
 *  60  u32 crc32 of bytes 0..59
 *  64  count records of 16 bytes: u32 height, u32 width (in the file), u32 flags (1: JPEG,
 *      2: did not decode), u32 0
 *  then, at the next multiple of 4096, count images of S x S x channels bytes (HWC).
 * The header and the records are checked (CRCs, sizes, the file's exact length) before anything
 * is used; the pixel block is not checksummed (any byte is a valid pixel, so damage there cannot
 * crash a reader, and checking it would read the whole file at every open). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data_internal.h"

#define CACHE_MAGIC "GESSLIMC"
#define CACHE_VERSION 1u
#define HEADER_BYTES 64
#define RECORD_BYTES 16
#define PIXEL_ALIGN 4096
#define FLAG_JPEG 1u
#define FLAG_BAD 2u

static void put32(uint8_t *p, uint32_t v) {
  for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}
static void put64(uint8_t *p, uint64_t v) {
  for (int k = 0; k < 8; k++) p[k] = (uint8_t)(v >> (8 * k));
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t crc_of(const uint8_t *p, uint64_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) { /* zlib takes at most a uInt at a time */
    uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return (uint32_t)c;
}

void gs_cache_fp_add(gs_cache_fp *fp, const char *rel_path, int64_t size, int64_t mtime_ns) {
  uint8_t tail[16];
  put64(tail, (uint64_t)size);
  put64(tail + 8, (uint64_t)mtime_ns);
  const uint8_t *p = (const uint8_t *)rel_path;
  size_t n = strlen(rel_path) + 1; /* the NUL keeps "ab"+"c" apart from "a"+"bc" */
  for (size_t k = 0; k < n + sizeof tail; k++) {
    uint8_t byte = k < n ? p[k] : tail[k - n];
    fp->a = (fp->a ^ byte) * 0x100000001b3ull; /* FNV-1a */
    fp->b = gs_mix64(fp->b + byte + 0x9e3779b97f4a7c15ull);
  }
}

/* Offset of the pixel block for `count` records, 0 on overflow. */
static uint64_t pixels_offset(uint64_t count) {
  if (count > (UINT64_MAX - HEADER_BYTES - PIXEL_ALIGN) / RECORD_BYTES) return 0;
  uint64_t end = HEADER_BYTES + count * RECORD_BYTES;
  return (end + PIXEL_ALIGN - 1) / PIXEL_ALIGN * PIXEL_ALIGN;
}

gs_status gs_image_cache_parse(const uint8_t *buf, size_t len, const char *name, gs_cache_header *h,
                               int *not_current) {
  memset(h, 0, sizeof *h);
  *not_current = 0;
  if (len < 8 || memcmp(buf, CACHE_MAGIC, 8) != 0)
    return gs_fail(GS_ERR_FORMAT,
                   "%s: not a gessl image cache (bad magic); choose another --image-cache file "
                   "or remove this one",
                   name);
  if (len < HEADER_BYTES)
    return gs_fail(GS_ERR_FORMAT, "%s: image cache truncated (%zu bytes, the header alone is %d)",
                   name, len, HEADER_BYTES);
  h->version = get32(buf + 8);
  if (h->version != CACHE_VERSION) {
    *not_current = 1;
    return GS_OK;
  }
  if (get32(buf + 60) != crc_of(buf, 60))
    return gs_fail(GS_ERR_FORMAT, "%s: image cache corrupt (header checksum mismatch)", name);
  h->size = get32(buf + 12);
  h->channels = get32(buf + 16);
  uint64_t count = get64(buf + 24), bad = get64(buf + 48);
  h->fp.a = get64(buf + 32);
  h->fp.b = get64(buf + 40);
  if (h->size < 1 || h->size > 4096 || (h->channels != 1 && h->channels != 3) ||
      get32(buf + 20) != 0 || count > ((uint64_t)1 << 40) || bad > count)
    return gs_fail(GS_ERR_FORMAT,
                   "%s: image cache corrupt (size %u, %u channels, %llu images, %llu bad)", name,
                   h->size, h->channels, (unsigned long long)count, (unsigned long long)bad);
  h->count = (int64_t)count;
  h->bad = (int64_t)bad;
  h->pixels_at = pixels_offset(count);
  uint64_t img = (uint64_t)h->size * h->size * h->channels; /* at most 48 MiB */
  if (count > (UINT64_MAX - h->pixels_at) / img)
    return gs_fail(GS_ERR_FORMAT, "%s: image cache corrupt (%llu images of %llu bytes)", name,
                   (unsigned long long)count, (unsigned long long)img);
  h->file_len = h->pixels_at + count * img;
  if ((uint64_t)len < h->file_len)
    return gs_fail(GS_ERR_FORMAT,
                   "%s: image cache truncated (%zu bytes, its header says %llu images of %ux%ux%u "
                   "in %llu bytes)",
                   name, len, (unsigned long long)count, h->size, h->size, h->channels,
                   (unsigned long long)h->file_len);
  if ((uint64_t)len > h->file_len)
    return gs_fail(GS_ERR_FORMAT, "%s: image cache corrupt (%zu bytes, %llu expected)", name, len,
                   (unsigned long long)h->file_len);
  const uint8_t *rec = buf + HEADER_BYTES;
  if (get32(buf + 56) != crc_of(rec, count * RECORD_BYTES))
    return gs_fail(GS_ERR_FORMAT, "%s: image cache corrupt (record table checksum mismatch)", name);
  uint64_t nbad = 0;
  for (uint64_t r = 0; r < count; r++, rec += RECORD_BYTES) {
    uint32_t fh = get32(rec), fw = get32(rec + 4), fl = get32(rec + 8);
    if (fh < 1 || fw < 1 || fh > (1u << 30) || fw > (1u << 30) || (fl & ~3u) || get32(rec + 12))
      return gs_fail(GS_ERR_FORMAT, "%s: image cache corrupt (record %llu: %ux%u, flags %u)", name,
                     (unsigned long long)r, fh, fw, fl);
    nbad += (fl & FLAG_BAD) != 0;
  }
  if (nbad != bad)
    return gs_fail(GS_ERR_FORMAT, "%s: image cache corrupt (%llu images flagged, header says %llu)",
                   name, (unsigned long long)nbad, (unsigned long long)bad);
  return GS_OK;
}

void gs_image_cache_close(gs_images *im) {
  if (im->cache_map) munmap(im->cache_map, im->cache_len);
  free(im->cache_at);
  free(im->cache_path);
  im->cache_map = NULL;
  im->cache_len = 0;
  im->cache_at = NULL;
  im->cache_path = NULL;
  im->cache_px = im->cache_records = NULL;
  im->cache_size = 0;
}

gs_status gs_image_cache_open(gs_images *im, const char *path, int size, gs_cache_fp fp,
                              char *stale, size_t stale_len) {
  stale[0] = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    snprintf(stale, stale_len, "no cache file yet");
    return GS_OK;
  }
  if (fd < 0) return gs_fail(GS_ERR_IO, "image cache %s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return gs_fail(GS_ERR_IO, "image cache %s: not a regular file", path);
  }
  size_t len = (size_t)st.st_size;
  void *map = len ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  int err = errno;
  close(fd); /* the mapping keeps the file; a rebuild renames a new file over the name */
  if (!len) return gs_fail(GS_ERR_FORMAT, "%s: empty file, not a gessl image cache", path);
  if (map == MAP_FAILED)
    return gs_fail(GS_ERR_IO, "image cache %s: cannot map %zu bytes: %s", path, len, strerror(err));
  gs_cache_header h;
  int not_current = 0;
  gs_status s = gs_image_cache_parse(map, len, path, &h, &not_current);
  if (!s && not_current)
    snprintf(stale, stale_len, "written by cache format %u, this build reads %u", h.version,
             CACHE_VERSION);
  else if (!s && h.size != (uint32_t)size)
    snprintf(stale, stale_len, "holds images of %ux%u, %dx%d asked for", h.size, h.size, size,
             size);
  else if (!s && h.count != im->n)
    snprintf(stale, stale_len, "built for %lld images, the folder now holds %lld",
             (long long)h.count, (long long)im->n);
  else if (!s && (h.fp.a != fp.a || h.fp.b != fp.b))
    snprintf(stale, stale_len,
             "files of the folder were renamed or modified (size or time) since it was built");
  const uint8_t *rec = (const uint8_t *)map + HEADER_BYTES;
  for (int64_t i = 0; !s && !stale[0] && i < im->n; i++, rec += RECORD_BYTES) {
    uint32_t fh = get32(rec), fw = get32(rec + 4);
    if ((int64_t)fh * fw > im->max_pixels) /* the probe's decompression-bomb guard */
      s = gs_fail(GS_ERR_FORMAT,
                  "%s: image is %ux%u = %lld pixels, over the limit of %lld (decompression-bomb "
                  "guard)",
                  im->paths + im->path_at[i], fw, fh, (long long)fh * fw,
                  (long long)im->max_pixels);
  }
  if (s || stale[0]) {
    munmap(map, len);
    return s;
  }
  im->cache_at = malloc(sizeof(int64_t) * (size_t)(im->n ? im->n : 1));
  im->cache_path = strdup(path);
  if (!im->cache_at || !im->cache_path) {
    munmap(map, len);
    free(im->cache_at);
    free(im->cache_path);
    im->cache_at = NULL;
    im->cache_path = NULL;
    return gs_fail(GS_ERR_NOMEM, "image cache %s: out of memory", path);
  }
  rec = (const uint8_t *)map + HEADER_BYTES;
  for (int64_t i = 0; i < im->n; i++, rec += RECORD_BYTES) {
    im->full_h[i] = (int32_t)get32(rec);
    im->full_w[i] = (int32_t)get32(rec + 4);
    im->is_jpeg[i] = (get32(rec + 8) & FLAG_JPEG) != 0;
    im->cache_at[i] = i;
  }
  im->c = (int)h.channels;
  im->cache_map = map;
  im->cache_len = len;
  im->cache_records = (const uint8_t *)map + HEADER_BYTES;
  im->cache_px = (const uint8_t *)map + h.pixels_at;
  im->cache_size = (int)h.size;
  return GS_OK;
}

gs_status gs_image_cache_get(const gs_images *im, int64_t i, const uint8_t **px) {
  int64_t r = im->cache_at[i];
  if (get32(im->cache_records + (size_t)r * RECORD_BYTES + 8) & FLAG_BAD) {
    *px = NULL;
    return gs_fail(GS_ERR_FORMAT, "%s: did not decode when the image cache %s was built",
                   im->paths + im->path_at[i], im->cache_path);
  }
  *px = im->cache_px + (size_t)r * im->cache_size * im->cache_size * im->c;
  return GS_OK;
}

/* ---- building ---- */

typedef struct build_job {
  const gs_images *im;
  gs_durable *d;
  int size;
  uint64_t pixels_at;
  atomic_llong *next; /* next image to decode, shared */
  atomic_int *stop;   /* a write failed: every thread stops */
  uint8_t *flags;     /* per image, each written by the thread that decodes it */
  int64_t first_bad;  /* lowest failing image of this thread, -1: none */
  char bad_msg[1024];
  gs_status io;
  char io_msg[1024];
} build_job;

static void *build_main(void *arg) {
  build_job *j = arg;
  const gs_images *im = j->im;
  const size_t img = (size_t)j->size * j->size * im->c;
  uint8_t *buf = malloc(img);
  if (!buf) {
    j->io = gs_fail(GS_ERR_NOMEM, "image cache: out of memory for a %dx%d image", j->size, j->size);
    snprintf(j->io_msg, sizeof j->io_msg, "%s", gs_errmsg());
    atomic_store(j->stop, 1);
    return NULL;
  }
  for (;;) {
    int64_t i = atomic_fetch_add(j->next, 1);
    if (i >= im->n || atomic_load(j->stop)) break;
    uint8_t *px;
    int h, w;
    /* A JPEG shrinks in its decoder as far as the stored size allows. */
    gs_status s = gs_images_decode(im, i, j->size, j->size, &px, &h, &w);
    if (s == GS_OK) {
      gs_resize_u8(px, h, w, im->c, buf, j->size, j->size);
      free(px);
    } else {
      j->flags[i] = FLAG_BAD;
      if (j->first_bad < 0 || i < j->first_bad) {
        j->first_bad = i;
        snprintf(j->bad_msg, sizeof j->bad_msg, "%s", gs_errmsg());
      }
      memset(buf, 0, img);
    }
    s = gs_durable_write_at(j->d, buf, img, j->pixels_at + (uint64_t)i * img);
    if (s != GS_OK) {
      j->io = s;
      snprintf(j->io_msg, sizeof j->io_msg, "%s", gs_errmsg());
      atomic_store(j->stop, 1);
      break;
    }
  }
  free(buf);
  return NULL;
}

gs_status gs_image_cache_build(const gs_images *im, const char *path, int size, gs_cache_fp fp,
                               int threads, int64_t *bad) {
  *bad = 0;
  if (threads <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cpus > 0 ? (int)cpus : 2;
  }
  if (threads > 64) threads = 64;
  if (threads > im->n) threads = im->n > 0 ? (int)im->n : 1;
  const uint64_t count = (uint64_t)im->n, pixels_at = pixels_offset(count);
  uint8_t *flags = calloc((size_t)(im->n ? im->n : 1), 1);
  uint8_t *head = calloc((size_t)pixels_at, 1); /* header and records, written last */
  build_job *jobs = calloc((size_t)threads, sizeof *jobs);
  pthread_t *th = calloc((size_t)threads, sizeof *th);
  if (!flags || !head || !jobs || !th) {
    free(flags), free(head), free(jobs), free(th);
    return gs_fail(GS_ERR_NOMEM, "image cache %s: out of memory for %lld images", path,
                   (long long)im->n);
  }
  gs_durable *d = gs_durable_open(path);
  if (!d) {
    free(flags), free(head), free(jobs), free(th);
    return GS_ERR_IO;
  }
  atomic_llong next = 0;
  atomic_int stop = 0;
  for (int t = 0; t < threads; t++)
    jobs[t] = (build_job){im, d, size, pixels_at, &next, &stop, flags, -1, {0}, GS_OK, {0}};
  int *started = calloc((size_t)threads, sizeof(int));
  for (int t = 1; started && t < threads; t++)
    started[t] = pthread_create(&th[t], NULL, build_main, &jobs[t]) == 0;
  build_main(&jobs[0]); /* threads that did not start leave their share to the others */
  for (int t = 1; started && t < threads; t++)
    if (started[t]) pthread_join(th[t], NULL);
  free(started);
  gs_status s = GS_OK;
  int64_t first = -1;
  const char *first_msg = "";
  for (int t = 0; t < threads; t++) {
    if (!s && jobs[t].io) s = gs_fail(jobs[t].io, "%s", jobs[t].io_msg);
    if (jobs[t].first_bad >= 0 && (first < 0 || jobs[t].first_bad < first)) {
      first = jobs[t].first_bad;
      first_msg = jobs[t].bad_msg;
    }
  }
  for (int64_t i = 0; i < im->n; i++) *bad += flags[i] != 0;
  if (!s && *bad * 100 > im->n) /* the loader's rule: over 1% undecodable stops a run */
    s = gs_fail(GS_ERR_FORMAT,
                "%s (%lld of %lld images failed to decode while building the image cache %s, over "
                "1%%)",
                first_msg, (long long)*bad, (long long)im->n, path);
  if (!s) {
    uint8_t *rec = head + HEADER_BYTES;
    for (int64_t i = 0; i < im->n; i++, rec += RECORD_BYTES) {
      put32(rec, (uint32_t)im->full_h[i]);
      put32(rec + 4, (uint32_t)im->full_w[i]);
      put32(rec + 8, (im->is_jpeg[i] ? FLAG_JPEG : 0u) | flags[i]);
    }
    memcpy(head, CACHE_MAGIC, 8);
    put32(head + 8, CACHE_VERSION);
    put32(head + 12, (uint32_t)size);
    put32(head + 16, (uint32_t)im->c);
    put64(head + 24, count);
    put64(head + 32, fp.a);
    put64(head + 40, fp.b);
    put64(head + 48, (uint64_t)*bad);
    put32(head + 56, crc_of(head + HEADER_BYTES, count * RECORD_BYTES));
    put32(head + 60, crc_of(head, 60));
    s = gs_durable_write_at(d, head, (size_t)pixels_at, 0);
  }
  free(flags), free(head), free(jobs), free(th);
  if (s) {
    gs_durable_abort(d);
    return s;
  }
  return gs_durable_commit(d);
}
