/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fabricctl migrations: the migrations this host took part in (Agent.ListMigrations), one
 * of them in full (Agent.GetMigration), and cancelling one (Agent.CancelMigration).
 */
#include <string.h>

#include "migration_print.h"

#define CANCEL_REASON "cancelled from fabricctl"

static int list(struct ctl *ctl, int argc, char **argv)
{
	Fabric__V1__ListMigrationsRequest req = FABRIC__V1__LIST_MIGRATIONS_REQUEST__INIT;
	Fabric__V1__ListMigrationsResponse *r;
	struct rpc_result res;
	uint64_t limit;
	int ret;

	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (opt_is(argv[i], "json")) {
			ctl->json = true;
		} else if (opt_is(argv[i], "active")) {
			req.active_only = true;
		} else if (opt_is(argv[i], "vm") && v) {
			req.vm_name = (char *)v;
			i++;
		} else if (opt_is(argv[i], "limit") && v) {
			ret = opt_u64("migrations", "--limit", v, 1, UINT32_MAX, &limit);
			if (ret)
				return ret;
			req.limit = (uint32_t)limit;
			i++;
		} else if (argv[i][0] == '-') {
			return ctl_usage_error("migrations: unknown option '%s', or it needs a value "
					       "(fabricctl migrations --help)",
					       argv[i]);
		} else {
			return ctl_usage_error("migrations: no subcommand '%s' (show ID, cancel ID, or "
					       "none to list them)",
					       argv[i]);
		}
	}
	ret = ctl_connect(ctl);
	if (ret)
		return ret;
	if (rpc_client_unary(ctl->client, "/fabric.v1.Agent/ListMigrations", &req.base,
			     &fabric__v1__list_migrations_response__descriptor, (ProtobufCMessage **)&r,
			     ctl->timeout_ms, &res))
		return ctl_fail("migrations", &res);
	if (ctl->json) {
		fputs("[", stdout);
		for (size_t i = 0; i < r->n_migrations; i++) {
			fputs(i ? ",\n  " : "\n  ", stdout);
			migration_print_json(stdout, r->migrations[i]);
		}
		fputs(r->n_migrations ? "\n]\n" : "]\n", stdout);
	} else {
		migration_print_table(stdout, r->migrations, r->n_migrations);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return EXIT_OK;
}

/*
 * The arguments of show and cancel: the ID, --json, and for cancel --reason. Returns 0 or
 * EXIT_USAGE.
 */
static int id_args(const char *sub, int argc, char **argv, const char **id, const char **reason,
		   bool *json)
{
	*id = NULL;
	for (int i = 0; i < argc; i++) {
		if (opt_is(argv[i], "json")) {
			*json = true;
		} else if (reason && opt_is(argv[i], "reason") && i + 1 < argc) {
			*reason = argv[++i];
		} else if (argv[i][0] == '-') {
			return ctl_usage_error("migrations %s: unknown option '%s', or it needs a value "
					       "(fabricctl migrations --help)",
					       sub, argv[i]);
		} else if (*id) {
			return ctl_usage_error("migrations %s: one ID at a time ('%s' and '%s')", sub, *id,
					       argv[i]);
		} else {
			*id = argv[i];
		}
	}
	if (!*id)
		return ctl_usage_error("migrations %s needs the migration's ID (fabricctl migrations "
				       "lists them)",
				       sub);
	return 0;
}

static int show(struct ctl *ctl, int argc, char **argv)
{
	Fabric__V1__GetMigrationRequest req = FABRIC__V1__GET_MIGRATION_REQUEST__INIT;
	Fabric__V1__GetMigrationResponse *r;
	struct rpc_result res;
	const char *id;
	int ret = id_args("show", argc, argv, &id, NULL, &ctl->json);

	if (ret || (ret = ctl_connect(ctl)))
		return ret;
	req.migration_id = (char *)id;
	if (rpc_client_unary(ctl->client, "/fabric.v1.Agent/GetMigration", &req.base,
			     &fabric__v1__get_migration_response__descriptor, (ProtobufCMessage **)&r,
			     ctl->timeout_ms, &res))
		return migration_call_fail("migrations show", id, &res);
	if (!r->migration) {
		protobuf_c_message_free_unpacked(&r->base, NULL);
		fprintf(stderr, "fabricctl: migrations show: fabricd answered no record for %s\n", id);
		return EXIT_REFUSED;
	}
	if (ctl->json) {
		migration_print_json(stdout, r->migration);
		putchar('\n');
	} else {
		migration_print_text(stdout, r->migration);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return EXIT_OK;
}

static int cancel(struct ctl *ctl, int argc, char **argv)
{
	Fabric__V1__CancelMigrationRequest req = FABRIC__V1__CANCEL_MIGRATION_REQUEST__INIT;
	Fabric__V1__CancelMigrationResponse *r;
	const char *id, *reason = CANCEL_REASON;
	const Fabric__V1__Migration *m;
	struct rpc_result res;
	int ret = id_args("cancel", argc, argv, &id, &reason, &ctl->json);

	if (ret || (ret = ctl_connect(ctl)))
		return ret;
	req.migration_id = (char *)id;
	req.reason = (char *)reason;
	if (rpc_client_unary(ctl->client, "/fabric.v1.Agent/CancelMigration", &req.base,
			     &fabric__v1__cancel_migration_response__descriptor,
			     (ProtobufCMessage **)&r, ctl->timeout_ms, &res))
		return migration_call_fail("migrations cancel", id, &res);
	m = r->migration;
	if (ctl->json) {
		if (m)
			migration_print_json(stdout, m);
		else
			fputs("null", stdout);
		putchar('\n');
	} else if (m) {
		printf("migration %s: %s in %s (%s); %s runs on %s\n", m->migration_id,
		       migration_phase_name(m->phase), migration_phase_name(m->failed_phase),
		       m->failure_reason && *m->failure_reason ? m->failure_reason : reason,
		       m->vm_name, m->source_host_name);
	} else {
		printf("migration %s cancelled\n", id);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return EXIT_OK;
}

int cmd_migrations(struct ctl *ctl, int argc, char **argv)
{
	if (argc > 0 && strcmp(argv[0], "show") == 0)
		return show(ctl, argc - 1, argv + 1);
	if (argc > 0 && strcmp(argv[0], "cancel") == 0)
		return cancel(ctl, argc - 1, argv + 1);
	return list(ctl, argc, argv);
}
