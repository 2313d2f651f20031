/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct option_def {
	const char *name;
	const char *arg;
	const char *help;
	int (*apply)(struct fabricd_config *cfg, const char *value, char *err, size_t err_len);
};

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t len, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || *out < min || *out > max ? -1 : 0;
}

#define UINT_OPTION(fn, field, min, max, what)                                                 \
	static int fn(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)    \
	{                                                                                      \
		unsigned long n;                                                               \
		if (parse_uint(v, min, max, &n))                                               \
			return fail(err, err_len, "%s '%s': expected a whole number %lu..%lu", \
				    what, v, (unsigned long)(min), (unsigned long)(max));      \
		field = (unsigned int)n;                                                       \
		return 0;                                                                      \
	}

UINT_OPTION(opt_max_endpoints, cfg->dp.max_endpoints, 1, 1u << 26, "--max-endpoints")
UINT_OPTION(opt_max_addresses, cfg->dp.max_addresses, 1, 1u << 27, "--max-addresses")
UINT_OPTION(opt_workers, cfg->dp.workers, 1, DPDK_MAX_WORKERS, "--workers")
UINT_OPTION(opt_hold_frames, cfg->dp.hold_frames, 1, 65536, "--hold-frames")
UINT_OPTION(opt_hold_timeout, cfg->dp.hold_timeout_ms, 1, 600000, "--hold-timeout-ms")
UINT_OPTION(opt_idle_sleep, cfg->dp.idle_sleep_max_us, 0, 100000, "--idle-sleep-us")
UINT_OPTION(opt_mtu, cfg->dp.underlay_mtu, 576, 9216, "--underlay-mtu")
UINT_OPTION(opt_mbufs, cfg->dp.mbufs, 1024, 16u << 20, "--mbufs")
UINT_OPTION(opt_stats, cfg->stats_interval_s, 0, 3600, "--stats-interval")

static int opt_vtep(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)
{
	if (fab_parse_ip4(v, &cfg->dp.local_vtep) || cfg->dp.local_vtep == 0 ||
	    cfg->dp.local_vtep >= 0xe0000000u)
		return fail(err, err_len, "--vtep '%s': expected this host's unicast IPv4 address", v);
	return 0;
}

static int opt_vtep_mac(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)
{
	if (fab_parse_mac(v, cfg->dp.local_mac) || (cfg->dp.local_mac[0] & 1))
		return fail(err, err_len, "--vtep-mac '%s': expected a unicast MAC aa:bb:cc:dd:ee:ff", v);
	return 0;
}

static int opt_uplink(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)
{
	if (!*v || strlen(v) >= sizeof(cfg->dp.uplink_devargs))
		return fail(err, err_len, "--uplink: expected DPDK devargs, e.g. net_af_packet0,iface=eth1");
	snprintf(cfg->dp.uplink_devargs, sizeof(cfg->dp.uplink_devargs), "%s", v);
	return 0;
}

/* NAME:VNI:DEVARGS (devargs have commas of their own). */
static int opt_vm_port(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)
{
	struct dpdk_vm_port_config *p;
	const char *c1 = strchr(v, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char vni[16];
	unsigned long n;

	if (cfg->dp.n_vm_ports == DPDK_MAX_VM_PORTS)
		return fail(err, err_len, "--vm-port: at most %d VM ports", DPDK_MAX_VM_PORTS);
	p = &cfg->dp.vm_ports[cfg->dp.n_vm_ports];
	if (!c1 || !c2 || c1 == v || (size_t)(c1 - v) >= sizeof(p->name) || !c2[1] ||
	    strlen(c2 + 1) >= sizeof(p->devargs) || (size_t)(c2 - c1 - 1) >= sizeof(vni))
		return fail(err, err_len,
			    "--vm-port '%s': expected NAME:VNI:DEVARGS, e.g. vm1:100:net_tap0,iface=tapvm1", v);
	memcpy(vni, c1 + 1, (size_t)(c2 - c1 - 1));
	vni[c2 - c1 - 1] = 0;
	if (parse_uint(vni, 1, FAB_VNI_MAX, &n))
		return fail(err, err_len, "--vm-port '%s': VNI '%s' is not in 1..16777215", v, vni);
	memset(p, 0, sizeof(*p));
	memcpy(p->name, v, (size_t)(c1 - v));
	p->vni = (uint32_t)n;
	snprintf(p->devargs, sizeof(p->devargs), "%s", c2 + 1);
	cfg->dp.n_vm_ports++;
	return 0;
}

/* ADDR=MAC */
static int opt_peer(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)
{
	struct fabricd_peer *p;
	char addr[64];
	const char *eq = strchr(v, '=');

	if (cfg->n_peers == FABRICD_MAX_PEERS)
		return fail(err, err_len, "--peer: at most %d peers on the command line", FABRICD_MAX_PEERS);
	p = &cfg->peers[cfg->n_peers];
	if (!eq || (size_t)(eq - v) >= sizeof(addr))
		return fail(err, err_len, "--peer '%s': expected VTEP=MAC, e.g. 192.0.2.2=02:00:00:00:00:02", v);
	memcpy(addr, v, (size_t)(eq - v));
	addr[eq - v] = 0;
	if (fab_parse_ip4(addr, &p->vtep) || fab_parse_mac(eq + 1, p->mac) || (p->mac[0] & 1))
		return fail(err, err_len, "--peer '%s': expected VTEP=MAC, e.g. 192.0.2.2=02:00:00:00:00:02", v);
	cfg->n_peers++;
	return 0;
}

static int opt_endpoint(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)
{
	if (cfg->n_endpoints == FABRICD_MAX_STATIC_ENDPOINTS)
		return fail(err, err_len, "--endpoint: at most %d static endpoints",
			    FABRICD_MAX_STATIC_ENDPOINTS);
	if (fabricd_endpoint_parse(v, &cfg->endpoints[cfg->n_endpoints], err, err_len))
		return -1;
	cfg->n_endpoints++;
	return 0;
}

#define STRING_OPTION(fn, field, what)                                                      \
	static int fn(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)    \
	{                                                                                      \
		if (!*v || strlen(v) >= sizeof(field))                                         \
			return fail(err, err_len, "%s: expected %s", what,                     \
				    "a value shorter than the limit");                         \
		snprintf(field, sizeof(field), "%s", v);                                       \
		return 0;                                                                      \
	}

STRING_OPTION(opt_listen_tcp, cfg->listen_tcp, "--listen-tcp")
STRING_OPTION(opt_tls_ca, cfg->tls_ca, "--tls-ca")
STRING_OPTION(opt_tls_cert, cfg->tls_cert, "--tls-cert")
STRING_OPTION(opt_tls_key, cfg->tls_key, "--tls-key")
STRING_OPTION(opt_host_name, cfg->host_name, "--host-name")
STRING_OPTION(opt_metrics, cfg->metrics_listen, "--metrics-listen")
STRING_OPTION(opt_qemu_dir, cfg->qemu_dir, "--qemu-dir")

static int opt_listen(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)
{
	if (strncmp(v, "unix:", 5) != 0 || !v[5] || strlen(v + 5) >= sizeof(cfg->listen_unix))
		return fail(err, err_len, "--listen '%s': expected unix:PATH (remote controllers use "
					  "--listen-tcp with mutual TLS)", v);
	snprintf(cfg->listen_unix, sizeof(cfg->listen_unix), "%s", v + 5);
	return 0;
}

static int opt_allow_peer(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)
{
	if (cfg->n_allow_peers == 16 || !*v || strlen(v) >= sizeof(cfg->allow_peers[0]))
		return fail(err, err_len, "--allow-peer '%s': at most 16 names of under 128 bytes", v);
	snprintf(cfg->allow_peers[cfg->n_allow_peers++], sizeof(cfg->allow_peers[0]), "%s", v);
	return 0;
}

static int opt_config(struct fabricd_config *cfg, const char *v, char *err, size_t err_len);

static const struct option_def options[] = {
	{"config", "FILE", "read options from FILE: one 'name value' per line, '#' comments",
	 opt_config},
	{"vtep", "ADDR", "this host's underlay IPv4 address (required)", opt_vtep},
	{"vtep-mac", "MAC", "this host's underlay MAC (default: the uplink's)", opt_vtep_mac},
	{"uplink", "DEVARGS", "the underlay port, as DPDK devargs (required), e.g. "
			      "net_af_packet0,iface=eth1",
	 opt_uplink},
	{"vm-port", "NAME:VNI:DEVARGS", "a VM port in a VNI, e.g. vm1:100:net_tap0,iface=tapvm1, or "
					"vm1:100:net_vhost1,iface=/run/vm1.sock,queues=1 for QEMU's "
					"vhost-user (frames for a paused VM are then held; "
					"repeatable)",
	 opt_vm_port},
	{"peer", "VTEP=MAC", "a host of the fabric: VXLAN is accepted only from peers "
			     "(repeatable)",
	 opt_peer},
	{"endpoint", "SPEC", "a static endpoint: \"vni=N mac=MAC state=local|remote port=NAME|"
			     "vtep=ADDR gen=N [ip=ADDR]...\" (repeatable)",
	 opt_endpoint},
	{"max-endpoints", "N", "endpoint table size (default 65536)", opt_max_endpoints},
	{"max-addresses", "N", "addresses answered by the ARP/ND proxy, over all endpoints "
			       "(default: twice --max-endpoints)",
	 opt_max_addresses},
	{"workers", "N", "worker lcores (default 1); EAL needs N more lcores than the main one",
	 opt_workers},
	{"hold-frames", "N", "frames held per incoming VM before drops (default 1024)",
	 opt_hold_frames},
	{"hold-timeout-ms", "MS", "held frames older than this are dropped (default 2000)",
	 opt_hold_timeout},
	{"idle-sleep-us", "US", "longest sleep of an idle worker; 0 polls without sleeping "
				"(default 500)",
	 opt_idle_sleep},
	{"underlay-mtu", "N", "the underlay's IP MTU; larger VXLAN packets are dropped "
			      "(default 1500)",
	 opt_mtu},
	{"mbufs", "N", "packet buffers (default: sized from ports and hold queues)", opt_mbufs},
	{"stats-interval", "S", "print the counters every S seconds (default 0: never)",
	 opt_stats},
	{"listen", "unix:PATH", "the agent's local socket (default unix:/run/vmfabric/fabricd.sock)",
	 opt_listen},
	{"listen-tcp", "HOST:PORT", "also serve remote controllers over TCP, mutual TLS only",
	 opt_listen_tcp},
	{"tls-ca", "FILE", "CA certificate (PEM) that signs peers' certificates", opt_tls_ca},
	{"tls-cert", "FILE", "this host's certificate (PEM)", opt_tls_cert},
	{"tls-key", "FILE", "this host's private key (PEM)", opt_tls_key},
	{"allow-peer", "NAME", "a certificate identity (CN or SAN) allowed to change state over "
			       "TCP (repeatable); reading is open to any verified peer",
	 opt_allow_peer},
	{"metrics-listen", "ADDR:PORT", "serve the counters in the Prometheus text format at "
					"http://ADDR:PORT/metrics (default: off)",
	 opt_metrics},
	{"host-name", "NAME", "this host's name in the API (default: the system's host name)",
	 opt_host_name},
	{"qemu-dir", "DIR", "where the local QEMU guests' monitors are: the migration driver "
			    "reaches VM NAME at DIR/NAME.qmp (default /run/vmfabric/qemu)",
	 opt_qemu_dir},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static const struct option_def *find_option(const char *name)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

static int apply(struct fabricd_config *cfg, const char *name, const char *value, char *err,
		 size_t err_len)
{
	const struct option_def *o = find_option(name);

	if (!o)
		return fail(err, err_len, "unknown option '--%s' (fabricd --help lists them)", name);
	if (!value)
		return fail(err, err_len, "--%s needs a value: --%s %s", name, name, o->arg);
	return o->apply(cfg, value, err, err_len);
}

static int config_depth;

static int opt_config(struct fabricd_config *cfg, const char *v, char *err, size_t err_len)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	unsigned int lineno = 0;
	int ret = 0;

	if (config_depth > 4)
		return fail(err, err_len, "--config '%s': config files nest too deep", v);
	f = fopen(v, "r");
	if (!f)
		return fail(err, err_len, "--config '%s': %s", v, strerror(errno));
	config_depth++;
	while (ret == 0 && getline(&line, &cap, f) > 0) {
		char *name, *value, *end;
		char msg[384];

		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		name = line + strspn(line, " \t");
		if (!*name || *name == '#')
			continue;
		value = name + strcspn(name, " \t");
		if (*value)
			*value++ = 0;
		value += strspn(value, " \t");
		end = value + strlen(value);
		while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = 0;
		if (apply(cfg, name, *value ? value : NULL, msg, sizeof(msg)))
			ret = fail(err, err_len, "%s:%u: %s", v, lineno, msg);
	}
	config_depth--;
	free(line);
	fclose(f);
	return ret;
}

void fabricd_config_init(struct fabricd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	dpdk_config_defaults(&cfg->dp);
	snprintf(cfg->listen_unix, sizeof(cfg->listen_unix), "/run/vmfabric/fabricd.sock");
	snprintf(cfg->qemu_dir, sizeof(cfg->qemu_dir), "/run/vmfabric/qemu");
}

void fabricd_usage(FILE *out)
{
	fprintf(out, "usage: fabricd [EAL options] -- [options]\n\n"
		     "vmfabric's per-host daemon: the DPDK fast path that keeps migrating VMs\n"
		     "reachable. EAL options are DPDK's (e.g. --no-huge --no-pci -l 0-1\n"
		     "--file-prefix NAME); fabricd's own follow '--'. Every option may also be\n"
		     "written in a --config file as 'name value'.\n\noptions:\n");
	for (size_t i = 0; i < N_OPTIONS; i++) {
		char head[64];

		snprintf(head, sizeof(head), "--%s %s", options[i].name, options[i].arg);
		fprintf(out, "  %-26s %s\n", head, options[i].help);
	}
	fprintf(out, "  %-26s %s\n", "--help", "print this and exit");
	fprintf(out, "\nexample:\n  fabricd --no-huge --no-pci -m 256 -l 0-1 --file-prefix hostA -- \\\n"
		     "    --vtep 192.0.2.1 --uplink net_af_packet0,iface=underlay0 \\\n"
		     "    --vm-port vm1:100:net_af_packet1,iface=vm1 --peer 192.0.2.2=02:00:00:00:00:02\n");
}

int fabricd_config_args(struct fabricd_config *cfg, int argc, char **argv, char *err,
			size_t err_len)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *eq;
		char name[64];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fabricd_usage(stdout);
			return 1;
		}
		if (strncmp(a, "--", 2) != 0)
			return fail(err, err_len, "unexpected argument '%s' (options start with --)", a);
		eq = strchr(a + 2, '=');
		/* --name=value, or --name value. */
		if (eq && (size_t)(eq - a - 2) < sizeof(name)) {
			memcpy(name, a + 2, (size_t)(eq - a - 2));
			name[eq - a - 2] = 0;
		}
		if (eq && (size_t)(eq - a - 2) < sizeof(name) && find_option(name)) {
			if (apply(cfg, name, eq + 1, err, err_len))
				return -1;
			continue;
		}
		if (apply(cfg, a + 2, i + 1 < argc ? argv[i + 1] : NULL, err, err_len))
			return -1;
		i++;
	}
	return 0;
}

int fabricd_endpoint_parse(const char *spec, struct fabricd_endpoint *ep, char *err,
			   size_t err_len)
{
	static const char *const states[] = {"", "local", "remote", "incoming", "forwarding"};
	char buf[512], *save = NULL, *tok;
	unsigned long n;

	memset(ep, 0, sizeof(*ep));
	if (strlen(spec) >= sizeof(buf))
		return fail(err, err_len, "endpoint spec too long");
	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *v = strchr(tok, '=');

		if (!v)
			return fail(err, err_len, "endpoint '%s': '%s' is not key=value", spec, tok);
		*v++ = 0;
		if (strcmp(tok, "vni") == 0) {
			if (parse_uint(v, 1, FAB_VNI_MAX, &n))
				return fail(err, err_len, "endpoint: vni '%s' is not in 1..16777215", v);
			ep->key.vni = (uint32_t)n;
		} else if (strcmp(tok, "mac") == 0) {
			if (fab_parse_mac(v, ep->key.mac) || (ep->key.mac[0] & 1))
				return fail(err, err_len, "endpoint: mac '%s' is not a unicast MAC", v);
		} else if (strcmp(tok, "state") == 0) {
			ep->loc.state = 0;
			for (uint8_t i = FAB_EP_LOCAL; i <= FAB_EP_FORWARDING; i++)
				if (strcmp(v, states[i]) == 0)
					ep->loc.state = i;
			if (!ep->loc.state)
				return fail(err, err_len,
					    "endpoint: state '%s' is not local, remote, incoming or forwarding", v);
		} else if (strcmp(tok, "port") == 0) {
			if (!*v || strlen(v) >= sizeof(ep->port_name))
				return fail(err, err_len, "endpoint: bad port name '%s'", v);
			snprintf(ep->port_name, sizeof(ep->port_name), "%s", v);
		} else if (strcmp(tok, "vtep") == 0) {
			if (fab_parse_ip4(v, &ep->loc.vtep) || !ep->loc.vtep)
				return fail(err, err_len, "endpoint: vtep '%s' is not an IPv4 address", v);
		} else if (strcmp(tok, "gen") == 0) {
			char *end;

			errno = 0;
			ep->loc.generation = strtoull(v, &end, 10);
			if (errno || *end || !*v || *v == '-' || ep->loc.generation == 0)
				return fail(err, err_len, "endpoint: gen '%s' is not a number >= 1", v);
		} else if (strcmp(tok, "ip") == 0) {
			struct fab_ep_addrs *a = &ep->addrs;
			struct in6_addr a6;
			uint32_t a4;

			if (fab_parse_ip4(v, &a4) == 0) {
				if (a->n_ip4 == FAB_EP_MAX_IP4)
					return fail(err, err_len, "endpoint: at most %d IPv4 addresses", FAB_EP_MAX_IP4);
				a->ip4[a->n_ip4++] = a4;
			} else if (inet_pton(AF_INET6, v, &a6) == 1) {
				if (a->n_ip6 == FAB_EP_MAX_IP6)
					return fail(err, err_len, "endpoint: at most %d IPv6 addresses", FAB_EP_MAX_IP6);
				memcpy(a->ip6[a->n_ip6++], &a6, 16);
			} else {
				return fail(err, err_len, "endpoint: ip '%s' is not an IPv4 or IPv6 address", v);
			}
		} else {
			return fail(err, err_len, "endpoint: unknown key '%s' (vni, mac, state, port, vtep, gen, ip)", tok);
		}
	}
	if (!ep->key.vni || !(ep->key.mac[0] | ep->key.mac[1] | ep->key.mac[2] | ep->key.mac[3] |
			       ep->key.mac[4] | ep->key.mac[5]) || !ep->loc.state || !ep->loc.generation)
		return fail(err, err_len, "endpoint '%s': vni, mac, state and gen are required", spec);
	if ((ep->loc.state == FAB_EP_LOCAL || ep->loc.state == FAB_EP_INCOMING) != !!ep->port_name[0])
		return fail(err, err_len, "endpoint '%s': local and incoming take port=, the others don't", spec);
	if ((ep->loc.state == FAB_EP_REMOTE || ep->loc.state == FAB_EP_FORWARDING) != !!ep->loc.vtep)
		return fail(err, err_len, "endpoint '%s': remote and forwarding take vtep=, the others don't", spec);
	return 0;
}

int fabricd_config_check(const struct fabricd_config *cfg, char *err, size_t err_len)
{
	if (!cfg->dp.local_vtep)
		return fail(err, err_len, "--vtep is required: this host's underlay IPv4 address");
	if (!cfg->dp.uplink_devargs[0])
		return fail(err, err_len, "--uplink is required: the underlay port's DPDK devargs");
	for (unsigned int i = 0; i < cfg->n_peers; i++) {
		if (cfg->peers[i].vtep == cfg->dp.local_vtep)
			return fail(err, err_len, "--peer: %u.%u.%u.%u is this host's own --vtep",
				    cfg->peers[i].vtep >> 24, (cfg->peers[i].vtep >> 16) & 0xff,
				    (cfg->peers[i].vtep >> 8) & 0xff, cfg->peers[i].vtep & 0xff);
		for (unsigned int j = 0; j < i; j++)
			if (cfg->peers[j].vtep == cfg->peers[i].vtep)
				return fail(err, err_len, "--peer: VTEP %u.%u.%u.%u given twice",
					    cfg->peers[i].vtep >> 24, (cfg->peers[i].vtep >> 16) & 0xff,
					    (cfg->peers[i].vtep >> 8) & 0xff, cfg->peers[i].vtep & 0xff);
	}
	for (unsigned int i = 0; i < cfg->n_endpoints; i++) {
		const struct fabricd_endpoint *e = &cfg->endpoints[i];
		bool found = !e->port_name[0];

		for (unsigned int j = 0; j < cfg->dp.n_vm_ports && !found; j++)
			found = strcmp(cfg->dp.vm_ports[j].name, e->port_name) == 0;
		if (!found)
			return fail(err, err_len, "--endpoint: port '%s' is not a --vm-port", e->port_name);
	}
	if (cfg->listen_tcp[0] && (!cfg->tls_ca[0] || !cfg->tls_cert[0] || !cfg->tls_key[0]))
		return fail(err, err_len, "--listen-tcp needs --tls-ca, --tls-cert and --tls-key: "
					  "remote controllers are served over mutual TLS only");
	if (cfg->n_endpoints > cfg->dp.max_endpoints)
		return fail(err, err_len, "--max-endpoints %u is smaller than the %u static endpoints",
			    cfg->dp.max_endpoints, cfg->n_endpoints);
	return 0;
}
