/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fabricctl: the operator's CLI for vmfabric. A static command table with exact (never
 * prefix) matching; every command has --help; human tables by default, --json for
 * scripts; exit codes 0 ok, 1 refused by the agent, 2 usage, 3 no agent reachable.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fabricctl.h"

static const struct ctl_command commands[] = {
	{"flows", "[--vni N] [--mac MAC] [--state STATE] [--json] [--watch [SECONDS]]",
	 "the flow table: every endpoint, where it is, and its traffic", cmd_flows},
	{"endpoints", "add|del|list|prepare|forward|activate|end-forward ...",
	 "program endpoints and drive the four migration steps by hand", cmd_endpoints},
	{"stats", "[--json] [--all]", "the host's counters and drop reasons", cmd_stats},
	{"migrate", "VM --to HOST [--json]", "move a VM to another host", cmd_migrate},
	{"migrations", "[--json]", "migrations and their timelines", cmd_migrations},
	{"watch", "[--json]", "follow the agent's events (activations, hold overflows, ...)",
	 cmd_watch},
	{"health", "[--json]", "is the agent serving, and what it is", cmd_health},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "usage: fabricctl [--socket unix:PATH | --target HOST:PORT --tls-ca FILE "
		     "--tls-cert FILE --tls-key FILE [--server-name NAME]] [--timeout MS] COMMAND "
		     "[ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\n'fabricctl COMMAND --help' explains a command. The agent is fabricd's; by "
		     "default\nat unix:/run/vmfabric/fabricd.sock (or $FABRICCTL_TARGET).\n"
		     "Exit codes: 0 ok, 1 refused by the agent, 2 bad command line, 3 no agent.\n");
}

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("fabricctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

bool opt_is(const char *arg, const char *name)
{
	return arg[0] == '-' && arg[1] == '-' && strcmp(arg + 2, name) == 0;
}

int ctl_connect(struct ctl *ctl)
{
	char err[512];

	if (ctl->client)
		return 0;
	if (rpc_client_open(&ctl->client, ctl->target, &ctl->tls, ctl->server_name, err,
			    sizeof(err))) {
		fprintf(stderr, "fabricctl: %s\n", err);
		return EXIT_UNREACHABLE;
	}
	return 0;
}

int ctl_fail(const char *what, const struct rpc_result *res)
{
	if (res->status == RPC_UNAVAILABLE || res->status == RPC_DEADLINE_EXCEEDED) {
		fprintf(stderr, "fabricctl: %s: no agent answered (%s%s%s); is fabricd running, and "
				"is --socket/--target right?\n",
			what, rpc_status_name(res->status), res->message[0] ? ": " : "", res->message);
		return EXIT_UNREACHABLE;
	}
	fprintf(stderr, "fabricctl: %s: %s: %s\n", what, rpc_status_name(res->status),
		res->message[0] ? res->message : "(no detail)");
	return EXIT_REFUSED;
}

void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

int main(int argc, char **argv)
{
	struct ctl ctl = {.target = getenv("FABRICCTL_TARGET"), .timeout_ms = 10000};
	int i = 1, ret;

	if (!ctl.target || !*ctl.target)
		ctl.target = "unix:/run/vmfabric/fabricd.sock";
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (opt_is(a, "help") || strcmp(a, "-h") == 0) {
			usage(stdout);
			return EXIT_OK;
		}
		if (!v)
			return ctl_usage_error("%s needs a value (fabricctl --help)", a);
		if (opt_is(a, "socket")) {
			if (strncmp(v, "unix:", 5) != 0)
				return ctl_usage_error("--socket takes unix:PATH, not '%s'", v);
			ctl.target = v;
		} else if (opt_is(a, "target")) {
			ctl.target = v;
		} else if (opt_is(a, "tls-ca")) {
			ctl.tls.ca_file = v;
		} else if (opt_is(a, "tls-cert")) {
			ctl.tls.cert_file = v;
		} else if (opt_is(a, "tls-key")) {
			ctl.tls.key_file = v;
		} else if (opt_is(a, "server-name")) {
			ctl.server_name = v;
		} else if (opt_is(a, "timeout")) {
			ctl.timeout_ms = atoi(v);
			if (ctl.timeout_ms <= 0)
				return ctl_usage_error("--timeout takes milliseconds > 0, not '%s'", v);
		} else {
			return ctl_usage_error("unknown option '%s' (fabricctl --help)", a);
		}
		i++;
	}
	if (i == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t c = 0; c < N_COMMANDS; c++) {
		if (strcmp(argv[i], commands[c].name) != 0)
			continue;
		if (argc > i + 1 && (opt_is(argv[i + 1], "help") || strcmp(argv[i + 1], "-h") == 0)) {
			printf("usage: fabricctl %s %s\n\n%s\n", commands[c].name, commands[c].args,
			       commands[c].help);
			return EXIT_OK;
		}
		ret = commands[c].run(&ctl, argc - i - 1, argv + i + 1);
		rpc_client_close(ctl.client);
		return ret;
	}
	return ctl_usage_error("no command '%s' (fabricctl --help lists them)", argv[i]);
}
