/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rpc_server_poll's waiting: fabricd's control thread polls the server with no wait while
 * a migration runs (it must read QEMU's monitor within a millisecond), and with a short
 * wait otherwise. A poll that waits until the next RPC would stall a switchover until a
 * client happens to call.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "rpc.h"

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "rpc_server_poll did not return: it waited for an RPC\n";
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static struct rpc_server *start(char *path, size_t len)
{
	struct rpc_server *s = NULL;
	struct rpc_server_config cfg = {0};
	char err[256];

	snprintf(path, len, "/tmp/vmf-rpc-poll-%d.sock", (int)getpid());
	cfg.unix_path = path;
	assert_int_equal(rpc_server_start(&s, &cfg, err, sizeof(err)), 0);
	return s;
}

/* No client, nothing pending: a zero-timeout poll returns at once, a short one after its
 * timeout. (The alarm only catches a poll that never returns.) */
static void test_poll_does_not_wait_for_rpcs(void **state)
{
	char path[64];
	struct rpc_server *s = start(path, sizeof(path));

	(void)state;
	signal(SIGALRM, on_alarm);
	alarm(5);
	for (int i = 0; i < 100; i++)
		assert_int_equal(rpc_server_poll(s, 0), 0);
	assert_int_equal(rpc_server_poll(s, 10), 0);
	alarm(0);
	rpc_server_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poll_does_not_wait_for_rpcs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
