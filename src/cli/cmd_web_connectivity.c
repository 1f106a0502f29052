/* cmd_web_connectivity.c - `censorscope web_connectivity`: placeholder until the implementation lands. */
#include <stdio.h>

#include "cli/cli.h"

static int run(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "web_connectivity: not implemented yet\n");
  return 1;
}

const cs_command cs_cmd_web_connectivity = {"web_connectivity", "detect blocking of URLs with a control server (OONI web_connectivity)", run};
