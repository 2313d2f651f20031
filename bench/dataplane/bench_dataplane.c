/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DPDK fast path's forwarding rate on one worker core, with a full endpoint table.
 *
 * One process runs one case: the real backend (dpdk_backend.c, one worker lcore that
 * never sleeps) and the real control layer (fabric.c) over vdev ports, a pcap of
 * distinct flows replayed without end by net_pcap (infinite_rx) into the port the case
 * receives on, and the port it sends on counted as the sink:
 *
 *   encap     VM port (pcap of the bound VM's frames to remote endpoints)
 *             -> uplink (net_null sink): parse, look up, push VXLAN
 *   decap     uplink (pcap of VXLAN from a known host to the local VM)
 *             -> VM port (net_null sink): outer checks, inner parse, look up, strip
 *   forward   uplink (pcap of VXLAN for endpoints in FORWARDING state)
 *             -> uplink (net_pcap's transmit side, which drops): strip, re-push, marked
 *   arp       VM port (pcap of the VM's ARP requests for remote endpoints' addresses)
 *             -> VM port (net_pcap's transmit side): the ARP proxy's answers
 *   mem       no traffic: the resident memory of a fabric holding the endpoints
 *
 * The table holds `--endpoints` endpoints (one IPv4 address each), spread over
 * `--hosts` remote hosts; the frames of the pcap name the endpoints that
 * `make_pcaps.py` chose with the same numbering (see endpoint_mac()).
 *
 * With `--updates RATE`, measurement windows alternate between quiet and busy: in a
 * busy window the control thread moves endpoints between hosts (upserts with a newer
 * generation, same state and addresses) at RATE per second, or as fast as it can.
 *
 * Output, one line each, for bench/run to gather:
 *   LOAD <endpoints> <seconds> <upserts/s>
 *   RSS <stage> <MiB>                         (mem: VmRSS of /proc/self/status)
 *   HEAP <stage> <MiB>, MEMZONE <name> <MiB>  (mem: DPDK's heap, its zones of >= 1 MiB)
 *   WINDOW <quiet|busy> <sink Mpps> <rx Mpps> <updates/s> <worker's on-CPU share>
 *   RESULT <name> <value> <unit>              (medians of the windows)
 *   COUNTER <name> <n>, DROP <reason> <n>     (the backend's counters at the end)
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_memzone.h>

#include "dpdk_backend.h"
#include "fabric.h"

/* The numbering shared with make_pcaps.py. */
#define VNI 42
#define LOCAL_VTEP 0xc6120001u /* 198.18.0.1 */
#define PEER_VTEP 0xc6120002u  /* 198.18.0.2: sends the overlay input */
#define HOST_VTEP_BASE 0xc6130000u /* 198.19.0.0 + h: the remote hosts */
#define FLOWS 65536u /* the encap flows' targets are endpoints 1..FLOWS */
#define FIRST_FORWARDING (1u + FLOWS) /* the forward flows': FLOWS+1..2*FLOWS */
#define MAX_WINDOWS 64

static const uint8_t local_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

enum mode { MODE_ENCAP, MODE_DECAP, MODE_FORWARD, MODE_ARP, MODE_MEM };

struct options {
	enum mode mode;
	const char *pcap;
	uint32_t endpoints;
	uint32_t hosts;
	unsigned int windows;
	double window_s;
	double warmup_s;
	double updates_per_s; /* 0: no busy windows */
	unsigned int mbufs;
};

/* Endpoint i's MAC: 02:ee:00 then i in 24 bits. Endpoint 0 is the local VM. */
static void endpoint_mac(uint32_t i, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0xee;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(i >> 16);
	mac[4] = (uint8_t)(i >> 8);
	mac[5] = (uint8_t)i;
}

/* Remote host h's VTEP and underlay MAC. */
static uint32_t host_vtep(uint32_t h)
{
	return HOST_VTEP_BASE + 1 + h;
}

static void host_mac(uint32_t h, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0x01;
	mac[2] = 0;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

static bool is_forwarding(uint32_t i)
{
	return i >= FIRST_FORWARDING && i < FIRST_FORWARDING + FLOWS;
}

/* Endpoint i's location in update round `round` (0: the initial load). Remote and
 * forwarding endpoints move to the next host each round. */
static void endpoint_loc(const struct options *o, uint32_t i, uint32_t round,
			 struct fab_endpoint *loc)
{
	memset(loc, 0, sizeof(*loc));
	loc->generation = 1 + round;
	if (i == 0) {
		loc->state = FAB_EP_LOCAL;
		loc->port = 1;
		return;
	}
	loc->state = is_forwarding(i) ? FAB_EP_FORWARDING : FAB_EP_REMOTE;
	loc->vtep = host_vtep((i + round) % o->hosts);
}

static void endpoint_addrs(uint32_t i, struct fab_ep_addrs *a)
{
	memset(a, 0, sizeof(*a));
	a->n_ip4 = 1;
	a->ip4[0] = 0x0a000001u + i; /* 10.0.0.1 + i */
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double rss_mib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %lf kB", &kib) == 1)
			break;
	fclose(f);
	return kib / 1024.0;
}

static double heap_mib(void)
{
	struct rte_malloc_socket_stats st;
	double total = 0;

	for (unsigned int s = 0; s < rte_socket_count(); s++)
		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(s), &st) == 0)
			total += (double)st.heap_allocsz_bytes;
	return total / (1024.0 * 1024.0);
}

/* The EAL worker thread's id (the worker lcore's thread), to read its scheduler
 * statistics: the machine is shared, and a worker that waits for its CPU forwards nothing
 * meanwhile. 0 if not found. */
static long worker_tid(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	long tid = 0;

	while (d && (e = readdir(d)) != NULL && !tid) {
		char path[300], comm[64] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f) && strncmp(comm, "rte-worker", 10) == 0)
			tid = strtol(e->d_name, NULL, 10);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return tid;
}

/* Seconds thread `tid` has been on a CPU (schedstat), or -1. */
static double run_s(long tid)
{
	char path[64];
	unsigned long long ns;
	FILE *f;
	int ok;

	if (!tid)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/schedstat", tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%llu", &ns) == 1;
	fclose(f);
	return ok ? (double)ns * 1e-9 : -1;
}

/* Prints the DPDK memory zones of more than 1 MiB (rings, mempools): with the heap total,
 * where the tables' memory goes. */
static void print_zone(const struct rte_memzone *mz, void *arg)
{
	(void)arg;
	if (mz->len >= (1u << 20))
		printf("MEMZONE %s %.1f\n", mz->name, (double)mz->len / (1024.0 * 1024.0));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned int n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_dataplane EAL-ARGS -- --mode encap|decap|forward|arp|mem [--pcap FILE]\n"
		"         [--endpoints N] [--hosts N] [--windows N] [--window-s S] [--warmup-s S]\n"
		"         [--updates PER_S] [--mbufs N]\n"
		"EAL needs 2 lcores (-l 0-1): the control thread and one worker.\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{"mode", required_argument, NULL, 'm'},
		{"pcap", required_argument, NULL, 'p'},
		{"endpoints", required_argument, NULL, 'e'},
		{"hosts", required_argument, NULL, 'H'},
		{"windows", required_argument, NULL, 'w'},
		{"window-s", required_argument, NULL, 's'},
		{"warmup-s", required_argument, NULL, 'W'},
		{"updates", required_argument, NULL, 'u'},
		{"mbufs", required_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct options){.mode = MODE_ENCAP, .endpoints = 1u << 20, .hosts = 1024,
			      .windows = 5, .window_s = 2, .warmup_s = 1, .mbufs = 131072};
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (strcmp(optarg, "encap") == 0)
				o->mode = MODE_ENCAP;
			else if (strcmp(optarg, "decap") == 0)
				o->mode = MODE_DECAP;
			else if (strcmp(optarg, "forward") == 0)
				o->mode = MODE_FORWARD;
			else if (strcmp(optarg, "arp") == 0)
				o->mode = MODE_ARP;
			else if (strcmp(optarg, "mem") == 0)
				o->mode = MODE_MEM;
			else
				return -EINVAL;
			break;
		case 'p':
			o->pcap = optarg;
			break;
		case 'e':
			o->endpoints = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'H':
			o->hosts = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'w':
			o->windows = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 's':
			o->window_s = strtod(optarg, NULL);
			break;
		case 'W':
			o->warmup_s = strtod(optarg, NULL);
			break;
		case 'u':
			o->updates_per_s = strtod(optarg, NULL);
			break;
		case 'b':
			o->mbufs = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		default:
			return -EINVAL;
		}
	}
	if (o->mode != MODE_MEM && !o->pcap)
		return -EINVAL;
	if (o->endpoints < FIRST_FORWARDING + FLOWS || o->hosts < 1 || o->hosts > 4000 ||
	    o->windows < 1 || o->windows > MAX_WINDOWS || o->window_s <= 0)
		return -EINVAL;
	return 0;
}

/* Declares the hosts and loads every endpoint; prints how long that took. */
static int load_table(struct fabric *fab, const struct options *o)
{
	struct fab_ep_key k = {.vni = VNI};
	struct fab_endpoint loc;
	struct fab_ep_addrs a;
	uint8_t mac[6];
	double t0;
	int ret;

	ret = fabric_host_set(fab, PEER_VTEP, peer_mac);
	for (uint32_t h = 0; ret == 0 && h < o->hosts; h++) {
		host_mac(h, mac);
		ret = fabric_host_set(fab, host_vtep(h), mac);
	}
	if (ret) {
		fprintf(stderr, "bench_dataplane: host: %s\n", strerror(-ret));
		return ret;
	}
	t0 = now_s();
	for (uint32_t i = 0; i < o->endpoints; i++) {
		endpoint_mac(i, k.mac);
		endpoint_loc(o, i, 0, &loc);
		endpoint_addrs(i, &a);
		ret = fabric_endpoint_upsert(fab, &k, &loc, &a);
		if (ret) {
			fprintf(stderr, "bench_dataplane: endpoint %u: %s\n", i, strerror(-ret));
			return ret;
		}
	}
	double dt = now_s() - t0;

	printf("LOAD %u %.3f %.0f\n", o->endpoints, dt, o->endpoints / dt);
	return 0;
}

/* The control thread's update load: walks the endpoints (all but the local VM) and
 * moves each to its next host, as fast as `rate` allows, until `end`. */
struct updater {
	const struct options *o;
	struct fabric *fab;
	uint32_t next;   /* endpoint to update next */
	uint32_t round;  /* update round of that endpoint (its generation - 1) */
	uint64_t done;
	int error;
};

static uint64_t run_updates(struct updater *u, double rate, double end)
{
	struct fab_ep_key k = {.vni = VNI};
	struct fab_endpoint loc;
	struct fab_ep_addrs a;
	double t0 = now_s(), t = t0;
	uint64_t done = 0;

	while (t < end && !u->error) {
		uint64_t target = (uint64_t)((t - t0) * rate) + 1;

		if (done >= target) {
			struct timespec ts = {.tv_nsec = 20000};

			nanosleep(&ts, NULL);
		}
		for (int n = 0; n < 256 && done < target; n++, done++) {
			int ret;

			if (++u->next >= u->o->endpoints) {
				u->next = 1;
				u->round++;
			}
			endpoint_mac(u->next, k.mac);
			endpoint_loc(u->o, u->next, u->round + 1, &loc);
			endpoint_addrs(u->next, &a);
			ret = fabric_endpoint_upsert(u->fab, &k, &loc, &a);
			if (ret) {
				fprintf(stderr, "bench_dataplane: update of endpoint %u: %s\n", u->next,
					strerror(-ret));
				u->error = ret;
				break;
			}
		}
		t = now_s();
	}
	u->done += done;
	return done;
}

struct port_counts {
	uint64_t rx, tx;
};

static void read_ports(uint16_t rx_port, uint16_t tx_port, struct port_counts *c)
{
	struct rte_eth_stats s;

	rte_eth_stats_get(rx_port, &s);
	c->rx = s.ipackets;
	rte_eth_stats_get(tx_port, &s);
	c->tx = s.opackets;
}

static void print_counters(struct fabric *fab, FILE *out, const char *prefix)
{
	struct fab_host_stats st;

	fabric_stats(fab, &st);
	for (unsigned int i = 0; i < FAB_CTR__COUNT; i++)
		if (st.counters[i])
			fprintf(out, "%sCOUNTER %s %" PRIu64 "\n", prefix, fab_counter_name(i),
				st.counters[i]);
	for (unsigned int i = 1; i < FAB_DROP__COUNT; i++)
		if (st.drops[i])
			fprintf(out, "%sDROP %s %" PRIu64 "\n", prefix, fab_drop_name(i), st.drops[i]);
}

static const char *mode_name(enum mode m)
{
	static const char *names[] = {"encap", "decap", "forward", "arp", "mem"};

	return names[m];
}

static int measure(struct dpdk_backend *b, struct fabric *fab, const struct options *o)
{
	uint16_t rx_port, tx_port;
	struct port_counts c0, c1, first, last;
	struct updater u = {.o = o, .fab = fab};
	double quiet[MAX_WINDOWS + 1], busy[MAX_WINDOWS], rates[MAX_WINDOWS], drops[MAX_WINDOWS];
	double quiet_cpu[MAX_WINDOWS + 1], busy_cpu[MAX_WINDOWS], drops_cpu[MAX_WINDOWS];
	unsigned int nq = 0, nb = 0;
	double t, t_end;
	long tid = worker_tid();

	/* encap receives on the VM port and sends on the uplink, decap the reverse; forward
	 * receives and sends on the uplink, arp on the VM port. */
	rx_port = (uint16_t)dpdk_backend_ethdev(b, o->mode == MODE_ENCAP || o->mode == MODE_ARP);
	tx_port = (uint16_t)dpdk_backend_ethdev(b, o->mode == MODE_DECAP || o->mode == MODE_ARP);

	t = now_s();
	while (now_s() - t < o->warmup_s)
		usleep(10000);
	read_ports(rx_port, tx_port, &first);
	/* With updates: quiet, busy, quiet, ..., quiet, so that each busy window has a quiet
	 * one on either side. */
	for (unsigned int w = 0; w < (o->updates_per_s > 0 ? 2 * o->windows + 1 : o->windows); w++) {
		bool is_busy = o->updates_per_s > 0 && w % 2 == 1;
		uint64_t done = 0;
		double sink, rx, r0, oncpu;

		read_ports(rx_port, tx_port, &c0);
		r0 = run_s(tid);
		t = now_s();
		t_end = t + o->window_s;
		if (is_busy)
			done = run_updates(&u, o->updates_per_s, t_end);
		else
			while (now_s() < t_end)
				usleep(2000);
		read_ports(rx_port, tx_port, &c1);
		t = now_s() - t;
		oncpu = r0 >= 0 ? (run_s(tid) - r0) / t : 0;
		sink = (double)(c1.tx - c0.tx) / t / 1e6;
		rx = (double)(c1.rx - c0.rx) / t / 1e6;
		printf("WINDOW %s %.3f %.3f %.0f %.3f\n", is_busy ? "busy" : "quiet", sink, rx,
		       (double)done / t, oncpu);
		fflush(stdout);
		if (u.error)
			return u.error;
		/* Per second on the CPU: the other processes on these CPUs move to the worker's
		 * CPU while the control thread keeps its own busy. */
		if (is_busy) {
			rates[nb] = (double)done / t;
			busy_cpu[nb] = oncpu > 0.05 ? sink / oncpu : 0;
			busy[nb++] = sink;
		} else {
			quiet_cpu[nq] = oncpu > 0.05 ? sink / oncpu : 0;
			quiet[nq++] = sink;
		}
	}
	read_ports(rx_port, tx_port, &last);

	/* The sink must see what the worker took in: a fast path that drops is no fast
	 * path. */
	uint64_t in = last.rx - first.rx, out = last.tx - first.tx;

	if (in == 0 || (double)out < 0.9 * (double)in) {
		fprintf(stderr,
			"bench_dataplane: %s: FAILED: the sink sent %" PRIu64 " of %" PRIu64
			" frames received (%.1f%%); the backend's counters:\n",
			mode_name(o->mode), out, in, in ? 100.0 * (double)out / (double)in : 0);
		print_counters(fab, stderr, "  ");
		return -EIO;
	}
	if ((double)out < 0.999 * (double)in) {
		fprintf(stderr, "bench_dataplane: %s: %.2f%% of the frames were not sent:\n",
			mode_name(o->mode), 100.0 - 100.0 * (double)out / (double)in);
		print_counters(fab, stderr, "  ");
	}
	/* Every drop is worth seeing, even a handful: some are bugs. */
	print_counters(fab, stdout, "");

	/* Each busy window against the mean of the quiet ones around it: the neighbours'
	 * load drifts more slowly than that. */
	for (unsigned int i = 0; i < nb; i++) {
		double q = (quiet[i] + quiet[i + 1]) / 2, qc = (quiet_cpu[i] + quiet_cpu[i + 1]) / 2;

		drops[i] = q > 0 ? 100.0 * (q - busy[i]) / q : 0;
		drops_cpu[i] = qc > 0 && busy_cpu[i] > 0 ? 100.0 * (qc - busy_cpu[i]) / qc : 0;
	}
	if (nb) {
		printf("RESULT %s_mpps_under_updates %.3f Mpps\n", mode_name(o->mode),
		       median(busy, nb));
		printf("RESULT %s_updates_per_s %.0f updates/s\n", mode_name(o->mode),
		       median(rates, nb));
		printf("RESULT %s_mpps_drop_under_updates_pct %.2f %%\n", mode_name(o->mode),
		       median(drops, nb));
		printf("RESULT %s_mpps_per_cpu_s_drop_under_updates_pct %.2f %%\n",
		       mode_name(o->mode), median(drops_cpu, nb));
	}
	printf("RESULT %s_mpps %.3f Mpps\n", mode_name(o->mode), median(quiet, nq));
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct dpdk_config cfg;
	struct fabric_config fcfg = {.local_vtep = LOCAL_VTEP};
	struct dpdk_backend *b = NULL;
	struct fabric *fab = NULL;
	char err[256], uplink[256], vm[256], src[256];
	double rss_eal, heap_eal;
	int n, ret;

	n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "bench_dataplane: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argv[n] = argv[0];
	if (parse_options(argc - n, argv + n, &o)) {
		usage();
		rte_eal_cleanup();
		return 2;
	}
	rss_eal = rss_mib();
	heap_eal = heap_mib();

	snprintf(src, sizeof(src), "net_pcap0,rx_pcap=%s,infinite_rx=1", o.pcap ? o.pcap : "");
	snprintf(uplink, sizeof(uplink), "%s",
		 o.mode == MODE_ENCAP || o.mode == MODE_ARP || o.mode == MODE_MEM ? "net_null0,no-rx=1"
										  : src);
	snprintf(vm, sizeof(vm), "%s",
		 o.mode == MODE_ENCAP || o.mode == MODE_ARP ? src : "net_null1,no-rx=1");

	dpdk_config_defaults(&cfg);
	snprintf(cfg.uplink_devargs, sizeof(cfg.uplink_devargs), "%s", uplink);
	snprintf(cfg.vm_ports[0].name, sizeof(cfg.vm_ports[0].name), "vm0");
	snprintf(cfg.vm_ports[0].devargs, sizeof(cfg.vm_ports[0].devargs), "%s", vm);
	cfg.vm_ports[0].vni = VNI;
	cfg.n_vm_ports = 1;
	cfg.local_vtep = LOCAL_VTEP;
	memcpy(cfg.local_mac, local_mac, 6);
	cfg.max_endpoints = o.endpoints;
	/* Tables sized for what the benchmark loads: one IPv4 address per endpoint. */
	cfg.max_addresses = o.endpoints;
	cfg.workers = 1;
	cfg.idle_sleep_max_us = 0;
	/* The pcap PMD keeps every frame of the file in an mbuf of the pool and copies from
	 * it: the pool holds the file plus what is in flight. The memory figure wants the
	 * backend's own default. */
	cfg.mbufs = o.mode == MODE_MEM ? 0 : o.mbufs;
	memcpy(fcfg.local_mac, local_mac, 6);
	fcfg.max_endpoints = o.endpoints;
	fcfg.max_addresses = o.endpoints;

	ret = dpdk_backend_create(&b, &cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_dataplane: backend: %s\n", err);
		goto out;
	}
	ret = fabric_create(&fab, &fcfg, &dpdk_backend_ops, b);
	if (ret == 0)
		ret = fabric_port_add(fab, 1, "vm0", VNI);
	if (ret) {
		fprintf(stderr, "bench_dataplane: fabric: %s\n", strerror(-ret));
		goto out;
	}
	double rss_empty = rss_mib(), heap_empty = heap_mib();

	ret = load_table(fab, &o);
	if (ret)
		goto out;
	if (o.mode == MODE_MEM) {
		double rss_full = rss_mib(), heap_full = heap_mib();

		printf("RSS eal %.1f\nRSS empty_table %.1f\nRSS full_table %.1f\n", rss_eal,
		       rss_empty, rss_full);
		printf("HEAP empty_table %.1f\nHEAP full_table %.1f\n", heap_empty - heap_eal,
		       heap_full - heap_eal);
		rte_memzone_walk(print_zone, NULL);
		printf("RESULT rss_mib_%s_endpoints %.1f MiB\n", o.endpoints == 1u << 20 ? "1m" : "n",
		       rss_full);
		printf("RESULT rss_mib_over_eal %.1f MiB\n", rss_full - rss_eal);
		printf("RESULT dpdk_heap_mib %.1f MiB\n", heap_full - heap_eal);
		printf("RESULT rss_mib_empty_table %.1f MiB\n", rss_empty);
		printf("RESULT backend_footprint_mib %.1f MiB\n",
		       (double)dpdk_backend_footprint(b) / (1024.0 * 1024.0));
		goto out;
	}
	ret = dpdk_backend_start(b, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "bench_dataplane: start: %s\n", err);
		goto out;
	}
	ret = measure(b, fab, &o);
out:
	if (b)
		dpdk_backend_stop(b);
	fabric_destroy(fab);
	dpdk_backend_destroy(b);
	rte_eal_cleanup();
	return ret ? 1 : 0;
}
