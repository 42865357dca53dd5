/*
 * aex_plugin.h — the whole ABI between the AEX host and its plugins.
 *
 * Rules (kept for every 1.x version):
 *   - This header includes only <stdint.h>, <stddef.h> and <stdbool.h>.
 *   - A plugin exports exactly one function, AEX_PLUGIN_ENTRY_SYMBOL.
 *   - The host table and the plugin table both begin with struct_size, abi_major and abi_minor,
 *     and only ever grow at the end; every addition bumps AEX_PLUGIN_ABI_MINOR.
 *   - A plugin built for ABI 1.x loads in every host 1.y with y >= x.
 *   - Every pointer that crosses the boundary has its owner written next to it; nothing is freed
 *     on the other side. No allocator, exception or error crosses the boundary.
 *
 * Version 1.0 holds the versioning preamble and the self-description. Provider and tool hooks are
 * appended by later minor versions.
 */
#ifndef AEX_PLUGIN_H
#define AEX_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AEX_PLUGIN_ABI_MAJOR 1
#define AEX_PLUGIN_ABI_MINOR 0

/** Name of the one function every plugin exports. */
#define AEX_PLUGIN_ENTRY_SYMBOL "aex_plugin_entry"

typedef enum {
    AEX_PLUGIN_KIND_PROVIDER = 1,
    AEX_PLUGIN_KIND_TOOL = 2,
} aex_plugin_kind;

/** A borrowed view of bytes. Owner: whoever passes it; valid for the duration of the call. */
typedef struct {
    const uint8_t *bytes;
    size_t length;
} aex_bytes;

/** Functions the host offers to a plugin. Owner: the host; valid until the process exits. */
typedef struct aex_host_table {
    uint32_t struct_size; /* sizeof(aex_host_table) as the host was built */
    uint16_t abi_major;
    uint16_t abi_minor;
    /* 1.0: the host writes one line to its log. `message` is borrowed for the call. */
    void (*log)(const struct aex_host_table *host, int32_t level, aex_bytes message);
} aex_host_table;

/** A plugin's description of itself. Owner: the plugin (static storage); never freed. */
typedef struct aex_plugin_table {
    uint32_t struct_size; /* sizeof(aex_plugin_table) as the plugin was built */
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t kind;            /* aex_plugin_kind */
    const char *name;         /* NUL-terminated, static: e.g. "openai-compatible" */
    const char *version;      /* NUL-terminated, static: e.g. "0.1.0" */
    const char *provides;     /* NUL-terminated, static: comma-separated provider types or tools */
} aex_plugin_table;

/**
 * The entry point. `host` is borrowed and outlives the plugin. Returns the plugin's static table,
 * or NULL when the plugin cannot work with this host (for example, a host ABI major it lacks).
 */
typedef const aex_plugin_table *(*aex_plugin_entry_fn)(const aex_host_table *host);

#ifdef __cplusplus
}
#endif

#endif /* AEX_PLUGIN_H */
