/* gessl export: a run's backbone alone, with torchvision's names and layouts, for PyTorch. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "gessl/eval.h"

static const char *const export_help =
    "usage: gessl export --checkpoint RUN --out FILE.safetensors [--backend SPEC]\n"
    "\n"
    "Writes the backbone of RUN/checkpoint.safetensors alone, named and laid out as torchvision\n"
    "names it (conv weights OIHW, BN weight/bias/running_mean/running_var, and\n"
    "num_batches_tracked as an int32 scalar, which load_state_dict converts). In Python:\n"
    "\n"
    "  m = torchvision.models.resnet18()\n"
    "  m.conv1 = torch.nn.Conv2d(C, 64, 3, 1, 1, bias=False)  # the CIFAR stem (32 px runs)\n"
    "  m.maxpool = torch.nn.Identity(); m.fc = torch.nn.Identity()\n"
    "  m.load_state_dict(safetensors.torch.load_file(FILE))\n"
    "\n"
    "(the fc layer is not part of the backbone; strict loading needs m.fc = Identity()). The\n"
    "convnet exports as an nn.Sequential 'features' of Conv2d(bias=False), BatchNorm2d, ReLU,\n"
    "MaxPool2d(2) blocks followed by global average pooling.\n"
    "\n"
    "options:\n"
    "  --checkpoint RUN   run directory written by 'gessl train --out RUN'\n"
    "  --out FILE         the file to write (atomically); an existing FILE is refused\n"
    "  --force            replace FILE if it exists\n"
    "  --backend SPEC     device to stage the tensors on (default cpu)\n"
    "  --help             this text\n";

static cli_opt_kind export_opt(const char *n) {
  if (!strcmp(n, "--help") || !strcmp(n, "--force")) return CLI_OPT_FLAG;
  if (!strcmp(n, "--checkpoint") || !strcmp(n, "--out") || !strcmp(n, "--backend"))
    return CLI_OPT_VALUE;
  return CLI_OPT_UNKNOWN;
}

int gs_cli_export(int argc, char **argv) {
  const char *dir = NULL, *out = NULL, *backend = "cpu", *opt, *val;
  int force = 0;
  cli_args a = {argc - 1, 0, argv + 1, "export", 0};
  while ((opt = cli_next(&a, export_opt, &val))) {
    if (!strcmp(opt, "--help")) {
      fputs(export_help, stdout);
      return CLI_OK;
    } else if (!strcmp(opt, "--force")) {
      force = 1;
    } else if (!strcmp(opt, "--checkpoint")) {
      dir = val;
    } else if (!strcmp(opt, "--out")) {
      out = val;
    } else if (!strcmp(opt, "--backend")) {
      backend = val;
    }
  }
  if (a.err) return a.err;
  if (!dir || !*dir) return cli_usage_error("export", "--checkpoint RUN needed");
  if (!out || !*out) return cli_usage_error("export", "--out FILE needed");
  struct stat st;
  if (!force && lstat(out, &st) == 0)
    return cli_usage_error("export", "--out %s: the file exists; give --force to replace it", out);
  gs_runtime *rt = cli_runtime("export", 1);
  if (!rt) return CLI_FAIL;
  int rc = CLI_OK;
  gs_device *dev = gs_device_open(rt, backend);
  gs_eval_run *run = dev ? gs_eval_run_open(NULL, dev, dir, 0) : NULL;
  if (!run || gs_export_backbone(gs_eval_run_model(run), out) != GS_OK) {
    fprintf(stderr, "gessl export: %s\n", gs_errmsg());
    rc = CLI_FAIL;
  } else {
    const gs_eval_run_info *info = gs_eval_run_get_info(run);
    printf("wrote %s: %s backbone, %d tensors (+ BN num_batches_tracked), %d input channels\n", out,
           info->model, info->n_tensors, info->in_channels);
  }
  gs_eval_run_close(run);
  if (dev) gs_device_close(dev);
  gs_runtime_close(rt);
  return rc;
}
