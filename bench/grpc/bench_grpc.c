/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control plane's speed, measured from a gRPC client against a running fabricd:
 *   updates   endpoints per second through UpsertEndpoints (streamed batches of 1000),
 *             first creating N endpoints, then moving all of them (a newer generation);
 *   unary     latency of sequential UpsertEndpoint calls, p50 and p99.
 * The listing of the flow table is timed by run.sh with the real fabricctl.
 *
 *   bench_grpc TARGET N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fabric/v1/agent.pb-c.h"
#include "rpc.h"

#define PER_MESSAGE 1000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct endpoint_buf {
	Fabric__V1__Endpoint ep;
	char mac[18];
	char ip[16];
	char *ips[1];
};

/* Endpoint i: a remote VM in VNI 100 + i / 65536, one address. */
static void make(struct endpoint_buf *b, uint32_t i, uint64_t gen, const char *vtep)
{
	fabric__v1__endpoint__init(&b->ep);
	snprintf(b->mac, sizeof(b->mac), "52:54:%02x:%02x:%02x:%02x", (i >> 24) & 0xff,
		 (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
	snprintf(b->ip, sizeof(b->ip), "10.%u.%u.%u", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
	b->ips[0] = b->ip;
	b->ep.vni = 100 + i / 65536;
	b->ep.mac = b->mac;
	b->ep.state = FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_REMOTE;
	b->ep.vtep = (char *)vtep;
	b->ep.generation = gen;
	/* One address per endpoint; the address table holds two per endpoint. */
	b->ep.n_ipv4_addresses = 1;
	b->ep.ipv4_addresses = b->ips;
}

static double upload(struct rpc_client *c, uint32_t n, uint64_t gen, const char *vtep)
{
	static struct endpoint_buf bufs[PER_MESSAGE];
	static Fabric__V1__Endpoint *ptrs[PER_MESSAGE];
	struct rpc_stream *st;
	struct rpc_result res;
	ProtobufCMessage *resp;
	double t0 = now_s();

	if (rpc_client_upload_open(c, "/fabric.v1.Agent/UpsertEndpoints", 600000, &st, &res)) {
		fprintf(stderr, "bench_grpc: upload: %s\n", res.message);
		exit(1);
	}
	for (uint32_t base = 0; base < n; base += PER_MESSAGE) {
		Fabric__V1__UpsertEndpointsRequest req = FABRIC__V1__UPSERT_ENDPOINTS_REQUEST__INIT;
		uint32_t k = n - base < PER_MESSAGE ? n - base : PER_MESSAGE;

		for (uint32_t j = 0; j < k; j++) {
			make(&bufs[j], base + j, gen, vtep);
			ptrs[j] = &bufs[j].ep;
		}
		req.n_endpoints = k;
		req.endpoints = ptrs;
		if (rpc_client_upload_send(st, &req.base, &res)) {
			fprintf(stderr, "bench_grpc: upload refused: %s: %s\n", rpc_status_name(res.status),
				res.message);
			exit(1);
		}
	}
	if (rpc_client_upload_finish(st, &fabric__v1__upsert_endpoints_response__descriptor, &resp,
				     &res)) {
		fprintf(stderr, "bench_grpc: batch refused: %s: %s\n", rpc_status_name(res.status),
			res.message);
		exit(1);
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return now_s() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	struct rpc_client *c;
	char err[256];
	uint32_t n;
	double create_s, move_s;
	enum { CALLS = 2000 };
	static double lat[CALLS];

	if (argc != 3 || (n = (uint32_t)strtoul(argv[2], NULL, 10)) == 0) {
		fprintf(stderr, "usage: bench_grpc TARGET N\n");
		return 2;
	}
	if (rpc_client_open(&c, argv[1], NULL, NULL, err, sizeof(err))) {
		fprintf(stderr, "bench_grpc: %s\n", err);
		return 1;
	}
	create_s = upload(c, n, 1, "192.0.2.2");
	move_s = upload(c, n, 2, "192.0.2.3");
	printf("# %u endpoints created in %.2f s, moved in %.2f s\n", n, create_s, move_s);
	printf("BENCH endpoint_creates_per_s %.0f 1/s\n", n / create_s);
	printf("BENCH endpoint_updates_per_s %.0f 1/s\n", n / move_s);

	for (int i = 0; i < CALLS; i++) {
		struct endpoint_buf b;
		Fabric__V1__UpsertEndpointRequest req = FABRIC__V1__UPSERT_ENDPOINT_REQUEST__INIT;
		struct rpc_result res;
		ProtobufCMessage *resp;
		double t0 = now_s();

		make(&b, (uint32_t)i, 3, "192.0.2.4");
		req.endpoint = &b.ep;
		if (rpc_client_unary(c, "/fabric.v1.Agent/UpsertEndpoint", &req.base,
				     &fabric__v1__upsert_endpoint_response__descriptor, &resp, 10000,
				     &res)) {
			fprintf(stderr, "bench_grpc: unary: %s\n", res.message);
			return 1;
		}
		lat[i] = (now_s() - t0) * 1e6;
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	qsort(lat, CALLS, sizeof(lat[0]), cmp_double);
	printf("BENCH unary_p50_us %.0f us\n", lat[CALLS / 2]);
	printf("BENCH unary_p99_us %.0f us\n", lat[CALLS * 99 / 100]);
	rpc_client_close(c);
	return 0;
}
