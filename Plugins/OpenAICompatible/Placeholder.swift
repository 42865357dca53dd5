// Replaced by the plugin's implementation.
