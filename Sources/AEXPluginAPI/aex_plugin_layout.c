/* Pins the ABI's layout at compile time. Exports no symbols (see the ABI rules in the header). */
#include "aex_plugin.h"

_Static_assert(sizeof(aex_bytes) == 16, "aex_bytes layout changed");
_Static_assert(offsetof(aex_host_table, struct_size) == 0, "host table must start with struct_size");
_Static_assert(offsetof(aex_host_table, abi_major) == 4, "host table abi_major moved");
_Static_assert(offsetof(aex_host_table, abi_minor) == 6, "host table abi_minor moved");
_Static_assert(offsetof(aex_host_table, log) == 8, "host table log moved");
_Static_assert(sizeof(aex_host_table) == 16, "host table 1.0 size changed");
_Static_assert(offsetof(aex_plugin_table, struct_size) == 0, "plugin table must start with struct_size");
_Static_assert(offsetof(aex_plugin_table, abi_major) == 4, "plugin table abi_major moved");
_Static_assert(offsetof(aex_plugin_table, abi_minor) == 6, "plugin table abi_minor moved");
_Static_assert(offsetof(aex_plugin_table, kind) == 8, "plugin table kind moved");
_Static_assert(offsetof(aex_plugin_table, name) == 16, "plugin table name moved");
_Static_assert(offsetof(aex_plugin_table, version) == 24, "plugin table version moved");
_Static_assert(offsetof(aex_plugin_table, provides) == 32, "plugin table provides moved");
_Static_assert(sizeof(aex_plugin_table) == 40, "plugin table 1.0 size changed");
