/* SPDX-License-Identifier: Apache-2.0 */
/* fabricctl's shared pieces: the connection, the exit codes, the output helpers. */
#ifndef FABRICCTL_H
#define FABRICCTL_H

#include <stdbool.h>
#include <stdio.h>

#include "rpc.h"

/* Exit codes scripts can rely on. */
enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1, /* the agent answered with an error */
	EXIT_USAGE = 2,   /* the command line is wrong */
	EXIT_UNREACHABLE = 3, /* no agent answered */
};

struct ctl {
	const char *target;
	struct rpc_tls tls;
	const char *server_name;
	int timeout_ms;
	bool json;
	struct rpc_client *client;
};

struct ctl_command {
	const char *name;
	const char *args;
	const char *help;
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

/* Connects on first use. Returns 0 or prints why and returns EXIT_UNREACHABLE. */
int ctl_connect(struct ctl *ctl);
/* Prints a failed call's status in one line and returns the exit code for it. */
int ctl_fail(const char *what, const struct rpc_result *res);
/* Prints "fabricctl: ..." and returns EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A JSON string literal. */
void json_string(FILE *out, const char *s);
/* Exact-match option parsing: returns the value of --name or NULL; advances *i. */
bool opt_is(const char *arg, const char *name);

int cmd_flows(struct ctl *ctl, int argc, char **argv);
int cmd_endpoints(struct ctl *ctl, int argc, char **argv);
int cmd_stats(struct ctl *ctl, int argc, char **argv);
int cmd_watch(struct ctl *ctl, int argc, char **argv);
int cmd_migrate(struct ctl *ctl, int argc, char **argv);
int cmd_migrations(struct ctl *ctl, int argc, char **argv);
int cmd_health(struct ctl *ctl, int argc, char **argv);

#endif
