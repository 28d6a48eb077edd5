/* Opening a plugin file safely. Loading a plugin runs its code in this process, so the file must
 * be one that nobody but root and the user can have written: the file, and every directory from
 * the root down to it, owned by root or the user and writable by no one else (the rule OpenSSH's
 * safe_path applies to authorized_keys). A directory writable by others is accepted only when it
 * is sticky (/tmp): others cannot then rename or remove what the user owns in it.
 *
 * The check is made on open descriptors, each directory opened relative to the one above it
 * without following links, and the file opened in the last one: what was checked is what is
 * loaded (through /proc/self/fd), with no window for a rename between the check and dlopen. */
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
