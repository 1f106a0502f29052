/* main.c - the censorscope command: a registered nettest (nettests/registry.c, served by the
 * generic cmd_nettest.c) or a tool (helper, analyze, report: one cli/cmd_*.c each). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "nettests/registry.h"

const cs_command *const cs_tools[] = {&cs_cmd_helper, &cs_cmd_analyze,   &cs_cmd_report,
                                      &cs_cmd_upload, &cs_cmd_collector, NULL};

int main(int argc, char **argv) {
  if (argc < 2) {
    cs_help_main(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    cs_help_main(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("censorscope %s\n", CS_VERSION);
    return 0;
  }
  if (!strcmp(argv[1], "--man")) { /* hidden: `make man` writes censorscope.1 with it */
    cs_man_write(stdout);
    return fflush(stdout) ? 1 : 0;
  }
  const cs_nettest *nt = cs_nettest_find(argv[1]);
  if (nt) return cs_cmd_nettest(nt, argc - 1, argv + 1);
  for (size_t i = 0; cs_tools[i]; i++)
    if (!strcmp(argv[1], cs_tools[i]->name)) return cs_tools[i]->run(argc - 1, argv + 1);
  fprintf(stderr, "censorscope: unknown command '%s'\n", argv[1]);
  cs_help_main(stderr);
  return 2;
}
