/* The runtime's notes to the caller (training log, evaluation report, folder cache build) go
 * through a line callback the caller lends, which may be NULL. Not a public header. */
#ifndef GESSL_LOG_LINE_H
#define GESSL_LOG_LINE_H

#include <stdarg.h>

#include "gessl/types.h"

typedef void (*rt_line_fn)(void *user, const char *line);

/* Formats one line (cut at about a kilobyte) and hands it to line(user, ...); nothing when line
 * is NULL. */
void rt_log_line(rt_line_fn line, void *user, const char *fmt, va_list ap) GS_PRINTF(3, 0);

#endif
