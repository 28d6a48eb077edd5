/* Fuzz target: the header and record table of a decode-once image cache (--image-cache), as
 * gs_image_cache_open checks a mapped file before anything in it is used. */
#include "data_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gs_cache_header h;
  int not_current;
  if (gs_image_cache_parse(data, size, "fuzz-input", &h, &not_current) == GS_OK && !not_current) {
    /* Accepted: the whole pixel block lies inside the input. */
    volatile uint8_t sink = h.file_len > h.pixels_at ? data[h.file_len - 1] : 0;
    (void)sink;
  }
  return 0;
}
