/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The migration driver: live-migrates local QEMU guests and couples QEMU's switchover to
 * the fabric's cutover (DESIGN.md, "One migration, end to end").
 *
 * On the source it prepares the target through the target's agent, runs pre-copy with
 * `pause-before-switchover`, flips the VM's endpoints to FORWARDING(target) while QEMU
 * waits at the switchover, lets QEMU finish (`migrate-continue`), applies the convergence
 * policy (throttling, post-copy, a deadline), and keeps the migration's timeline. On the
 * target it makes the incoming QEMU listen, activates the VM's endpoints on QEMU's RESUME
 * event (or the guest's own announcement, whichever comes first), announces the VM, and
 * points the endpoints back at the source if the migration fails before the VM runs here.
 *
 * Everything runs on fabricd's control thread: mig_poll() from its loop advances every
 * migration without waiting; the QMP calls it makes are short (a local socket) and each
 * has a timeout. The driver changes the fast path only through the fabric control API
 * (fabric.h), and reaches other hosts only through `struct mig_target_ops`, so that unit
 * tests run it against a fake monitor and a fake target.
 */
#ifndef VMF_MIG_DRIVER_H
#define VMF_MIG_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fabric.h"

struct mig_driver;
struct qmp;

/* The numbers of fabric.v1.MigrationPhase. */
enum mig_phase {
	MIG_PHASE_NONE = 0,
	MIG_PHASE_REQUESTED = 1,
	MIG_PHASE_PREPARING = 2,
	MIG_PHASE_PRECOPY = 3,
	MIG_PHASE_BLACKOUT = 4,
	MIG_PHASE_POSTCOPY = 5,
	MIG_PHASE_CONVERGING = 6,
	MIG_PHASE_DRAINING = 7,
	MIG_PHASE_COMPLETED = 8,
	MIG_PHASE_FAILED = 9,
	MIG_PHASE_CANCELLED = 10,
};

/* The numbers of fabric.v1.MigrationRole. */
enum mig_role {
	MIG_ROLE_SOURCE = 1,
	MIG_ROLE_TARGET = 2,
};

/* The numbers of fabric.v1.ActivationTrigger. */
enum mig_trigger {
	MIG_TRIGGER_NONE = 0,
	MIG_TRIGGER_QMP_RESUME = 1,
	MIG_TRIGGER_GUEST_ANNOUNCEMENT = 2,
	MIG_TRIGGER_API = 3,
};

#define MIG_ID_MAX 64
#define MIG_NAME_MAX 64
#define MIG_URI_MAX 128
#define MIG_MAX_ENDPOINTS 16
#define MIG_MAX_SPANS 16

/* How a migration runs (fabric.v1.MigrationOptions); 0/false picks the default. */
struct mig_options {
	uint64_t downtime_limit_ms;
	uint64_t max_bandwidth; /* bytes per second */
	bool auto_converge;
	bool allow_post_copy;
	uint64_t switchover_timeout_ms; /* 0: no deadline */
	uint64_t drain_ms;
};

/* One endpoint that moves with the VM. */
struct mig_endpoint {
	struct fab_ep_key key;
	char source_port[FAB_PORT_NAME_MAX];
	char target_port[FAB_PORT_NAME_MAX];
	struct fab_endpoint before; /* as this host held it when the migration began */
	bool activated;             /* target: LOCAL here now */
};

struct mig_span {
	uint8_t phase;
	uint64_t start_ns, end_ns; /* CLOCK_REALTIME; end 0 while current */
};

/* What QEMU reported (fabric.v1.QemuMigrationStats). */
struct mig_qemu_stats {
	uint64_t total_time_ms, downtime_ms, setup_time_ms;
	uint64_t bytes_transferred, bytes_remaining, bytes_total;
	uint64_t passes, dirty_rate, throughput, expected_downtime_ms;
	uint32_t cpu_throttle_percent;
	bool post_copy;
	uint64_t postcopy_requests;
};

/* What the fast paths did with the VM's frames (fabric.v1.MigrationPacketStats). */
struct mig_packet_stats {
	uint64_t forwarded, held, released, dropped, hold_peak;
};

/* One migration as this host keeps it (fabric.v1.Migration). */
struct mig_record {
	char id[MIG_ID_MAX];
	uint8_t role; /* enum mig_role */
	char vm_name[MIG_NAME_MAX];
	struct mig_endpoint eps[MIG_MAX_ENDPOINTS];
	unsigned int n_eps;
	char source_host[MIG_NAME_MAX], target_host[MIG_NAME_MAX];
	uint32_t source_vtep, target_vtep; /* host byte order */
	char target_agent[MIG_URI_MAX];
	char uri[MIG_URI_MAX]; /* source: where QEMU sends; target: where QEMU listens */
	struct mig_options opt;
	uint64_t generation;
	uint8_t phase, failed_phase; /* enum mig_phase */
	char failure_reason[256];
	uint64_t requested_ns, finished_ns;
	struct mig_span timeline[MIG_MAX_SPANS];
	unsigned int n_spans;
	uint8_t activation_trigger; /* enum mig_trigger */
	uint64_t activated_ns, paused_ns;
	uint64_t source_brownout_ns, blackout_ns, target_brownout_ns;
	struct mig_qemu_stats qemu;
	struct mig_packet_stats packets;
};

/* What the source learns from the target's record. */
struct mig_target_view {
	uint8_t phase;   /* enum mig_phase */
	uint8_t trigger; /* enum mig_trigger */
	uint64_t activated_ns;
	struct mig_packet_stats packets;
};

/*
 * How the source reaches the target's agent (gRPC with mutual TLS in fabricd, a fake in
 * unit tests). Each returns 0 or a negative errno, with a sentence in `err`.
 */
struct mig_target_ops {
	/* Agent.PrepareIncoming for every endpoint of `m`, the first with m->uri. */
	int (*prepare)(void *ctx, const struct mig_record *m, char *err, size_t len);
	/* Agent.CancelMigration: the target drops INCOMING and points back at the source. */
	int (*abort)(void *ctx, const struct mig_record *m, const char *reason, char *err,
		     size_t len);
	/* Agent.GetMigration: the target's view of the activation. */
	int (*query)(void *ctx, const struct mig_record *m, struct mig_target_view *out,
		     char *err, size_t len);
};

struct mig_driver_config {
	struct fabric *fab;
	const char *qemu_dir;  /* the monitor of VM NAME is qemu_dir/NAME.qmp */
	const char *host_name; /* this host */
	uint32_t vtep;         /* this host's underlay address */
	const struct mig_target_ops *target;
	void *target_ctx;
	int qmp_timeout_ms;          /* each QMP call; 0: 5000 */
	unsigned int stall_passes;   /* passes without progress before escalating; 0: 3 */
	unsigned int keep_finished;  /* finished records kept; 0: 64 */
	unsigned int query_interval_ms; /* query-migrate period in pre-copy; 0: 100 */
	/* Where decisions are logged, one line each; NULL: stderr. */
	void (*log)(void *ctx, const char *line);
	void *log_ctx;
};

/* A request to migrate a local VM (fabric.v1.StartMigrationRequest, resolved). */
struct mig_request {
	const char *id;       /* "" or NULL: the driver picks one */
	const char *vm_name;
	const char *target_host;
	uint32_t target_vtep;
	const char *target_agent; /* "host:port" or "unix:/path" */
	const char *uri;          /* where the target QEMU listens, for QMP migrate */
	const struct mig_endpoint *eps; /* key, source_port, target_port */
	unsigned int n_eps;
	uint64_t generation; /* 0: one more than the highest held */
	struct mig_options opt;
};

/* A target's prepare for one endpoint (fabric.v1.PrepareIncomingRequest with an
 * incoming URI or a migration ID). */
struct mig_incoming {
	const char *id;
	const char *vm_name;
	const char *source_host;
	uint32_t source_vtep; /* 0: the location held before */
	const char *uri;      /* "" or NULL: the record exists already (a later endpoint) */
	bool allow_post_copy;
	struct fab_ep_key key;
	const char *port_name;
	uint64_t generation;
};

/* Creates a driver. -EINVAL (missing fab, qemu_dir, target ops), -ENOMEM. */
int mig_driver_create(struct mig_driver **out, const struct mig_driver_config *cfg);
/* Closes every monitor connection (QEMU keeps running) and frees everything. */
void mig_driver_destroy(struct mig_driver *d);

/*
 * Starts migrating a local VM. Checks the request, connects to the VM's monitor, sets
 * the migration capabilities and parameters, prepares the target, and starts QMP
 * migrate; the rest happens in mig_poll(). A request with the ID of a known migration
 * answers that migration.
 * @out: the record (valid until the next driver call); set also when the migration
 *       failed at once (phase FAILED, failure_reason says why).
 * Returns 0 (the migration runs, or the known one was found), or:
 *   -EINVAL  a bad field (err names it); -EBUSY the VM is migrating already;
 *   -ENOENT  an endpoint is not LOCAL here on the port named;
 *   -ESTALE  the generation does not exceed an endpoint's;
 *   -EIO     the migration could not start (QEMU, target): *out is the FAILED record.
 */
int mig_start(struct mig_driver *d, const struct mig_request *req, const struct mig_record **out,
	      char *err, size_t len);

/*
 * Target side: records an endpoint of an incoming migration and, with a URI, makes the
 * VM's QEMU listen (capabilities, migrate-incoming). Call it before the fast path's
 * PREPARE_INCOMING step. Returns 0, -EINVAL, -EEXIST (the ID belongs to a record of the
 * other role or a finished one), -ENOSPC (too many endpoints), or -EIO (QEMU: err says).
 */
int mig_prepare_incoming(struct mig_driver *d, const struct mig_incoming *in, char *err,
			 size_t len);

/*
 * Cancels a migration. On the source: before the switchover only (QMP migrate_cancel,
 * the target told to drop its INCOMING state, the VM keeps running here). On the target:
 * endpoints not yet activated point back at the source. Returns 0 (also when it was
 * cancelled already), -ENOENT (no such migration), -EBUSY (past the switchover: the VM
 * belongs to the target), -EALREADY (it finished otherwise).
 */
int mig_cancel(struct mig_driver *d, const char *id, const char *reason, char *err,
	       size_t len);

/* Advances every migration without waiting. Returns how many are still running. */
int mig_poll(struct mig_driver *d);

/* Whether a migration runs with a monitor open (the loop should then wait on the
 * monitors with mig_wait() rather than sleep elsewhere: QEMU's switchover events need an
 * answer within a millisecond). */
bool mig_busy(struct mig_driver *d);
/* Waits up to `timeout_ms` for one of the open monitors to have input. Returns > 0 when
 * one has, 0 on timeout. */
int mig_wait(struct mig_driver *d, int timeout_ms);

/* What the fast path reported (fabric_poll's callback): activations on the target,
 * the end of forwarding on the source. */
void mig_on_fabric_event(struct mig_driver *d, const struct fab_event *ev);

/* The migration with ID `id`, or NULL. */
const struct mig_record *mig_find(struct mig_driver *d, const char *id);
/* The records, newest first: the i-th, or NULL past the end. */
const struct mig_record *mig_at(struct mig_driver *d, unsigned int i);

/* "PRECOPY", ... */
const char *mig_phase_name(uint8_t phase);
/* Whether a phase is final. */
bool mig_phase_final(uint8_t phase);

#endif
