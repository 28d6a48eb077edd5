#include "log_line.h"

#include <stdio.h>

void rt_log_line(rt_line_fn line, void *user, const char *fmt, va_list ap) {
  if (!line) return;
  char text[1200];
  vsnprintf(text, sizeof text, fmt, ap);
  line(user, text);
}
