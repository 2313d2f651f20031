/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fabricctl: the operator's CLI for vmfabric. A static command table with exact (never
 * prefix) matching; every command has --help; human tables by default, --json for
 * scripts; exit codes 0 ok, 1 refused by the agent or the operation failed, 2 usage, 3 no
 * agent reachable.
 */
#include <errno.h>
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
	{"migrate",
	 "VM --to HOST --target-vtep IP --target-agent HOST:PORT --uri URI [--id ID]\n"
	 "         [--generation N] [--downtime-limit-ms N] [--max-bandwidth BYTES_PER_S]\n"
	 "         [--auto-converge] [--post-copy] [--deadline-ms N] [--no-wait] [--json]\n"
	 "         [--interval-ms N]",
	 "move a VM that runs on this host to another host", cmd_migrate,
	 "Starts the live migration of VM, then follows it until the VM runs on the target\n"
	 "(CONVERGING: this host forwards its stragglers until EndForwarding) or the\n"
	 "migration is over (COMPLETED, FAILED, CANCELLED), and prints its timeline.\n\n"
	 "  --to HOST                 the target's host name\n"
	 "  --target-vtep IP          the target's underlay address\n"
	 "  --target-agent HOST:PORT  the target fabricd's agent, to prepare it\n"
	 "  --uri URI                 where the target's QEMU listens (tcp:192.0.2.12:49152)\n"
	 "  --id ID                   the migration's ID (default: fabricd picks one)\n"
	 "  --generation N            the location generation (default: one more than held)\n"
	 "  --downtime-limit-ms N     the blackout the driver plans for (default 300)\n"
	 "  --max-bandwidth N         bytes per second for the migration (default: QEMU's)\n"
	 "  --auto-converge           let QEMU throttle the vCPUs when pre-copy cannot converge\n"
	 "  --post-copy               let the migration switch to post-copy\n"
	 "  --deadline-ms N           cancel if the switchover has not come by then\n"
	 "  --no-wait                 start it and return at once\n"
	 "  --interval-ms N           how often to ask for progress (default 200)\n"
	 "  --json                    only the final record, as one JSON object\n\n"
	 "Ctrl-C while following cancels the migration, if it has not reached the\n"
	 "switchover, and keeps following until it has ended. Exit status: 0 the VM runs on\n"
	 "the target, 1 refused or FAILED or CANCELLED, 2 bad command line, 3 no agent."},
	{"migrations", "[--vm NAME] [--active] [--limit N] [--json]\n"
		       "       fabricctl migrations show ID [--json]\n"
		       "       fabricctl migrations cancel ID [--reason TEXT] [--json]",
	 "migrations and their timelines", cmd_migrations,
	 "Without a subcommand, a table of the migrations this host took part in, as source\n"
	 "or target, newest first: --vm only that VM's, --active only those not finished,\n"
	 "--limit at most N. 'show ID' prints one in full with its timeline; 'cancel ID'\n"
	 "stops one that has not reached the switchover (the VM stays on the source)."},
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
		     "Exit codes: 0 ok, 1 refused by the agent or failed (a migration that FAILED),\n"
		     "2 bad command line, 3 no agent.\n");
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

int opt_u64(const char *cmd, const char *opt, const char *value, uint64_t min, uint64_t max,
	    uint64_t *out)
{
	unsigned long long n;
	char *end = (char *)value;

	/* strtoull takes "-1" and " 1" and wraps or skips them: only digits are a number. */
	errno = 0;
	n = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
	if (value[0] < '0' || value[0] > '9' || *end || errno || n < min || n > max) {
		if (max == UINT64_MAX)
			return ctl_usage_error("%s %s '%s': a whole number, %llu or more", cmd, opt,
					       value, (unsigned long long)min);
		return ctl_usage_error("%s %s '%s': a whole number, %llu..%llu", cmd, opt, value,
				       (unsigned long long)min, (unsigned long long)max);
	}
	*out = n;
	return 0;
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
		/* --help anywhere after the command, so "migrations show --help" helps too. */
		for (int h = i + 1; h < argc; h++) {
			if (!opt_is(argv[h], "help") && strcmp(argv[h], "-h") != 0)
				continue;
			printf("usage: fabricctl %s %s\n\n%s\n", commands[c].name, commands[c].args,
			       commands[c].help);
			if (commands[c].details)
				printf("\n%s\n", commands[c].details);
			return EXIT_OK;
		}
		ret = commands[c].run(&ctl, argc - i - 1, argv + i + 1);
		rpc_client_close(ctl.client);
		return ret;
	}
	return ctl_usage_error("no command '%s' (fabricctl --help lists them)", argv[i]);
}
