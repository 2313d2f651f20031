/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vector.h"

struct vec_reader {
	const char *path;
	unsigned int line;
	char *err;
	size_t err_len;
};

__attribute__((format(printf, 2, 3))) static int fail(struct vec_reader *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, r->err_len, "%s:%u: ", r->path, r->line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < r->err_len)
		vsnprintf(r->err + n, r->err_len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int parse_mac(const char *s, uint8_t *mac)
{
	unsigned int b[6];
	char extra;

	if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
			 &extra) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -1;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int parse_ip4(const char *s, uint32_t *ip)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -1;
	*ip = ntohl(a.s_addr);
	return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || *end ? -1 : 0;
}

static int parse_hex(const char *s, uint8_t *buf, size_t cap, size_t *len)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int v;

		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		buf[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

static const struct vec_port *find_port(const struct vec_case *c, const char *name)
{
	for (unsigned int i = 0; i < c->n_ports; i++)
		if (strcmp(c->ports[i].name, name) == 0)
			return &c->ports[i];
	return NULL;
}

/* "uplink" or a declared VM port. */
static int port_index(struct vec_reader *r, const struct vec_case *c, const char *name,
		      uint16_t *index)
{
	const struct vec_port *p;

	if (name && strcmp(name, "uplink") == 0) {
		*index = VEC_UPLINK_INDEX;
		return 0;
	}
	p = name ? find_port(c, name) : NULL;
	if (!p)
		return fail(r, "unknown port '%s' (declare it with 'port' first)", name ? name : "");
	*index = p->index;
	return 0;
}

static int parse_state(const char *s)
{
	static const char *const names[] = {
		[FAB_EP_LOCAL] = "local",
		[FAB_EP_REMOTE] = "remote",
		[FAB_EP_INCOMING] = "incoming",
		[FAB_EP_FORWARDING] = "forwarding",
	};

	for (int i = FAB_EP_LOCAL; i <= FAB_EP_FORWARDING; i++)
		if (s && strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static int parse_endpoint(struct vec_reader *r, struct vec_case *c, char **save)
{
	struct vec_endpoint *e;
	char *key, *val;
	uint64_t v;

	if (c->n_endpoints == VEC_MAX_ENDPOINTS)
		return fail(r, "more than %d endpoints", VEC_MAX_ENDPOINTS);
	e = &c->endpoints[c->n_endpoints];
	memset(e, 0, sizeof(*e));
	while ((key = strtok_r(NULL, " \t", save))) {
		val = strtok_r(NULL, " \t", save);
		if (!val)
			return fail(r, "'%s' needs a value", key);
		if (strcmp(key, "vni") == 0) {
			if (parse_u64(val, &v) || v == 0 || v > FAB_VNI_MAX)
				return fail(r, "bad vni '%s'", val);
			e->vni = (uint32_t)v;
		} else if (strcmp(key, "mac") == 0) {
			if (parse_mac(val, e->mac))
				return fail(r, "bad mac '%s'", val);
		} else if (strcmp(key, "state") == 0) {
			int s = parse_state(val);

			if (s < 0)
				return fail(r, "bad state '%s'", val);
			e->loc.state = (uint8_t)s;
		} else if (strcmp(key, "port") == 0) {
			if (port_index(r, c, val, &e->loc.port))
				return -1;
		} else if (strcmp(key, "vtep") == 0) {
			if (parse_ip4(val, &e->loc.vtep))
				return fail(r, "bad vtep '%s'", val);
		} else if (strcmp(key, "gen") == 0) {
			if (parse_u64(val, &e->loc.generation) || e->loc.generation == 0)
				return fail(r, "bad gen '%s'", val);
		} else if (strcmp(key, "ip") == 0) {
			if (strchr(val, ':')) {
				if (e->n_ip6 == VEC_MAX_IPS || inet_pton(AF_INET6, val, e->ip6[e->n_ip6]) != 1)
					return fail(r, "bad or too many ipv6 '%s'", val);
				e->n_ip6++;
			} else {
				if (e->n_ip4 == VEC_MAX_IPS || parse_ip4(val, &e->ip4[e->n_ip4]))
					return fail(r, "bad or too many ipv4 '%s'", val);
				e->n_ip4++;
			}
		} else {
			return fail(r, "unknown endpoint field '%s'", key);
		}
	}
	if (!e->vni || !fab_ep_location_valid(&e->loc))
		return fail(r, "endpoint needs vni, mac, state, gen and a port or vtep");
	c->n_endpoints++;
	return 0;
}

static int parse_line(struct vec_reader *r, struct vec_case *c, char *line, int *have_in)
{
	char *save = NULL;
	char *word = strtok_r(line, " \t", &save);
	char *a = NULL, *b = NULL, *d = NULL, *e = NULL;
	uint64_t v;

	if (!word)
		return 0;
	if (strcmp(word, "endpoint") == 0)
		return parse_endpoint(r, c, &save);
	a = strtok_r(NULL, " \t", &save);
	b = strtok_r(NULL, " \t", &save);
	d = strtok_r(NULL, " \t", &save);
	e = strtok_r(NULL, " \t", &save);

	if (strcmp(word, "host") == 0) {
		if (!a || strcmp(a, "vtep") || parse_ip4(b, &c->host.vtep) || !d || strcmp(d, "mac") ||
		    parse_mac(e, c->host.mac))
			return fail(r, "expected 'host vtep IP mac MAC'");
	} else if (strcmp(word, "peer") == 0) {
		struct vec_peer *p = &c->peers[c->n_peers];

		if (c->n_peers == VEC_MAX_PEERS)
			return fail(r, "more than %d peers", VEC_MAX_PEERS);
		if (parse_ip4(a, &p->vtep) || !b || strcmp(b, "mac") || parse_mac(d, p->mac))
			return fail(r, "expected 'peer IP mac MAC'");
		c->n_peers++;
	} else if (strcmp(word, "port") == 0) {
		struct vec_port *p = &c->ports[c->n_ports];
		uint64_t vni;
		char *f = strtok_r(NULL, " \t", &save);

		if (c->n_ports == VEC_MAX_PORTS)
			return fail(r, "more than %d ports", VEC_MAX_PORTS);
		if (!a || strlen(a) >= sizeof(p->name) || strcmp(a, "uplink") == 0 || find_port(c, a) ||
		    !b || strcmp(b, "index") || parse_u64(d, &v) || v == 0 || v > 0xfffe || !e ||
		    strcmp(e, "vni") || parse_u64(f, &vni) || vni == 0 || vni > FAB_VNI_MAX)
			return fail(r, "expected 'port NAME index N vni VNI' with a new name");
		snprintf(p->name, sizeof(p->name), "%s", a);
		p->index = (uint16_t)v;
		p->vni = (uint32_t)vni;
		c->n_ports++;
	} else if (strcmp(word, "in") == 0) {
		if (*have_in)
			return fail(r, "a case has one 'in'");
		if (port_index(r, c, a, &c->in_port) || parse_hex(b, c->in, sizeof(c->in), &c->in_len))
			return fail(r, "expected 'in PORT HEX'");
		*have_in = 1;
	} else if (strcmp(word, "out") == 0 || strcmp(word, "hold") == 0) {
		c->expect = word[0] == 'o' ? VEC_EXPECT_OUT : VEC_EXPECT_HOLD;
		if (port_index(r, c, a, &c->expect_port) ||
		    parse_hex(b, c->out, sizeof(c->out), &c->out_len))
			return fail(r, "expected '%s PORT HEX'", word);
		*have_in |= 2;
	} else if (strcmp(word, "activate") == 0) {
		c->expect = VEC_EXPECT_ACTIVATE;
		if (port_index(r, c, a, &c->expect_port))
			return -1;
		*have_in |= 2;
	} else if (strcmp(word, "drop") == 0) {
		c->expect = VEC_EXPECT_DROP;
		c->expect_drop = a ? fab_drop_from_name(a) : -1;
		if (c->expect_drop <= 0)
			return fail(r, "unknown drop reason '%s'", a ? a : "");
		*have_in |= 2;
	} else if (strcmp(word, "tohost") == 0) {
		c->expect = VEC_EXPECT_TOHOST;
		*have_in |= 2;
	} else {
		return fail(r, "unknown directive '%s'", word);
	}
	return 0;
}

int vec_load(const char *path, struct vec_case *c, char *err, size_t err_len)
{
	struct vec_reader r = {.path = path, .err = err, .err_len = err_len};
	const char *base = strrchr(path, '/');
	char *line = NULL;
	size_t cap = 0;
	int have = 0, ret = 0;
	FILE *f;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", base ? base + 1 : path);
	f = fopen(path, "r");
	if (!f)
		return fail(&r, "cannot open: %s", strerror(errno));
	while (ret == 0 && getline(&line, &cap, f) > 0) {
		r.line++;
		line[strcspn(line, "\r\n")] = 0;
		if (line[0] == '#') {
			if (!c->comment[0])
				snprintf(c->comment, sizeof(c->comment), "%s", line + 1 + (line[1] == ' '));
			continue;
		}
		ret = parse_line(&r, c, line, &have);
	}
	free(line);
	fclose(f);
	if (ret == 0 && !c->host.vtep)
		ret = fail(&r, "no 'host' line");
	if (ret == 0 && have != 3)
		ret = fail(&r, "a case needs one 'in' and one expectation");
	return ret;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int vec_list(const char *dir, char ***paths)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **list = NULL;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **grown;

		if (len < 5 || strcmp(de->d_name + len - 4, ".vec"))
			continue;
		grown = realloc(list, sizeof(*list) * (size_t)(n + 1));
		if (!grown || asprintf(&grown[n], "%s/%s", dir, de->d_name) < 0) {
			list = grown ? grown : list;
			vec_list_free(list, n);
			closedir(d);
			errno = ENOMEM;
			return -1;
		}
		list = grown;
		n++;
	}
	closedir(d);
	if (n)
		qsort(list, (size_t)n, sizeof(*list), cmp_str);
	*paths = list;
	return n;
}

void vec_list_free(char **paths, int n)
{
	for (int i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

const char *vec_port_name(const struct vec_case *c, uint16_t index)
{
	if (index == VEC_UPLINK_INDEX)
		return "uplink";
	for (unsigned int i = 0; i < c->n_ports; i++)
		if (c->ports[i].index == index)
			return c->ports[i].name;
	return "?";
}
