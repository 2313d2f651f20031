/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "dummy_backend.h"

static int count_publish(struct dummy_backend *d)
{
	d->publishes++;
	if (d->fail_after > 0 && --d->fail_after == 0)
		return -ENOMEM;
	return 0;
}

static int dummy_endpoint_publish(void *be, const struct fab_ep_key *key,
				  const struct fab_endpoint *loc, uint32_t stats)
{
	struct dummy_backend *d = be;
	int ret = count_publish(d);

	if (ret)
		return ret;
	for (int i = 0; i < d->n_eps; i++) {
		if (memcmp(&d->eps[i].key, key, sizeof(*key)) == 0) {
			if (loc->state == FAB_EP_ABSENT) {
				d->eps[i] = d->eps[--d->n_eps];
			} else {
				d->eps[i].loc = *loc;
				d->eps[i].stats = stats;
			}
			return 0;
		}
	}
	if (loc->state == FAB_EP_ABSENT)
		return 0;
	if (d->n_eps == DUMMY_MAX)
		return -ENOSPC;
	d->eps[d->n_eps].key = *key;
	d->eps[d->n_eps].loc = *loc;
	d->eps[d->n_eps].stats = stats;
	d->n_eps++;
	return 0;
}

static int dummy_address_publish(void *be, uint32_t vni, int family, const uint8_t *addr,
				 const uint8_t *mac)
{
	struct dummy_backend *d = be;
	int len = family == 4 ? 4 : 16;
	int ret = count_publish(d);

	if (ret)
		return ret;
	for (int i = 0; i < d->n_addrs; i++) {
		if (d->addrs[i].vni == vni && d->addrs[i].family == family &&
		    memcmp(d->addrs[i].addr, addr, (size_t)len) == 0) {
			if (mac)
				memcpy(d->addrs[i].mac, mac, 6);
			else
				d->addrs[i] = d->addrs[--d->n_addrs];
			return 0;
		}
	}
	if (!mac)
		return 0;
	if (d->n_addrs == DUMMY_MAX)
		return -ENOSPC;
	memset(&d->addrs[d->n_addrs], 0, sizeof(d->addrs[0]));
	d->addrs[d->n_addrs].vni = vni;
	d->addrs[d->n_addrs].family = family;
	memcpy(d->addrs[d->n_addrs].addr, addr, (size_t)len);
	memcpy(d->addrs[d->n_addrs].mac, mac, 6);
	d->n_addrs++;
	return 0;
}

static int set_member(uint32_t *set, int *n, uint32_t v, bool present)
{
	for (int i = 0; i < *n; i++) {
		if (set[i] == v) {
			if (!present)
				set[i] = set[--*n];
			return 0;
		}
	}
	if (!present)
		return 0;
	if (*n == DUMMY_MAX)
		return -ENOSPC;
	set[(*n)++] = v;
	return 0;
}

static int dummy_host_publish(void *be, uint32_t vtep, const uint8_t *mac)
{
	struct dummy_backend *d = be;
	int ret = count_publish(d);

	return ret ? ret : set_member(d->hosts, &d->n_hosts, vtep, mac != NULL);
}

static int dummy_vni_publish(void *be, uint32_t vni, bool present)
{
	struct dummy_backend *d = be;
	int ret = count_publish(d);

	return ret ? ret : set_member(d->vnis, &d->n_vnis, vni, present);
}

static int dummy_port_publish(void *be, uint16_t port, uint32_t vni, uint8_t bound,
			      const uint8_t *mac)
{
	struct dummy_backend *d = be;
	int ret = count_publish(d);

	(void)vni;
	if (ret)
		return ret;
	d->ports[port].bound = bound;
	memset(d->ports[port].mac, 0, 6);
	if (mac)
		memcpy(d->ports[port].mac, mac, 6);
	return 0;
}

static void dummy_endpoint_stats(void *be, uint32_t stats, bool reset, struct fab_ep_stats *out)
{
	(void)be;
	(void)reset;
	memset(out, 0, sizeof(*out));
	out->packets = stats; /* lets a test see which slot an endpoint has */
}

static void dummy_host_stats(void *be, struct fab_host_stats *out)
{
	(void)be;
	(void)out;
}

static int dummy_poll_events(void *be, struct fab_dp_event *ev, int max)
{
	struct dummy_backend *d = be;
	int n = d->n_events < max ? d->n_events : max;

	memcpy(ev, d->events, sizeof(*ev) * (size_t)n);
	memmove(d->events, d->events + n, sizeof(*ev) * (size_t)(d->n_events - n));
	d->n_events -= n;
	return n;
}

static bool dummy_port_holds_paused(void *be, uint16_t port)
{
	struct dummy_backend *d = be;

	return port < FAB_MAX_PORTS && d->ports[port].holds_paused;
}

const struct fab_backend_ops dummy_backend_ops = {
	.name = "dummy",
	.endpoint_publish = dummy_endpoint_publish,
	.address_publish = dummy_address_publish,
	.host_publish = dummy_host_publish,
	.vni_publish = dummy_vni_publish,
	.port_publish = dummy_port_publish,
	.endpoint_stats = dummy_endpoint_stats,
	.host_stats = dummy_host_stats,
	.port_holds_paused = dummy_port_holds_paused,
	.poll_events = dummy_poll_events,
};

const struct fab_endpoint *dummy_endpoint(const struct dummy_backend *d,
					  const struct fab_ep_key *key)
{
	for (int i = 0; i < d->n_eps; i++)
		if (memcmp(&d->eps[i].key, key, sizeof(*key)) == 0)
			return &d->eps[i].loc;
	return NULL;
}

const uint8_t *dummy_address(const struct dummy_backend *d, uint32_t vni, int family,
			     const uint8_t *addr)
{
	for (int i = 0; i < d->n_addrs; i++)
		if (d->addrs[i].vni == vni && d->addrs[i].family == family &&
		    memcmp(d->addrs[i].addr, addr, family == 4 ? 4 : 16) == 0)
			return d->addrs[i].mac;
	return NULL;
}

bool dummy_vni(const struct dummy_backend *d, uint32_t vni)
{
	for (int i = 0; i < d->n_vnis; i++)
		if (d->vnis[i] == vni)
			return true;
	return false;
}

bool dummy_host(const struct dummy_backend *d, uint32_t vtep)
{
	for (int i = 0; i < d->n_hosts; i++)
		if (d->hosts[i] == vtep)
			return true;
	return false;
}
