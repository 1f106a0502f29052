/* cmd_report.c - `censorscope report`: placeholder until the implementation lands. */
#include <stdio.h>

#include "cli/cli.h"

static int run(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "report: not implemented yet\n");
  return 1;
}

const cs_command cs_cmd_report = {"report", "summarise stored measurements (text, JSON, CSV, HTML)", run};
