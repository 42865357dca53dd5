/*
 * misfit.c — libraries that `aex plugin install` must refuse, one per switch
 * (Tests/e2e/test_plugins.py builds each variant):
 *
 *   -DMISFIT_NAME='"echo"'                   a name another plugin already has
 *   -DMISFIT_PROVIDES='"openai_compatible"'  a provider type another plugin already serves
 *   -DMISFIT_NAME='""'                       an empty self-description (no name)
 *   -DMISFIT_PROVIDES='""'                   an empty self-description (provides nothing)
 *   -DMISFIT_ABI_MAJOR=2                     a table for ABI 2.x
 *   -DMISFIT_ABI_MINOR=99                    a table for ABI 1.99, newer than any host
 *   -DMISFIT_ABORT                           a constructor that aborts the process loading it
 *   -DMISFIT_HANG                            a constructor that never returns
 *   -DMISFIT_NO_ENTRY                        no aex_plugin_entry at all
 *
 * Without a switch it is a well-formed provider plugin `misfit` (type `misfit`, version 0.0.1) that
 * answers every call with a fixed local chat.completion, so that a refusal is known to come from the
 * switch. Plain C99, libc only.
 *
 * Build: cc -std=c99 -shared -fPIC -Wall -Wextra -Werror -I Sources/AEXPluginAPI/include \
 *           [-DMISFIT_...] -o libmisfit.so Tests/e2e/plugins/misfit.c
 */
#define _POSIX_C_SOURCE 200809L

#include "aex_plugin.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MISFIT_NAME
#define MISFIT_NAME "misfit"
#endif
#ifndef MISFIT_PROVIDES
#define MISFIT_PROVIDES "misfit"
#endif
#ifndef MISFIT_ABI_MAJOR
#define MISFIT_ABI_MAJOR AEX_PLUGIN_ABI_MAJOR
#endif
#ifndef MISFIT_ABI_MINOR
#define MISFIT_ABI_MINOR AEX_PLUGIN_ABI_MINOR
#endif

#ifdef MISFIT_ABORT
__attribute__((constructor)) static void misfit_abort_on_load(void) { abort(); }
#endif

#ifdef MISFIT_HANG
__attribute__((constructor)) static void misfit_hang_on_load(void)
{
    for (;;) sleep(1000);
}
#endif

#ifdef MISFIT_NO_ENTRY

/* Something to export, so that the library is an ordinary shared library without the entry. */
int misfit_not_an_entry(void);
int misfit_not_an_entry(void) { return 0; }

#else

static const aex_host_table *misfit_host;

static aex_bytes cstr(const char *s)
{
    aex_bytes b = {(const uint8_t *)s, strlen(s)};
    return b;
}

static int32_t misfit_build_request(const aex_call *call, aex_output *out)
{
    static const char answer[] =
        "{\"id\":\"chatcmpl-misfit\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"misfit\","
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"misfit\"},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}";
    if (!misfit_host || !call || !out) return AEX_STATUS_ERROR;
    misfit_host->set_local_response(out, 200, cstr("application/json"));
    misfit_host->set_body(out, cstr(answer));
    misfit_host->set_usage(out, 1, 1);
    return AEX_STATUS_OK;
}

static const aex_plugin_table misfit_table = {
    sizeof(aex_plugin_table),
    MISFIT_ABI_MAJOR,
    MISFIT_ABI_MINOR,
    AEX_PLUGIN_KIND_PROVIDER,
    MISFIT_NAME,
    "0.0.1",
    MISFIT_PROVIDES,
    misfit_build_request,
    NULL,
    NULL,
};

const aex_plugin_table *aex_plugin_entry(const aex_host_table *host);

/* Accepts the host as a correct plugin would; what is wrong is in the table it returns. */
const aex_plugin_table *aex_plugin_entry(const aex_host_table *host)
{
    if (host == NULL || host->abi_major != AEX_PLUGIN_ABI_MAJOR) return NULL;
    misfit_host = host;
    return &misfit_table;
}

#endif
