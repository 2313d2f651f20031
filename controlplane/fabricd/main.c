/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fabricd: the per-host daemon. Parses its configuration, brings up the DPDK fast path
 * and the fabric's control layer, programs the static configuration, and runs the
 * control thread's loop (fast path events, periodic counters) until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include <sys/stat.h>

#include "agent.h"
#include "config.h"
#include "driver.h"
#include "dpdk_backend.h"
#include "fabric.h"
#include "metrics.h"
#include "rpc.h"

struct control {
	struct fabric *fab;
	struct agent *agent;
	struct mig_driver *mig;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void log_event(const struct fab_event *ev, void *arg)
{
	struct control *ctl = arg;
	struct fabric *fab = ctl->fab;
	char mac[18];

	agent_record_event(ctl->agent, ev);
	mig_on_fabric_event(ctl->mig, ev);
	fab_format_mac(ev->key.mac, mac);
	switch (ev->kind) {
	case FAB_EVENT_ACTIVATED:
		fprintf(stderr, "fabricd: activated vni %u mac %s on port %s (generation %llu): "
				"held frames released\n",
			ev->key.vni, mac, fabric_port_name(fab, ev->loc.port) ?: "?",
			(unsigned long long)ev->loc.generation);
		break;
	case FAB_EVENT_HOLD_OVERFLOW:
		fprintf(stderr, "fabricd: hold queue full for vni %u mac %s: frames dropped "
				"(raise --hold-frames?)\n",
			ev->key.vni, mac);
		break;
	default:
		break;
	}
}

static void print_stats(struct fabric *fab)
{
	struct fab_host_stats st;

	fabric_stats(fab, &st);
	fprintf(stderr, "fabricd: rx %llu delivered %llu encapsulated %llu forwarded %llu held %llu "
			"released %llu dropped %llu endpoints %u/%u",
		(unsigned long long)st.counters[FAB_CTR_RX],
		(unsigned long long)st.counters[FAB_CTR_DELIVERED],
		(unsigned long long)st.counters[FAB_CTR_ENCAPSULATED],
		(unsigned long long)st.counters[FAB_CTR_FORWARDED],
		(unsigned long long)st.counters[FAB_CTR_HELD],
		(unsigned long long)st.counters[FAB_CTR_RELEASED],
		(unsigned long long)st.counters[FAB_CTR_DROPPED], st.endpoints, st.endpoint_capacity);
	for (unsigned int i = 1; i < FAB_DROP__COUNT; i++)
		if (st.drops[i])
			fprintf(stderr, " %s=%llu", fab_drop_name(i), (unsigned long long)st.drops[i]);
	fputc('\n', stderr);
}

static int program(struct fabric *fab, const struct fabricd_config *cfg, char *err, size_t len)
{
	int ret;

	for (unsigned int i = 0; i < cfg->dp.n_vm_ports; i++) {
		ret = fabric_port_add(fab, (uint16_t)(i + 1), cfg->dp.vm_ports[i].name,
				      cfg->dp.vm_ports[i].vni);
		if (ret)
			return snprintf(err, len, "VM port %s: %s", cfg->dp.vm_ports[i].name,
					strerror(-ret)),
			       ret;
	}
	for (unsigned int i = 0; i < cfg->n_peers; i++) {
		ret = fabric_host_set(fab, cfg->peers[i].vtep, cfg->peers[i].mac);
		if (ret)
			return snprintf(err, len, "peer %u: %s", i + 1, strerror(-ret)), ret;
	}
	for (unsigned int i = 0; i < cfg->n_endpoints; i++) {
		struct fabricd_endpoint e = cfg->endpoints[i];
		char mac[18];

		if (e.port_name[0])
			e.loc.port = (uint16_t)fabric_port_index(fab, e.port_name);
		ret = fabric_endpoint_upsert(fab, &e.key, &e.loc, &e.addrs);
		if (ret) {
			fab_format_mac(e.key.mac, mac);
			return snprintf(err, len, "endpoint vni %u mac %s: %s", e.key.vni, mac,
					strerror(-ret)),
			       ret;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct fabricd_config cfg;
	struct dpdk_backend *b = NULL;
	struct fabric *fab = NULL;
	struct fabric_config fcfg;
	char err[512];
	int sep = argc, ret, eal_argc;
	time_t next_stats = 0;
	struct agent *agent = NULL;
	struct rpc_server *server = NULL;
	struct metrics *metrics = NULL;
	struct mig_driver *mig = NULL;
	struct agent_peers *peers_out = NULL;
	struct control ctl;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			sep = i;
			break;
		}
	}
	/* `fabricd --help` (no EAL options) explains fabricd, not EAL. */
	if (sep == argc && argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fabricd_usage(stdout);
		return 0;
	}
	fabricd_config_init(&cfg);
	ret = sep < argc ? fabricd_config_args(&cfg, argc - sep - 1, argv + sep + 1, err, sizeof(err))
			 : 0;
	if (ret == 1)
		return 0;
	if (ret == 0)
		ret = fabricd_config_check(&cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "fabricd: %s\n", err);
		return 2;
	}
	eal_argc = sep;
	if (rte_eal_init(eal_argc, argv) < 0) {
		fprintf(stderr, "fabricd: DPDK EAL did not start: %s (check the EAL options before '--')\n",
			rte_strerror(rte_errno));
		return 2;
	}
	ret = dpdk_backend_create(&b, &cfg.dp, err, sizeof(err));
	if (ret == 0) {
		fcfg = (struct fabric_config){.local_vtep = cfg.dp.local_vtep,
					      .max_endpoints = cfg.dp.max_endpoints,
					      .max_addresses = cfg.dp.max_addresses};
		dpdk_backend_local_mac(b, fcfg.local_mac);
		ret = fabric_create(&fab, &fcfg, &dpdk_backend_ops, b);
		if (ret)
			snprintf(err, sizeof(err), "fabric: %s", strerror(-ret));
	}
	if (ret == 0)
		ret = program(fab, &cfg, err, sizeof(err));
	if (ret == 0)
		ret = dpdk_backend_start(b, err, sizeof(err));
	if (ret && !b) {
		fprintf(stderr, "fabricd: %s\n", err);
		rte_eal_cleanup();
		return 1;
	}
	if (ret) {
		fprintf(stderr, "fabricd: %s\n", err);
		fabric_destroy(fab);
		dpdk_backend_destroy(b);
		rte_eal_cleanup();
		return 1;
	}
	if (ret == 0) {
		/* The server keeps this list for its lifetime. */
		static const char *peers[17];
		size_t n_methods;
		struct agent_config acfg = {.fab = fab, .host_name = cfg.host_name, .datapath = "dpdk",
					    .vtep = cfg.dp.local_vtep};
		struct rpc_server_config scfg = {
			.unix_path = cfg.listen_unix,
			.tcp_listen = cfg.listen_tcp[0] ? cfg.listen_tcp : NULL,
			.tls = {cfg.tls_ca, cfg.tls_cert, cfg.tls_key},
			.allowed_peers = peers,
		};
		char dir[256];
		char *slash;

		if (!cfg.host_name[0] && gethostname(cfg.host_name, sizeof(cfg.host_name) - 1))
			snprintf(cfg.host_name, sizeof(cfg.host_name), "fabricd");
		for (unsigned int i = 0; i < cfg.n_allow_peers; i++)
			peers[i] = cfg.allow_peers[i];
		peers[cfg.n_allow_peers] = NULL;
		snprintf(dir, sizeof(dir), "%s", cfg.listen_unix);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = 0;
			mkdir(dir, 0755);
		}
		struct rpc_tls tls = {cfg.tls_ca[0] ? cfg.tls_ca : NULL, cfg.tls_cert[0] ? cfg.tls_cert : NULL,
				      cfg.tls_key[0] ? cfg.tls_key : NULL};

		ret = agent_peers_create(&peers_out, fab, &tls);
		if (ret == 0) {
			struct mig_driver_config mcfg = {.fab = fab, .qemu_dir = cfg.qemu_dir,
							 .host_name = cfg.host_name,
							 .vtep = cfg.dp.local_vtep,
							 .target = &agent_peer_ops,
							 .target_ctx = peers_out};

			ret = mig_driver_create(&mig, &mcfg);
		}
		acfg.mig = mig;
		if (ret == 0)
			ret = agent_create(&agent, &acfg);
		scfg.methods = agent_methods(&n_methods);
		scfg.n_methods = n_methods;
		scfg.ctx = agent;
		if (ret == 0)
			ret = rpc_server_start(&server, &scfg, err, sizeof(err));
		if (ret == 0 && cfg.metrics_listen[0])
			ret = metrics_start(&metrics, cfg.metrics_listen, fab, err, sizeof(err));
		if (ret == 0)
			metrics_register_telemetry(fab);
	}
	if (ret) {
		fprintf(stderr, "fabricd: %s\n", err);
		rpc_server_stop(server);
		dpdk_backend_stop(b);
		agent_destroy(agent);
		mig_driver_destroy(mig);
		agent_peers_destroy(peers_out);
		fabric_destroy(fab);
		dpdk_backend_destroy(b);
		rte_eal_cleanup();
		return 1;
	}
	ctl = (struct control){.fab = fab, .agent = agent, .mig = mig};
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	{
		char vtep[16], mac[18];

		fab_format_ip4(cfg.dp.local_vtep, vtep);
		fab_format_mac(fcfg.local_mac, mac);
		fprintf(stderr, "fabricd: forwarding: vtep %s (%s), %u VM ports, %u peers, %u workers; "
				"agent on unix:%s%s%s\n",
			vtep, mac, cfg.dp.n_vm_ports, cfg.n_peers, cfg.dp.workers, cfg.listen_unix,
			cfg.listen_tcp[0] ? " and tcp " : "", cfg.listen_tcp);
	}
	while (!stopping) {
		/* The control thread: RPCs, then what the fast path reported. */
		if (mig_busy(mig)) {
			rpc_server_poll(server, 0);
			mig_wait(mig, 1);
		} else {
			rpc_server_poll(server, 1);
		}
		if (fabric_poll(fab, log_event, &ctl) > 0)
			rpc_server_wake(server);
		metrics_poll(metrics);
		mig_poll(mig);
		if (cfg.stats_interval_s && time(NULL) >= next_stats) {
			if (next_stats)
				print_stats(fab);
			next_stats = time(NULL) + cfg.stats_interval_s;
		}
	}
	metrics_stop(metrics);
	rpc_server_stop(server);
	agent_destroy(agent);
	mig_driver_destroy(mig);
	agent_peers_destroy(peers_out);
	fprintf(stderr, "fabricd: stopping\n");
	print_stats(fab);
	dpdk_backend_stop(b);
	fabric_destroy(fab);
	dpdk_backend_destroy(b);
	snprintf(err, sizeof(err), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	dpdk_remove_runtime_dir(err);
	return 0;
}
