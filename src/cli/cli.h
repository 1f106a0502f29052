/* cli.h - the command table: each subcommand is one file exposing one cs_command. */
#ifndef CS_CLI_H
#define CS_CLI_H

#define CS_VERSION "0.1.0"

typedef struct {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv); /* argv[0] is the command name; returns exit code */
} cs_command;

extern const cs_command cs_cmd_urlgetter;
extern const cs_command cs_cmd_web_connectivity;
extern const cs_command cs_cmd_helper;
extern const cs_command cs_cmd_analyze;
extern const cs_command cs_cmd_report;

#endif
