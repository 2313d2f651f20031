/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client of QEMU's machine protocol (QMP) for the migration driver: typed monitor calls
 * over a unix socket, and the events QEMU sends between them.
 *
 * One `struct qmp` is one monitor connection. It has no global state and no threads; a
 * connection is used by one thread at a time. Every call that waits takes a timeout in
 * milliseconds and never blocks longer (connect, the greeting, a command's reply, an
 * event).
 *
 * Pointers passed in must be valid unless a function says NULL is allowed.
 *
 * Errors: every function returns 0 (or a count) or a negative errno, and keeps a message a
 * human can act on, read with qmp_last_error(). The errnos mean the same everywhere:
 *   -ENOTCONN   QEMU is gone: it closed the monitor (quit, crash, kill) or reset it; or
 *               the connection was closed earlier by one of the errors below.
 *   -EPIPE      QEMU was gone when the command was written: it was not delivered.
 *   -ETIMEDOUT  no answer in time. The connection stays usable: the command's late
 *               reply, if it ever comes, is recognised by its id and dropped.
 *   -EIO        QEMU refused the command; qmp_last_error() has QEMU's own text ("desc")
 *               and qmp_last_error_class() its class ("GenericError", ...).
 *   -EOPNOTSUPP QEMU does not know the command (class CommandNotFound).
 *   -EPROTO     QEMU's answer made no sense. Malformed JSON, a message that is not QMP
 *               or a reply to a command not sent close the connection (the stream cannot
 *               be trusted after that); a well-formed reply of the wrong shape (a missing
 *               or mistyped member) leaves it up. qmp_is_connected() tells which.
 *   -EINVAL     a bad argument from the caller; nothing was sent.
 *   -EBUSY      called from inside the event handler (see qmp_set_event_handler).
 *   -ECANCELED  qmp_wait_event() only: the migration failed or was cancelled.
 *   -ENOMEM     out of memory.
 *
 * Events are read whenever the client reads: while it waits for a reply, in
 * qmp_wait_event(), and in qmp_process_input() (the non-blocking entry point for an event
 * loop: poll qmp_fd() for POLLIN). Each event goes to the handler if one is set, and
 * (unless the handler takes it) into a bounded queue that qmp_wait_event() and
 * qmp_next_event() consume. A connection's events are read only when a call on that
 * connection reads: a driver that watches two QEMUs and wants each event when it comes
 * polls both fds in its loop (QEMU's own timestamps are exact either way).
 *
 * The JSON encoding and decoding live apart from the calls (qmp_json.h); the untyped layer
 * (send any command, get its raw return) is in qmp_raw.h.
 */
#ifndef VMF_QMP_H
#define VMF_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qmp;

/* ---- names QEMU uses ---- */

/* QEMU 7.2's MigrationStatus, in its order. */
#define QMP_MIGRATION_STATUSES(X)                                                          \
	X(NONE, "none")                                                                    \
	X(SETUP, "setup")                                                                  \
	X(CANCELLING, "cancelling")                                                        \
	X(CANCELLED, "cancelled")                                                          \
	X(ACTIVE, "active")                                                                \
	X(POSTCOPY_ACTIVE, "postcopy-active")                                              \
	X(POSTCOPY_PAUSED, "postcopy-paused")                                              \
	X(POSTCOPY_RECOVER, "postcopy-recover")                                            \
	X(COMPLETED, "completed")                                                          \
	X(FAILED, "failed")                                                                \
	X(COLO, "colo")                                                                    \
	X(PRE_SWITCHOVER, "pre-switchover")                                                \
	X(DEVICE, "device")                                                                \
	X(WAIT_UNPLUG, "wait-unplug")

enum qmp_migration_status {
	QMP_MIGRATION_UNKNOWN = 0, /* a status this client does not know (a newer QEMU) */
#define QMP_X(e, s) QMP_MIGRATION_##e,
	QMP_MIGRATION_STATUSES(QMP_X)
#undef QMP_X
};

/* QEMU 7.2's RunState, in its order. */
#define QMP_RUN_STATES(X)                                                                  \
	X(DEBUG, "debug")                                                                  \
	X(INMIGRATE, "inmigrate")                                                          \
	X(INTERNAL_ERROR, "internal-error")                                                \
	X(IO_ERROR, "io-error")                                                            \
	X(PAUSED, "paused")                                                                \
	X(POSTMIGRATE, "postmigrate")                                                      \
	X(PRELAUNCH, "prelaunch")                                                          \
	X(FINISH_MIGRATE, "finish-migrate")                                                \
	X(RESTORE_VM, "restore-vm")                                                        \
	X(RUNNING, "running")                                                              \
	X(SAVE_VM, "save-vm")                                                              \
	X(SHUTDOWN, "shutdown")                                                            \
	X(SUSPENDED, "suspended")                                                          \
	X(WATCHDOG, "watchdog")                                                            \
	X(GUEST_PANICKED, "guest-panicked")                                                \
	X(COLO, "colo")

enum qmp_run_state {
	QMP_RUN_UNKNOWN = 0, /* a state this client does not know (a newer QEMU) */
#define QMP_X(e, s) QMP_RUN_##e,
	QMP_RUN_STATES(QMP_X)
#undef QMP_X
};

/* QEMU's name of a status ("pre-switchover"); "unknown" for QMP_MIGRATION_UNKNOWN or a
 * value out of range. Never NULL. */
const char *qmp_migration_status_name(enum qmp_migration_status status);
/* The status named `name`; QMP_MIGRATION_UNKNOWN for NULL or a name not in the list. */
enum qmp_migration_status qmp_migration_status_parse(const char *name);
/* QEMU's name of a run state ("postmigrate"); "unknown" when out of range. Never NULL. */
const char *qmp_run_state_name(enum qmp_run_state state);
/* The run state named `name`; QMP_RUN_UNKNOWN for NULL or a name not in the list. */
enum qmp_run_state qmp_run_state_parse(const char *name);

/* ---- connection ---- */

/* What QEMU said about itself in its greeting. */
struct qmp_version {
	int major;
	int minor;
	int micro;
	char package[64]; /* e.g. "Debian 1:7.2+dfsg-7+deb12u18+b3"; may be empty */
};

/*
 * Connects to the QMP socket at `path`, reads QEMU's greeting and negotiates
 * capabilities (`qmp_capabilities`, no optional capability enabled), all within
 * `timeout_ms`. While QEMU is starting its socket may not exist yet, or exist and refuse
 * connections: connecting is retried every 10 ms until the timeout.
 *
 * @out: the connection, on success; free it with qmp_close().
 * @path: the socket's path (what follows "unix:" in QEMU's -qmp option).
 * @timeout_ms: for the whole sequence; > 0.
 * @err, @err_len: receives the reason of a failure (may be NULL).
 * Returns 0; -EINVAL (NULL or too long a path, timeout <= 0); -ETIMEDOUT (no socket to
 * connect to, no greeting or no answer to qmp_capabilities in time: err says which, with
 * the last connect error); the connect's errno for a failure retrying cannot mend
 * (-EACCES, -ENOTSOCK, ...); -ENOTCONN (QEMU closed the socket); -EPROTO (not a QMP
 * greeting); -EIO (QEMU refused qmp_capabilities); -ENOMEM.
 */
int qmp_connect(struct qmp **out, const char *path, int timeout_ms, char *err, size_t err_len);

/*
 * Same as qmp_connect() over a socket the caller already has (a socketpair, a socket
 * passed by a parent, or one made by `-chardev socket,fd=`). Takes ownership of `fd`:
 * it is closed on failure and by qmp_close(). The fd is switched to non-blocking mode.
 * Returns as qmp_connect() does (-EINVAL for a negative fd).
 */
int qmp_connect_fd(struct qmp **out, int fd, int timeout_ms, char *err, size_t err_len);

/* Closes the connection (QEMU keeps running) and frees everything. NULL is a no-op. */
void qmp_close(struct qmp *q);

/* Whether the connection is still up: false after QEMU went away or a protocol error. */
bool qmp_is_connected(const struct qmp *q);

/* QEMU's version from its greeting. */
const struct qmp_version *qmp_qemu_version(const struct qmp *q);

/* The message explaining the most recent failure of a call on `q` ("" if none yet). It
 * names the command and, for a refusal, QEMU's own description. Valid until the next
 * call on `q`. */
const char *qmp_last_error(const struct qmp *q);

/* QEMU's error class of the most recent refusal (-EIO/-EOPNOTSUPP), e.g. "GenericError";
 * "" when the last failure did not come from QEMU. */
const char *qmp_last_error_class(const struct qmp *q);

/* ---- events ---- */

enum qmp_event_kind {
	QMP_EVENT_OTHER = 0, /* any other event: see `name` */
	QMP_EVENT_MIGRATION,
	QMP_EVENT_MIGRATION_PASS,
	QMP_EVENT_STOP,
	QMP_EVENT_RESUME,
	QMP_EVENT_SHUTDOWN,
};

/* One event from QEMU. The fields after `status` are set for their event only. */
struct qmp_event {
	enum qmp_event_kind kind;
	char name[48];        /* QEMU's name: "MIGRATION", "STOP", ... (truncated if longer) */
	int64_t qemu_time_us; /* QEMU's timestamp: the host's wall clock, us since the epoch */
	int64_t recv_time_ns; /* CLOCK_MONOTONIC when this client read it (see above) */
	char status[32];      /* data.status when the event has one (MIGRATION), else "" */
	enum qmp_migration_status migration_status; /* MIGRATION: status parsed */
	int64_t pass;                               /* MIGRATION_PASS: the pass, from 1 */
	bool guest;                                 /* SHUTDOWN: the guest asked for it */
	char reason[32];                            /* SHUTDOWN: "host-qmp-quit", ... */
};

/* Events kept in the queue at most; beyond that the oldest is dropped and counted. */
#define QMP_EVENT_QUEUE_LEN 256

/*
 * Sets the function that sees each event as it is read (NULL removes it). It runs inside
 * whichever call read the event (a typed call waiting for its reply, qmp_wait_event,
 * qmp_process_input), so it must not call back into `q`: such calls return -EBUSY. It
 * returns true to also queue the event for qmp_wait_event()/qmp_next_event(), false when
 * it has dealt with it. Without a handler every event is queued.
 */
void qmp_set_event_handler(struct qmp *q,
			   bool (*handler)(struct qmp *q, const struct qmp_event *ev, void *opaque),
			   void *opaque);

/*
 * Waits until an event named `name` (exact match) arrives, with data.status equal to
 * `status` unless `status` is NULL. Queued events are looked at first, oldest first;
 * the ones that do not match are dropped from the queue (the handler has seen them).
 *
 * A MIGRATION event with status "failed" or "cancelled" ends a wait for another MIGRATION
 * status: the migration will not get there.
 *
 * @out: receives the matching event (or the failed/cancelled one); may be NULL.
 * Returns 0; -ECANCELED (the migration failed or was cancelled: out->migration_status
 * says which); -ETIMEDOUT (the connection stays usable); -EINVAL (NULL name, negative
 * timeout); -ENOTCONN, -EPROTO, -EBUSY as for any call.
 */
int qmp_wait_event(struct qmp *q, const char *name, const char *status, int timeout_ms,
		   struct qmp_event *out);

/* Takes the oldest queued event without waiting. Returns 0, or -EAGAIN when the queue is
 * empty. */
int qmp_next_event(struct qmp *q, struct qmp_event *out);

/* Drops every queued event (e.g. before starting a migration, so that a wait cannot match
 * an old one). */
void qmp_discard_events(struct qmp *q);

/* How many events were dropped because the queue was full, since the connection began. */
uint64_t qmp_events_lost(const struct qmp *q);

/* The connection's socket, to poll for POLLIN in an event loop (do not read it or change
 * its flags). It stays open, and readable at end of file, after QEMU went away, until
 * qmp_close(). */
int qmp_fd(const struct qmp *q);

/*
 * Reads what QEMU has sent, without waiting, and handles each complete message (events
 * to the handler and the queue). Call it when qmp_fd() is readable. Nothing is left
 * unread in the client's buffer that a later poll() would not announce.
 * Returns the number of events read (>= 0); -ENOTCONN once QEMU is gone (remove the fd
 * from the loop and qmp_close()); -EPROTO; -EBUSY.
 */
int qmp_process_input(struct qmp *q);

/* ---- typed calls ----
 *
 * Each sends one command and waits up to `timeout_ms` (>= 0) for its reply. Each returns
 * 0 or one of the errnos listed at the top of this file. */

/* `query-status`. */
struct qmp_status {
	enum qmp_run_state state;
	bool running;
};

/* Fills `out` with the VM's run state. */
int qmp_query_status(struct qmp *q, struct qmp_status *out, int timeout_ms);

/* `query-migrate`'s "ram" section. */
struct qmp_migrate_ram {
	uint64_t total;            /* bytes of guest RAM */
	uint64_t remaining;        /* bytes still to send */
	uint64_t transferred;      /* bytes sent so far */
	uint64_t normal_bytes;     /* bytes of pages sent in full */
	uint64_t duplicate;        /* pages sent as "all zero" */
	uint64_t dirty_pages_rate; /* pages per second dirtied in the last pass */
	uint64_t dirty_sync_count; /* dirty-bitmap syncs: the number of passes so far */
	uint64_t page_size;        /* bytes */
	uint64_t pages_per_second;
	uint64_t precopy_bytes;  /* bytes sent while pre-copying */
	uint64_t downtime_bytes; /* bytes sent while the VM was stopped */
	uint64_t postcopy_bytes; /* bytes sent in post-copy */
	double mbps;             /* throughput, megabits per second */
	bool has_postcopy_requests;
	uint64_t postcopy_requests; /* pages the target asked for in post-copy */
};

/*
 * `query-migrate`: what QEMU reports about the current (or last) migration. Which fields
 * are present depends on the status and on the side: the target reports the status only,
 * a source with no migration reports nothing (status NONE).
 */
struct qmp_migrate_info {
	enum qmp_migration_status status;
	bool has_ram;
	struct qmp_migrate_ram ram;
	bool has_total_time;
	int64_t total_time_ms; /* since the migration started */
	bool has_expected_downtime;
	int64_t expected_downtime_ms; /* while active */
	bool has_downtime;
	int64_t downtime_ms; /* once completed: how long the VM was stopped */
	bool has_setup_time;
	int64_t setup_time_ms;
	bool has_cpu_throttle_percentage;
	int64_t cpu_throttle_percentage; /* auto-converge */
	char error_desc[256];            /* why the migration failed; "" if QEMU said nothing */
};

/* Fills `out` from `query-migrate`. Beware: QEMU 7.2 sets the status to completed (and
 * sends the MIGRATION event) before it computes total-time and downtime, so a query right
 * after the event may read 0 for both; ask again a few milliseconds later. */
int qmp_query_migrate(struct qmp *q, struct qmp_migrate_info *out, int timeout_ms);

/* A migration capability and whether to enable it ("events", "pause-before-switchover",
 * "postcopy-ram", "auto-converge", ...: QEMU's names). */
struct qmp_capability {
	const char *name;
	bool state;
};

/* `migrate-set-capabilities` with `n` capabilities (n may be 0). -EINVAL for a NULL or
 * empty name; -EIO when QEMU refuses one (an unknown name, or a migration is running). */
int qmp_migrate_set_capabilities(struct qmp *q, const struct qmp_capability *caps, size_t n,
				 int timeout_ms);

/* `query-migrate-capabilities`, for one capability: its state in `*state`. -ENOENT when
 * this QEMU does not have it. */
int qmp_query_migrate_capability(struct qmp *q, const char *name, bool *state,
				 int timeout_ms);

/* Migration parameters: each is sent (or was reported) only when its has_ flag is set.
 * No experimental (x-) parameter is supported. */
struct qmp_migrate_params {
	bool has_downtime_limit;
	uint64_t downtime_limit_ms; /* the longest stop QEMU may choose on its own */
	bool has_max_bandwidth;
	uint64_t max_bandwidth; /* bytes per second, pre-copy */
	bool has_max_postcopy_bandwidth;
	uint64_t max_postcopy_bandwidth; /* bytes per second; 0: unlimited */
	bool has_announce_initial;
	uint64_t announce_initial_ms; /* first self-announcement after the switchover */
	bool has_announce_max;
	uint64_t announce_max_ms; /* the longest gap between announcements */
	bool has_announce_rounds;
	uint64_t announce_rounds;
	bool has_announce_step;
	uint64_t announce_step_ms; /* gap growth per round */
	bool has_cpu_throttle_initial;
	uint64_t cpu_throttle_initial; /* percent, auto-converge */
	bool has_cpu_throttle_increment;
	uint64_t cpu_throttle_increment; /* percent */
	bool has_max_cpu_throttle;
	uint64_t max_cpu_throttle; /* percent */
};

/* `migrate-set-parameters` with the parameters whose has_ flag is set. -EINVAL for a value
 * above INT64_MAX; -EIO when QEMU refuses one (out of its range: the message says). */
int qmp_migrate_set_parameters(struct qmp *q, const struct qmp_migrate_params *params,
			       int timeout_ms);

/* `query-migrate-parameters`: fills every field of `out` that QEMU reports. */
int qmp_query_migrate_parameters(struct qmp *q, struct qmp_migrate_params *out,
				 int timeout_ms);

/* `migrate`: starts migrating to `uri` ("unix:/path", "tcp:host:port", "fd:name"). QEMU
 * answers at once; follow the migration with MIGRATION events or qmp_query_migrate(). */
int qmp_migrate(struct qmp *q, const char *uri, int timeout_ms);

/* `migrate-incoming`: on a target started with `-incoming defer`, listens on `uri`. -EIO
 * when QEMU was not started with -incoming. */
int qmp_migrate_incoming(struct qmp *q, const char *uri, int timeout_ms);

/* `migrate-continue`: lets a migration paused at `state` go on (with
 * pause-before-switchover: QMP_MIGRATION_PRE_SWITCHOVER). -EINVAL for a status that is
 * not one of QEMU's; -EIO when the migration is not in that state. */
int qmp_migrate_continue(struct qmp *q, enum qmp_migration_status state, int timeout_ms);

/* `migrate_cancel`: cancels the outgoing migration (the source VM keeps running; QEMU
 * reports MIGRATION cancelling, then cancelled). Without a migration it does nothing. */
int qmp_migrate_cancel(struct qmp *q, int timeout_ms);

/* `migrate-start-postcopy`: switches an active migration with postcopy-ram enabled (on
 * both sides) to post-copy. -EIO when postcopy-ram is off or no migration is active. */
int qmp_migrate_start_postcopy(struct qmp *q, int timeout_ms);

/* The timing of `announce-self` (QEMU's announce-* parameters, all required). */
struct qmp_announce {
	int64_t initial_ms;
	int64_t max_ms;
	int64_t rounds;
	int64_t step_ms;
};

/* `announce-self`: makes QEMU send its RARP/GARP announcements for every NIC now. */
int qmp_announce_self(struct qmp *q, const struct qmp_announce *announce, int timeout_ms);

/* `stop`: pauses the VM (QEMU sends STOP). */
int qmp_stop(struct qmp *q, int timeout_ms);

/* `cont`: resumes the VM (QEMU sends RESUME). */
int qmp_cont(struct qmp *q, int timeout_ms);

/* `quit`: asks QEMU to exit. Succeeds also when QEMU closes the monitor before its reply
 * (it is going away, as asked); the connection is then down. */
int qmp_quit(struct qmp *q, int timeout_ms);

/* ---- virtio introspection (QEMU's x-query-virtio*, 7.2 and later) ---- */

#define QMP_QOM_PATH_MAX 128

/* `x-query-virtio`: the QOM paths of the virtio-net devices (at most `max`, in *n).
 * -EOPNOTSUPP from a QEMU without it. */
int qmp_virtio_net_paths(struct qmp *q, char (*paths)[QMP_QOM_PATH_MAX], size_t max, size_t *n,
			 int timeout_ms);

/* `x-query-virtio-queue-status`: the used index of virtqueue `queue` of the device at
 * `path` (for virtio-net, queue 0 is the first receive queue: the index moves each time
 * QEMU hands the guest a frame). */
int qmp_virtio_queue_used_idx(struct qmp *q, const char *path, unsigned int queue,
			      uint16_t *used, int timeout_ms);

#endif /* VMF_QMP_H */
