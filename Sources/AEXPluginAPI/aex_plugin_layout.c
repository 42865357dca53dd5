/* Pins the ABI's layout at compile time. Exports no symbols (see the ABI rules in the header). */
#include "aex_plugin.h"

_Static_assert(sizeof(aex_bytes) == 16, "aex_bytes layout changed");

_Static_assert(offsetof(aex_call, struct_size) == 0, "call must start with struct_size");
_Static_assert(offsetof(aex_call, endpoint) == 4, "call endpoint moved");
_Static_assert(offsetof(aex_call, body) == 8, "call body moved");
_Static_assert(offsetof(aex_call, model_alias) == 24, "call model_alias moved");
_Static_assert(offsetof(aex_call, provider_model) == 40, "call provider_model moved");
_Static_assert(offsetof(aex_call, provider_type) == 56, "call provider_type moved");
_Static_assert(offsetof(aex_call, max_output_tokens) == 72, "call max_output_tokens moved");
_Static_assert(offsetof(aex_call, stream) == 80, "call stream moved");
_Static_assert(offsetof(aex_call, include_stream_usage) == 81, "call include_stream_usage moved");
_Static_assert(offsetof(aex_call, stream_state) == 88, "call stream_state moved");
_Static_assert(sizeof(aex_call) == 104, "call 1.3 size changed");

_Static_assert(offsetof(aex_host_table, struct_size) == 0, "host table must start with struct_size");
_Static_assert(offsetof(aex_host_table, abi_major) == 4, "host table abi_major moved");
_Static_assert(offsetof(aex_host_table, abi_minor) == 6, "host table abi_minor moved");
_Static_assert(offsetof(aex_host_table, log) == 8, "host table log moved");
_Static_assert(offsetof(aex_host_table, set_upstream) == 16, "host table set_upstream moved");
_Static_assert(offsetof(aex_host_table, add_upstream_header) == 24, "host table add_upstream_header moved");
_Static_assert(offsetof(aex_host_table, set_body) == 32, "host table set_body moved");
_Static_assert(offsetof(aex_host_table, set_local_response) == 40, "host table set_local_response moved");
_Static_assert(offsetof(aex_host_table, set_usage) == 48, "host table set_usage moved");
_Static_assert(offsetof(aex_host_table, set_error) == 56, "host table set_error moved");
_Static_assert(offsetof(aex_host_table, emit) == 64, "host table emit moved");
_Static_assert(offsetof(aex_host_table, set_cost) == 72, "host table set_cost moved");
_Static_assert(offsetof(aex_host_table, set_stream_state) == 80, "host table set_stream_state moved");
_Static_assert(offsetof(aex_host_table, end_stream) == 88, "host table end_stream moved");
_Static_assert(sizeof(aex_host_table) == 96, "host table 1.3 size changed");

_Static_assert(offsetof(aex_plugin_table, struct_size) == 0, "plugin table must start with struct_size");
_Static_assert(offsetof(aex_plugin_table, abi_major) == 4, "plugin table abi_major moved");
_Static_assert(offsetof(aex_plugin_table, abi_minor) == 6, "plugin table abi_minor moved");
_Static_assert(offsetof(aex_plugin_table, kind) == 8, "plugin table kind moved");
_Static_assert(offsetof(aex_plugin_table, name) == 16, "plugin table name moved");
_Static_assert(offsetof(aex_plugin_table, version) == 24, "plugin table version moved");
_Static_assert(offsetof(aex_plugin_table, provides) == 32, "plugin table provides moved");
_Static_assert(offsetof(aex_plugin_table, build_request) == 40, "plugin table build_request moved");
_Static_assert(offsetof(aex_plugin_table, translate_response) == 48, "plugin table translate_response moved");
_Static_assert(offsetof(aex_plugin_table, translate_stream_event) == 56, "plugin table translate_stream_event moved");
_Static_assert(offsetof(aex_plugin_table, tools) == 64, "plugin table tools moved");
_Static_assert(offsetof(aex_plugin_table, run_tool) == 72, "plugin table run_tool moved");
_Static_assert(offsetof(aex_plugin_table, key_header) == 80, "plugin table key_header moved");
_Static_assert(offsetof(aex_plugin_table, flags) == 88, "plugin table flags moved");
_Static_assert(sizeof(aex_plugin_table) == 96, "plugin table 1.3 size changed");

_Static_assert(offsetof(aex_tool_call, struct_size) == 0, "tool call must start with struct_size");
_Static_assert(offsetof(aex_tool_call, tool_name) == 8, "tool call tool_name moved");
_Static_assert(offsetof(aex_tool_call, arguments) == 24, "tool call arguments moved");
_Static_assert(offsetof(aex_tool_call, context) == 40, "tool call context moved");
_Static_assert(sizeof(aex_tool_call) == 56, "tool call 1.2 size changed");
