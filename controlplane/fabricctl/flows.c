/* SPDX-License-Identifier: Apache-2.0 */
/* fabricctl flows: the flow table, as a sorted table or streamed JSON. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fabric/v1/agent.pb-c.h"
#include "fabricctl.h"

struct row {
	uint32_t vni;
	char mac[18];
	char ips[96];
	int state;
	char where[40];
	uint64_t gen, packets, bytes, drops, last_seen;
};

static const char *state_name(int s)
{
	static const char *const names[] = {"?", "local", "remote", "incoming", "forwarding"};

	return s >= 0 && s <= 4 ? names[s] : "?";
}

int parse_state_name(const char *s);
int parse_state_name(const char *s)
{
	for (int i = 1; i <= 4; i++)
		if (strcmp(s, state_name(i)) == 0)
			return i;
	return -1;
}

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->vni != y->vni)
		return x->vni < y->vni ? -1 : 1;
	return strcmp(x->mac, y->mac);
}

void human_count(uint64_t v, char *out, size_t len)
{
	if (v < 10000)
		snprintf(out, len, "%llu", (unsigned long long)v);
	else if (v < 10000000)
		snprintf(out, len, "%.1fK", (double)v / 1e3);
	else if (v < 10000000000ull)
		snprintf(out, len, "%.1fM", (double)v / 1e6);
	else
		snprintf(out, len, "%.1fG", (double)v / 1e9);
}

static void ago(uint64_t ns, char *out, size_t len)
{
	struct timespec ts;
	uint64_t now;

	if (!ns) {
		snprintf(out, len, "-");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (ns >= now)
		snprintf(out, len, "now");
	else if (now - ns < 60000000000ull)
		snprintf(out, len, "%llus ago", (unsigned long long)((now - ns) / 1000000000ull));
	else if (now - ns < 3600000000000ull)
		snprintf(out, len, "%llum ago", (unsigned long long)((now - ns) / 60000000000ull));
	else
		snprintf(out, len, "%lluh ago", (unsigned long long)((now - ns) / 3600000000000ull));
}

static void row_from(const Fabric__V1__Flow *f, struct row *r)
{
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	r->vni = f->vni;
	snprintf(r->mac, sizeof(r->mac), "%s", f->mac);
	for (size_t i = 0; i < f->n_ipv4_addresses + f->n_ipv6_addresses && off < sizeof(r->ips); i++) {
		const char *ip = i < f->n_ipv4_addresses ? f->ipv4_addresses[i]
							 : f->ipv6_addresses[i - f->n_ipv4_addresses];

		off += (size_t)snprintf(r->ips + off, sizeof(r->ips) - off, "%s%s", i ? "," : "", ip);
	}
	if (!r->ips[0])
		snprintf(r->ips, sizeof(r->ips), "-");
	r->state = f->state;
	if (f->port_name && *f->port_name)
		snprintf(r->where, sizeof(r->where), "port %s", f->port_name);
	else
		snprintf(r->where, sizeof(r->where), "host %s", f->vtep ? f->vtep : "?");
	r->gen = f->generation;
	r->packets = f->packets;
	r->bytes = f->bytes;
	r->drops = f->drops;
	r->last_seen = f->last_seen_unix_ns;
}

static void json_row(FILE *out, const Fabric__V1__Flow *f, bool first)
{
	fprintf(out, "%s\n  {\"vni\": %u, \"mac\": ", first ? "" : ",", f->vni);
	json_string(out, f->mac);
	fputs(", \"ips\": [", out);
	for (size_t i = 0; i < f->n_ipv4_addresses + f->n_ipv6_addresses; i++) {
		fputs(i ? ", " : "", out);
		json_string(out, i < f->n_ipv4_addresses ? f->ipv4_addresses[i]
							  : f->ipv6_addresses[i - f->n_ipv4_addresses]);
	}
	fprintf(out, "], \"state\": \"%s\", ", state_name(f->state));
	if (f->port_name && *f->port_name) {
		fputs("\"port\": ", out);
		json_string(out, f->port_name);
	} else {
		fputs("\"vtep\": ", out);
		json_string(out, f->vtep);
	}
	fprintf(out, ", \"generation\": %llu, \"packets\": %llu, \"bytes\": %llu, \"drops\": %llu, "
		     "\"last_seen_unix_ns\": %llu}",
		(unsigned long long)f->generation, (unsigned long long)f->packets,
		(unsigned long long)f->bytes, (unsigned long long)f->drops,
		(unsigned long long)f->last_seen_unix_ns);
}

static void print_table(struct row *rows, size_t n)
{
	qsort(rows, n, sizeof(*rows), row_cmp);
	printf("%-8s %-17s %-24s %-10s %-20s %5s %9s %9s %7s %s\n", "VNI", "MAC", "IPS", "STATE",
	       "LOCATION", "GEN", "PACKETS", "BYTES", "DROPS", "LAST-SEEN");
	for (size_t i = 0; i < n; i++) {
		char p[16], b[16], d[16], seen[24];

		human_count(rows[i].packets, p, sizeof(p));
		human_count(rows[i].bytes, b, sizeof(b));
		human_count(rows[i].drops, d, sizeof(d));
		ago(rows[i].last_seen, seen, sizeof(seen));
		printf("%-8u %-17s %-24s %-10s %-20s %5llu %9s %9s %7s %s\n", rows[i].vni, rows[i].mac,
		       rows[i].ips, state_name(rows[i].state), rows[i].where,
		       (unsigned long long)rows[i].gen, p, b, d, seen);
	}
	printf("%zu endpoint%s\n", n, n == 1 ? "" : "s");
}

/* One listing: streams the pages; JSON goes out as it comes, a table once sorted. */
static int list_once(struct ctl *ctl, const Fabric__V1__ListFlowsRequest *req)
{
	struct rpc_stream *st;
	struct rpc_result res;
	ProtobufCMessage *msg;
	struct row *rows = NULL;
	size_t n = 0, cap = 0;
	bool first = true;
	int r;

	if (rpc_client_stream_open(ctl->client, "/fabric.v1.Agent/ListFlows", &req->base, 0, &st, &res))
		return ctl_fail("flows", &res);
	if (ctl->json)
		fputs("[", stdout);
	while ((r = rpc_client_stream_next(st, &fabric__v1__list_flows_response__descriptor, &msg,
					   &res)) == 1) {
		const Fabric__V1__ListFlowsResponse *page = (const void *)msg;

		for (size_t i = 0; i < page->n_flows; i++) {
			if (ctl->json) {
				json_row(stdout, page->flows[i], first);
				first = false;
				continue;
			}
			if (n == cap) {
				struct row *grown;

				cap = cap ? cap * 2 : 1024;
				grown = realloc(rows, cap * sizeof(*rows));
				if (!grown) {
					free(rows);
					protobuf_c_message_free_unpacked(msg, NULL);
					rpc_client_stream_close(st);
					fprintf(stderr, "fabricctl: flows: out of memory\n");
					return EXIT_REFUSED;
				}
				rows = grown;
			}
			row_from(page->flows[i], &rows[n++]);
		}
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	rpc_client_stream_close(st);
	if (r < 0) {
		if (ctl->json)
			fputs("\n]\n", stdout);
		free(rows);
		return ctl_fail("flows", &res);
	}
	if (ctl->json)
		fputs(first ? "]\n" : "\n]\n", stdout);
	else
		print_table(rows, n);
	free(rows);
	return EXIT_OK;
}

int cmd_flows(struct ctl *ctl, int argc, char **argv)
{
	Fabric__V1__ListFlowsRequest req = FABRIC__V1__LIST_FLOWS_REQUEST__INIT;
	int watch = 0, ret;

	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (opt_is(argv[i], "json")) {
			ctl->json = true;
		} else if (opt_is(argv[i], "watch")) {
			watch = 2;
			if (v && v[0] != '-') {
				watch = atoi(v);
				if (watch <= 0)
					return ctl_usage_error("flows --watch takes seconds > 0, not '%s'", v);
				i++;
			}
		} else if (opt_is(argv[i], "vni") && v) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			if (*end || n < 1 || n > 16777215)
				return ctl_usage_error("flows --vni '%s': a VNI is 1..16777215", v);
			req.vni = (uint32_t)n;
			i++;
		} else if (opt_is(argv[i], "mac") && v) {
			req.mac = (char *)v;
			i++;
		} else if (opt_is(argv[i], "state") && v) {
			int s = parse_state_name(v);

			if (s < 0)
				return ctl_usage_error("flows --state '%s': local, remote, incoming or "
						       "forwarding",
						       v);
			req.state = (Fabric__V1__EndpointState)s;
			i++;
		} else {
			return ctl_usage_error("flows: unexpected '%s' (fabricctl flows --help)", argv[i]);
		}
	}
	ret = ctl_connect(ctl);
	if (ret)
		return ret;
	if (!watch)
		return list_once(ctl, &req);
	for (;;) {
		/* Refresh in place: home the cursor and clear, then the new table. */
		fputs("\033[H\033[2J", stdout);
		ret = list_once(ctl, &req);
		fflush(stdout);
		if (ret)
			return ret;
		sleep((unsigned int)watch);
	}
}
