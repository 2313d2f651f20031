/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The packet vectors through the real DPDK backend: for each case, fresh net_ring ports
 * (the ring PMD: real ethdevs and real mbufs, with rings the test can fill and drain),
 * the backend and the fabric programmed with the case's tables, a worker lcore running,
 * the input frame received by the port, and the outcome read off the ports and the
 * counters.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dpdk_backend.h"
#include "fabric.h"
#include "hexdump.h"
#include "vector.h"

#define MIN_CASES 40

static struct rte_mempool *test_pool;
static unsigned int case_no;

struct ring_port {
	char name[32];
	char devname[RTE_ETH_NAME_MAX_LEN]; /* the ethdev's own name, given as devargs */
	struct rte_ring *rx; /* the test enqueues here, the port receives */
	struct rte_ring *tx; /* the port sends here, the test dequeues */
	uint16_t ethdev;
};

struct rig {
	struct ring_port ports[VEC_MAX_PORTS + 1]; /* [0] the uplink, then in case order */
	unsigned int n_ports;
	struct dpdk_backend *b;
	struct fabric *fab;
};

static int make_ring_port(struct ring_port *p, const char *what)
{
	char name[RTE_RING_NAMESIZE + 8];

	snprintf(p->name, sizeof(p->name), "c%u_%.16s", case_no, what);
	snprintf(name, sizeof(name), "%s_rx", p->name);
	p->rx = rte_ring_create(name, 64, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "%s_tx", p->name);
	p->tx = rte_ring_create(name, 64, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!p->rx || !p->tx)
		return -1;
	int id = rte_eth_from_rings(p->name, &p->rx, 1, &p->tx, 1, rte_socket_id());
	if (id < 0)
		return -1;
	p->ethdev = (uint16_t)id;
	return rte_eth_dev_get_name_by_port(p->ethdev, p->devname);
}

static void rig_destroy(struct rig *r)
{
	if (r->b)
		dpdk_backend_stop(r->b);
	fabric_destroy(r->fab);
	dpdk_backend_destroy(r->b);
	for (unsigned int i = 0; i < r->n_ports; i++) {
		struct rte_mbuf *m;

		while (rte_ring_dequeue(r->ports[i].tx, (void **)&m) == 0)
			rte_pktmbuf_free(m);
		while (rte_ring_dequeue(r->ports[i].rx, (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(r->ports[i].rx);
		rte_ring_free(r->ports[i].tx);
	}
}

static const struct vec_endpoint *bound_to(const struct vec_case *c, uint16_t port)
{
	for (unsigned int i = 0; i < c->n_endpoints; i++)
		if (c->endpoints[i].loc.port == port && (c->endpoints[i].loc.state == FAB_EP_LOCAL ||
							 c->endpoints[i].loc.state == FAB_EP_INCOMING))
			return &c->endpoints[i];
	return NULL;
}

static void rig_build(struct rig *r, const struct vec_case *c)
{
	struct dpdk_config cfg;
	struct fabric_config fcfg = {.local_vtep = c->host.vtep, .max_endpoints = 64};
	char err[256];
	int ret;

	memset(r, 0, sizeof(*r));
	dpdk_config_defaults(&cfg);
	cfg.local_vtep = c->host.vtep;
	memcpy(cfg.local_mac, c->host.mac, 6);
	memcpy(fcfg.local_mac, c->host.mac, 6);
	cfg.max_endpoints = 64;
	cfg.hold_frames = 16;
	cfg.mbufs = 4096;
	cfg.idle_sleep_max_us = 50;
	cfg.hold_timeout_ms = 60000;
	assert_int_equal(make_ring_port(&r->ports[0], "uplink"), 0);
	snprintf(cfg.uplink_devargs, sizeof(cfg.uplink_devargs), "%s", r->ports[0].devname);
	r->n_ports = 1;
	for (unsigned int i = 0; i < c->n_ports; i++) {
		struct dpdk_vm_port_config *pc = &cfg.vm_ports[i];

		/* The backend numbers VM ports in configuration order from 1. */
		if (c->ports[i].index != i + 1)
			fail_msg("%s: port %s has index %u; the DPDK test needs ports declared as "
				 "1, 2, 3...", c->name, c->ports[i].name, c->ports[i].index);
		assert_int_equal(make_ring_port(&r->ports[i + 1], c->ports[i].name), 0);
		snprintf(pc->name, sizeof(pc->name), "%s", c->ports[i].name);
		snprintf(pc->devargs, sizeof(pc->devargs), "%s", r->ports[i + 1].devname);
		pc->vni = c->ports[i].vni;
		r->n_ports++;
	}
	cfg.n_vm_ports = c->n_ports;
	ret = dpdk_backend_create(&r->b, &cfg, err, sizeof(err));
	if (ret)
		fail_msg("%s: backend: %s", c->name, err);
	assert_int_equal(fabric_create(&r->fab, &fcfg, &dpdk_backend_ops, r->b), 0);
	for (unsigned int i = 0; i < c->n_ports; i++)
		assert_int_equal(fabric_port_add(r->fab, c->ports[i].index, c->ports[i].name,
						 c->ports[i].vni),
				 0);
	for (unsigned int i = 0; i < c->n_peers; i++)
		assert_int_equal(fabric_host_set(r->fab, c->peers[i].vtep, c->peers[i].mac), 0);
	for (unsigned int i = 0; i < c->n_endpoints; i++) {
		const struct vec_endpoint *e = &c->endpoints[i];
		struct fab_ep_key k = {.vni = e->vni};
		struct fab_ep_addrs a = {.n_ip4 = (uint8_t)e->n_ip4, .n_ip6 = (uint8_t)e->n_ip6};

		memcpy(k.mac, e->mac, 6);
		memcpy(a.ip4, e->ip4, sizeof(a.ip4));
		memcpy(a.ip6, e->ip6, sizeof(a.ip6));
		ret = fabric_endpoint_upsert(r->fab, &k, &e->loc, &a);
		if (ret)
			fail_msg("%s: endpoint %u: %s", c->name, i, strerror(-ret));
	}
	if (dpdk_backend_start(r->b, err, sizeof(err)))
		fail_msg("%s: start: %s", c->name, err);
}

static void inject(struct rig *r, const struct vec_case *c)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(test_pool);
	struct ring_port *in = &r->ports[c->in_port];

	assert_non_null(m);
	memcpy(rte_pktmbuf_append(m, (uint16_t)c->in_len), c->in, c->in_len);
	assert_int_equal(rte_ring_enqueue(in->rx, m), 0);
}

/* Waits until the worker has taken the frame in and finished with it. */
static void settle(struct rig *r)
{
	for (int i = 0; i < 2000; i++) {
		struct fab_host_stats st;

		fabric_stats(r->fab, &st);
		if (st.counters[FAB_CTR_RX] >= 1)
			break;
		usleep(500);
	}
	dpdk_backend_sync(r->b);
}

/* Takes the one frame a port sent, or NULL; fails if it sent more. */
static struct rte_mbuf *take(struct ring_port *p, const char *case_name)
{
	struct rte_mbuf *m = NULL, *extra = NULL;

	if (rte_ring_dequeue(p->tx, (void **)&m) != 0)
		return NULL;
	if (rte_ring_dequeue(p->tx, (void **)&extra) == 0) {
		rte_pktmbuf_free(extra);
		rte_pktmbuf_free(m);
		fail_msg("%s: port %s sent more than one frame", case_name, p->name);
	}
	return m;
}

static void expect_silence(struct rig *r, const struct vec_case *c, int except)
{
	for (unsigned int i = 0; i < r->n_ports; i++) {
		struct rte_mbuf *m;

		if ((int)i == except)
			continue;
		m = take(&r->ports[i], c->name);
		if (m) {
			rte_pktmbuf_free(m);
			fail_msg("%s: unexpected frame out of %s", c->name, vec_port_name(c, (uint16_t)i));
		}
	}
}

static void expect_frame(struct rig *r, const struct vec_case *c, uint16_t port)
{
	struct rte_mbuf *m = take(&r->ports[port], c->name);
	const uint8_t *got;

	if (!m)
		fail_msg("%s (%s): nothing out of %s", c->name, c->comment, vec_port_name(c, port));
	got = rte_pktmbuf_mtod(m, const uint8_t *);
	if (rte_pktmbuf_pkt_len(m) != c->out_len || memcmp(got, c->out, c->out_len) != 0) {
		fprintf(stderr, "%s (%s): frame differs (left: scapy, right: DPDK backend)\n",
			c->name, c->comment);
		hexdump_diff(stderr, c->out, c->out_len, got, rte_pktmbuf_pkt_len(m));
		rte_pktmbuf_free(m);
		fail_msg("%s: output frame differs", c->name);
	}
	rte_pktmbuf_free(m);
}

/* The rig of the running case: a failed assertion leaves run_case early, and the
 * teardown must still stop its worker before the next case starts one. */
static struct rig r;
static bool rig_live;

static int teardown(void **state)
{
	(void)state;
	if (rig_live)
		rig_destroy(&r);
	rig_live = false;
	return 0;
}

static void run_case(void **state)
{
	const char *path = *state;
	static struct vec_case c;
	struct fab_host_stats st;
	char err[512];

	if (vec_load(path, &c, err, sizeof(err)))
		fail_msg("%s", err);
	case_no++;
	rig_live = true;
	rig_build(&r, &c);
	inject(&r, &c);
	settle(&r);
	fabric_stats(r.fab, &st);

	switch (c.expect) {
	case VEC_EXPECT_OUT:
		expect_frame(&r, &c, c.expect_port);
		expect_silence(&r, &c, c.expect_port);
		break;
	case VEC_EXPECT_HOLD: {
		const struct vec_endpoint *e = bound_to(&c, c.expect_port);
		struct fab_ep_key k = {.vni = e ? e->vni : 0};

		expect_silence(&r, &c, -1);
		assert_int_equal(st.counters[FAB_CTR_HELD], 1);
		/* Held frames come out when the VM is activated, and not before. */
		assert_non_null(e);
		memcpy(k.mac, e->mac, 6);
		assert_int_equal(fabric_endpoint_step(r.fab, &k, FAB_STEP_ACTIVATE, &e->loc), 0);
		for (int i = 0; i < 200 && rte_ring_count(r.ports[c.expect_port].tx) == 0; i++) {
			usleep(500);
			dpdk_backend_sync(r.b);
		}
		expect_frame(&r, &c, c.expect_port);
		fabric_stats(r.fab, &st);
		assert_int_equal(st.counters[FAB_CTR_RELEASED], 1);
		break;
	}
	case VEC_EXPECT_ACTIVATE: {
		const struct vec_endpoint *e = bound_to(&c, c.expect_port);
		struct fab_ep_key k = {.vni = e ? e->vni : 0};
		struct fab_flow flow;

		expect_silence(&r, &c, -1);
		assert_int_equal(st.counters[FAB_CTR_ACTIVATED], 1);
		assert_int_equal(fabric_poll(r.fab, NULL, NULL), 2); /* activated, then INCOMING -> LOCAL */
		assert_non_null(e);
		memcpy(k.mac, e->mac, 6);
		assert_int_equal(fabric_endpoint_get(r.fab, &k, &flow), 0);
		assert_int_equal(flow.loc.state, FAB_EP_LOCAL);
		break;
	}
	case VEC_EXPECT_DROP:
		expect_silence(&r, &c, -1);
		if (st.drops[c.expect_drop] != 1) {
			int got = -1;

			for (int i = 1; i < FAB_DROP__COUNT; i++)
				if (st.drops[i])
					got = i;
			fail_msg("%s (%s): want drop %s, got %s", c.name, c.comment,
				 fab_drop_name((unsigned int)c.expect_drop),
				 got > 0 ? fab_drop_name((unsigned int)got) : "no drop");
		}
		break;
	case VEC_EXPECT_TOHOST:
		expect_silence(&r, &c, -1);
		assert_int_equal(st.counters[FAB_CTR_TO_HOST], 1);
		break;
	}
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "tests/vectors/cases";
	char prefix[256];
	char *eal[] = {"test_dpdk_vectors", "--no-huge", "--no-pci", "-m", "512", "-l", "0-1",
		       "--file-prefix", prefix, "--no-shconf", "--no-telemetry", "--log-level",
		       "*:warning", NULL};
	struct CMUnitTest *tests;
	char **paths;
	int n, ret;

	snprintf(prefix, sizeof(prefix), "vmf_vectors_%d", getpid());
	if (rte_eal_init((int)(sizeof(eal) / sizeof(eal[0])) - 1, eal) < 0) {
		fprintf(stderr, "test_dpdk_vectors: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	test_pool = rte_pktmbuf_pool_create("vec_in", 1024, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					    (int)rte_socket_id());
	n = vec_list(dir, &paths);
	if (!test_pool || n < MIN_CASES) {
		fprintf(stderr, "test_dpdk_vectors: %d cases in %s (at least %d needed)\n", n, dir,
			MIN_CASES);
		return 1;
	}
	tests = calloc((size_t)n, sizeof(*tests));
	for (int i = 0; i < n; i++) {
		tests[i].name = strrchr(paths[i], '/') + 1;
		tests[i].test_func = run_case;
		tests[i].teardown_func = teardown;
		tests[i].initial_state = paths[i];
	}
	ret = _cmocka_run_group_tests("dpdk_backend_vectors", tests, (size_t)n, NULL, NULL);
	free(tests);
	vec_list_free(paths, n);
	snprintf(prefix, sizeof(prefix), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	dpdk_remove_runtime_dir(prefix);
	return ret;
}
