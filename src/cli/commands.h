/*
 * commands.h - the subcommands of the mobilesam tool. Each one takes its
 * own argv (argv[0] is the subcommand's name) and returns the exit status:
 * 0 success, 1 bad data (CLI_DATA_ERROR), 2 bad command line
 * (CLI_USAGE_ERROR). To add one: write src/cli/cmd_<name>.c, declare it
 * here and list it in the table in main.c.
 */
#ifndef MOBILESAM_CLI_COMMANDS_H
#define MOBILESAM_CLI_COMMANDS_H

int cmd_seg(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_everything(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_compare(int argc, char **argv);

#endif
