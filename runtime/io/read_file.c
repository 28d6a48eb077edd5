/* Whole-file reads with a size limit: data set files, settings, run metadata. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gessl/io.h"

gs_status gs_read_file(const char *path, size_t max_len, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return gs_fail(GS_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return gs_fail(GS_ERR_IO, "%s: not a regular file", path);
  }
  if ((uint64_t)st.st_size > max_len) {
    fclose(f);
    return gs_fail(GS_ERR_FORMAT, "%s: file of %lld bytes is larger than the %zu allowed", path,
                   (long long)st.st_size, max_len);
  }
  size_t n = (size_t)st.st_size;
  uint8_t *buf = malloc(n + 1);
  if (!buf) {
    fclose(f);
    return gs_fail(GS_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
  }
  size_t got = fread(buf, 1, n, f);
  int err = ferror(f);
  fclose(f);
  if (got != n || err) {
    free(buf);
    return gs_fail(GS_ERR_IO, "%s: read error", path);
  }
  buf[n] = 0;
  *out = buf;
  *len = n;
  return GS_OK;
}
