/* SPDX-License-Identifier: Apache-2.0 */
/* The generated API code links and round-trips, and the wire enums keep the numbers of
 * the forwarding core's (an operator's tooling sees the same state numbers everywhere). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fab_endpoint.h"
#include "fabric/v1/agent.pb-c.h"
#include "fabric/v1/types.pb-c.h"

_Static_assert((int)FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_LOCAL == (int)FAB_EP_LOCAL, "state");
_Static_assert((int)FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_REMOTE == (int)FAB_EP_REMOTE, "state");
_Static_assert((int)FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_INCOMING == (int)FAB_EP_INCOMING, "state");
_Static_assert((int)FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_FORWARDING == (int)FAB_EP_FORWARDING,
	       "state");
_Static_assert((int)FABRIC__V1__ENDPOINT_STEP__ENDPOINT_STEP_ACTIVATE == (int)FAB_STEP_ACTIVATE + 1, "step");
_Static_assert((int)FABRIC__V1__ENDPOINT_STEP__ENDPOINT_STEP_DELETE == (int)FAB_STEP_DELETE + 1, "step");

static void test_endpoint_round_trip(void **state)
{
	Fabric__V1__Endpoint ep = FABRIC__V1__ENDPOINT__INIT;
	char *ip4[] = {"10.0.0.1"};
	char *ip6[] = {"fd00::1"};
	Fabric__V1__Endpoint *back;
	uint8_t buf[512];
	size_t len;

	(void)state;
	ep.vni = 100;
	ep.mac = "52:54:00:00:00:01";
	ep.state = FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_INCOMING;
	ep.generation = 9;
	ep.n_ipv4_addresses = 1;
	ep.ipv4_addresses = ip4;
	ep.n_ipv6_addresses = 1;
	ep.ipv6_addresses = ip6;
	len = fabric__v1__endpoint__get_packed_size(&ep);
	assert_true(len < sizeof(buf));
	assert_int_equal(fabric__v1__endpoint__pack(&ep, buf), len);
	back = fabric__v1__endpoint__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->vni, 100);
	assert_string_equal(back->mac, "52:54:00:00:00:01");
	assert_int_equal(back->state, FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_INCOMING);
	assert_int_equal(back->generation, 9);
	assert_int_equal(back->n_ipv6_addresses, 1);
	assert_string_equal(back->ipv6_addresses[0], "fd00::1");
	fabric__v1__endpoint__free_unpacked(back, NULL);
	/* Garbage does not crash the decoder: it is refused. */
	memset(buf, 0xff, 16);
	assert_null(fabric__v1__endpoint__unpack(NULL, 16, buf));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_round_trip),
	};

	return cmocka_run_group_tests_name("api_schema", tests, NULL, NULL);
}
