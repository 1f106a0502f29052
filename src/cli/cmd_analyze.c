/* cmd_analyze.c - `censorscope analyze`: placeholder until the implementation lands. */
#include <stdio.h>

#include "cli/cli.h"

static int run(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "analyze: not implemented yet\n");
  return 1;
}

const cs_command cs_cmd_analyze = {"analyze", "re-analyse stored web_connectivity measurements (ours or OONI's)", run};
