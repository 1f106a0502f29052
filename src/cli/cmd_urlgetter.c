/* cmd_urlgetter.c - `censorscope urlgetter`: placeholder until the engine steps land. */
#include <stdio.h>

#include "cli/cli.h"

static int run(int argc, char **argv) {
  (void)argc, (void)argv;
  fprintf(stderr, "urlgetter: not implemented yet\n");
  return 1;
}

const cs_command cs_cmd_urlgetter = {"urlgetter", "measure URLs step by step (OONI urlgetter)", run};
