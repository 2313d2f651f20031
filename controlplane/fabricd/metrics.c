/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_telemetry.h>

#include "metrics.h"

struct metrics {
	int fd;
	struct fabric *fab;
	char buf[65536];
};

size_t metrics_render(struct fabric *fab, char *buf, size_t len)
{
	struct fab_host_stats st;
	size_t n = 0;

#define OUT(...)                                                                               \
	do {                                                                                   \
		int w_ = snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__);                \
		if (w_ > 0)                                                                    \
			n += (size_t)w_;                                                       \
	} while (0)

	fabric_stats(fab, &st);
	OUT("# HELP vmfabric_frames_total Frames the fast path handled, by what happened to them.\n"
	    "# TYPE vmfabric_frames_total counter\n");
	for (unsigned int i = 0; i < FAB_CTR__COUNT; i++)
		OUT("vmfabric_frames_total{counter=\"%s\"} %llu\n", fab_counter_name(i),
		    (unsigned long long)st.counters[i]);
	OUT("# HELP vmfabric_drops_total Frames dropped, by reason.\n"
	    "# TYPE vmfabric_drops_total counter\n");
	for (unsigned int i = 1; i < FAB_DROP__COUNT; i++)
		OUT("vmfabric_drops_total{reason=\"%s\"} %llu\n", fab_drop_name(i),
		    (unsigned long long)st.drops[i]);
	OUT("# HELP vmfabric_endpoints Endpoints this host knows.\n# TYPE vmfabric_endpoints gauge\n"
	    "vmfabric_endpoints %u\n"
	    "# HELP vmfabric_endpoint_capacity Endpoints the tables hold at most.\n"
	    "# TYPE vmfabric_endpoint_capacity gauge\nvmfabric_endpoint_capacity %u\n"
	    "# HELP vmfabric_hosts Peer hosts this host accepts VXLAN from.\n"
	    "# TYPE vmfabric_hosts gauge\nvmfabric_hosts %u\n",
	    st.endpoints, st.endpoint_capacity, st.hosts);
#undef OUT
	return n < len ? n : len;
}

int metrics_start(struct metrics **out, const char *where, struct fabric *fab, char *err,
		  size_t err_len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char host[64];
	const char *colon = strrchr(where, ':');
	struct metrics *m;
	int one = 1, port;

	if (!colon || (size_t)(colon - where) >= sizeof(host) || (port = atoi(colon + 1)) <= 0 ||
	    port > 65535)
		return snprintf(err, err_len, "--metrics-listen '%s': expected ADDRESS:PORT", where), -1;
	memcpy(host, where, (size_t)(colon - where));
	host[colon - where] = 0;
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return snprintf(err, err_len, "--metrics-listen '%s': '%s' is not an IPv4 address",
				where, host),
		       -1;
	sa.sin_port = htons((uint16_t)port);
	m = calloc(1, sizeof(*m));
	if (!m)
		return snprintf(err, err_len, "out of memory"), -1;
	m->fab = fab;
	m->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(m->fd, 16)) {
		snprintf(err, err_len, "--metrics-listen %s: %s", where, strerror(errno));
		if (m->fd >= 0)
			close(m->fd);
		free(m);
		return -1;
	}
	*out = m;
	return 0;
}

void metrics_poll(struct metrics *m)
{
	int fd;

	if (!m)
		return;
	/* One scrape at a time, a few per loop at most: the control thread must not stall. */
	for (int i = 0; i < 4 && (fd = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0; i++) {
		char req[1024], head[160];
		struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
		ssize_t got;
		size_t body;
		int hl;

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		got = recv(fd, req, sizeof(req) - 1, 0);
		if (got <= 0) {
			close(fd);
			continue;
		}
		req[got] = 0;
		if (strncmp(req, "GET /metrics", 12) != 0) {
			static const char nf[] = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n"
						 "Content-Length: 22\r\n\r\nonly /metrics is here\n";

			if (send(fd, nf, sizeof(nf) - 1, MSG_NOSIGNAL) < 0)
				got = 0;
			close(fd);
			continue;
		}
		body = metrics_render(m->fab, m->buf, sizeof(m->buf));
		hl = snprintf(head, sizeof(head),
			      "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
			      "Content-Length: %zu\r\n\r\n",
			      body);
		if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) == hl)
			send(fd, m->buf, body, MSG_NOSIGNAL);
		close(fd);
	}
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	close(m->fd);
	free(m);
}

/* Telemetry callbacks run in EAL's telemetry thread: they read only the workers'
 * counters (single-writer 64-bit words, read atomically), never the control thread's
 * tables. */
static struct fabric *telemetry_fab;

static int tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct fab_host_stats st;

	(void)cmd;
	(void)params;
	fabric_stats(telemetry_fab, &st);
	rte_tel_data_start_dict(d);
	for (unsigned int i = 0; i < FAB_CTR__COUNT; i++)
		rte_tel_data_add_dict_u64(d, fab_counter_name(i), st.counters[i]);
	return 0;
}

static int tel_drops(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct fab_host_stats st;

	(void)cmd;
	(void)params;
	fabric_stats(telemetry_fab, &st);
	rte_tel_data_start_dict(d);
	for (unsigned int i = 1; i < FAB_DROP__COUNT; i++)
		rte_tel_data_add_dict_u64(d, fab_drop_name(i), st.drops[i]);
	return 0;
}

void metrics_register_telemetry(struct fabric *fab)
{
	telemetry_fab = fab;
	rte_telemetry_register_cmd("/fabric/stats", tel_stats,
				   "vmfabric: frames by what happened to them. Takes no parameters.");
	rte_telemetry_register_cmd("/fabric/drops", tel_drops,
				   "vmfabric: dropped frames by reason. Takes no parameters.");
}
