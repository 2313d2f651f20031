/* SPDX-License-Identifier: Apache-2.0 */
/* How fabricctl shows a migration record: shared by `migrate` and `migrations`. */
#ifndef FABRICCTL_MIGRATION_PRINT_H
#define FABRICCTL_MIGRATION_PRINT_H

#include "fabric/v1/agent.pb-c.h"
#include "fabric/v1/migration.pb-c.h"
#include "fabricctl.h"

/* A phase's name without the prefix ("PRECOPY"), or "?" for one this build does not know. */
const char *migration_phase_name(int phase);
/* Whether `migrate` stops following a migration in this phase: the VM runs on the target
 * (CONVERGING, DRAINING, COMPLETED) or the migration is over (FAILED, CANCELLED). */
bool migration_settled(int phase);
/* Whether the migration ended without moving the VM (FAILED or CANCELLED). */
bool migration_failed(int phase);
/* The wall clock now, in Unix nanoseconds. */
uint64_t migration_now_ns(void);

/* The record in full, for people: who, where, options, the timeline with each phase's
 * duration, QEMU's figures, the fabric's blackout, and the frames forwarded and held. */
void migration_print_text(FILE *out, const Fabric__V1__Migration *m);
/* The record as one line of JSON (see json_message). */
void migration_print_json(FILE *out, const Fabric__V1__Migration *m);
/* The table of `fabricctl migrations`, header included, with a count line. */
void migration_print_table(FILE *out, Fabric__V1__Migration *const *ms, size_t n);
/* One line saying why a FAILED or CANCELLED migration stopped, on stderr, prefixed with
 * "fabricctl: WHAT: ". */
void migration_print_failure(const char *what, const Fabric__V1__Migration *m);

/*
 * Reports a failed GetMigration or CancelMigration for `id`: NOT_FOUND as "no migration ID
 * on this host", anything else as ctl_fail does. Returns the exit code.
 */
int migration_call_fail(const char *what, const char *id, const struct rpc_result *res);

#endif
