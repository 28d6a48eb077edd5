/* make_folder DIR PER_CLASS SIZE | make_folder DIR PER_CLASS WxH png|jpg gray|rgb: a labelled
 * folder from Fashion-MNIST (fashion_folder.h), for the end-to-end tests of folders and the
 * loader benchmark. */
#include <stdlib.h>
#include <string.h>

#include "fashion_folder.h"

int main(int argc, char **argv) {
  if (argc != 4 && argc != 6) {
    fprintf(stderr, "usage: make_folder DIR PER_CLASS SIZE | DIR PER_CLASS WxH png|jpg gray|rgb\n");
    return 2;
  }
  int w = atoi(argv[3]), h = w;
  const char *x = strchr(argv[3], 'x');
  if (x) h = atoi(x + 1);
  int jpeg = argc == 6 && !strcmp(argv[4], "jpg"), c = argc == 6 && !strcmp(argv[5], "rgb") ? 3 : 1;
  if (w < 1 || h < 1 || atoi(argv[2]) < 1) {
    fprintf(stderr, "make_folder: bad size or count\n");
    return 2;
  }
  return ff_write_folder_ex(argv[1], atoi(argv[2]), w, h, c, jpeg) == 0 ? 0 : 1;
}
