/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fabric's control layer over the dummy backend: what the fast path would see after
 * each call, and that a refused call changes nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "dummy_backend.h"
#include "fabric.h"

#define HOST_A 0xc0000201u
#define HOST_B 0xc0000202u

struct env {
	struct fabric *fab;
	struct dummy_backend be;
};

static int setup(void **state)
{
	static struct env env;
	struct fabric_config cfg = {.local_vtep = HOST_A, .local_mac = {2, 0, 0, 0, 1, 1},
				    .max_endpoints = 4};

	memset(&env, 0, sizeof(env));
	if (fabric_create(&env.fab, &cfg, &dummy_backend_ops, &env.be))
		return -1;
	if (fabric_port_add(env.fab, 1, "vm1", 100) || fabric_port_add(env.fab, 2, "vm2", 100) ||
	    fabric_port_add(env.fab, 3, "other", 200))
		return -1;
	if (fabric_host_set(env.fab, HOST_B, (uint8_t[6]){2, 0, 0, 0, 1, 2}))
		return -1;
	*state = &env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;

	fabric_destroy(env->fab);
	return 0;
}

static struct fab_ep_key key(uint32_t vni, uint8_t last)
{
	struct fab_ep_key k = {.vni = vni, .mac = {0x52, 0x54, 0, 0, 0, last}};
	return k;
}

static struct fab_endpoint remote(uint32_t vtep, uint64_t gen)
{
	struct fab_endpoint e = {.state = FAB_EP_REMOTE, .vtep = vtep, .generation = gen};
	return e;
}

static struct fab_endpoint local(uint16_t port, uint64_t gen)
{
	struct fab_endpoint e = {.state = FAB_EP_LOCAL, .port = port, .generation = gen};
	return e;
}

static void test_upsert_publishes_endpoint_vni_and_addresses(void **state)
{
	struct env *env = *state;
	struct fab_ep_key k = key(300, 1);
	struct fab_endpoint loc = remote(HOST_B, 3);
	struct fab_ep_addrs addrs = {.n_ip4 = 1, .ip4 = {0x0a000001}};
	const uint8_t be_addr[4] = {10, 0, 0, 1};

	assert_false(dummy_vni(&env->be, 300));
	assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &loc, &addrs), 0);
	assert_non_null(dummy_endpoint(&env->be, &k));
	assert_int_equal(dummy_endpoint(&env->be, &k)->vtep, HOST_B);
	assert_true(dummy_vni(&env->be, 300));
	assert_memory_equal(dummy_address(&env->be, 300, 4, be_addr), k.mac, 6);
	assert_true(dummy_host(&env->be, HOST_B));

	/* A replay or a late update is refused and the fast path keeps what it had. */
	loc.vtep = 0xc0000203;
	assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &loc, &addrs), -ESTALE);
	assert_int_equal(dummy_endpoint(&env->be, &k)->vtep, HOST_B);

	/* Deleting withdraws the endpoint, its addresses and its VNI. */
	assert_int_equal(fabric_endpoint_step(env->fab, &k, FAB_STEP_DELETE,
					      &(struct fab_endpoint){.generation = 4}),
			 0);
	assert_null(dummy_endpoint(&env->be, &k));
	assert_null(dummy_address(&env->be, 300, 4, be_addr));
	assert_false(dummy_vni(&env->be, 300));
	/* The deletion's generation still guards: an older update cannot resurrect it. */
	loc.generation = 4;
	assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &loc, NULL), -ESTALE);
}

static void test_bad_requests_are_refused(void **state)
{
	struct env *env = *state;
	struct fab_ep_key multicast = {.vni = 100, .mac = {0x01, 0, 0x5e, 0, 0, 1}};
	struct fab_ep_key vni0 = key(0, 1), vni_big = key(1u << 24, 1), k = key(100, 1);
	struct fab_endpoint loc = local(1, 1);
	struct fab_endpoint self = remote(HOST_A, 1);
	struct fab_ep_addrs bcast = {.n_ip4 = 1, .ip4 = {0xffffffff}};

	assert_int_equal(fabric_endpoint_upsert(env->fab, &multicast, &loc, NULL), -EINVAL);
	assert_int_equal(fabric_endpoint_upsert(env->fab, &vni0, &loc, NULL), -EINVAL);
	assert_int_equal(fabric_endpoint_upsert(env->fab, &vni_big, &loc, NULL), -EINVAL);
	assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &self, NULL), -EINVAL);
	assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &loc, &bcast), -EINVAL);
	assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &(struct fab_endpoint){
		.state = FAB_EP_LOCAL, .port = 9, .generation = 1}, NULL), -ENOENT);
	/* Port 3 is in VNI 200. */
	assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &(struct fab_endpoint){
		.state = FAB_EP_LOCAL, .port = 3, .generation = 1}, NULL), -EINVAL);
	assert_int_equal(fabric_port_add(env->fab, 1, "again", 100), -EEXIST);
	assert_int_equal(fabric_port_add(env->fab, 7, "vm1", 100), -EEXIST);
	assert_int_equal(fabric_host_set(env->fab, HOST_A, (uint8_t[6]){2, 0, 0, 0, 1, 9}), -EINVAL);
	assert_int_equal(env->be.n_eps, 0);
}

static void test_one_endpoint_per_port(void **state)
{
	struct env *env = *state;
	struct fab_ep_key a = key(100, 1), b = key(100, 2);
	struct fab_endpoint on1 = local(1, 1);

	assert_int_equal(fabric_endpoint_upsert(env->fab, &a, &on1, NULL), 0);
	assert_int_equal(env->be.ports[1].bound, FAB_EP_LOCAL);
	assert_memory_equal(env->be.ports[1].mac, a.mac, 6);
	assert_int_equal(fabric_endpoint_upsert(env->fab, &b, &on1, NULL), -EBUSY);
	assert_null(dummy_endpoint(&env->be, &b));
	/* Moving a to port 2 frees port 1. */
	on1.port = 2;
	on1.generation = 2;
	assert_int_equal(fabric_endpoint_upsert(env->fab, &a, &on1, NULL), 0);
	assert_int_equal(env->be.ports[1].bound, FAB_EP_ABSENT);
	assert_int_equal(env->be.ports[2].bound, FAB_EP_LOCAL);
}

static void test_addresses_belong_to_one_endpoint(void **state)
{
	struct env *env = *state;
	struct fab_ep_key a = key(100, 1), b = key(100, 2);
	struct fab_endpoint loc = remote(HOST_B, 1);
	struct fab_ep_addrs one = {.n_ip4 = 1, .ip4 = {0x0a000001}};
	struct fab_ep_addrs two = {.n_ip4 = 1, .ip4 = {0x0a000002}};
	const uint8_t ip1[4] = {10, 0, 0, 1}, ip2[4] = {10, 0, 0, 2};

	assert_int_equal(fabric_endpoint_upsert(env->fab, &a, &loc, &one), 0);
	assert_int_equal(fabric_endpoint_upsert(env->fab, &b, &loc, &one), -EADDRINUSE);
	assert_null(dummy_endpoint(&env->be, &b));
	/* New addresses replace the old ones. */
	loc.generation = 2;
	assert_int_equal(fabric_endpoint_upsert(env->fab, &a, &loc, &two), 0);
	assert_null(dummy_address(&env->be, 100, 4, ip1));
	assert_non_null(dummy_address(&env->be, 100, 4, ip2));
	loc.generation = 1;
	assert_int_equal(fabric_endpoint_upsert(env->fab, &b, &loc, &one), 0);
}

struct seen_events {
	int activated, changed;
	struct fab_event last_change;
};

static void record_event(const struct fab_event *ev, void *ctx)
{
	struct seen_events *s = ctx;

	if (ev->kind == FAB_EVENT_ACTIVATED)
		s->activated++;
	if (ev->kind == FAB_EVENT_STATE_CHANGED) {
		s->changed++;
		s->last_change = *ev;
	}
}

static int count_flows(const struct fab_flow *flow, void *ctx)
{
	(void)flow;
	(*(int *)ctx)++;
	return 0;
}

/* Target and source of one migration, both on this host's fabric for brevity. */
static void test_migration_steps_and_activation_by_fast_path(void **state)
{
	struct env *env = *state;
	struct fab_ep_key vm = key(100, 7), gone = key(100, 8);
	struct fab_endpoint prepare = {.port = 2, .generation = 5};
	struct fab_endpoint src = local(1, 4);
	struct fab_endpoint begin = {.vtep = HOST_B, .generation = 5};
	struct fab_flow_filter incoming = {.state = FAB_EP_INCOMING};
	struct fab_flow flow;
	int n = 0;

	/* The target prepares for an endpoint it has never seen. */
	assert_int_equal(fabric_endpoint_step(env->fab, &vm, FAB_STEP_PREPARE_INCOMING, &prepare), 0);
	assert_int_equal(dummy_endpoint(&env->be, &vm)->state, FAB_EP_INCOMING);
	assert_int_equal(env->be.ports[2].bound, FAB_EP_INCOMING);
	assert_int_equal(fabric_flows_foreach(env->fab, &incoming, count_flows, &n), 0);
	assert_int_equal(n, 1);

	/* The fast path saw the VM's announcement on port 2. */
	env->be.events[env->be.n_events++] =
		(struct fab_dp_event){.kind = FAB_EVENT_ACTIVATED, .port = 2};
	struct seen_events seen = {0};

	/* The fast path's activation, then the state change it made. */
	assert_int_equal(fabric_poll(env->fab, record_event, &seen), 2);
	assert_int_equal(seen.activated, 1);
	assert_int_equal(seen.changed, 1);
	assert_int_equal(seen.last_change.prev.state, FAB_EP_INCOMING);
	assert_int_equal(seen.last_change.loc.state, FAB_EP_LOCAL);
	assert_int_equal(seen.last_change.step, FAB_STEP_ACTIVATE);
	assert_int_equal(dummy_endpoint(&env->be, &vm)->state, FAB_EP_LOCAL);
	assert_int_equal(env->be.ports[2].bound, FAB_EP_LOCAL);
	assert_int_equal(fabric_endpoint_get(env->fab, &vm, &flow), 0);
	assert_string_equal(flow.port_name, "vm2");
	assert_int_equal(flow.loc.generation, 5);
	/* The control plane's own activation after that is harmless. */
	assert_int_equal(fabric_endpoint_step(env->fab, &vm, FAB_STEP_ACTIVATE,
					      &(struct fab_endpoint){.generation = 5}),
			 0);

	/* The source: a local VM starts forwarding, then stops. */
	assert_int_equal(fabric_endpoint_upsert(env->fab, &gone, &src, NULL), 0);
	assert_int_equal(fabric_endpoint_step(env->fab, &gone, FAB_STEP_BEGIN_FORWARDING, &begin), 0);
	assert_int_equal(dummy_endpoint(&env->be, &gone)->state, FAB_EP_FORWARDING);
	assert_int_equal(dummy_endpoint(&env->be, &gone)->vtep, HOST_B);
	/* The VM's port stays bound, as FORWARDING, for what the VM sends until QEMU pauses
	 * it; no other endpoint may take it meanwhile. */
	assert_int_equal(env->be.ports[1].bound, FAB_EP_FORWARDING);
	assert_int_equal(fabric_port_owner(env->fab, 1), fabric_endpoint_slot(env->fab, &gone));
	assert_int_equal(fabric_endpoint_step(env->fab, &gone, FAB_STEP_END_FORWARDING,
					      &(struct fab_endpoint){.generation = 5}),
			 0);
	assert_int_equal(dummy_endpoint(&env->be, &gone)->state, FAB_EP_REMOTE);
	assert_int_equal(env->be.ports[1].bound, FAB_EP_ABSENT);
	assert_int_equal(fabric_port_owner(env->fab, 1), -ENOENT);
	/* The API's own changes are events too: LOCAL -> FORWARDING -> REMOTE. */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(fabric_poll(env->fab, record_event, &seen), 2);
	assert_int_equal(seen.changed, 2);
	assert_int_equal(seen.last_change.prev.state, FAB_EP_FORWARDING);
	assert_int_equal(seen.last_change.loc.state, FAB_EP_REMOTE);
	struct fab_ep_key unknown = key(100, 9);

	assert_int_equal(fabric_endpoint_step(env->fab, &unknown, FAB_STEP_ACTIVATE,
					      &(struct fab_endpoint){.generation = 1}),
			 -ENOENT);
}

static void test_backend_failure_changes_nothing(void **state)
{
	struct env *env = *state;
	struct fab_ep_key k = key(100, 1);
	struct fab_endpoint on1 = local(1, 1);
	struct fab_ep_addrs addrs = {.n_ip4 = 1, .ip4 = {0x0a000001}};
	struct fab_flow flow;

	env->be.fail_after = 1;
	assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &on1, &addrs), -ENOMEM);
	assert_null(dummy_endpoint(&env->be, &k));
	assert_int_equal(fabric_endpoint_get(env->fab, &k, &flow), -ENOENT);
	/* Nothing is left half-done: the same request succeeds afterwards. */
	assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &on1, &addrs), 0);
	assert_int_equal(dummy_endpoint(&env->be, &k)->state, FAB_EP_LOCAL);
}

/*
 * The backend refuses at each publish of an update in turn (the second address, say): the
 * update fails and leaves no address behind, so the dry run and the update agree about
 * who owns it afterwards. (The fuzzer found a stale owner: the addresses published before
 * the refusal stayed in the index, pointing at a slot given back.)
 */
static void test_backend_failure_leaves_no_address_behind(void **state)
{
	struct env *env = *state;
	struct fab_ep_key k = key(100, 1), other = key(100, 2);
	struct fab_endpoint loc = remote(HOST_B, 1);
	struct fab_ep_addrs addrs = {.n_ip4 = 2, .ip4 = {0x0a000001, 0x0a000002}};
	int failures = 0;

	for (int n = 1; n <= 8; n++) {
		bool is_new;

		env->be.fail_after = n;
		if (fabric_endpoint_upsert(env->fab, &k, &loc, &addrs) == 0) {
			env->be.fail_after = 0;
			break; /* every publish done: no failure point left */
		}
		failures++;
		env->be.fail_after = 0;
		for (int i = 0; i < 2; i++)
			assert_int_equal(fabric_address_owner(env->fab, 100, 4, &addrs.ip4[i]), -ENOENT);
		/* Another endpoint may take the addresses, and the dry run says so too. */
		struct fab_endpoint there = remote(HOST_B, (uint64_t)(10 + 2 * n));

		assert_int_equal(fabric_endpoint_check(env->fab, &other, &there, &addrs, &is_new), 0);
		assert_int_equal(fabric_endpoint_upsert(env->fab, &other, &there, &addrs), 0);
		assert_int_equal(fabric_endpoint_step(env->fab, &other, FAB_STEP_DELETE,
						      &(struct fab_endpoint){.generation = there.generation + 1}),
				 0);
		/* then the same request again, failing one publish later */
	}
	assert_true(failures >= 3); /* at least: the endpoint, the first and second address */
	assert_int_equal(fabric_address_owner(env->fab, 100, 4, &addrs.ip4[1]),
			 fabric_endpoint_slot(env->fab, &k));
}

static void test_table_capacity(void **state)
{
	struct env *env = *state;
	struct fab_endpoint loc = remote(HOST_B, 1);
	struct fab_host_stats st;

	for (uint8_t i = 1; i <= 4; i++) {
		struct fab_ep_key k = key(100, i);

		assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &loc, NULL), 0);
	}
	struct fab_ep_key fifth = key(100, 5), second = key(100, 2);

	assert_int_equal(fabric_endpoint_upsert(env->fab, &fifth, &loc, NULL), -ENOSPC);
	fabric_stats(env->fab, &st);
	assert_int_equal(st.endpoints, 4);
	assert_int_equal(st.endpoint_capacity, 4);
	/* A deleted endpoint's record makes room when the table is full. */
	assert_int_equal(fabric_endpoint_step(env->fab, &second, FAB_STEP_DELETE,
					      &(struct fab_endpoint){.generation = 2}),
			 0);
	assert_int_equal(fabric_endpoint_upsert(env->fab, &fifth, &loc, NULL), 0);
	fabric_stats(env->fab, &st);
	assert_int_equal(st.endpoints, 4);
}

/* Addresses for the tests of a full address table (it holds 8): four, four more, and one
 * (10.0.0.0x21) that fits only once the first four are gone. */
static const struct fab_ep_addrs full_four = {.n_ip4 = 4, .ip4 = {0x0a000001, 0x0a000002, 0x0a000003,
							    0x0a000004}};
static const struct fab_ep_addrs full_more = {.n_ip4 = 4, .ip4 = {0x0a000011, 0x0a000012, 0x0a000013,
							    0x0a000014}};
static const struct fab_ep_addrs full_one = {.n_ip4 = 1, .ip4 = {0x0a000021}};
static const uint8_t full_ip21[4] = {10, 0, 0, 0x21};

static void test_address_table_full_changes_nothing(void **state)
{
	struct env *env = *state;
	struct fab_endpoint loc = remote(HOST_B, 1);
	struct fab_ep_key a = key(100, 1), b = key(100, 2), c = key(100, 3);
	bool is_new;

	/* Four endpoints of room: eight addresses. */
	assert_int_equal(fabric_endpoint_upsert(env->fab, &a, &loc, &full_four), 0);
	assert_int_equal(fabric_endpoint_upsert(env->fab, &b, &loc, &full_more), 0);
	assert_int_equal(fabric_endpoint_check(env->fab, &c, &loc, &full_one, &is_new), -ENOSPC);
	assert_int_equal(fabric_endpoint_upsert(env->fab, &c, &loc, &full_one), -ENOSPC);
	assert_null(dummy_endpoint(&env->be, &c));
	assert_null(dummy_address(&env->be, 100, 4, full_ip21));
	/* Replacing an endpoint's own addresses needs no full_more room than it had. */
	loc.generation = 2;
	assert_int_equal(fabric_endpoint_upsert(env->fab, &b, &loc, &full_one), 0);
	assert_non_null(dummy_address(&env->be, 100, 4, full_ip21));
}

/* A batch checks every endpoint, then applies each with what its check found: the slot,
 * whether it is new, whether its addresses are its own already. */
static void test_checked_upsert_carries_the_check(void **state)
{
	struct env *env = *state;
	struct fab_ep_key a = key(100, 1), b = key(100, 2);
	struct fab_endpoint move = remote(HOST_B, 2), fresh = local(1, 1);
	struct fab_ep_addrs one = {.n_ip4 = 1, .ip4 = {0x0a000001}};
	struct fab_ep_addrs two = {.n_ip4 = 1, .ip4 = {0x0a000002}};
	struct fab_ep_addrs both = {.n_ip4 = 2, .ip4 = {0x0a000001, 0x0a000002}};
	const uint8_t ip2[4] = {10, 0, 0, 2};
	struct fab_endpoint on2 = local(2, 1), stale = remote(HOST_B, 1);
	struct fab_ep_check ca, cb, c;

	assert_int_equal(fabric_endpoint_upsert(env->fab, &a, &on2, &one), 0);
	/* A move that keeps the addresses: the endpoint's own, nothing new. */
	assert_int_equal(fabric_endpoint_check_slot(env->fab, &a, &move, &one, &ca), 0);
	assert_int_equal(ca.slot, fabric_endpoint_slot(env->fab, &a));
	assert_false(ca.is_new);
	assert_true(ca.addrs_own);
	/* One more address is one it claims. */
	assert_int_equal(fabric_endpoint_check_slot(env->fab, &a, &move, &both, &c), 0);
	assert_false(c.addrs_own);
	/* A new endpoint has no slot yet. */
	assert_int_equal(fabric_endpoint_check_slot(env->fab, &b, &fresh, &two, &cb), 0);
	assert_int_equal(cb.slot, FAB_NO_SLOT);
	assert_true(cb.is_new);
	assert_false(cb.addrs_own);
	/* The checks refuse what fabric_endpoint_check() refuses. */
	assert_int_equal(fabric_endpoint_check_slot(env->fab, &b, &fresh, &one, &c), -EADDRINUSE);
	assert_int_equal(fabric_endpoint_check_slot(env->fab, &b, &on2, &two, &c), -EBUSY);
	assert_int_equal(fabric_endpoint_check_slot(env->fab, &a, &stale, &one, &c), -ESTALE);

	assert_int_equal(fabric_endpoint_upsert_checked(env->fab, &a, &move, &one, &ca), 0);
	assert_int_equal(dummy_endpoint(&env->be, &a)->state, FAB_EP_REMOTE);
	assert_int_equal(env->be.ports[2].bound, FAB_EP_ABSENT);
	assert_int_equal(fabric_endpoint_upsert_checked(env->fab, &b, &fresh, &two, &cb), 0);
	assert_int_equal(cb.slot, fabric_endpoint_slot(env->fab, &b));
	assert_int_equal(dummy_endpoint(&env->be, &b)->state, FAB_EP_LOCAL);
	assert_non_null(dummy_address(&env->be, 100, 4, ip2));
	/* The generation is checked again: applying the same check twice changes nothing. */
	assert_int_equal(fabric_endpoint_upsert_checked(env->fab, &a, &move, &one, &ca), -ESTALE);
	assert_int_equal(dummy_endpoint(&env->be, &a)->generation, 2);
}

/* In a full table, a new endpoint of the batch takes the slot of the deletion record that
 * the check found for another endpoint of the batch: that one is then looked up again. */
static void test_checked_upsert_after_its_record_was_reclaimed(void **state)
{
	struct env *env = *state;
	struct fab_endpoint loc = remote(HOST_B, 1);
	struct fab_endpoint del = {.generation = 1};
	struct fab_ep_key k1 = key(100, 1), k2 = key(100, 2), k5 = key(100, 5);
	struct fab_endpoint again = remote(HOST_B, 2);
	struct fab_ep_check c1, c5;
	struct fab_host_stats st;

	for (uint8_t i = 1; i <= 4; i++) {
		struct fab_ep_key k = key(100, i);

		assert_int_equal(fabric_endpoint_upsert(env->fab, &k, &loc, NULL), 0);
	}
	assert_int_equal(fabric_endpoint_step(env->fab, &k1, FAB_STEP_DELETE, &del), 0);
	assert_int_equal(fabric_endpoint_step(env->fab, &k2, FAB_STEP_DELETE, &del), 0);
	assert_int_equal(fabric_room(env->fab), 2);

	assert_int_equal(fabric_endpoint_check_slot(env->fab, &k5, &loc, NULL, &c5), 0);
	assert_int_equal(fabric_endpoint_check_slot(env->fab, &k1, &again, NULL, &c1), 0);
	assert_true(c1.is_new);
	assert_int_not_equal(c1.slot, FAB_NO_SLOT);
	/* k1's record has the lowest slot: the first to be forgotten for k5. */
	assert_int_equal(fabric_endpoint_upsert_checked(env->fab, &k5, &loc, NULL, &c5), 0);
	assert_int_equal(c5.slot, c1.slot);
	assert_int_equal(fabric_endpoint_upsert_checked(env->fab, &k1, &again, NULL, &c1), 0);
	assert_int_not_equal(c1.slot, c5.slot);
	assert_int_equal(c1.slot, fabric_endpoint_slot(env->fab, &k1));
	assert_int_equal(c5.slot, fabric_endpoint_slot(env->fab, &k5));
	assert_int_equal(dummy_endpoint(&env->be, &k1)->generation, 2);
	assert_non_null(dummy_endpoint(&env->be, &k5));
	fabric_stats(env->fab, &st);
	assert_int_equal(st.endpoints, 4);
}

/* Each endpoint of a batch fits the address table alone, not all together: the one that
 * does not fit is refused whole. */
static void test_checked_upsert_rechecks_address_room(void **state)
{
	struct env *env = *state;
	struct fab_endpoint loc = remote(HOST_B, 1);
	struct fab_ep_key a = key(100, 1), b = key(100, 2), c = key(100, 3);
	struct fab_ep_check cb, cc;

	assert_int_equal(fabric_endpoint_upsert(env->fab, &a, &loc, &full_four), 0);
	assert_int_equal(fabric_endpoint_check_slot(env->fab, &b, &loc, &full_more, &cb), 0);
	assert_int_equal(fabric_endpoint_check_slot(env->fab, &c, &loc, &full_one, &cc), 0);
	assert_int_equal(fabric_endpoint_upsert_checked(env->fab, &b, &loc, &full_more, &cb), 0);
	assert_int_equal(fabric_endpoint_upsert_checked(env->fab, &c, &loc, &full_one, &cc), -ENOSPC);
	assert_null(dummy_endpoint(&env->be, &c));
	assert_null(dummy_address(&env->be, 100, 4, full_ip21));
	assert_int_equal(fabric_endpoint_slot(env->fab, &c), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upsert_publishes_endpoint_vni_and_addresses,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_endpoint_per_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_failure_leaves_no_address_behind, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_addresses_belong_to_one_endpoint, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_migration_steps_and_activation_by_fast_path,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_failure_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_table_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_table_full_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_checked_upsert_carries_the_check, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_checked_upsert_after_its_record_was_reclaimed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_checked_upsert_rechecks_address_room, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("fabric_control", tests, NULL, NULL);
}
