/* Durable writes: the new content replaces the old whole, and every failure leaves the old file
 * as it was with no temporary file behind. Failures are provoked in ways that work as root too
 * (a file size limit mid-write, a directory in the target's place). */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "gessl/io.h"

static char dir[64];

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 20);
  *n = fread(buf, 1, 1 << 20, f);
  fclose(f);
  return buf;
}

static int has_content(const char *path, const char *want) {
  size_t n = 0;
  char *got = slurp(path, &n);
  int ok = got && n == strlen(want) && memcmp(got, want, n) == 0;
  free(got);
  return ok;
}

/* Entries of dir other than . and .. */
static int entries(void) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  if (d) closedir(d);
  return n;
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/gessl-durable-XXXXXX");
  if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
  char path[128], sub[128];
  snprintf(path, sizeof path, "%s/ckpt.bin", dir);

  /* Create, then replace. */
  CHECK(gs_write_file_durable(path, "first", 5) == GS_OK);
  CHECK(has_content(path, "first"));
  CHECK(gs_write_file_durable(path, "second!", 7) == GS_OK);
  CHECK(has_content(path, "second!"));
  CHECK(entries() == 1);
  struct stat sb;
  mode_t um = umask(022);
  umask(um);
  CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == (0666 & ~um));

  /* Streaming writes, then abort: nothing changes. */
  gs_durable *d = gs_durable_open(path);
  CHECK(d != NULL);
  CHECK(gs_durable_write(d, "partial", 7) == GS_OK);
  CHECK(entries() == 2); /* the temporary file, beside the target */
  gs_durable_abort(d);
  CHECK(has_content(path, "second!"));
  CHECK(entries() == 1);

  /* A write that fails halfway (file size limit): commit fails, old file intact. */
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 4096;
  signal(SIGXFSZ, SIG_IGN);
  CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  size_t big = 1 << 16;
  char *junk = malloc(big);
  memset(junk, 'x', big);
  gs_status s = gs_write_file_durable(path, junk, big);
  setrlimit(RLIMIT_FSIZE, &old);
  CHECKF(s == GS_ERR_IO, "status %d", s);
  CHECKF(strstr(gs_errmsg(), path) && strstr(gs_errmsg(), "too large"), "%s", gs_errmsg());
  CHECK(has_content(path, "second!"));
  CHECK(entries() == 1);
  /* The same through the streaming API: writes after a failure are refused, commit cleans up. */
  setrlimit(RLIMIT_FSIZE, &lim);
  d = gs_durable_open(path);
  CHECK(d && gs_durable_write(d, junk, big) == GS_ERR_IO);
  CHECK(gs_durable_write(d, "x", 1) == GS_ERR_IO);
  CHECK(gs_durable_commit(d) == GS_ERR_IO);
  setrlimit(RLIMIT_FSIZE, &old);
  free(junk);
  CHECK(has_content(path, "second!"));
  CHECK(entries() == 1);

  /* The rename fails (a non-empty directory sits at the target): temp removed. */
  snprintf(sub, sizeof sub, "%s/sub", dir);
  CHECK(mkdir(sub, 0755) == 0);
  char inner[160];
  snprintf(inner, sizeof inner, "%s/keep", sub);
  CHECK(gs_write_file_durable(inner, "k", 1) == GS_OK);
  s = gs_write_file_durable(sub, "new", 3);
  CHECKF(s == GS_ERR_IO && strstr(gs_errmsg(), "rename") && strstr(gs_errmsg(), sub), "%s",
         gs_errmsg());
  CHECK(has_content(inner, "k"));
  CHECK(entries() == 2); /* ckpt.bin and sub */

  /* A directory that does not exist. */
  char nowhere[160];
  snprintf(nowhere, sizeof nowhere, "%s/missing/x.bin", dir);
  CHECK(gs_write_file_durable(nowhere, "x", 1) == GS_ERR_IO);
  CHECKF(strstr(gs_errmsg(), nowhere) && strstr(gs_errmsg(), "No such file"), "%s", gs_errmsg());

  /* A directory we may not write (permissions do not bind root, so only checked otherwise). */
  if (geteuid() != 0) {
    CHECK(chmod(dir, 0555) == 0);
    CHECK(gs_write_file_durable(path, "third", 5) == GS_ERR_IO);
    CHECKF(strstr(gs_errmsg(), "Permission denied"), "%s", gs_errmsg());
    CHECK(chmod(dir, 0755) == 0);
    CHECK(has_content(path, "second!"));
  }

  unlink(inner);
  rmdir(sub);
  unlink(path);
  CHECK(rmdir(dir) == 0);
  return check_summary();
}
