/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>

#include "fab_counters.h"

struct fab_named {
	const char *name;
	const char *help;
};

static const struct fab_named drop_names[FAB_DROP__COUNT] = {
#define FAB_X_NAME(sym, num, name, help) [num] = {name, help},
	FAB_DROP_REASONS(FAB_X_NAME)
#undef FAB_X_NAME
};

static const struct fab_named counter_names[FAB_CTR__COUNT] = {
#define FAB_X_NAME(sym, num, name, help) [num] = {name, help},
	FAB_COUNTERS(FAB_X_NAME)
#undef FAB_X_NAME
};

const char *fab_drop_name(unsigned int reason)
{
	return reason < FAB_DROP__COUNT ? drop_names[reason].name : NULL;
}

const char *fab_drop_help(unsigned int reason)
{
	return reason < FAB_DROP__COUNT ? drop_names[reason].help : NULL;
}

int fab_drop_from_name(const char *name)
{
	for (unsigned int i = 0; i < FAB_DROP__COUNT; i++)
		if (drop_names[i].name && strcmp(drop_names[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

const char *fab_counter_name(unsigned int counter)
{
	return counter < FAB_CTR__COUNT ? counter_names[counter].name : NULL;
}
