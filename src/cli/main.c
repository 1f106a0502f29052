/* main.c - the censorscope command: dispatches to one subcommand per file (cli/cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const cs_command *const commands[] = {
    &cs_cmd_urlgetter,
    &cs_cmd_web_connectivity,
    &cs_cmd_helper,
    &cs_cmd_analyze,
    &cs_cmd_report,
};

static void usage(FILE *f) {
  fprintf(f, "usage: censorscope COMMAND [OPTIONS] ...\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(f, "  %-18s %s\n", commands[i]->name, commands[i]->summary);
  fprintf(f, "\nRun 'censorscope COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("censorscope %s\n", CS_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (!strcmp(argv[1], commands[i]->name)) return commands[i]->run(argc - 1, argv + 1);
  fprintf(stderr, "censorscope: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
