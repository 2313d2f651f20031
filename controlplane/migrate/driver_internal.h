/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The migration driver's insides, shared by its files:
 *   driver.c             records, the log, cancelling, the poll loop
 *   driver_source.c      starting a migration, stopping it, and after the switchover
 *   driver_switchover.c  QEMU's progress, the convergence policy and the switchover
 *   driver_target.c      the incoming side
 */
#ifndef VMF_MIGRATE_DRIVER_INTERNAL_H
#define VMF_MIGRATE_DRIVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "qmp.h"

/* The runtime state of a migration, beside its public record. */
struct mig {
	struct mig_record r;
	struct qmp *qmp;        /* the local QEMU: the source's or the incoming one */
	bool migrate_started;   /* source: QMP migrate was accepted */
	bool continued;         /* source: migrate-continue was sent */
	bool flipped;           /* source: the endpoints forward to the target */
	bool stop_sent;         /* source: the driver paused the VM (QMP stop) */
	bool flip_started;      /* source: flip_fast_path() ran */
	bool flipped_by_handler;
	bool qemu_stopped;      /* source: a STOP event was read */
	/* source: every port of the VM keeps its frames while it is paused (vhost-user), so
	 * QEMU may pause it whenever it likes: QEMU decides the switchover, with the budget
	 * as its downtime-limit. Otherwise (taps) the driver decides, flipping first. */
	bool qemu_decides;
	char nics[4][QMP_QOM_PATH_MAX]; /* source: the VM's virtio-net devices */
	size_t n_nics;
	bool cancel_requested;  /* source: by the operator */
	char cancel_reason[160];
	uint64_t next_query_ns; /* CLOCK_MONOTONIC */
	uint64_t precopy_start_ns;
	/* convergence policy */
	uint64_t last_pass;
	uint64_t best_remaining;
	unsigned int stalled_passes;
	unsigned int escalation; /* 0 none, 1 throttled harder, 2 post-copy */
	uint64_t logged_pass;
	int64_t pass_us[3]; /* QEMU's times of the last three MIGRATION_PASS events */
	/* completion */
	unsigned int final_queries;  /* source: re-queries for QEMU's final figures */
	bool final_stats_done;
	bool target_seen;            /* source: the target's activation is known */
	bool target_gone;            /* source: the target stopped answering */
	uint64_t target_deadline_ns; /* source: stop asking the target after this */
	uint64_t next_target_query_ns;
	/* counters at the start, for deltas */
	uint64_t base_forwarded, base_held, base_released, base_dropped;
	struct mig_driver *d;
	struct mig *next; /* newest first */
};

struct mig_driver {
	struct mig_driver_config cfg;
	struct mig *list;
	unsigned int n;
	uint64_t id_seq;
};

/* driver.c: clocks, the log, records, shared helpers */
uint64_t drv_wall_ns(void);
uint64_t drv_mono_ns(void);
void drv_log(struct mig_driver *d, const struct mig *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int drv_qto(const struct mig_driver *d);
void drv_enter(struct mig *m, uint8_t phase);
void drv_finish(struct mig_driver *d, struct mig *m, uint8_t phase, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
struct mig *drv_find(struct mig_driver *d, const char *id);
struct mig *drv_add(struct mig_driver *d, const char *id, uint8_t role, const char *vm);
int drv_connect_vm(struct mig_driver *d, struct mig *m, char *err, size_t len);
uint64_t drv_counter(struct fabric *fab, unsigned int which);
uint64_t drv_hold_drops(struct fabric *fab);
bool drv_valid_name(const char *s);

/* driver_source.c: stopping here, after the switchover */
void tell_target_abort(struct mig_driver *d, struct mig *m, const char *reason);
void source_stop_here(struct mig_driver *d, struct mig *m, uint8_t phase, const char *reason);
void source_converging(struct mig_driver *d, struct mig *m, uint64_t now);

/* driver_switchover.c: QEMU's progress and events, up to the switchover */
/* The request's blackout budget, or the default 300 ms. */
uint64_t switch_budget_ms(const struct mig_record *r);
void source_query(struct mig_driver *d, struct mig *m, uint64_t now);
bool on_source_event(struct qmp *q, const struct qmp_event *ev, void *opaque);
void source_event(struct mig_driver *d, struct mig *m, const struct qmp_event *ev);

/* driver_target.c: the incoming side */
void target_give_back(struct mig_driver *d, struct mig *m);
void target_packets(struct mig_driver *d, struct mig *m);
void target_event(struct mig_driver *d, struct mig *m, const struct qmp_event *ev);

#endif
