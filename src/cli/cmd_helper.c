/* cmd_helper.c - `censorscope helper`: placeholder until the implementation lands. */
#include <stdio.h>

#include "cli/cli.h"

static int run(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "helper: not implemented yet\n");
  return 1;
}

const cs_command cs_cmd_helper = {"helper", "run the control server (OONI test-helper protocol)", run};
