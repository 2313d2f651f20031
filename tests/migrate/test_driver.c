/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The migration driver (driver.h) against a fake QEMU monitor, a fake target agent and a
 * fabric over the dummy backend: what an operator would see of a migration (its phases,
 * its record, its log, where the fabric and the fast path point the VM's endpoint) when
 * QEMU behaves as recorded.
 *
 * QEMU's side is replayed from the recordings of QEMU 7.2 (recordings/NAME.qmp): each
 * script below sends QEMU's recorded greeting, replies and events (timestamps moved to
 * this run), and expects the commands the driver sends, in order. The driver's commands
 * differ from the recorder's (it asks query-status first, sets more capabilities, looks
 * for the VM's NICs, decides the switchover itself), so the scripts are put together here
 * rather than replayed whole; what no recording has (x-query-virtio*, query-migrate at
 * later passes, events QEMU sends after the driver's `stop`) is written by hand in the
 * shape QEMU 7.2 uses, and said so where it is.
 *
 * Each `!hold` in a script is a point where the test knows what QEMU has said so far: the
 * fake sent everything before the hold once it waits there (let_go()), so that a poll
 * after it reads all of it at once, as the driver would from a socket QEMU wrote to.
 *
 * Link-time seams (-Wl,--wrap):
 *  - clock_gettime: the driver's CLOCK_MONOTONIC is a virtual clock that moves only when
 *    a test says (advance_ms) or the driver sleeps, so that its periodic queries (every
 *    20 ms, its default) happen exactly where a script expects them; CLOCK_REALTIME can
 *    be moved forward too. Only on the test's thread: the fake monitor keeps real time.
 *  - nanosleep: the driver's sleeps (its wait for the VM's receive queue) move that clock.
 *  - qmp_migrate_continue, qmp_stop, qmp_cont, qmp_virtio_queue_used_idx: what the fabric
 *    and the fast path held at the moment the driver let QEMU finish, paused the VM,
 *    resumed it, and first looked at its receive queue.
 * And one in the backend: the dummy backend's port_publish and host_stats are wrapped,
 * to see the moment the fast path is told to forward, and to make up its counters.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "driver.h"
#include "dummy_backend.h"
#include "replay_util.h"

#define HOST_A 0xc0000201u /* the source */
#define HOST_B 0xc0000202u /* the target */
#define VNI 100
#define G0 4 /* the endpoint's generation before the migration */
#define EVERY_MS 20 /* the driver's query-migrate period in pre-copy (its default) */
#define VM_PORT 1   /* the VM's port, "vm1", on either host */

/* The QOM paths x-query-virtio gives for the VM's devices (written by hand in the shape
 * of QEMU 7.2's reply: a disk and a NIC; only the NIC has a receive queue to watch). */
#define NET_PATH "/machine/peripheral-anon/device[1]/virtio-backend"
#define BLK_PATH "/machine/peripheral-anon/device[0]/virtio-backend"

static const struct fab_ep_key vm_key = {.vni = VNI, .mac = {0x52, 0x54, 0, 0, 0, 1}};
static const struct fab_ep_key other_key = {.vni = VNI, .mac = {0x52, 0x54, 0, 0, 0, 2}};

/* ---- the fake target agent ---- */

struct fake_target {
	int prepares, aborts, queries;
	int prepare_ret;              /* what prepare returns */
	struct mig_record prepared;   /* what prepare was given */
	char abort_reason[256];
	struct mig_target_view view;  /* what query answers */
};

static int target_prepare(void *ctx, const struct mig_record *m, char *err, size_t len)
{
	struct fake_target *t = ctx;

	t->prepares++;
	t->prepared = *m;
	if (t->prepare_ret)
		snprintf(err, len, "no room for the VM on this host");
	return t->prepare_ret;
}

static int target_abort(void *ctx, const struct mig_record *m, const char *reason, char *err,
			size_t len)
{
	struct fake_target *t = ctx;

	(void)m, (void)err, (void)len;
	t->aborts++;
	snprintf(t->abort_reason, sizeof(t->abort_reason), "%s", reason);
	return 0;
}

static int target_query(void *ctx, const struct mig_record *m, struct mig_target_view *out,
			char *err, size_t len)
{
	struct fake_target *t = ctx;

	(void)m, (void)err, (void)len;
	t->queries++;
	*out = t->view;
	return 0;
}

static const struct mig_target_ops fake_target_ops = {
	.prepare = target_prepare, .abort = target_abort, .query = target_query};

/* ---- the environment of one test ---- */

/* What the fabric, the fast path and the record held at one moment (the first time it
 * came). */
struct seen {
	int n;                   /* how many times it came */
	struct fab_endpoint loc; /* the fabric's location of the VM's endpoint */
	struct fab_endpoint pub; /* the location the fast path was given */
	uint8_t port;            /* how the fast path has the VM's port bound */
	uint8_t phase;           /* the migration's phase */
};

struct env {
	char dir[64];      /* qemu_dir */
	char monitor[128]; /* qemu_dir/vm1.qmp: where the fake monitor listens */
	struct dummy_backend be;
	struct fab_backend_ops ops; /* the dummy's, two of them wrapped */
	struct fabric *fab;
	struct mig_driver *d;
	struct fake_target target;
	struct fake_qmp *fake;
	/* The fast path's counters, as the tests make them up. */
	uint64_t ctr[FAB_CTR__COUNT];
	uint64_t drops[FAB_DROP__COUNT];
	/* Moments. */
	struct seen at_continue;   /* the driver sends migrate-continue */
	struct seen at_stop;       /* the driver pauses the VM */
	struct seen at_cont;       /* the driver resumes the VM */
	struct seen at_drain;      /* the driver first looks at the VM's receive queue */
	struct seen at_forwarding; /* the fast path is told that the VM's port forwards */
	atomic_int forwarding_published; /* at_forwarding came (for another thread) */
	atomic_int in_poll;              /* the test's thread is inside mig_poll() */
	/* The driver's log lines, the latest last. */
	char log[32][768];
	int n_log;
};

static struct env *cur_env;
static pthread_t main_thread;
static int64_t virt_mono_ns;       /* the test thread's CLOCK_MONOTONIC */
static int64_t realtime_offset_ns; /* added to the test thread's CLOCK_REALTIME */

int __real_clock_gettime(clockid_t clk, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clk, struct timespec *ts);
int __real_nanosleep(const struct timespec *req, struct timespec *rem);
int __wrap_nanosleep(const struct timespec *req, struct timespec *rem);
int __real_qmp_migrate_continue(struct qmp *q, enum qmp_migration_status state, int timeout_ms);
int __wrap_qmp_migrate_continue(struct qmp *q, enum qmp_migration_status state, int timeout_ms);
int __real_qmp_stop(struct qmp *q, int timeout_ms);
int __wrap_qmp_stop(struct qmp *q, int timeout_ms);
int __real_qmp_cont(struct qmp *q, int timeout_ms);
int __wrap_qmp_cont(struct qmp *q, int timeout_ms);
int __real_qmp_virtio_queue_used_idx(struct qmp *q, const char *path, unsigned int queue,
				     uint16_t *used, int timeout_ms);
int __wrap_qmp_virtio_queue_used_idx(struct qmp *q, const char *path, unsigned int queue,
				     uint16_t *used, int timeout_ms);

static bool on_test_thread(void)
{
	return pthread_equal(pthread_self(), main_thread);
}

int __wrap_clock_gettime(clockid_t clk, struct timespec *ts)
{
	int rc = __real_clock_gettime(clk, ts);
	int64_t ns;

	if (rc || !on_test_thread())
		return rc;
	if (clk == CLOCK_MONOTONIC)
		ns = virt_mono_ns;
	else if (clk == CLOCK_REALTIME && realtime_offset_ns)
		ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + realtime_offset_ns;
	else
		return rc;
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	return rc;
}

int __wrap_nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (on_test_thread())
		virt_mono_ns += (int64_t)req->tv_sec * 1000000000 + req->tv_nsec;
	return __real_nanosleep(req, rem);
}

static void see(struct env *e, struct seen *s)
{
	const struct fab_endpoint *pub = dummy_endpoint(&e->be, &vm_key);
	const struct mig_record *r = e->d ? mig_find(e->d, "mig-1") : NULL;
	struct fab_flow f;

	if (s->n++)
		return;
	s->loc = fabric_endpoint_get(e->fab, &vm_key, &f) == 0 ? f.loc : (struct fab_endpoint){0};
	s->pub = pub ? *pub : (struct fab_endpoint){0};
	s->port = e->be.ports[VM_PORT].bound;
	s->phase = r ? r->phase : 0;
}

int __wrap_qmp_migrate_continue(struct qmp *q, enum qmp_migration_status state, int timeout_ms)
{
	if (cur_env)
		see(cur_env, &cur_env->at_continue);
	return __real_qmp_migrate_continue(q, state, timeout_ms);
}

int __wrap_qmp_stop(struct qmp *q, int timeout_ms)
{
	if (cur_env)
		see(cur_env, &cur_env->at_stop);
	return __real_qmp_stop(q, timeout_ms);
}

int __wrap_qmp_cont(struct qmp *q, int timeout_ms)
{
	if (cur_env)
		see(cur_env, &cur_env->at_cont);
	return __real_qmp_cont(q, timeout_ms);
}

int __wrap_qmp_virtio_queue_used_idx(struct qmp *q, const char *path, unsigned int queue,
				     uint16_t *used, int timeout_ms)
{
	if (cur_env)
		see(cur_env, &cur_env->at_drain);
	return __real_qmp_virtio_queue_used_idx(q, path, queue, used, timeout_ms);
}

/* The dummy backend, watched: the moment the VM's port is told to forward. */
static int watched_port_publish(void *be, uint16_t port, uint32_t vni, uint8_t bound,
				const uint8_t *mac)
{
	int ret = dummy_backend_ops.port_publish(be, port, vni, bound, mac);

	if (ret == 0 && cur_env && port == VM_PORT && bound == FAB_EP_FORWARDING) {
		see(cur_env, &cur_env->at_forwarding);
		atomic_store_explicit(&cur_env->forwarding_published, 1, memory_order_release);
	}
	return ret;
}

/* The fast path's counters: whatever the test says. */
static void made_up_host_stats(void *be, struct fab_host_stats *out)
{
	(void)be;
	if (!cur_env)
		return;
	memcpy(out->counters, cur_env->ctr, sizeof(out->counters));
	memcpy(out->drops, cur_env->drops, sizeof(out->drops));
}

/* Moves the driver's monotonic clock forward (its periodic queries become due). */
static void advance_ms(int64_t ms)
{
	virt_mono_ns += ms * 1000000;
}

static int64_t virt_ms(void)
{
	return virt_mono_ns / 1000000;
}

/* Really sleeps (the driver's clock does not move). */
static void sleep_ms(int ms)
{
	__real_nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L},
			 NULL);
}

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void capture_log(void *ctx, const char *line)
{
	struct env *e = ctx;

	fprintf(stderr, "driver: %s\n", line);
	if (e->n_log == 32) {
		memmove(e->log[0], e->log[1], sizeof(e->log[0]) * 31);
		e->n_log--;
	}
	snprintf(e->log[e->n_log++], sizeof(e->log[0]), "%s", line);
}

/* The latest log line that contains `needle`, or NULL. */
static const char *logged(const struct env *e, const char *needle)
{
	for (int i = e->n_log - 1; i >= 0; i--)
		if (strstr(e->log[i], needle))
			return e->log[i];
	return NULL;
}

static void assert_logged(const struct env *e, const char *needle)
{
	if (!logged(e, needle))
		fail_msg("the driver did not log \"%s\"", needle);
}

static int setup(void **state, uint32_t local, uint32_t peer, const struct fab_endpoint *vm)
{
	static struct env env;
	struct fabric_config fcfg = {.local_vtep = local, .local_mac = {2, 0, 0, 0, 1, 1},
				     .max_endpoints = 8};
	struct mig_driver_config cfg = {
		.host_name = local == HOST_A ? "host-a" : "host-b",
		.vtep = local,
		.target = &fake_target_ops,
		.target_ctx = &env.target,
		.qmp_timeout_ms = 2000,
		.query_interval_ms = 0, /* its default, EVERY_MS */
		.log = capture_log,
		.log_ctx = &env,
	};
	struct fab_endpoint other = {.state = FAB_EP_REMOTE, .vtep = peer, .generation = 2};
	struct timespec now;

	memset(&env, 0, sizeof(env));
	atomic_init(&env.forwarding_published, 0);
	atomic_init(&env.in_poll, 0);
	__real_clock_gettime(CLOCK_MONOTONIC, &now);
	virt_mono_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	realtime_offset_ns = 0;
	env.ops = dummy_backend_ops;
	env.ops.port_publish = watched_port_publish;
	env.ops.host_stats = made_up_host_stats;
	snprintf(env.dir, sizeof(env.dir), "/tmp/vmf-test-driver-XXXXXX");
	if (!mkdtemp(env.dir))
		return -1;
	snprintf(env.monitor, sizeof(env.monitor), "%s/vm1.qmp", env.dir);
	if (fabric_create(&env.fab, &fcfg, &env.ops, &env.be) ||
	    fabric_port_add(env.fab, VM_PORT, "vm1", VNI) ||
	    fabric_port_add(env.fab, 2, "vm2", VNI) ||
	    fabric_host_set(env.fab, peer, (uint8_t[6]){2, 0, 0, 0, 1, 2}) ||
	    fabric_endpoint_upsert(env.fab, &vm_key, vm, NULL) ||
	    fabric_endpoint_upsert(env.fab, &other_key, &other, NULL))
		return -1;
	cfg.fab = env.fab;
	cfg.qemu_dir = env.dir;
	if (mig_driver_create(&env.d, &cfg))
		return -1;
	cur_env = &env;
	*state = &env;
	return 0;
}

/* This host runs VM vm1 on port vm1. */
static int setup_source(void **state)
{
	struct fab_endpoint vm = {.state = FAB_EP_LOCAL, .port = VM_PORT, .generation = G0};

	return setup(state, HOST_A, HOST_B, &vm);
}

/* VM vm1 runs on host A; this host is the target. */
static int setup_target(void **state)
{
	struct fab_endpoint vm = {.state = FAB_EP_REMOTE, .vtep = HOST_A, .generation = G0};

	return setup(state, HOST_B, HOST_A, &vm);
}

static int teardown(void **state)
{
	struct env *e = *state;

	mig_driver_destroy(e->d); /* closes the monitor: the fake's replay ends */
	if (e->fake) {
		/* A test that failed midway: let the holds go so the replay ends at once. */
		for (int i = 0; i < 16; i++)
			fake_qmp_release(e->fake);
		fake_qmp_finish(e->fake, NULL, 0);
	}
	fabric_destroy(e->fab);
	unlink(e->monitor);
	rmdir(e->dir);
	cur_env = NULL;
	realtime_offset_ns = 0;
	return 0;
}

/* ---- scripts from the recordings ---- */

struct script {
	char text[1 << 17];
	size_t len;
	int ids;
	const char *file; /* the recording */
	int64_t shift_us; /* recorded QEMU timestamps + shift_us: this run's wall clock */
	bool qemu_decides; /* the VM's port holds a paused VM's frames: QEMU's downtime-limit */
};

__attribute__((format(printf, 2, 3))) static void s_printf(struct script *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->text + s->len, sizeof(s->text) - s->len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(s->text) - s->len);
	s->len += (size_t)n;
}

/* One step `dir` ("->", "<-") with message `msg` (the reference is taken). */
static void s_msg(struct script *s, const char *dir, json_t *msg)
{
	char *text;

	assert_non_null(msg);
	text = json_dumps(msg, JSON_PRESERVE_ORDER);
	assert_non_null(text);
	s_printf(s, "%s %s\n", dir, text);
	free(text);
	json_decref(msg);
}

/* A point where the fake waits for the test (let_go()): what it sent before is there. */
static void s_hold(struct script *s)
{
	s_printf(s, "!hold\n");
}

static int64_t event_us(const json_t *ev)
{
	const json_t *ts = json_object_get(ev, "timestamp");

	return json_integer_value(json_object_get(ts, "seconds")) * 1000000 +
	       json_integer_value(json_object_get(ts, "microseconds"));
}

static void set_timestamp(json_t *ev, int64_t us)
{
	json_object_set_new(ev, "timestamp",
			    json_pack("{s:I, s:I}", "seconds", (json_int_t)(us / 1000000),
				      "microseconds", (json_int_t)(us % 1000000)));
}

/* The `nth` event `name` (with data.status `status` unless NULL) that monitor `tag` sent
 * in the recording, its timestamp moved to this run. */
static json_t *rec_event(const struct script *s, const char *tag, const char *name,
			 const char *status, int nth)
{
	for (int i = 0;; i++) {
		json_t *ev;
		const char *st;

		if (fake_qmp_find_event(recording(s->file), tag, name, i, &ev))
			fail_msg("%s: no %s %s #%d on %s", s->file, name, status ? status : "", nth,
				 tag);
		st = json_string_value(json_object_get(json_object_get(ev, "data"), "status"));
		if ((!status || (st && strcmp(st, status) == 0)) && nth-- == 0) {
			set_timestamp(ev, event_us(ev) + s->shift_us);
			return ev;
		}
		json_decref(ev);
	}
}

/* This run's wall clock, in us, of that event. */
static int64_t rec_event_us(const struct script *s, const char *tag, const char *name,
			    const char *status, int nth)
{
	json_t *ev = rec_event(s, tag, name, status, nth);
	int64_t us = event_us(ev);

	json_decref(ev);
	return us;
}

/* Starts a script from recording `file`; QEMU's times are moved so that monitor `tag`'s
 * first MIGRATION event happens now. */
static void s_begin(struct script *s, const char *file, const char *tag)
{
	memset(s, 0, sizeof(*s));
	s->file = file;
	s->shift_us = wall_us() - rec_event_us(s, tag, "MIGRATION", NULL, 0);
	/* The greeting and capability negotiation QEMU 7.2 recorded (quoting of script_parse). */
	for (const char *p = SCRIPT_NEGOTIATION; *p; p++)
		s_printf(s, "%c", *p == '\'' ? '"' : *p);
}

static void s_event(struct script *s, const char *tag, const char *name, const char *status,
		    int nth)
{
	s_msg(s, "<-", rec_event(s, tag, name, status, nth));
}

/* An event no recording has at this point, in QEMU's shape, at `us` (this run's wall
 * clock); `data` (taken) may be NULL. */
static void s_event_at(struct script *s, const char *name, json_t *data, int64_t us)
{
	json_t *ev = json_object();

	set_timestamp(ev, us);
	json_object_set_new(ev, "event", json_string(name));
	if (data)
		json_object_set_new(ev, "data", data);
	s_msg(s, "<-", ev);
}

static void s_pass_at(struct script *s, int pass, int64_t us)
{
	s_event_at(s, "MIGRATION_PASS", json_pack("{s:i}", "pass", pass), us);
}

/* Expects command `cmd` (taken); returns the id its reply must carry. */
static int s_cmd(struct script *s, json_t *cmd)
{
	char id[16];

	snprintf(id, sizeof(id), "t%d", ++s->ids);
	json_object_set_new(cmd, "id", json_string(id));
	s_msg(s, "->", cmd);
	return s->ids;
}

/* Sends the reply to command `id` returning `ret` (taken). */
static void s_return(struct script *s, int id, json_t *ret)
{
	char sid[16];

	snprintf(sid, sizeof(sid), "t%d", id);
	s_msg(s, "<-", json_pack("{s:o, s:s}", "return", ret, "id", sid));
}

static void s_exchange(struct script *s, json_t *cmd, json_t *ret)
{
	s_return(s, s_cmd(s, cmd), ret);
}

static json_t *command(const char *execute)
{
	return json_pack("{s:s}", "execute", execute);
}

/* The `nth` reply to query-migrate on `tag`, recorded. */
static json_t *rec_query_migrate(const struct script *s, const char *tag, int nth)
{
	return recorded_return(s->file, tag, "query-migrate", nth);
}

/* A query-migrate reply during pre-copy at pass `pass` with `remaining` bytes left and the
 * guest dirtying `dirty_pages` pages a second. Written by hand: the recordings have QEMU's
 * answer at the first pass only; this is that answer (its shape, its bandwidth) with
 * these figures. */
static json_t *query_at_pass(const struct script *s, int pass, uint64_t remaining,
			     uint64_t dirty_pages, int total_ms)
{
	json_t *r = rec_query_migrate(s, "src", 0);
	json_t *ram = json_object_get(r, "ram");
	json_int_t total = json_integer_value(json_object_get(ram, "total"));

	json_object_set_new(r, "total-time", json_integer(total_ms));
	json_object_set_new(ram, "dirty-sync-count", json_integer(pass));
	json_object_set_new(ram, "remaining", json_integer((json_int_t)remaining));
	json_object_set_new(ram, "transferred", json_integer(total - (json_int_t)remaining));
	json_object_set_new(ram, "dirty-pages-rate", json_integer((json_int_t)dirty_pages));
	return r;
}

/* QEMU's answer a little after it completed (precopy-pause.qmp's answer right after it,
 * recorded with 0 ms of downtime, with the figures QEMU 7.2 fills in later: written by
 * hand, STOP to completed took `downtime_ms`). */
static json_t *query_completed_late(int passes, int downtime_ms, int total_ms)
{
	json_t *r = recorded_return("precopy-pause.qmp", "src", "query-migrate", 2);

	json_object_set_new(r, "downtime", json_integer(downtime_ms));
	json_object_set_new(r, "total-time", json_integer(total_ms));
	json_object_set_new(json_object_get(r, "ram"), "dirty-sync-count", json_integer(passes));
	return r;
}

/* How QEMU answers x-query-virtio. */
enum virtio_reply {
	VIRTIO_ONE_NIC,     /* a disk and a NIC (NET_PATH) */
	VIRTIO_UNSUPPORTED, /* CommandNotFound, as basic.qmp's QEMU answers an unknown command */
};

/*
 * What the driver says to the source QEMU in mig_start(): it checks that the VM runs and
 * does not migrate yet, sets the capabilities it needs, QEMU's own downtime limit to 1 ms
 * (it decides the switchover itself) and the bandwidth the request asks for (the
 * recording's), looks for the VM's NICs, then (`migrate`) starts the migration to the
 * recording's URI. Fills the request's options and URI to match; the request's downtime
 * limit is the recording's, the driver's budget.
 */
static void s_source_start(struct script *s, enum virtio_reply virtio, bool migrate,
			   struct mig_options *opt, char *uri, size_t len)
{
	json_t *params = recorded_arguments(s->file, "src", "migrate-set-parameters", 0);
	json_t *args = recorded_arguments(s->file, "src", "migrate", 0);
	int id;

	s_exchange(s, command("query-status"), recorded_return("basic.qmp", "vm", "query-status", 0));
	/* A QEMU that never migrated answers {}. */
	s_exchange(s, command("query-migrate"), recorded_return("basic.qmp", "vm", "query-migrate", 0));
	s_exchange(s,
		   json_pack("{s:s, s:{s:[{s:s, s:b}, {s:s, s:b}, {s:s, s:b}, {s:s, s:b}]}}",
			     "execute", "migrate-set-capabilities", "arguments", "capabilities",
			     "capability", "events", "state", 1, "capability",
			     "pause-before-switchover", "state", 1, "capability", "auto-converge",
			     "state", 0, "capability", "postcopy-ram", "state", 0),
		   recorded_return(s->file, "src", "migrate-set-capabilities", 0));
	s_exchange(s,
		   json_pack("{s:s, s:{s:i, s:O}}", "execute", "migrate-set-parameters", "arguments",
			     "downtime-limit",
			     s->qemu_decides ? json_integer_value(json_object_get(params, "downtime-limit")) : 1,
			     "max-bandwidth",
			     json_object_get(params, "max-bandwidth")),
		   recorded_return(s->file, "src", "migrate-set-parameters", 0));
	id = s_cmd(s, command("x-query-virtio"));
	if (virtio == VIRTIO_ONE_NIC) {
		s_return(s, id, json_pack("[{s:s, s:s}, {s:s, s:s}]", "path", BLK_PATH, "name",
					  "virtio-blk", "path", NET_PATH, "name", "virtio-net"));
	} else {
		char sid[16];

		snprintf(sid, sizeof(sid), "t%d", id);
		s_msg(s, "<-", json_pack("{s:s, s:{s:s, s:s}}", "id", sid, "error", "class",
					 "CommandNotFound", "desc",
					 "The command x-query-virtio has not been found"));
	}
	if (migrate) {
		id = s_cmd(s, json_pack("{s:s, s:O}", "execute", "migrate", "arguments", args));
		s_event(s, "src", "MIGRATION", "setup", 0);
		s_return(s, id, recorded_return(s->file, "src", "migrate", 0));
	}

	memset(opt, 0, sizeof(*opt));
	opt->downtime_limit_ms = (uint64_t)json_integer_value(json_object_get(params, "downtime-limit"));
	opt->max_bandwidth = (uint64_t)json_integer_value(json_object_get(params, "max-bandwidth"));
	snprintf(uri, len, "%s", json_string_value(json_object_get(args, "uri")));
	json_decref(params);
	json_decref(args);
}

/* Pre-copy runs (pass 1); the driver's first mig_poll() asks query-migrate. */
static void s_source_precopy(struct script *s)
{
	s_event(s, "src", "MIGRATION_PASS", NULL, 0);
	s_event(s, "src", "MIGRATION", "active", 0);
	s_hold(s);
	s_exchange(s, command("query-migrate"), rec_query_migrate(s, "src", 0));
}

static void s_continue(struct script *s)
{
	s_exchange(s, json_pack("{s:s, s:{s:s}}", "execute", "migrate-continue", "arguments",
				"state", "pre-switchover"),
		   recorded_return("precopy-pause.qmp", "src", "migrate-continue", 0));
}

/* The driver looks at the receive queue of the VM's NIC; QEMU says its used index is
 * used[0], then used[1], ... (written by hand in the shape of QEMU 7.2's VirtQueueStatus:
 * no recording has it). */
static void s_queue_polls(struct script *s, const unsigned int *used, int n)
{
	for (int i = 0; i < n; i++)
		s_exchange(s,
			   json_pack("{s:s, s:{s:s, s:i}}", "execute", "x-query-virtio-queue-status",
				     "arguments", "path", NET_PATH, "queue", 0),
			   json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:i, s:i, s:i, "
				     "s:i, s:b}",
				     "name", "virtio-net", "queue-index", 0, "inuse", 0, "vring-num",
				     256, "vring-num-default", 256, "vring-align", 4096, "vring-desc",
				     (json_int_t)0x13cbd6000, "vring-avail", (json_int_t)0x13cbd7000,
				     "vring-used", (json_int_t)0x13cbd7240, "last-avail-idx",
				     (int)(used[i] & 0xffff), "shadow-avail-idx",
				     (int)((used[i] + 256) & 0xffff), "used-idx",
				     (int)(used[i] & 0xffff), "signalled-used",
				     (int)(used[i] & 0xffff), "signalled-used-valid", 1));
}

/* The driver pauses the VM: QEMU says STOP (event `stop`, taken) and returns (basic.qmp). */
static void s_stop(struct script *s, json_t *stop)
{
	int id = s_cmd(s, command("stop"));

	s_msg(s, "<-", stop);
	s_return(s, id, recorded_return("basic.qmp", "vm", "stop", 0));
}

/* The driver resumes the VM: QEMU says RESUME (event `resume`, taken) and returns. */
static void s_cont(struct script *s, json_t *resume)
{
	int id = s_cmd(s, command("cont"));

	s_msg(s, "<-", resume);
	s_return(s, id, recorded_return("basic.qmp", "vm", "cont", 0));
}

static void start_fake(struct env *e, const struct script *s)
{
	char err[512];

	if (fake_qmp_parse(&e->fake, s->text, NULL, err, sizeof(err)))
		fail_msg("script: %s\n%s", err, s->text);
	assert_int_equal(fake_qmp_start_unix(e->fake, e->monitor), 0);
}

/* The fake waits at its next hold (what it sent before is on the socket): let it go on. */
static void let_go(struct env *e)
{
	int rc = fake_qmp_wait_hold(e->fake, 3000);

	if (rc)
		fail_msg("the fake monitor did not reach its next hold: %s",
			 rc == -EPIPE ? "its replay ended (see above why)" : "timeout");
	fake_qmp_release(e->fake);
}

/* The driver closed the monitor and the fake's replay went exactly as scripted. */
static void assert_monitor_closed(struct env *e)
{
	assert_false(mig_busy(e->d));
	assert_int_equal(fake_qmp_wait_hold(e->fake, 3000), -EPIPE);
}

/* Closes what the driver still holds, then checks that QEMU saw exactly the script. */
static void end_replay(struct env *e)
{
	char err[1024];
	int rc;

	mig_driver_destroy(e->d);
	e->d = NULL;
	rc = fake_qmp_finish(e->fake, err, sizeof(err));
	e->fake = NULL;
	if (rc)
		fail_msg("QEMU's monitor saw something else than the script: %s", err);
}

/* ---- what the tests look at ---- */

#define POLL_UNTIL(e, cond)                                                                \
	do {                                                                               \
		int tries_ = 0;                                                            \
		while (mig_poll((e)->d), !(cond)) {                                        \
			if (++tries_ == 3000)                                              \
				fail_msg("%s:%d: not within 3 s: %s", __FILE__, __LINE__, #cond); \
			sleep_ms(1);                                                       \
		}                                                                          \
	} while (0)

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* Where the fabric points `key`, and that the fast path was given the same. */
static void assert_location(struct env *e, const struct fab_ep_key *key, uint8_t state,
			    const char *port, uint32_t vtep, uint64_t generation)
{
	struct fab_flow f;
	const struct fab_endpoint *pub = dummy_endpoint(&e->be, key);

	assert_int_equal(fabric_endpoint_get(e->fab, key, &f), 0);
	if (f.loc.state != state)
		fail_msg("endpoint is %s, expected %s", fab_ep_state_name(f.loc.state),
			 fab_ep_state_name(state));
	assert_int_equal(f.loc.generation, generation);
	if (port)
		assert_string_equal(f.port_name, port);
	else
		assert_int_equal(f.loc.vtep, vtep);
	assert_non_null(pub);
	assert_memory_equal(pub, &f.loc, sizeof(f.loc));
}

/* How the fast path has the VM's port bound: LOCAL or INCOMING (the VM's frames are the
 * endpoint's), FORWARDING (the VM left but may still send: its frames go out), ABSENT. */
static void assert_port(const struct env *e, uint8_t state)
{
	if (e->be.ports[VM_PORT].bound != state)
		fail_msg("the VM's port is bound as %s, expected %s",
			 fab_ep_state_name(e->be.ports[VM_PORT].bound), fab_ep_state_name(state));
}

/* At that moment the endpoint forwarded to the target, in the fabric and the fast path,
 * and the VM's port was still bound (frames the VM sent still went out). */
static void assert_seen_forwarding(const struct seen *s, const char *when)
{
	if (s->n == 0)
		fail_msg("%s: never happened", when);
	if (s->loc.state != FAB_EP_FORWARDING)
		fail_msg("%s: the endpoint was %s, not FORWARDING", when,
			 fab_ep_state_name(s->loc.state));
	assert_int_equal(s->loc.vtep, HOST_B);
	assert_int_equal(s->loc.generation, G0 + 1);
	if (memcmp(&s->pub, &s->loc, sizeof(s->loc)) != 0)
		fail_msg("%s: the fast path had the endpoint %s, the fabric FORWARDING", when,
			 fab_ep_state_name(s->pub.state));
	if (s->port != FAB_EP_FORWARDING)
		fail_msg("%s: the VM's port was bound as %s, not FORWARDING", when,
			 fab_ep_state_name(s->port));
	if (s->phase != MIG_PHASE_BLACKOUT)
		fail_msg("%s: the migration was %s, not BLACKOUT", when, mig_phase_name(s->phase));
}

static void assert_phase(const struct mig_record *r, uint8_t phase)
{
	assert_non_null(r);
	if (r->phase != phase)
		fail_msg("migration %s is %s, expected %s (%s)", r->id, mig_phase_name(r->phase),
			 mig_phase_name(phase), r->failure_reason);
}

/* The timeline shows `phases` in order, each span ending where the next begins. */
static void assert_timeline(const struct mig_record *r, const uint8_t *phases, unsigned int n)
{
	assert_int_equal(r->n_spans, n);
	for (unsigned int i = 0; i < n; i++) {
		const struct mig_span *sp = &r->timeline[i];

		if (sp->phase != phases[i])
			fail_msg("span %u is %s, expected %s", i, mig_phase_name(sp->phase),
				 mig_phase_name(phases[i]));
		assert_true(sp->start_ns >= r->requested_ns);
		if (i + 1 < n)
			assert_int_equal(sp->end_ns, r->timeline[i + 1].start_ns);
		else if (mig_phase_final(r->phase))
			assert_int_equal(sp->end_ns, r->finished_ns);
		else
			assert_int_equal(sp->end_ns, 0);
		assert_true(sp->end_ns == 0 || sp->end_ns >= sp->start_ns);
	}
}

static struct mig_request source_request(const struct mig_endpoint *ep, const char *uri,
					 const struct mig_options *opt)
{
	return (struct mig_request){.id = "mig-1", .vm_name = "vm1", .target_host = "host-b",
				    .target_vtep = HOST_B, .target_agent = "host-b:7070",
				    .uri = uri, .eps = ep, .n_eps = 1, .opt = *opt};
}

static const struct mig_endpoint vm_ep = {.key = vm_key, .source_port = "vm1"};

/* Starts migrating vm1 with script `s` (s_source_start, s_source_precopy) and checks what
 * mig_start() and the first poll did. */
static const struct mig_record *start_source(struct env *e, struct script *s,
					     const struct mig_options *opt, const char *uri)
{
	struct mig_request req = source_request(&vm_ep, uri, opt);
	const struct mig_record *r;
	char err[256] = "";
	int rc;

	start_fake(e, s);
	rc = mig_start(e->d, &req, &r, err, sizeof(err));
	if (rc)
		fail_msg("mig_start: %d %s", rc, err);
	assert_phase(r, MIG_PHASE_PRECOPY);
	assert_int_equal(r->generation, G0 + 1);
	assert_true(mig_busy(e->d));
	/* The target was prepared once, for this migration. */
	assert_int_equal(e->target.prepares, 1);
	assert_string_equal(e->target.prepared.id, "mig-1");
	assert_string_equal(e->target.prepared.uri, uri);
	assert_int_equal(e->target.prepared.generation, G0 + 1);
	assert_int_equal(e->target.prepared.target_vtep, HOST_B);
	/* Nothing changed in the fabric before the switchover. */
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0);
	assert_port(e, FAB_EP_LOCAL);
	/* Pass 1 and the active status are there: the first mig_poll() reads QEMU's figures. */
	let_go(e);
	mig_poll(e->d);
	assert_true(r->qemu.bytes_total != 0);
	assert_int_equal(r->qemu.passes, 1);
	assert_phase(r, MIG_PHASE_PRECOPY);
	return r;
}

/* ---- source: QEMU pauses the VM itself ---- */

/*
 * QEMU pauses the VM for the switchover on its own (precopy-pause.qmp: with bytes left
 * under its limit it stopped the VM 1 ms after pass 3): passes 2 and 3, STOP and
 * pre-switchover come together, after the hold where the test looks at pre-copy. The
 * driver lets QEMU finish (migrate-continue) and, pass 3 being new, asks where it is;
 * QEMU answers once it completed (the main loop waits for the completion), as recorded.
 */
static void s_qemu_switchover(struct script *s)
{
	int id;

	s_hold(s); /* the test looks at pre-copy */
	s_event(s, "src", "MIGRATION_PASS", NULL, 1);
	s_event(s, "src", "MIGRATION_PASS", NULL, 2);
	s_event(s, "src", "STOP", NULL, 0);
	s_event(s, "src", "MIGRATION", "pre-switchover", 0);
	s_hold(s); /* all four are there */
	s_continue(s);
	id = s_cmd(s, command("query-migrate"));
	s_event(s, "src", "MIGRATION", "device", 0);
	s_event(s, "src", "MIGRATION_PASS", NULL, 3);
	s_event(s, "src", "MIGRATION", "completed", 0);
	s_return(s, id, rec_query_migrate(s, "src", 2)); /* completed, downtime 0 */
}

/* After completion (pass 4 was new, so at once): QEMU 7.2 still says 0 ms of downtime
 * (recorded); with `late`, EVERY_MS later the figures are there (STOP to completed took
 * 4 ms, pre-switchover was at 1325 ms). */
static void s_converging_queries(struct script *s, bool late)
{
	s_exchange(s, command("query-migrate"), rec_query_migrate(s, "src", 2));
	if (late)
		s_exchange(s, command("query-migrate"), query_completed_late(4, 4, 1329));
}

/* Takes vm1 from pre-copy through QEMU's own switchover (s_qemu_switchover) to BLACKOUT
 * and checks the cutover. */
static void qemu_switches_over(struct env *e, const struct mig_record *r)
{
	let_go(e); /* passes 2, 3, STOP and pre-switchover are sent */
	let_go(e);
	mig_poll(e->d);
	assert_phase(r, MIG_PHASE_BLACKOUT);
	/* The endpoint forwarded to the target before QEMU was let go (the fake saw
	 * migrate-continue after the events), and the VM's port stayed bound. */
	assert_int_equal(e->at_continue.n, 1);
	assert_seen_forwarding(&e->at_continue, "at migrate-continue");
	assert_location(e, &vm_key, FAB_EP_FORWARDING, NULL, HOST_B, G0 + 1);
	assert_port(e, FAB_EP_FORWARDING);
	/* QEMU paused the VM itself: the driver neither waited for its queue nor paused it. */
	assert_int_equal(e->at_drain.n, 0);
	assert_int_equal(e->at_stop.n, 0);
	assert_logged(e, "flipped as soon as the STOP event was read");
}

static void test_source_completes_after_end_forwarding(void **state)
{
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;
	int64_t stop_us, resume_us;
	json_t *figures;
	int queries;

	s_begin(&s, "precopy-pause.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_qemu_switchover(&s);
	s_converging_queries(&s, true);
	stop_us = rec_event_us(&s, "src", "STOP", NULL, 0);
	resume_us = rec_event_us(&s, "dst", "RESUME", NULL, 0);
	e->ctr[FAB_CTR_FORWARDED] = 1000;
	r = start_source(e, &s, &opt, uri);
	figures = rec_query_migrate(&s, "src", 0);
	assert_int_equal(r->qemu.bytes_remaining,
			 json_integer_value(json_object_get(json_object_get(figures, "ram"), "remaining")));
	json_decref(figures);
	assert_int_equal(e->at_continue.n, 0);

	qemu_switches_over(e, r);
	/* The VM paused when QEMU said STOP. */
	assert_int_equal(r->paused_ns, (uint64_t)stop_us * 1000);
	assert_int_equal(r->qemu.passes, 4);

	/* QEMU completes: the VM runs on the target, this host forwards its frames. */
	mig_poll(e->d);
	assert_phase(r, MIG_PHASE_CONVERGING);
	assert_int_equal(r->qemu.downtime_ms, 0);
	assert_true(mig_busy(e->d)); /* QEMU's final figures are not there yet */
	/* Not complete while the target has not activated the VM and frames are forwarded. */
	for (int i = 0; i < 30; i++, sleep_ms(1))
		mig_poll(e->d);
	assert_phase(r, MIG_PHASE_CONVERGING);
	assert_int_equal(e->target.queries, 1);
	assert_int_equal(r->activated_ns, 0);

	/* The target reports the activation (at the recorded RESUME) and QEMU its final
	 * figures, at the next queries. */
	e->target.view = (struct mig_target_view){
		.phase = MIG_PHASE_COMPLETED, .trigger = MIG_TRIGGER_QMP_RESUME,
		.activated_ns = (uint64_t)resume_us * 1000,
		.packets = {.held = 7, .released = 6, .dropped = 1, .hold_peak = 7}};
	e->ctr[FAB_CTR_FORWARDED] = 1042;
	advance_ms(EVERY_MS);
	mig_poll(e->d);
	assert_int_equal(r->activation_trigger, MIG_TRIGGER_QMP_RESUME);
	assert_int_equal(r->blackout_ns, (uint64_t)(resume_us - stop_us) * 1000);
	assert_int_equal(r->packets.held, 7);
	assert_int_equal(r->packets.released, 6);
	assert_int_equal(r->packets.dropped, 1);
	assert_int_equal(r->packets.hold_peak, 7);
	assert_int_equal(r->packets.forwarded, 42); /* since the cutover */
	assert_int_equal(r->qemu.downtime_ms, 4);
	assert_int_equal(r->qemu.total_time_ms, 1329);
	assert_int_equal(r->qemu.bytes_remaining, 0);
	assert_int_equal(r->qemu.passes, 4);
	/* Nothing more to learn from the source QEMU: its monitor is free again. */
	assert_monitor_closed(e);
	assert_logged(e, "downtime 4 ms");

	/* The target releases its held frames in bursts: its figures are asked again while
	 * this host still forwards, every 200 ms. */
	e->target.view.packets = (struct mig_packet_stats){.held = 9, .released = 8, .dropped = 1,
							   .hold_peak = 9};
	mig_poll(e->d);
	assert_int_equal(r->packets.released, 6); /* not at once */
	advance_ms(200);
	mig_poll(e->d);
	assert_int_equal(r->packets.held, 9);
	assert_int_equal(r->packets.released, 8);
	e->target.view.packets.released = 9;
	queries = e->target.queries;
	advance_ms(199);
	mig_poll(e->d);
	assert_int_equal(e->target.queries, queries);
	assert_int_equal(r->packets.released, 8);
	advance_ms(1);
	mig_poll(e->d);
	assert_int_equal(e->target.queries, queries + 1);
	assert_int_equal(r->packets.released, 9);
	assert_int_equal(r->packets.hold_peak, 7); /* as reported with the activation */
	assert_phase(r, MIG_PHASE_CONVERGING);

	/* EndForwarding: the endpoint is REMOTE at the target, the VM's port free; the
	 * migration is complete. */
	assert_int_equal(fabric_endpoint_step(e->fab, &vm_key, FAB_STEP_END_FORWARDING,
					      &(struct fab_endpoint){.generation = G0 + 1}),
			 0);
	assert_port(e, FAB_EP_ABSENT);
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_phase(r, MIG_PHASE_COMPLETED);
	assert_string_equal(r->failure_reason, "");
	assert_int_equal(r->role, MIG_ROLE_SOURCE);
	assert_int_equal(r->source_vtep, HOST_A);
	assert_int_equal(r->target_vtep, HOST_B);
	assert_true(r->finished_ns >= r->requested_ns);
	assert_timeline(r, (const uint8_t[]){MIG_PHASE_REQUESTED, MIG_PHASE_PREPARING,
					     MIG_PHASE_PRECOPY, MIG_PHASE_BLACKOUT,
					     MIG_PHASE_CONVERGING},
			5);
	assert_int_equal(r->blackout_ns, (uint64_t)(resume_us - stop_us) * 1000);
	assert_true(r->source_brownout_ns > 0);
	assert_true(r->target_brownout_ns > 0);
	assert_location(e, &vm_key, FAB_EP_REMOTE, NULL, HOST_B, G0 + 1);
	assert_int_equal(e->target.aborts, 0);
	assert_int_equal(e->target.prepares, 1);
	assert_int_equal(e->at_cont.n, 0);
	assert_ptr_equal(mig_find(e->d, "mig-1"), r);
	end_replay(e);
}

/* The target QEMU dies during pre-copy: the source QEMU reports the migration failed
 * (target-killed.qmp). The VM keeps running here (QEMU never paused it). */
static void test_source_qemu_reports_failure_in_precopy(void **state)
{
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;

	s_begin(&s, "target-killed.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_hold(&s);
	s_event(&s, "src", "MIGRATION", "failed", 0);
	/* The driver asks why. */
	s_exchange(&s, command("query-migrate"), rec_query_migrate(&s, "src", 1));
	r = start_source(e, &s, &opt, uri);

	let_go(e);
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_phase(r, MIG_PHASE_FAILED);
	assert_int_equal(r->failed_phase, MIG_PHASE_PRECOPY);
	assert_contains(r->failure_reason, "failed");
	assert_contains(r->failure_reason, "Unable to write to socket: Broken pipe");
	/* The endpoint is LOCAL on its port again, at a generation above the migration's. */
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0 + 2);
	assert_port(e, FAB_EP_LOCAL);
	/* The target was told to drop its INCOMING state, with the reason. */
	assert_int_equal(e->target.aborts, 1);
	assert_contains(e->target.abort_reason, "Broken pipe");
	/* QEMU resumes what it paused: the driver neither paused nor resumed anything. */
	assert_int_equal(e->at_continue.n, 0);
	assert_int_equal(e->at_stop.n, 0);
	assert_int_equal(e->at_cont.n, 0);
	assert_false(mig_busy(e->d));
	end_replay(e);
}

/* cancelled.qmp's source: started, pre-copy, then the driver's migrate_cancel. */
static void s_cancelled_in_precopy(struct script *s, struct mig_options *opt, char *uri,
				   size_t len)
{
	int id;

	s_begin(s, "cancelled.qmp", "src");
	s_source_start(s, VIRTIO_ONE_NIC, true, opt, uri, len);
	s_source_precopy(s);
	id = s_cmd(s, command("migrate_cancel"));
	s_event(s, "src", "MIGRATION", "cancelling", 0);
	s_return(s, id, recorded_return(s->file, "src", "migrate_cancel", 0));
}

/* The operator cancels during pre-copy (cancelled.qmp). */
static void test_cancel_during_precopy(void **state)
{
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX], err[256] = "";
	const struct mig_record *r;

	s_cancelled_in_precopy(&s, &opt, uri, sizeof(uri));
	r = start_source(e, &s, &opt, uri);

	assert_int_equal(mig_cancel(e->d, "mig-1", "the operator changed her mind", err, sizeof(err)),
			 0);
	assert_phase(r, MIG_PHASE_CANCELLED);
	assert_int_equal(r->failed_phase, MIG_PHASE_PRECOPY);
	assert_string_equal(r->failure_reason, "the operator changed her mind");
	assert_int_equal(e->target.aborts, 1);
	assert_string_equal(e->target.abort_reason, "the operator changed her mind");
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0 + 2);
	assert_port(e, FAB_EP_LOCAL);
	assert_int_equal(e->at_cont.n, 0); /* QEMU never paused the VM */
	/* Cancelling again is no error; an unknown migration is. */
	assert_int_equal(mig_cancel(e->d, "mig-1", NULL, err, sizeof(err)), 0);
	assert_int_equal(e->target.aborts, 1);
	assert_int_equal(mig_cancel(e->d, "mig-nope", NULL, err, sizeof(err)), -ENOENT);
	assert_contains(err, "mig-nope");
	for (int i = 0; i < 10; i++)
		mig_poll(e->d);
	assert_phase(r, MIG_PHASE_CANCELLED);
	/* QEMU was told (migrate_cancel): the fake checks it. */
	end_replay(e);
}

/*
 * A VM with a vhost-user NIC (port vm1 holds its frames while it is paused) and a tap NIC
 * (port vm2 does not): QEMU cannot be left to decide, the tap's frames would be lost in
 * its pause, so the driver decides (QEMU's downtime-limit 1 ms, as the script expects).
 * Cancelled in pre-copy, both endpoints are back where they were.
 */
static void test_source_driver_decides_for_mixed_ports(void **state)
{
	static const struct fab_ep_key nic2_key = {.vni = VNI, .mac = {0x52, 0x54, 0, 0, 0, 3}};
	struct env *e = *state;
	struct fab_endpoint nic2 = {.state = FAB_EP_LOCAL, .port = 2, .generation = G0};
	struct mig_endpoint eps[2] = {vm_ep, {.key = nic2_key, .source_port = "vm2"}};
	struct script s;
	struct mig_options opt;
	struct mig_request req;
	char uri[MIG_URI_MAX], err[256] = "";
	const struct mig_record *r;

	e->be.ports[VM_PORT].holds_paused = true;
	e->be.ports[2].holds_paused = false;
	assert_int_equal(fabric_endpoint_upsert(e->fab, &nic2_key, &nic2, NULL), 0);
	s_cancelled_in_precopy(&s, &opt, uri, sizeof(uri));
	start_fake(e, &s);
	req = source_request(eps, uri, &opt);
	req.n_eps = 2;
	if (mig_start(e->d, &req, &r, err, sizeof(err)))
		fail_msg("mig_start: %s", err);
	assert_phase(r, MIG_PHASE_PRECOPY);
	assert_logged(e, "the driver switches over: a paused VM's tap queue is lost");
	assert_null(logged(e, "QEMU's downtime-limit"));
	let_go(e);
	mig_poll(e->d);

	assert_int_equal(mig_cancel(e->d, "mig-1", "not now", err, sizeof(err)), 0);
	assert_phase(r, MIG_PHASE_CANCELLED);
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0 + 2);
	assert_location(e, &nic2_key, FAB_EP_LOCAL, "vm2", 0, G0 + 2);
	end_replay(e);
}

/* Past the switchover the VM belongs to the target: cancelling is refused. */
static void test_cancel_after_switchover_is_refused(void **state)
{
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX], err[256] = "";
	const struct mig_record *r;

	s_begin(&s, "precopy-pause.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_qemu_switchover(&s);
	s_converging_queries(&s, false);
	r = start_source(e, &s, &opt, uri);
	qemu_switches_over(e, r);

	assert_int_equal(mig_cancel(e->d, "mig-1", NULL, err, sizeof(err)), -EBUSY);
	assert_contains(err, "switchover");
	assert_phase(r, MIG_PHASE_BLACKOUT);
	/* Asking again with the same ID answers this migration; another one for the VM is
	 * refused. Neither prepares the target again. */
	{
		struct mig_request again = source_request(&vm_ep, uri, &opt);
		const struct mig_record *out = NULL;

		assert_int_equal(mig_start(e->d, &again, &out, err, sizeof(err)), 0);
		assert_ptr_equal(out, r);
		again.id = "mig-2";
		assert_int_equal(mig_start(e->d, &again, &out, err, sizeof(err)), -EBUSY);
		assert_contains(err, "vm_name");
		assert_null(mig_find(e->d, "mig-2"));
		assert_int_equal(e->target.prepares, 1);
	}
	assert_location(e, &vm_key, FAB_EP_FORWARDING, NULL, HOST_B, G0 + 1);

	mig_poll(e->d);
	assert_phase(r, MIG_PHASE_CONVERGING);
	err[0] = '\0';
	assert_int_equal(mig_cancel(e->d, "mig-1", NULL, err, sizeof(err)), -EBUSY);
	assert_contains(err, "host-b");
	assert_phase(r, MIG_PHASE_CONVERGING);
	assert_location(e, &vm_key, FAB_EP_FORWARDING, NULL, HOST_B, G0 + 1);
	assert_int_equal(e->target.aborts, 0);
	assert_int_equal(e->at_cont.n, 0);
	end_replay(e);
}

/* The target never reports the activation: after 10 s the source stops asking, and the
 * migration completes at EndForwarding without the target's figures. */
static void test_source_completes_when_target_never_reports(void **state)
{
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;
	const char *line;
	int queries;

	s_begin(&s, "precopy-pause.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_qemu_switchover(&s);
	s_converging_queries(&s, true);
	r = start_source(e, &s, &opt, uri);
	qemu_switches_over(e, r);
	mig_poll(e->d);
	assert_phase(r, MIG_PHASE_CONVERGING);
	assert_null(logged(e, "did not report"));

	advance_ms(10001); /* past the 10 s the target has; QEMU's figures are due too */
	mig_poll(e->d);
	line = logged(e, "did not report the activation");
	assert_non_null(line);
	/* Nothing after the sentence: the target's query said nothing more. */
	assert_string_equal(strstr(line, "did not report"),
			    "did not report the activation within 10 s");
	assert_int_equal(r->qemu.downtime_ms, 4);
	assert_monitor_closed(e);
	queries = e->target.queries;
	advance_ms(1000);
	mig_poll(e->d);
	assert_int_equal(e->target.queries, queries); /* it stopped asking */
	assert_phase(r, MIG_PHASE_CONVERGING);

	assert_int_equal(fabric_endpoint_step(e->fab, &vm_key, FAB_STEP_END_FORWARDING,
					      &(struct fab_endpoint){.generation = G0 + 1}),
			 0);
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_phase(r, MIG_PHASE_COMPLETED);
	assert_int_equal(r->activated_ns, 0);
	assert_int_equal(r->blackout_ns, 0);
	assert_int_equal(r->activation_trigger, MIG_TRIGGER_NONE);
	end_replay(e);
}

/*
 * QEMU pauses the VM at the end of pre-copy while the driver's query-migrate (asked at
 * pass 2) waits for its reply: QEMU sends pass 3 and STOP, and answers only after the
 * switchover state (its main loop is busy meanwhile). The fast path must forward from
 * the STOP on, not from when the reply comes: a frame delivered to the VM's port after
 * QEMU stopped reading it would be lost. The fake holds the reply back while a second
 * thread looks at the fabric.
 */
struct hold_watch {
	struct env *e;
	int hold;             /* fake_qmp_wait_hold() */
	bool forwarding;      /* the fast path was told to forward while the reply was held */
	bool driver_waiting;  /* the test's thread was inside mig_poll() meanwhile */
};

static void *watch_hold(void *arg)
{
	struct hold_watch *w = arg;

	w->hold = fake_qmp_wait_hold(w->e->fake, 3000);
	if (w->hold == 0) {
		for (int i = 0; i < 2000; i++, sleep_ms(1))
			if (atomic_load_explicit(&w->e->forwarding_published, memory_order_acquire))
				break;
		w->forwarding = atomic_load_explicit(&w->e->forwarding_published,
						     memory_order_acquire);
		w->driver_waiting = atomic_load(&w->e->in_poll);
	}
	fake_qmp_release(w->e->fake); /* the rest of QEMU's answer */
	return NULL;
}

static void test_source_qemu_pauses_during_a_query(void **state)
{
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;
	struct hold_watch w = {.e = e};
	pthread_t watcher;
	int id;

	s_begin(&s, "precopy-pause.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_hold(&s);
	s_event(&s, "src", "MIGRATION_PASS", NULL, 1);
	s_hold(&s); /* pass 2 is there */
	id = s_cmd(&s, command("query-migrate"));
	s_event(&s, "src", "MIGRATION_PASS", NULL, 2);
	s_event(&s, "src", "STOP", NULL, 0);
	s_hold(&s); /* the watcher looks */
	s_event(&s, "src", "MIGRATION", "pre-switchover", 0);
	s_return(&s, id, rec_query_migrate(&s, "src", 1)); /* pre-switchover, pass 3, 0 left */
	/* The driver lets QEMU finish, and asks where it is (pass 3 was new). */
	s_continue(&s);
	id = s_cmd(&s, command("query-migrate"));
	s_event(&s, "src", "MIGRATION", "device", 0);
	s_event(&s, "src", "MIGRATION_PASS", NULL, 3);
	s_event(&s, "src", "MIGRATION", "completed", 0);
	s_return(&s, id, rec_query_migrate(&s, "src", 2));
	r = start_source(e, &s, &opt, uri);

	let_go(e);
	let_go(e); /* pass 2: the driver asks query-migrate at once */
	assert_int_equal(pthread_create(&watcher, NULL, watch_hold, &w), 0);
	atomic_store(&e->in_poll, 1);
	mig_poll(e->d);
	atomic_store(&e->in_poll, 0);
	assert_int_equal(pthread_join(watcher, NULL), 0);

	assert_int_equal(w.hold, 0);
	if (!w.forwarding)
		fail_msg("the endpoint did not forward while QEMU held back its reply after STOP");
	assert_true(w.driver_waiting);
	assert_seen_forwarding(&e->at_forwarding, "when the fast path was told to forward");
	/* The reply came: its figures are read, but the driver does not decide a switchover
	 * QEMU made already (no queue polls, no stop: the fake would have seen them). */
	assert_int_equal(r->qemu.passes, 3);
	assert_phase(r, MIG_PHASE_BLACKOUT);
	assert_int_equal(e->at_drain.n, 0);
	assert_int_equal(e->at_stop.n, 0);
	assert_int_equal(e->at_continue.n, 0); /* pre-switchover is read, not handled yet */

	mig_poll(e->d);
	assert_int_equal(e->at_continue.n, 1);
	assert_seen_forwarding(&e->at_continue, "at migrate-continue");
	assert_int_equal(r->paused_ns, (uint64_t)rec_event_us(&s, "src", "STOP", NULL, 0) * 1000);
	assert_logged(e, "flipped as soon as the STOP event was read");
	assert_location(e, &vm_key, FAB_EP_FORWARDING, NULL, HOST_B, G0 + 1);
	end_replay(e);
}

/*
 * precopy-pause.qmp's source up to pass 3: pass 2 comes 1 s after pass 1 with 8 MiB left,
 * pass 3 125 ms later with 256 KiB left (the guest dirtying 2048 pages/s). Returns the
 * recorded STOP's time. `qemu_decides`: the VM's port keeps a paused VM's frames.
 */
static int64_t s_converging_precopy(struct script *s, bool qemu_decides, struct mig_options *opt,
				    char *uri, size_t len)
{
	int64_t pass1_us;

	s_begin(s, "precopy-pause.qmp", "src");
	s->qemu_decides = qemu_decides;
	pass1_us = rec_event_us(s, "src", "MIGRATION_PASS", NULL, 0);
	s_source_start(s, VIRTIO_ONE_NIC, true, opt, uri, len);
	s_source_precopy(s);
	s_pass_at(s, 2, pass1_us + 1000000);
	s_hold(s);
	s_exchange(s, command("query-migrate"), query_at_pass(s, 2, 8 << 20, 2048, 1100));
	s_pass_at(s, 3, pass1_us + 1125000);
	s_hold(s);
	s_exchange(s, command("query-migrate"), query_at_pass(s, 3, 256 << 10, 2048, 1300));
	return rec_event_us(s, "src", "STOP", NULL, 0);
}

/*
 * The VM's port keeps a paused VM's frames (vhost-user): QEMU decides the switchover with
 * the request's budget (precopy-pause.qmp's 10 ms) as its own downtime-limit. At pass 3
 * only 256 KiB are left, which the driver would switch over on for a tap; here it leaves
 * the VM alone (no queue polls, no stop: the fake would see them). QEMU pauses the VM;
 * the STOP event flips the fast path; at pre-switchover the driver lets QEMU finish.
 */
static void test_source_qemu_decides_for_vhost_user_ports(void **state)
{
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;
	int64_t stop_us;
	int id;

	e->be.ports[VM_PORT].holds_paused = true;
	stop_us = s_converging_precopy(&s, true, &opt, uri, sizeof(uri));
	s_hold(&s);
	s_event(&s, "src", "STOP", NULL, 0);
	s_hold(&s);
	s_event(&s, "src", "MIGRATION", "pre-switchover", 0);
	s_continue(&s);
	id = s_cmd(&s, command("query-migrate"));
	s_event(&s, "src", "MIGRATION", "device", 0);
	s_event(&s, "src", "MIGRATION", "completed", 0);
	s_return(&s, id, query_completed_late(4, 0, 0));
	s_exchange(&s, command("query-migrate"), query_completed_late(4, 3, 1332));
	r = start_source(e, &s, &opt, uri);
	assert_logged(e, "QEMU's downtime-limit: the VM's ports hold its frames while it is paused");

	let_go(e);
	mig_poll(e->d); /* pass 2 */
	let_go(e);
	mig_poll(e->d); /* pass 3: within the budget, but QEMU's to decide */
	assert_phase(r, MIG_PHASE_PRECOPY);
	assert_int_equal(e->at_drain.n, 0);
	assert_int_equal(e->at_stop.n, 0);
	assert_null(logged(e, "switchover:"));
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0);

	/* QEMU paused the VM: the fast path forwards at once. */
	let_go(e);
	assert_int_equal(fake_qmp_wait_hold(e->fake, 3000), 0); /* STOP is out */
	mig_poll(e->d);
	assert_phase(r, MIG_PHASE_BLACKOUT);
	assert_location(e, &vm_key, FAB_EP_FORWARDING, NULL, HOST_B, G0 + 1);
	assert_int_equal(e->at_continue.n, 0);
	/* It waits at pre-switchover: let go. */
	let_go(e);
	for (int i = 0; i < 100 && e->at_continue.n == 0; i++) {
		mig_wait(e->d, 30);
		mig_poll(e->d);
	}
	assert_int_equal(e->at_continue.n, 1);
	assert_seen_forwarding(&e->at_continue, "at migrate-continue");
	assert_int_equal(e->at_stop.n, 0);
	assert_int_equal(r->paused_ns, (uint64_t)stop_us * 1000);
	assert_location(e, &vm_key, FAB_EP_FORWARDING, NULL, HOST_B, G0 + 1);

	/* QEMU completes; its figures come with a later query. */
	for (int i = 0; i < 10 && r->qemu.downtime_ms == 0; i++) {
		virt_mono_ns += 25000000;
		mig_wait(e->d, 30);
		mig_poll(e->d);
	}
	assert_phase(r, MIG_PHASE_CONVERGING);
	assert_int_equal(r->qemu.downtime_ms, 3);
	assert_monitor_closed(e);
	end_replay(e);
}

/* ---- source: the driver decides the switchover ---- */

/*
 * Pre-copy converges (precopy-pause.qmp's QEMU and bandwidth, 67 MB/s; the request's
 * downtime budget is the recording's 10 ms). At pass 2, 8 MiB are left and the guest
 * dirties 8 MiB/s: about 127 ms to send, over budget. At pass 3, 256 KiB: about 6 ms. The
 * driver flips the fast path, waits for the NIC's receive queue to settle (used index
 * 1000, 1003, 1005, then 1005 three times), pauses the VM; QEMU sends what is left (one
 * more pass) and waits at pre-switchover; the driver lets it finish. (Pass 1 took 1 s and
 * pass 2 125 ms: pass 3 should take about 15 ms, over budget, so the pass events alone do
 * not decide; the figures of query-migrate do.)
 */
static void test_source_driver_decides_switchover(void **state)
{
	static const unsigned int used[] = {1000, 1003, 1005, 1005, 1005, 1005};
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;
	int64_t stop_us;
	int id;

	stop_us = s_converging_precopy(&s, false, &opt, uri, sizeof(uri));
	s_queue_polls(&s, used, 6);
	s_stop(&s, rec_event(&s, "src", "STOP", NULL, 0));
	s_pass_at(&s, 4, stop_us + 600); /* QEMU syncs what the paused guest dirtied last */
	s_event(&s, "src", "MIGRATION", "pre-switchover", 0);
	s_hold(&s);
	s_continue(&s);
	id = s_cmd(&s, command("query-migrate")); /* pass 4 was new */
	s_event(&s, "src", "MIGRATION", "device", 0);
	s_pass_at(&s, 5, rec_event_us(&s, "src", "MIGRATION", "device", 0) + 90);
	s_event(&s, "src", "MIGRATION", "completed", 0);
	s_return(&s, id, query_completed_late(5, 0, 0)); /* as recorded: no figures yet */
	s_exchange(&s, command("query-migrate"), query_completed_late(5, 3, 1332)); /* pass 5 */
	r = start_source(e, &s, &opt, uri);

	/* Pass 2: too much left for the budget. Nothing changes. */
	let_go(e);
	mig_poll(e->d);
	assert_int_equal(r->qemu.passes, 2);
	assert_int_equal(r->qemu.bytes_remaining, 8 << 20);
	assert_phase(r, MIG_PHASE_PRECOPY);
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0);
	assert_int_equal(e->at_drain.n, 0);
	assert_int_equal(e->at_stop.n, 0);
	/* What is dirtied until the next look counts: 8 MiB alone would be 124 ms. */
	assert_logged(e, "about 127 ms to send (budget 10 ms)");

	/* Pass 3: within the budget. */
	let_go(e);
	mig_poll(e->d);
	assert_phase(r, MIG_PHASE_BLACKOUT);
	/* The fast path forwarded before the driver looked at the VM's queue... */
	assert_int_equal(e->at_drain.n, 6);
	assert_seen_forwarding(&e->at_drain, "at the first look at the VM's receive queue");
	/* ...and before it paused the VM, after the queue settled. */
	assert_int_equal(e->at_stop.n, 1);
	assert_seen_forwarding(&e->at_stop, "at stop");
	assert_logged(e, "about 6 ms to send, within the 10 ms budget");
	assert_logged(e, "the VM took 5 more frames from its port");
	assert_null(logged(e, "pass 3 began"));
	assert_null(logged(e, "pausing anyway"));
	assert_location(e, &vm_key, FAB_EP_FORWARDING, NULL, HOST_B, G0 + 1);
	assert_int_equal(e->at_continue.n, 0); /* QEMU is still sending */

	/* QEMU waits at pre-switchover: let go. */
	let_go(e);
	mig_poll(e->d);
	assert_int_equal(e->at_continue.n, 1);
	assert_seen_forwarding(&e->at_continue, "at migrate-continue");
	assert_int_equal(r->paused_ns, (uint64_t)stop_us * 1000);
	assert_phase(r, MIG_PHASE_BLACKOUT);

	/* QEMU completed; its figures come with the next query, and the monitor is closed. */
	mig_poll(e->d);
	assert_phase(r, MIG_PHASE_CONVERGING);
	assert_int_equal(r->qemu.downtime_ms, 3);
	assert_int_equal(r->qemu.passes, 5);
	assert_monitor_closed(e);
	assert_int_equal(e->at_cont.n, 0);
	assert_int_equal(e->target.aborts, 0);
	assert_timeline(r, (const uint8_t[]){MIG_PHASE_REQUESTED, MIG_PHASE_PREPARING,
					     MIG_PHASE_PRECOPY, MIG_PHASE_BLACKOUT,
					     MIG_PHASE_CONVERGING},
			5);
	end_replay(e);
}

/*
 * The switchover decided on QEMU's pass events alone, with precopy-pause.qmp's times:
 * pass 2 began 1313.7 ms after pass 1, pass 3 1.1 ms after pass 2, so pass 3 should take
 * about 0 ms, within the 10 ms budget. The driver switches as soon as it reads pass 3,
 * before it asks query-migrate (which would wait for QEMU's main loop); it asks after the
 * VM is paused.
 */
static void test_source_switchover_on_pass_event(void **state)
{
	static const unsigned int used[] = {200, 200, 200, 200};
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;

	s_begin(&s, "precopy-pause.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_event(&s, "src", "MIGRATION_PASS", NULL, 1);
	s_hold(&s);
	s_exchange(&s, command("query-migrate"), query_at_pass(&s, 2, 8 << 20, 2048, 1320));
	s_event(&s, "src", "MIGRATION_PASS", NULL, 2);
	s_hold(&s);
	s_queue_polls(&s, used, 4);
	s_stop(&s, rec_event(&s, "src", "STOP", NULL, 0));
	s_exchange(&s, command("query-migrate"), query_at_pass(&s, 3, 96 << 10, 0, 1322));
	s_event(&s, "src", "MIGRATION", "pre-switchover", 0);
	s_hold(&s);
	s_continue(&s);
	r = start_source(e, &s, &opt, uri);

	let_go(e);
	mig_poll(e->d); /* pass 2: too early to tell, and 127 ms of bytes left */
	assert_phase(r, MIG_PHASE_PRECOPY);
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0);

	let_go(e);
	mig_poll(e->d); /* pass 3 */
	assert_phase(r, MIG_PHASE_BLACKOUT);
	assert_logged(e, "the last two took 1313.7 and 1.1 ms");
	assert_logged(e, "within the 10 ms budget");
	assert_int_equal(e->at_drain.n, 4);
	assert_seen_forwarding(&e->at_drain, "at the first look at the VM's receive queue");
	assert_int_equal(e->at_stop.n, 1);
	assert_seen_forwarding(&e->at_stop, "at stop");
	/* The query after the pause (the fake saw it after stop) read pass 3's figures. */
	assert_int_equal(r->qemu.passes, 3);
	assert_int_equal(r->qemu.bytes_remaining, 96 << 10);

	let_go(e);
	mig_poll(e->d);
	assert_int_equal(e->at_continue.n, 1);
	assert_seen_forwarding(&e->at_continue, "at migrate-continue");
	assert_int_equal(r->paused_ns, (uint64_t)rec_event_us(&s, "src", "STOP", NULL, 0) * 1000);
	end_replay(e);
}

/*
 * The driver switches on pass 3 (as above) and, while it waits for the VM's receive queue,
 * QEMU pauses the VM itself (as recorded: STOP 0.2 ms after pass 3). The driver does not
 * pause it again, and lets QEMU finish at pre-switchover; the VM being QEMU's to resume if
 * the migration fails, not the driver's.
 */
static void test_source_qemu_pauses_while_driver_drains(void **state)
{
	static const unsigned int used[] = {300, 301, 301, 301, 301};
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;
	int id;

	s_begin(&s, "precopy-pause.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_event(&s, "src", "MIGRATION_PASS", NULL, 1);
	s_hold(&s);
	s_exchange(&s, command("query-migrate"), query_at_pass(&s, 2, 8 << 20, 2048, 1320));
	s_event(&s, "src", "MIGRATION_PASS", NULL, 2);
	s_hold(&s);
	s_queue_polls(&s, used, 1);
	s_event(&s, "src", "STOP", NULL, 0); /* read while the driver waits for its next look */
	s_queue_polls(&s, used + 1, 4);
	id = s_cmd(&s, command("query-migrate")); /* pass 3 was new */
	s_event(&s, "src", "MIGRATION", "pre-switchover", 0);
	s_return(&s, id, rec_query_migrate(&s, "src", 1));
	s_continue(&s);
	r = start_source(e, &s, &opt, uri);

	let_go(e);
	mig_poll(e->d); /* pass 2 */
	let_go(e);
	mig_poll(e->d); /* pass 3: flip, look at the queue; STOP comes */
	assert_phase(r, MIG_PHASE_BLACKOUT);
	assert_int_equal(e->at_drain.n, 5);
	assert_seen_forwarding(&e->at_drain, "at the first look at the VM's receive queue");
	assert_int_equal(e->at_stop.n, 0);
	assert_logged(e, "the VM took 1 more frames from its port");
	assert_int_equal(r->qemu.passes, 3);

	mig_poll(e->d); /* STOP, pre-switchover */
	assert_int_equal(e->at_continue.n, 1);
	assert_seen_forwarding(&e->at_continue, "at migrate-continue");
	assert_int_equal(r->paused_ns, (uint64_t)rec_event_us(&s, "src", "STOP", NULL, 0) * 1000);
	assert_int_equal(e->at_stop.n, 0);
	end_replay(e);
}

/* A QEMU without x-query-virtio (CommandNotFound): the migration goes on; at the
 * switchover the driver pauses the VM right after the flip, without waiting. */
static void test_source_switchover_without_virtio_introspection(void **state)
{
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;

	s_begin(&s, "precopy-pause.qmp", "src");
	s_source_start(&s, VIRTIO_UNSUPPORTED, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_event(&s, "src", "MIGRATION_PASS", NULL, 1);
	s_hold(&s);
	s_exchange(&s, command("query-migrate"), query_at_pass(&s, 2, 64 << 10, 0, 1100));
	s_stop(&s, rec_event(&s, "src", "STOP", NULL, 0));
	r = start_source(e, &s, &opt, uri);

	let_go(e);
	mig_poll(e->d);
	assert_phase(r, MIG_PHASE_BLACKOUT);
	assert_int_equal(e->at_drain.n, 0);
	assert_int_equal(e->at_stop.n, 1);
	assert_seen_forwarding(&e->at_stop, "at stop");
	assert_logged(e, "within the 10 ms budget");
	assert_null(logged(e, "more frames"));
	end_replay(e);
}

/* The VM keeps taking frames from its port after the flip (its used index moves at every
 * look): the driver waits 200 ms at most, then pauses it anyway. */
static void test_source_drain_gives_up_after_200_ms(void **state)
{
	unsigned int used[201];
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;
	int64_t t0;

	/* Looked at once, then every 1 ms for 200 ms (the driver's sleeps move its clock). */
	for (int i = 0; i < 201; i++)
		used[i] = 65500u + (unsigned int)i; /* the index wraps at 65536 */
	s_begin(&s, "precopy-pause.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_event(&s, "src", "MIGRATION_PASS", NULL, 1);
	s_hold(&s);
	s_exchange(&s, command("query-migrate"), query_at_pass(&s, 2, 64 << 10, 0, 1100));
	s_queue_polls(&s, used, 201);
	s_stop(&s, rec_event(&s, "src", "STOP", NULL, 0));
	r = start_source(e, &s, &opt, uri);

	let_go(e);
	t0 = virt_ms();
	mig_poll(e->d);
	assert_int_equal(virt_ms() - t0, 200);
	assert_phase(r, MIG_PHASE_BLACKOUT);
	assert_int_equal(e->at_drain.n, 201);
	assert_int_equal(e->at_stop.n, 1);
	assert_seen_forwarding(&e->at_stop, "at stop");
	assert_logged(e, "the VM took 200 more frames from its port in 200.0 ms after the "
			 "cutover (still taking them: pausing anyway)");
	end_replay(e);
}

/*
 * The migration fails after the driver paused the VM (target-killed.qmp's failure, after
 * a switchover at pass 2: 16 KiB left at 1 MB/s is about 15 ms, within the recording's
 * 50 ms). QEMU does not resume a VM it did not pause: the driver resumes it (cont) and
 * points the endpoint back at its port here.
 */
static void test_source_failure_after_driver_stop_resumes_vm(void **state)
{
	static const unsigned int used[] = {77, 77, 77, 77};
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;
	int64_t pass1_us, failed_us;

	s_begin(&s, "target-killed.qmp", "src");
	pass1_us = rec_event_us(&s, "src", "MIGRATION_PASS", NULL, 0);
	failed_us = rec_event_us(&s, "src", "MIGRATION", "failed", 0);
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_pass_at(&s, 2, pass1_us + 300000);
	s_hold(&s);
	s_exchange(&s, command("query-migrate"), query_at_pass(&s, 2, 16 << 10, 0, 810));
	s_queue_polls(&s, used, 4);
	s_stop(&s, json_pack("{s:{s:I, s:I}, s:s}", "timestamp", "seconds",
			     (json_int_t)((pass1_us + 310000) / 1000000), "microseconds",
			     (json_int_t)((pass1_us + 310000) % 1000000), "event", "STOP"));
	s_hold(&s);
	s_event(&s, "src", "MIGRATION", "failed", 0);
	s_exchange(&s, command("query-migrate"), rec_query_migrate(&s, "src", 1));
	s_cont(&s, json_pack("{s:{s:I, s:I}, s:s}", "timestamp", "seconds",
			     (json_int_t)((failed_us + 1000) / 1000000), "microseconds",
			     (json_int_t)((failed_us + 1000) % 1000000), "event", "RESUME"));
	r = start_source(e, &s, &opt, uri);

	let_go(e);
	mig_poll(e->d);
	assert_phase(r, MIG_PHASE_BLACKOUT);
	assert_int_equal(e->at_drain.n, 4);
	assert_int_equal(e->at_stop.n, 1);
	assert_seen_forwarding(&e->at_stop, "at stop");
	assert_logged(e, "about 15 ms to send, within the 50 ms budget");

	let_go(e); /* QEMU fails */
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_phase(r, MIG_PHASE_FAILED);
	assert_int_equal(r->failed_phase, MIG_PHASE_BLACKOUT);
	assert_contains(r->failure_reason, "Unable to write to socket: Broken pipe");
	/* The driver pointed the endpoint back here, then resumed the VM (the fake saw cont):
	 * frames arriving meanwhile wait on the VM's port instead of going to the target. */
	assert_int_equal(e->at_cont.n, 1);
	assert_int_equal(e->at_cont.loc.state, FAB_EP_LOCAL);
	assert_int_equal(e->at_continue.n, 0);
	/* The VM runs here: its endpoint is LOCAL on its port, above the migration's
	 * generation, in the fabric and the fast path. */
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0 + 2);
	assert_port(e, FAB_EP_LOCAL);
	assert_int_equal(e->target.aborts, 1);
	assert_contains(e->target.abort_reason, "Broken pipe");
	assert_false(mig_busy(e->d));
	end_replay(e);
}

/* The source QEMU goes away just as the driver pauses the VM (after the flip): the
 * migration fails, the target is told, the endpoint points back at the VM's port here. */
static void test_source_qemu_gone_at_driver_stop(void **state)
{
	static const unsigned int used[] = {9, 9, 9, 9};
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;

	s_begin(&s, "precopy-pause.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_event(&s, "src", "MIGRATION_PASS", NULL, 1);
	s_hold(&s);
	s_exchange(&s, command("query-migrate"), query_at_pass(&s, 2, 64 << 10, 0, 1100));
	s_queue_polls(&s, used, 4);
	s_cmd(&s, command("stop"));
	s_printf(&s, "!close\n");
	r = start_source(e, &s, &opt, uri);

	let_go(e);
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_phase(r, MIG_PHASE_FAILED);
	assert_int_equal(r->failed_phase, MIG_PHASE_BLACKOUT);
	assert_contains(r->failure_reason, "did not pause the VM");
	assert_int_equal(e->at_stop.n, 1);
	assert_seen_forwarding(&e->at_stop, "at stop");
	assert_int_equal(e->at_cont.n, 0); /* the driver had not paused it */
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0 + 2);
	assert_port(e, FAB_EP_LOCAL);
	assert_int_equal(e->target.aborts, 1);
	assert_false(mig_busy(e->d));
	end_replay(e);
}

/* ---- source: refusals and QEMU gone ---- */

/* A request mig_start() refuses: the error, the field named, and nothing changed. */
static void assert_refused(struct env *e, const struct mig_request *req, int expected,
			   const char *field)
{
	struct fab_flow before, after;
	const struct mig_record *r = (const void *)1;
	int publishes = e->be.publishes;
	char err[256] = "";

	assert_int_equal(fabric_endpoint_get(e->fab, &vm_key, &before), 0);
	assert_int_equal(mig_start(e->d, req, &r, err, sizeof(err)), expected);
	assert_contains(err, field);
	assert_null(r);
	assert_int_equal(fabric_endpoint_get(e->fab, &vm_key, &after), 0);
	assert_memory_equal(&before.loc, &after.loc, sizeof(before.loc));
	assert_int_equal(e->be.publishes, publishes);
	assert_null(mig_at(e->d, 0));
	assert_int_equal(e->target.prepares, 0);
	assert_int_equal(e->target.aborts, 0);
}

static void test_bad_requests_change_nothing(void **state)
{
	struct env *e = *state;
	struct mig_options opt = {0};
	struct mig_request req;
	struct mig_endpoint remote_ep = {.key = other_key};
	struct mig_endpoint wrong_port = {.key = vm_key, .source_port = "vm2"};

	req = source_request(&vm_ep, "tcp:192.0.2.2:4444", &opt);
	req.target_vtep = 0;
	assert_refused(e, &req, -EINVAL, "target_vtep");
	req.target_vtep = HOST_A; /* this host */
	assert_refused(e, &req, -EINVAL, "target_vtep");

	req = source_request(&vm_ep, "http://192.0.2.2:4444", &opt);
	assert_refused(e, &req, -EINVAL, "target_migration_uri");
	req.uri = NULL;
	assert_refused(e, &req, -EINVAL, "target_migration_uri");

	req = source_request(&vm_ep, "tcp:192.0.2.2:4444", &opt);
	req.vm_name = "vms/vm1";
	assert_refused(e, &req, -EINVAL, "vm_name");
	req.vm_name = "..";
	assert_refused(e, &req, -EINVAL, "vm_name");

	req = source_request(&vm_ep, "tcp:192.0.2.2:4444", &opt);
	req.target_agent = "";
	assert_refused(e, &req, -EINVAL, "target_agent");

	/* An endpoint that is REMOTE here, and one LOCAL on another port than named. */
	req = source_request(&remote_ep, "tcp:192.0.2.2:4444", &opt);
	assert_refused(e, &req, -ENOENT, "endpoints[0]");
	req = source_request(&wrong_port, "tcp:192.0.2.2:4444", &opt);
	assert_refused(e, &req, -ENOENT, "endpoints[0]");
	req = source_request(&vm_ep, "tcp:192.0.2.2:4444", &opt);
	req.n_eps = 0;
	assert_refused(e, &req, -ENOENT, "vm_name");

	/* A generation that does not exceed the one held. */
	req = source_request(&vm_ep, "tcp:192.0.2.2:4444", &opt);
	req.generation = G0 - 1;
	assert_refused(e, &req, -ESTALE, "generation");
}

/* The target refuses to prepare: the migration fails at once, QEMU never migrates. */
static void test_target_refuses_prepare(void **state)
{
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX], err[256] = "";
	const struct mig_record *r;
	struct mig_request req;

	/* The start up to x-query-virtio: no migrate. */
	s_begin(&s, "precopy-pause.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, false, &opt, uri, sizeof(uri));

	e->target.prepare_ret = -ENOSPC;
	req = source_request(&vm_ep, uri, &opt);
	start_fake(e, &s);
	assert_int_equal(mig_start(e->d, &req, &r, err, sizeof(err)), -EIO);
	assert_phase(r, MIG_PHASE_FAILED);
	assert_int_equal(r->failed_phase, MIG_PHASE_PREPARING);
	assert_contains(r->failure_reason, "no room for the VM");
	assert_contains(err, "host-b");
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0);
	assert_port(e, FAB_EP_LOCAL);
	assert_int_equal(e->target.prepares, 1);
	assert_int_equal(e->target.aborts, 1); /* whatever it set up is dropped */
	assert_false(mig_busy(e->d));
	end_replay(e);
}

/* The source QEMU disappears (monitor closed) during pre-copy. */
static void test_source_qemu_gone_in_precopy(void **state)
{
	struct env *e = *state;
	struct script s;
	struct mig_options opt;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;

	s_begin(&s, "target-killed.qmp", "src");
	s_source_start(&s, VIRTIO_ONE_NIC, true, &opt, uri, sizeof(uri));
	s_source_precopy(&s);
	s_printf(&s, "!hold\n!close\n");
	r = start_source(e, &s, &opt, uri);

	let_go(e);
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_phase(r, MIG_PHASE_FAILED);
	assert_int_equal(r->failed_phase, MIG_PHASE_PRECOPY);
	assert_contains(r->failure_reason, "went away");
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0);
	assert_int_equal(e->target.aborts, 1);
	end_replay(e);
}

/* ---- target ---- */

/* How the incoming QEMU's part ends, after pre-copy. */
enum target_ending {
	TARGET_RESUME,   /* QEMU starts the VM itself (RESUME), then says completed */
	TARGET_PAUSED,   /* completed with the VM paused (the source's driver paused it) */
	TARGET_GONE,     /* QEMU goes away */
};

/* The incoming QEMU (precopy-pause.qmp, dst) listens; pre-copy begins; then, after the
 * second hold, `ending`. */
static void s_target(struct script *s, enum target_ending ending, char *uri, size_t len)
{
	json_t *incoming = recorded_arguments(s->file, "dst", "migrate-incoming", 0);
	int id;

	s_exchange(s,
		   json_pack("{s:s, s:{s:[{s:s, s:b}, {s:s, s:b}]}}", "execute",
			     "migrate-set-capabilities", "arguments", "capabilities", "capability",
			     "events", "state", 1, "capability", "postcopy-ram", "state", 0),
		   recorded_return(s->file, "dst", "migrate-set-capabilities", 0));
	id = s_cmd(s, json_pack("{s:s, s:O}", "execute", "migrate-incoming", "arguments", incoming));
	s_event(s, "dst", "MIGRATION", "setup", 0);
	s_return(s, id, recorded_return(s->file, "dst", "migrate-incoming", 0));
	s_hold(s); /* 1: the fast path prepares */
	s_event(s, "dst", "MIGRATION", "active", 0);
	s_hold(s); /* 2: pre-copy runs */
	if (ending == TARGET_GONE) {
		s_printf(s, "!close\n");
	} else {
		if (ending == TARGET_PAUSED) {
			/* QEMU 7.2 keeps the VM in the state the source had: paused. The driver
			 * starts it; QEMU says RESUME. */
			s_event(s, "dst", "MIGRATION", "completed", 0);
			s_cont(s, rec_event(s, "dst", "RESUME", NULL, 0));
		} else {
			s_event(s, "dst", "RESUME", NULL, 0);
		}
		s_exchange(s, json_pack("{s:s, s:o}", "execute", "announce-self", "arguments",
					recorded_arguments("basic.qmp", "vm", "announce-self", 0)),
			   recorded_return("basic.qmp", "vm", "announce-self", 0));
	}
	snprintf(uri, len, "%s", json_string_value(json_object_get(incoming, "uri")));
	json_decref(incoming);
}

/* Prepares the target for vm1 (the driver, then the fast path) and lets pre-copy begin. */
static const struct mig_record *start_target(struct env *e, struct script *s, const char *uri)
{
	struct mig_incoming in = {.id = "mig-1", .vm_name = "vm1", .source_host = "host-a",
				  .source_vtep = HOST_A, .uri = uri, .key = vm_key,
				  .port_name = "vm1", .generation = G0 + 1};
	const struct mig_record *r;
	char err[256] = "";
	int rc;

	start_fake(e, s);
	rc = mig_prepare_incoming(e->d, &in, err, sizeof(err));
	if (rc)
		fail_msg("mig_prepare_incoming: %d %s", rc, err);
	r = mig_find(e->d, "mig-1");
	assert_phase(r, MIG_PHASE_PREPARING);
	assert_int_equal(r->role, MIG_ROLE_TARGET);
	assert_int_equal(r->n_eps, 1);
	assert_int_equal(r->eps[0].before.state, FAB_EP_REMOTE);
	assert_int_equal(fake_qmp_wait_hold(e->fake, 2000), 0);
	/* fabricd's PrepareIncoming goes on with the fast path's step. */
	assert_int_equal(fabric_endpoint_step(e->fab, &vm_key, FAB_STEP_PREPARE_INCOMING,
					      &(struct fab_endpoint){.port = VM_PORT,
								     .generation = G0 + 1}),
			 0);
	assert_location(e, &vm_key, FAB_EP_INCOMING, "vm1", 0, G0 + 1);
	assert_port(e, FAB_EP_INCOMING);
	fake_qmp_release(e->fake);
	POLL_UNTIL(e, r->phase == MIG_PHASE_PRECOPY);
	assert_int_equal(fake_qmp_wait_hold(e->fake, 2000), 0);
	assert_int_equal(r->activated_ns, 0);
	return r;
}

static void test_target_activates_on_resume(void **state)
{
	struct env *e = *state;
	struct script s;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;

	s_begin(&s, "precopy-pause.qmp", "dst");
	s_target(&s, TARGET_RESUME, uri, sizeof(uri));
	r = start_target(e, &s, uri);

	fake_qmp_release(e->fake); /* RESUME */
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_phase(r, MIG_PHASE_COMPLETED);
	assert_int_equal(r->activation_trigger, MIG_TRIGGER_QMP_RESUME);
	assert_true(r->activated_ns != 0);
	assert_true(r->eps[0].activated);
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0 + 1);
	assert_port(e, FAB_EP_LOCAL);
	assert_timeline(r, (const uint8_t[]){MIG_PHASE_REQUESTED, MIG_PHASE_PREPARING,
					     MIG_PHASE_PRECOPY},
			3);
	/* QEMU ran the VM itself: the driver did not. announce-self was sent (the fake
	 * checks it), and the monitor closed. */
	assert_int_equal(e->at_cont.n, 0);
	assert_monitor_closed(e);
	end_replay(e);
}

/* The source's driver paused the VM before the switchover, so QEMU here completes with
 * the VM paused: the driver starts it (cont), and activates it on RESUME. Until then the
 * endpoint stays INCOMING: what arrives for the VM is held, not delivered to a VM that
 * does not run. */
static void test_target_starts_vm_paused_by_source(void **state)
{
	struct env *e = *state;
	struct script s;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;

	s_begin(&s, "precopy-pause.qmp", "dst");
	s_target(&s, TARGET_PAUSED, uri, sizeof(uri));
	r = start_target(e, &s, uri);

	fake_qmp_release(e->fake); /* completed */
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_int_equal(e->at_cont.n, 1);
	assert_int_equal(e->at_cont.loc.state, FAB_EP_INCOMING);
	assert_int_equal(e->at_cont.loc.generation, G0 + 1);
	assert_int_equal(e->at_cont.port, FAB_EP_INCOMING);
	assert_int_equal(e->at_cont.phase, MIG_PHASE_PRECOPY);
	assert_phase(r, MIG_PHASE_COMPLETED);
	assert_int_equal(r->activation_trigger, MIG_TRIGGER_QMP_RESUME);
	assert_true(r->eps[0].activated);
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0 + 1);
	assert_port(e, FAB_EP_LOCAL);
	assert_monitor_closed(e);
	end_replay(e);
}

/* The target's figures: frames held and released since the prepare, and, the hold queue
 * draining in bursts after the activation, kept current for 3 s after completion. */
static void test_target_figures_settle_for_3_s(void **state)
{
	struct env *e = *state;
	struct script s;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;

	e->ctr[FAB_CTR_HELD] = 100;
	e->ctr[FAB_CTR_RELEASED] = 40;
	e->drops[FAB_DROP_HOLD_OVERFLOW] = 2;
	s_begin(&s, "precopy-pause.qmp", "dst");
	s_target(&s, TARGET_RESUME, uri, sizeof(uri));
	r = start_target(e, &s, uri);

	e->ctr[FAB_CTR_HELD] = 130; /* 30 frames for the VM wait */
	fake_qmp_release(e->fake);  /* RESUME */
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_phase(r, MIG_PHASE_COMPLETED);
	assert_int_equal(r->packets.held, 30);
	assert_int_equal(r->packets.released, 0);
	assert_int_equal(r->packets.dropped, 0);

	/* The queue drains: 25 released, 1 timed out. */
	e->ctr[FAB_CTR_RELEASED] = 65;
	e->drops[FAB_DROP_HOLD_TIMEOUT] = 1;
	mig_poll(e->d);
	assert_int_equal(r->packets.held, 30);
	assert_int_equal(r->packets.released, 25);
	assert_int_equal(r->packets.dropped, 1);

	/* 3 s after completion the figures are final. */
	realtime_offset_ns = 3001000000;
	e->ctr[FAB_CTR_RELEASED] = 69;
	mig_poll(e->d);
	assert_int_equal(r->packets.released, 25);
	end_replay(e);
}

static void on_fabric_event(const struct fab_event *ev, void *ctx)
{
	mig_on_fabric_event(ctx, ev);
}

static void test_target_fast_path_activates_first(void **state)
{
	struct env *e = *state;
	struct script s;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;

	s_begin(&s, "precopy-pause.qmp", "dst");
	s_target(&s, TARGET_RESUME, uri, sizeof(uri));
	r = start_target(e, &s, uri);

	/* The guest announces itself on port vm1 before QEMU says RESUME. */
	e->be.events[e->be.n_events++] =
		(struct fab_dp_event){.kind = FAB_EVENT_ACTIVATED, .port = VM_PORT};
	assert_true(fabric_poll(e->fab, on_fabric_event, e->d) > 0);
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0 + 1);
	assert_int_equal(r->activation_trigger, MIG_TRIGGER_GUEST_ANNOUNCEMENT);
	assert_true(r->activated_ns != 0);
	assert_true(r->eps[0].activated);
	/* Not complete until QEMU says the VM runs. */
	for (int i = 0; i < 10; i++)
		mig_poll(e->d);
	assert_false(mig_phase_final(r->phase));

	fake_qmp_release(e->fake); /* RESUME */
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_phase(r, MIG_PHASE_COMPLETED);
	assert_int_equal(r->activation_trigger, MIG_TRIGGER_GUEST_ANNOUNCEMENT);
	assert_location(e, &vm_key, FAB_EP_LOCAL, "vm1", 0, G0 + 1);
	assert_int_equal(e->at_cont.n, 0);
	end_replay(e);
}

static void test_target_qemu_gone_before_resume(void **state)
{
	struct env *e = *state;
	struct script s;
	char uri[MIG_URI_MAX];
	const struct mig_record *r;

	s_begin(&s, "precopy-pause.qmp", "dst");
	s_target(&s, TARGET_GONE, uri, sizeof(uri));
	r = start_target(e, &s, uri);

	fake_qmp_release(e->fake); /* the incoming QEMU closes its monitor */
	POLL_UNTIL(e, mig_phase_final(r->phase));
	assert_phase(r, MIG_PHASE_FAILED);
	assert_contains(r->failure_reason, "went away");
	assert_int_equal(r->activated_ns, 0);
	/* The endpoint points at the source again, above the migration's generation. */
	assert_location(e, &vm_key, FAB_EP_REMOTE, NULL, HOST_A, G0 + 2);
	assert_port(e, FAB_EP_ABSENT);
	end_replay(e);
}

int main(int argc, char **argv)
{
#define SOURCE_TEST(f) cmocka_unit_test_setup_teardown(f, setup_source, teardown)
#define TARGET_TEST(f) cmocka_unit_test_setup_teardown(f, setup_target, teardown)
	const struct CMUnitTest tests[] = {
		SOURCE_TEST(test_source_completes_after_end_forwarding),
		SOURCE_TEST(test_source_qemu_reports_failure_in_precopy),
		SOURCE_TEST(test_cancel_during_precopy),
		SOURCE_TEST(test_cancel_after_switchover_is_refused),
		SOURCE_TEST(test_source_completes_when_target_never_reports),
		SOURCE_TEST(test_source_qemu_pauses_during_a_query),
		SOURCE_TEST(test_source_qemu_decides_for_vhost_user_ports),
		SOURCE_TEST(test_source_driver_decides_for_mixed_ports),
		SOURCE_TEST(test_source_driver_decides_switchover),
		SOURCE_TEST(test_source_switchover_on_pass_event),
		SOURCE_TEST(test_source_qemu_pauses_while_driver_drains),
		SOURCE_TEST(test_source_switchover_without_virtio_introspection),
		SOURCE_TEST(test_source_drain_gives_up_after_200_ms),
		SOURCE_TEST(test_source_failure_after_driver_stop_resumes_vm),
		SOURCE_TEST(test_source_qemu_gone_at_driver_stop),
		SOURCE_TEST(test_bad_requests_change_nothing),
		SOURCE_TEST(test_target_refuses_prepare),
		SOURCE_TEST(test_source_qemu_gone_in_precopy),
		TARGET_TEST(test_target_activates_on_resume),
		TARGET_TEST(test_target_starts_vm_paused_by_source),
		TARGET_TEST(test_target_figures_settle_for_3_s),
		TARGET_TEST(test_target_fast_path_activates_first),
		TARGET_TEST(test_target_qemu_gone_before_resume),
	};

	main_thread = pthread_self();
	recordings_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
