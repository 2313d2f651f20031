/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DPDK backend's life: ports from devargs, the mbuf pool, the hold queues, the
 * workers and their transmit buffers.
 */
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>

#include "dpdk_internal.h"

#define RX_DESC 1024
#define TX_DESC 1024

void dpdk_config_defaults(struct dpdk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_endpoints = 65536;
	cfg->workers = 1;
	cfg->hold_frames = 1024;
	cfg->hold_timeout_ms = 2000;
	cfg->idle_sleep_max_us = 500;
	cfg->underlay_mtu = 1500;
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t len, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* Probes the device that `devargs` describes and returns its ethdev port. */
static int probe_port(const char *devargs, uint16_t *ethdev, char *err, size_t err_len)
{
	char name[RTE_DEV_NAME_MAX_LEN];
	size_t n = strcspn(devargs, ",");
	int ret;

	if (n == 0 || n >= sizeof(name))
		return fail(err, err_len, "bad devargs '%s': expected DRIVER[,key=value...]", devargs),
		       -EINVAL;
	memcpy(name, devargs, n);
	name[n] = 0;
	if (rte_eth_dev_get_port_by_name(name, ethdev) == 0)
		return 0; /* probed already, e.g. by --vdev */
	ret = rte_dev_probe(devargs);
	if (ret < 0 || rte_eth_dev_get_port_by_name(name, ethdev) != 0)
		return fail(err, err_len,
			    "cannot probe port '%s': no such device, or its driver refused it (is the "
			    "interface there? EAL's log above says more)",
			    devargs),
		       -ENODEV;
	return 0;
}

/* A vhost-user port's link follows the VM's device: up once QEMU has started its rings,
 * down when it stops them (the VM paused, e.g. for a migration's switchover, or gone).
 * Runs on DPDK's vhost-user thread, never on a worker. */
static int on_link_change(uint16_t ethdev, enum rte_eth_event_type type, void *arg, void *ret_param)
{
	struct dp_port *p = arg;
	struct rte_eth_link link;
	uint8_t paused;

	(void)type;
	(void)ret_param;
	if (rte_eth_link_get_nowait(ethdev, &link) != 0)
		return 0;
	paused = link.link_status == RTE_ETH_LINK_DOWN;
	if (__atomic_exchange_n(&p->paused, paused, __ATOMIC_ACQ_REL) != paused)
		fprintf(stderr, "fabricd: port %s: the VM's device %s\n", p->name,
			paused ? "stopped: frames for it are held" : "runs: frames flow");
	return 0;
}

static int setup_port(struct dpdk_backend *b, struct dp_port *p, char *err, size_t err_len)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	uint16_t rxd = RX_DESC, txd = TX_DESC;
	int ret;

	ret = rte_eth_dev_info_get(p->ethdev, &info);
	if (ret)
		return fail(err, err_len, "port %s: no device info: %s", p->name, strerror(-ret)), ret;
	if (info.max_tx_queues < b->n_workers)
		return fail(err, err_len,
			    "port %s: %u workers need %u transmit queues, the device has %u "
			    "(af_packet: add qpairs=%u to its devargs)",
			    p->name, b->n_workers, b->n_workers, info.max_tx_queues, b->n_workers),
		       -EINVAL;
	/* One receive queue, polled by the port's owner; one transmit queue per worker.
	 * Devices that want equal counts (af_packet) get as many receive queues, unused. */
	ret = rte_eth_dev_configure(p->ethdev, (uint16_t)(info.max_rx_queues >= b->n_workers &&
							   strstr(info.driver_name, "af_packet")
						       ? b->n_workers
						       : 1),
				    (uint16_t)b->n_workers, &conf);
	if (ret)
		return fail(err, err_len, "port %s: cannot configure: %s", p->name, strerror(-ret)), ret;
	rte_eth_dev_adjust_nb_rx_tx_desc(p->ethdev, &rxd, &txd);
	if (p->index != DP_UPLINK && strcmp(info.driver_name, "net_vhost") == 0) {
		p->hold_unsent = 1;
		p->paused = 1; /* until QEMU starts the device */
		ret = rte_eth_dev_callback_register(p->ethdev, RTE_ETH_EVENT_INTR_LSC, on_link_change, p);
		if (ret)
			return fail(err, err_len, "port %s: cannot follow its link: %s", p->name,
				    strerror(-ret)),
			       ret;
	}
	for (uint16_t q = 0; q < (strstr(info.driver_name, "af_packet") ? b->n_workers : 1); q++) {
		ret = rte_eth_rx_queue_setup(p->ethdev, q, rxd, (unsigned int)rte_eth_dev_socket_id(p->ethdev),
					     NULL, b->pool);
		if (ret)
			return fail(err, err_len, "port %s: receive queue: %s", p->name, strerror(-ret)), ret;
	}
	for (uint16_t q = 0; q < b->n_workers; q++) {
		ret = rte_eth_tx_queue_setup(p->ethdev, q, txd, (unsigned int)rte_eth_dev_socket_id(p->ethdev),
					     NULL);
		if (ret)
			return fail(err, err_len, "port %s: transmit queue: %s", p->name, strerror(-ret)), ret;
	}
	return 0;
}

static int setup_hold(struct dpdk_backend *b, struct dp_port *p, char *err, size_t err_len)
{
	char name[RTE_RING_NAMESIZE];

	snprintf(name, sizeof(name), "hold_%p_%u", (void *)b, p->index);
	p->hold = rte_ring_create_elem(name, sizeof(struct dp_held), b->cfg.hold_frames,
				       (int)rte_socket_id(), RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (!p->hold)
		return fail(err, err_len, "port %s: cannot create a hold queue of %u frames", p->name,
			    b->cfg.hold_frames),
		       -ENOMEM;
	return 0;
}

static int setup_workers(struct dpdk_backend *b, char *err, size_t err_len)
{
	unsigned int lcore, w = 0;

	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (w == b->n_workers)
			break;
		b->workers[w].b = b;
		b->workers[w].id = w;
		b->workers[w].lcore = lcore;
		w++;
	}
	if (w < b->n_workers)
		return fail(err, err_len,
			    "%u workers need %u lcores besides the main one; EAL has %u (use -l 0-%u)",
			    b->n_workers, b->n_workers, w, b->n_workers),
		       -EINVAL;
	for (unsigned int i = 0; i < b->n_ports; i++) {
		struct dp_worker *owner = &b->workers[i % b->n_workers];

		owner->rx_ports[owner->n_rx_ports++] = (uint16_t)i;
		b->ports[i].owner = (uint16_t)owner->id;
	}
	for (w = 0; w < b->n_workers; w++) {
		b->workers[w].vtep_cache =
			rte_zmalloc_socket("fab_vtep_cache",
					   DP_VTEP_CACHE * sizeof(*b->workers[w].vtep_cache),
					   RTE_CACHE_LINE_SIZE, (int)rte_lcore_to_socket_id(b->workers[w].lcore));
		if (!b->workers[w].vtep_cache)
			return fail(err, err_len, "cannot allocate the workers' host caches"), -ENOMEM;
		for (unsigned int i = 0; i < b->n_ports; i++) {
			struct rte_eth_dev_tx_buffer *buf =
				rte_zmalloc("fab_txbuf", RTE_ETH_TX_BUFFER_SIZE(DP_BURST), 0);

			if (!buf)
				return fail(err, err_len, "cannot allocate transmit buffers"), -ENOMEM;
			rte_eth_tx_buffer_init(buf, DP_BURST);
			b->workers[w].unsent[i] = (struct dp_unsent_ctx){&b->workers[w], &b->ports[i]};
			rte_eth_tx_buffer_set_err_callback(buf, dp_unsent, &b->workers[w].unsent[i]);
			b->workers[w].tx[i] = buf;
		}
	}
	return 0;
}

static int check_config(const struct dpdk_config *cfg, char *err, size_t err_len)
{
	if (!cfg->uplink_devargs[0])
		return fail(err, err_len, "no uplink: give --uplink DEVARGS"), -EINVAL;
	if (!cfg->local_vtep)
		return fail(err, err_len, "no VTEP address: give --vtep ADDRESS"), -EINVAL;
	if (cfg->max_endpoints < 1 || cfg->max_endpoints > (1u << 26))
		return fail(err, err_len, "--max-endpoints %u: must be 1..67108864", cfg->max_endpoints),
		       -EINVAL;
	if (cfg->workers < 1 || cfg->workers > DPDK_MAX_WORKERS)
		return fail(err, err_len, "--workers %u: must be 1..%d", cfg->workers, DPDK_MAX_WORKERS),
		       -EINVAL;
	if (cfg->hold_frames < 1 || cfg->hold_frames > 65536)
		return fail(err, err_len, "--hold-frames %u: must be 1..65536", cfg->hold_frames), -EINVAL;
	if (cfg->underlay_mtu < 576 || cfg->underlay_mtu > 9216)
		return fail(err, err_len, "--underlay-mtu %u: must be 576..9216", cfg->underlay_mtu),
		       -EINVAL;
	for (unsigned int i = 0; i < cfg->n_vm_ports; i++) {
		const struct dpdk_vm_port_config *p = &cfg->vm_ports[i];

		if (!p->name[0] || strcmp(p->name, "uplink") == 0)
			return fail(err, err_len, "VM port %u: a name other than 'uplink' is needed", i + 1),
			       -EINVAL;
		if (p->vni < 1 || p->vni > FAB_VNI_MAX)
			return fail(err, err_len, "VM port %s: VNI %u is not in 1..16777215", p->name,
				    p->vni),
			       -EINVAL;
		for (unsigned int j = 0; j < i; j++) {
			if (strcmp(cfg->vm_ports[j].name, p->name) == 0)
				return fail(err, err_len, "VM port name '%s' is used twice", p->name),
				       -EINVAL;
			if (strcmp(cfg->vm_ports[j].devargs, p->devargs) == 0)
				return fail(err, err_len, "VM ports %s and %s are the same device '%s'",
					    cfg->vm_ports[j].name, p->name, p->devargs),
				       -EINVAL;
		}
		if (strcmp(p->devargs, cfg->uplink_devargs) == 0)
			return fail(err, err_len, "VM port %s is the uplink's device '%s'", p->name,
				    p->devargs),
			       -EINVAL;
	}
	return 0;
}

static const struct rte_mbuf_dynflag reply_flag = {.name = "vmfabric_proxy_reply"};

int dpdk_backend_create(struct dpdk_backend **out, const struct dpdk_config *cfg, char *err,
			size_t err_len)
{
	struct dpdk_backend *b;
	unsigned int mbufs;
	char name[RTE_MEMPOOL_NAMESIZE];
	int ret;

	ret = check_config(cfg, err, err_len);
	if (ret)
		return ret;
	b = rte_zmalloc("fab_backend", sizeof(*b), RTE_CACHE_LINE_SIZE);
	if (!b)
		return fail(err, err_len, "out of memory"), -ENOMEM;
	b->cfg = *cfg;
	b->cfg.hold_frames = pow2_at_least(cfg->hold_frames);
	b->n_workers = cfg->workers;
	b->host.vtep = cfg->local_vtep;
	b->n_ports = 1 + cfg->n_vm_ports;
	b->hold_timeout_tsc = rte_get_tsc_hz() / 1000 * cfg->hold_timeout_ms;

	ret = setup_workers(b, err, err_len);
	if (ret)
		goto fail;
	ret = rte_mbuf_dynflag_register(&reply_flag);
	if (ret < 0) {
		ret = fail(err, err_len, "cannot register mbuf flag %s: %s", reply_flag.name,
			   rte_strerror(rte_errno));
		ret = -ENOSPC;
		goto fail;
	}
	b->reply_flag = 1ull << ret;
	mbufs = cfg->mbufs ? cfg->mbufs
			   : (b->n_ports * (RX_DESC + TX_DESC * b->n_workers) +
			      cfg->n_vm_ports * b->cfg.hold_frames + 4096);
	snprintf(name, sizeof(name), "fab_mb_%p", (void *)b);
	b->pool = rte_pktmbuf_pool_create(name, mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (!b->pool) {
		ret = fail(err, err_len, "cannot allocate %u mbufs (give EAL more memory: -m)", mbufs);
		ret = -ENOMEM;
		goto fail;
	}
	ret = dp_tables_create(b, err, err_len);
	if (ret)
		goto fail;

	snprintf(b->ports[0].name, sizeof(b->ports[0].name), "uplink");
	ret = probe_port(cfg->uplink_devargs, &b->ports[0].ethdev, err, err_len);
	for (unsigned int i = 0; ret == 0 && i < cfg->n_vm_ports; i++) {
		struct dp_port *p = &b->ports[i + 1];

		snprintf(p->name, sizeof(p->name), "%s", cfg->vm_ports[i].name);
		p->index = (uint16_t)(i + 1);
		p->vni = cfg->vm_ports[i].vni;
		b->port_of_index[p->index] = p;
		ret = probe_port(cfg->vm_ports[i].devargs, &p->ethdev, err, err_len);
		for (unsigned int j = 0; ret == 0 && j <= i; j++)
			if (b->ports[j].ethdev == p->ethdev)
				ret = fail(err, err_len, "VM port %s is the same device as port %s", p->name,
					   b->ports[j].name),
				ret = -EINVAL;
		if (ret == 0)
			ret = setup_hold(b, p, err, err_len);
	}
	for (unsigned int i = 0; ret == 0 && i < b->n_ports; i++)
		ret = setup_port(b, &b->ports[i], err, err_len);
	if (ret)
		goto fail;

	memcpy(b->host.mac, cfg->local_mac, 6);
	if (!(cfg->local_mac[0] | cfg->local_mac[1] | cfg->local_mac[2] | cfg->local_mac[3] |
	      cfg->local_mac[4] | cfg->local_mac[5])) {
		struct rte_ether_addr a;

		rte_eth_macaddr_get(b->ports[0].ethdev, &a);
		memcpy(b->host.mac, a.addr_bytes, 6);
	}
	*out = b;
	return 0;
fail:
	dpdk_backend_destroy(b);
	return ret < 0 ? ret : -EINVAL;
}

int dpdk_backend_start(struct dpdk_backend *b, char *err, size_t err_len)
{
	for (unsigned int i = 0; i < b->n_ports; i++) {
		int ret = rte_eth_dev_start(b->ports[i].ethdev);

		if (ret)
			return fail(err, err_len, "port %s: cannot start: %s", b->ports[i].name,
				    strerror(-ret)),
			       ret;
		/* The uplink receives VXLAN for our VTEP whatever MAC the underlay uses. */
		rte_eth_promiscuous_enable(b->ports[i].ethdev);
		if (b->ports[i].hold_unsent) /* a VM may have attached before the callback */
			on_link_change(b->ports[i].ethdev, RTE_ETH_EVENT_INTR_LSC, &b->ports[i], NULL);
	}
	b->started = true;
	__atomic_store_n(&b->running, true, __ATOMIC_RELEASE);
	for (unsigned int w = 0; w < b->n_workers; w++) {
		int ret = rte_eal_remote_launch(dp_worker_main, &b->workers[w], b->workers[w].lcore);

		if (ret)
			return fail(err, err_len, "cannot launch worker %u on lcore %u: %s", w,
				    b->workers[w].lcore, strerror(-ret)),
			       ret;
	}
	return 0;
}

void dpdk_backend_stop(struct dpdk_backend *b)
{
	if (!b->started)
		return;
	__atomic_store_n(&b->running, false, __ATOMIC_RELEASE);
	for (unsigned int w = 0; w < b->n_workers; w++)
		rte_eal_wait_lcore(b->workers[w].lcore);
	for (unsigned int i = 0; i < b->n_ports; i++)
		rte_eth_dev_stop(b->ports[i].ethdev);
	b->started = false;
}

void dpdk_backend_destroy(struct dpdk_backend *b)
{
	if (!b)
		return;
	dpdk_backend_stop(b);
	for (unsigned int i = 0; i < b->n_ports; i++) {
		struct dp_port *p = &b->ports[i];
		struct dp_held h;

		while (p->hold && rte_ring_dequeue_elem(p->hold, &h, sizeof(h)) == 0)
			rte_pktmbuf_free(h.m);
		rte_ring_free(p->hold);
		if (i == 0 || p->index) {
			char name[RTE_DEV_NAME_MAX_LEN];

			if (rte_eth_dev_get_name_by_port(p->ethdev, name) == 0) {
				if (p->hold_unsent)
					rte_eth_dev_callback_unregister(p->ethdev, RTE_ETH_EVENT_INTR_LSC,
									on_link_change, p);
				rte_eth_dev_close(p->ethdev);
				rte_vdev_uninit(name); /* ports here are vdevs (--no-pci) */
			}
		}
	}
	for (unsigned int w = 0; w < b->n_workers; w++) {
		for (unsigned int i = 0; i < b->n_ports; i++)
			rte_free(b->workers[w].tx[i]);
		rte_free(b->workers[w].vtep_cache);
	}
	dp_tables_destroy(b);
	rte_mempool_free(b->pool);
	rte_free(b);
}

void dpdk_backend_sync(struct dpdk_backend *b)
{
	/* Workers report a quiescent state at the end of each iteration, after sending. */
	if (b->started)
		rte_rcu_qsbr_synchronize(b->qsbr, RTE_QSBR_THRID_INVALID);
}

void dpdk_backend_local_mac(const struct dpdk_backend *b, uint8_t mac[6])
{
	memcpy(mac, b->host.mac, 6);
}

int dpdk_backend_ethdev(const struct dpdk_backend *b, uint16_t index)
{
	if (index == 0)
		return b->ports[0].ethdev;
	if (index < FAB_MAX_PORTS && b->port_of_index[index])
		return b->port_of_index[index]->ethdev;
	return -ENOENT;
}

bool dp_port_holds_paused(void *be, uint16_t index)
{
	const struct dpdk_backend *b = be;

	return index && index < FAB_MAX_PORTS && b->port_of_index[index] &&
	       b->port_of_index[index]->hold_unsent;
}

size_t dpdk_backend_footprint(const struct dpdk_backend *b)
{
	return sizeof(*b) + (size_t)b->n_workers * DP_VTEP_CACHE * sizeof(struct dp_vtep_cache_entry) +
	       (size_t)b->n_workers * b->cfg.max_endpoints * sizeof(struct dp_ep_counters) +
	       (size_t)b->cfg.max_endpoints * sizeof(struct fab_ep_stats);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void dpdk_remove_runtime_dir(const char *dir)
{
	/* Only EAL's own directory: never a path that is not under /var/run/dpdk or /run. */
	if (dir && *dir && (strncmp(dir, "/var/run/dpdk/", 14) == 0 || strncmp(dir, "/run/", 5) == 0))
		nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}
