/* Opening a plugin file safely. Loading a plugin runs its code in this process, so the file must
 * be one that nobody but root and the user can have written: the file, and every directory from
 * the root down to it, owned by root or the user and writable by no one else (the rule OpenSSH's
 * safe_path applies to authorized_keys). A directory writable by others is accepted only when it
 * is sticky (/tmp): others cannot then rename or remove what the user owns in it.
 *
 * The check is made on open descriptors, each directory opened relative to the one above it
 * without following links, and the file opened in the last one: what was checked is what is
 * loaded (through /proc/self/fd), with no window for a rename between the check and dlopen. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_impl.h"

/* Why st (of `what`) is unsafe, or "" when it is safe. */
static void judge(const struct stat *st, const char *what, int is_dir, char *why, size_t len) {
  uid_t me = geteuid();
  why[0] = 0;
  if (st->st_uid != 0 && st->st_uid != me)
    snprintf(why, len, "%s is owned by uid %u, neither root nor this user (uid %u)", what,
             (unsigned)st->st_uid, (unsigned)me);
  else if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(is_dir && (st->st_mode & S_ISVTX)))
    snprintf(why, len, "%s is writable by %s (mode %03o)", what,
             (st->st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st->st_mode & 07777));
}

int rt_open_plugin(const char *path, char *real, char *why, size_t len) {
  if (!realpath(path, real)) {
    snprintf(why, len, "cannot open: %s", strerror(errno));
    return -1;
  }
  int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    snprintf(why, len, "cannot open /: %s", strerror(errno));
    return -1;
  }
  char prefix[PATH_MAX] = "/";
  const char *at = real + 1;
  int fd = -1;
  for (;;) {
    struct stat st;
    if (fstat(dir, &st) != 0) {
      snprintf(why, len, "cannot stat %s: %s", prefix, strerror(errno));
      break;
    }
    char label[PATH_MAX + 16];
    snprintf(label, sizeof label, "directory %s", prefix);
    judge(&st, label, 1, why, len);
    if (why[0]) break;
    size_t n = strcspn(at, "/");
    char name[NAME_MAX + 1];
    if (n == 0 || n > NAME_MAX) {
      snprintf(why, len, "bad path %s", real);
      break;
    }
    memcpy(name, at, n);
    name[n] = 0;
    size_t plen = strlen(prefix);
    snprintf(prefix + plen, sizeof prefix - plen, "%s%s", plen > 1 ? "/" : "", name);
    if (at[n] == 0) { /* the file itself */
      fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        snprintf(why, len, "cannot open: %s", strerror(errno));
      } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, len, "not a regular file");
      } else {
        judge(&st, "the file", 0, why, len);
      }
      if (why[0] && fd >= 0) close(fd), fd = -1;
      break;
    }
    int next = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      snprintf(why, len, "cannot open directory %s: %s", prefix, strerror(errno));
      break;
    }
    close(dir);
    dir = next;
    at += n + 1;
  }
  close(dir);
  if (fd < 0 && !why[0]) snprintf(why, len, "cannot open");
  if (fd < 0) return -1;
  return fd;
}

/* dlopen of the checked descriptor. A file loaded before (same device and inode, under any name)
 * is found by its path without running anything. Otherwise it is loaded as /proc/self/fd/N; as
 * glibc matches names before files, an N whose name an earlier load left behind is skipped. */
static void *open_fd(int fd, const char *real, int flags, int *spare) {
  void *h = dlopen(real, RTLD_NOW | flags | RTLD_NODELETE | RTLD_NOLOAD);
  if (h) return h;
  char name[64];
  int use = fd;
  for (int k = 0; k < 64; k++) {
    snprintf(name, sizeof name, "/proc/self/fd/%d", use);
    void *stale = dlopen(name, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (!stale) break;
    dlclose(stale);
    spare[k] = use = fcntl(fd, F_DUPFD_CLOEXEC, use + 1);
    if (use < 0) return NULL;
  }
  return dlopen(name, RTLD_NOW | flags | RTLD_NODELETE);
}

void *rt_dlopen_plugin(const char *path, int flags, char *real, char *why, size_t len) {
  char reason[PATH_MAX + 128];
  int fd = rt_open_plugin(path, real, reason, sizeof reason);
  if (fd < 0) {
    snprintf(why, len, "not loaded: %s", reason);
    return NULL;
  }
  dlerror();
  /* NODELETE: a backend's libraries (OpenBLAS, drivers) may keep threads and atexit handlers
   * that must not outlive their code, so plugins stay mapped after gs_runtime_close. */
  int spare[64];
  memset(spare, -1, sizeof spare);
  void *h = open_fd(fd, real, flags, spare);
  const char *e = h ? NULL : dlerror();
  for (int k = 0; k < 64; k++)
    if (spare[k] >= 0) close(spare[k]);
  close(fd);
  if (!h) snprintf(why, len, "dlopen failed: %s", e ? e : "unknown error");
  return h;
}
