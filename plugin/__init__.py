"""Desktop glue: plugin entry, layer loading and styling, map tools, settings, credentials."""
