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
	EXIT_REFUSED = 1, /* the agent answered with an error, or the operation failed */
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
	const char *details; /* what --help adds after the summary, or NULL */
};

/* Connects on first use. Returns 0 or prints why and returns EXIT_UNREACHABLE. */
int ctl_connect(struct ctl *ctl);
/* Prints a failed call's status in one line and returns the exit code for it. */
int ctl_fail(const char *what, const struct rpc_result *res);
/* Prints "fabricctl: ..." and returns EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A JSON string literal. */
void json_string(FILE *out, const char *s);
/* A protobuf-c message as one JSON object (no newline): every field under its .proto
 * name, enums by their value names without the enum's prefix, null for NULL. */
void json_message(FILE *out, const ProtobufCMessage *msg);
/* An enum value's name without the enum's prefix ("COMPLETED" for
 * MIGRATION_PHASE_COMPLETED), or NULL for a value the descriptor does not know. */
const char *enum_short_name(const ProtobufCEnumDescriptor *desc, int value);
/* A count in at most 6 characters: 1234, 12.3K, 45.6M, 7.8G. */
void human_count(uint64_t v, char *out, size_t len);
/* Exact-match option parsing: returns the value of --name or NULL; advances *i. */
bool opt_is(const char *arg, const char *name);
/* Parses `value`, the decimal number given to option `opt` of command `cmd`, into *out
 * if it is in [min, max]. Returns 0, or prints a usage error and returns EXIT_USAGE. */
int opt_u64(const char *cmd, const char *opt, const char *value, uint64_t min, uint64_t max,
	    uint64_t *out);

int cmd_flows(struct ctl *ctl, int argc, char **argv);
int cmd_endpoints(struct ctl *ctl, int argc, char **argv);
int cmd_stats(struct ctl *ctl, int argc, char **argv);
int cmd_watch(struct ctl *ctl, int argc, char **argv);
int cmd_migrate(struct ctl *ctl, int argc, char **argv);
int cmd_migrations(struct ctl *ctl, int argc, char **argv);
int cmd_health(struct ctl *ctl, int argc, char **argv);

#endif
