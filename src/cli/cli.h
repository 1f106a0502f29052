/* cli.h - the commands: one generic command for every registered nettest (cmd_nettest.c,
 * from nettests/registry.h), and the tools (helper, analyze, report), each one file exposing
 * one cs_command. --help and the man page come from the same tables (help.c). */
#ifndef CS_CLI_H
#define CS_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "nettests/nettest.h"

#define CS_VERSION "0.1.0"

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the command name; returns exit code */
} cs_command;

extern const cs_command cs_cmd_helper;
extern const cs_command cs_cmd_analyze;
extern const cs_command cs_cmd_report;
extern const cs_command cs_cmd_upload;
extern const cs_command cs_cmd_collector;

/* The tools, in --help order; NULL-terminated. */
extern const cs_command *const cs_tools[];

/* `censorscope NAME [OPTIONS] [INPUT...]` for a registered nettest (argv[0] is NAME). */
int cs_cmd_nettest(const cs_nettest *nt, int argc, char **argv);

/* The options of a table as --help lines ("  -j, --parallel N       ..."), wrapped. */
void cs_help_opts(FILE *f, const cs_optdef *d, size_t n);
/* `censorscope NAME --help`. */
void cs_help_nettest(FILE *f, const cs_nettest *nt);
/* `censorscope --help`. */
void cs_help_main(FILE *f);
/* The man page censorscope.1 (troff), from the registry and the option tables. */
void cs_man_write(FILE *f);

#endif
