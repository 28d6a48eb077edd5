/* Durable file replacement: temp file beside the target, fsync, rename, fsync the directory.
 * The temp file must live in the target's directory because rename is only atomic within one
 * file system, and the directory fsync is what makes the rename itself survive a power loss. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gessl/io.h"

struct gs_durable {
  int fd;
  atomic_int failed; /* set by any writer thread */
  char *path;        /* target */
  char *tmp;         /* temporary file beside it */
};

/* Directory part of path ("." when there is none). Caller frees. */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  size_t n = (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, path, n);
  d[n] = 0;
  return d;
}

gs_durable *gs_durable_open(const char *path) {
  if (!path || !*path) {
    gs_fail(GS_ERR_INVALID, "durable write: empty path");
    return NULL;
  }
  gs_durable *d = calloc(1, sizeof *d);
  size_t n = strlen(path) + 64;
  char *tmp = malloc(n);
  char *p = strdup(path);
  if (!d || !tmp || !p) {
    free(d), free(tmp), free(p);
    gs_fail(GS_ERR_NOMEM, "%s: out of memory", path);
    return NULL;
  }
  /* A hidden name in the same directory; O_EXCL with a fresh suffix on collision. open() with
   * 0666 (unlike mkstemp's 0600) lets the umask decide the final file's permissions. */
  const char *slash = strrchr(path, '/');
  int dirlen = slash ? (int)(slash - path + 1) : 0;
  const char *base = path + dirlen;
  static _Thread_local unsigned counter;
  int fd = -1, err = 0;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    unsigned salt = (unsigned)time(NULL) * 2654435761u ^ (unsigned)clock() ^ (counter++ * 40503u);
    snprintf(tmp, n, "%.*s.%s.tmp-%ld-%08x", dirlen, path, base, (long)getpid(), salt);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    err = errno;
    if (fd < 0 && err != EEXIST) break;
  }
  if (fd < 0) {
    gs_fail(GS_ERR_IO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(err));
    free(d), free(tmp), free(p);
    return NULL;
  }
  d->fd = fd;
  d->path = p;
  d->tmp = tmp;
  return d;
}

static void durable_free(gs_durable *d) {
  free(d->path);
  free(d->tmp);
  free(d);
}

/* All of buf, at the file's position or (at) at offset; a failure fails every later write. */
static gs_status write_all(gs_durable *d, const void *buf, size_t n, int at, uint64_t offset) {
  if (!d) return gs_fail(GS_ERR_INVALID, "durable write: NULL writer");
  if (d->failed) return gs_fail(GS_ERR_IO, "%s: write after an earlier failure", d->path);
  const char *p = buf;
  while (n > 0) {
    ssize_t w = at ? pwrite(d->fd, p, n, (off_t)offset) : write(d->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      d->failed = 1;
      return gs_fail(GS_ERR_IO, "%s: cannot write temporary file %s: %s", d->path, d->tmp,
                     strerror(errno));
    }
    p += w;
    n -= (size_t)w;
    offset += (uint64_t)w;
  }
  return GS_OK;
}

gs_status gs_durable_write(gs_durable *d, const void *buf, size_t n) {
  return write_all(d, buf, n, 0, 0);
}

gs_status gs_durable_write_at(gs_durable *d, const void *buf, size_t n, uint64_t offset) {
  return write_all(d, buf, n, 1, offset);
}

void gs_durable_abort(gs_durable *d) {
  if (!d) return;
  if (d->fd >= 0) close(d->fd);
  unlink(d->tmp);
  durable_free(d);
}

/* Fails with the message already set: removes the temp file and frees d. */
static gs_status abort_with(gs_durable *d, gs_status s) {
  gs_durable_abort(d);
  return s;
}

gs_status gs_durable_commit(gs_durable *d) {
  if (!d) return gs_fail(GS_ERR_INVALID, "durable write: NULL writer");
  if (d->failed)
    return abort_with(d, gs_fail(GS_ERR_IO, "%s: not written: an earlier write failed", d->path));
  if (fsync(d->fd) != 0)
    return abort_with(d, gs_fail(GS_ERR_IO, "%s: cannot fsync temporary file %s: %s", d->path,
                                 d->tmp, strerror(errno)));
  /* close() can report a deferred write error (NFS); the file is not trusted if it does. */
  int fd = d->fd;
  d->fd = -1;
  if (close(fd) != 0)
    return abort_with(d, gs_fail(GS_ERR_IO, "%s: cannot close temporary file %s: %s", d->path,
                                 d->tmp, strerror(errno)));
  if (rename(d->tmp, d->path) != 0)
    return abort_with(d, gs_fail(GS_ERR_IO, "%s: cannot rename %s over it: %s", d->path, d->tmp,
                                 strerror(errno)));
  gs_status st = GS_OK;
  char *dir = dir_of(d->path);
  int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  /* Some file systems refuse fsync on directories (EINVAL); the rename is then as durable as
   * they can make it. */
  if (dfd < 0)
    st = gs_fail(GS_ERR_IO, "%s: written, but cannot open directory %s to sync it: %s", d->path,
                 dir ? dir : "?", strerror(errno));
  else if (fsync(dfd) != 0 && errno != EINVAL)
    st = gs_fail(GS_ERR_IO, "%s: written, but cannot fsync directory %s: %s", d->path, dir,
                 strerror(errno));
  if (dfd >= 0) close(dfd);
  free(dir);
  durable_free(d);
  return st;
}

gs_status gs_write_file_durable(const char *path, const void *buf, size_t n) {
  gs_durable *d = gs_durable_open(path);
  if (!d) return GS_ERR_IO;
  gs_status s = gs_durable_write(d, buf, n);
  if (s != GS_OK) return abort_with(d, s);
  return gs_durable_commit(d);
}
