"""ipywidgets panels for oms_kit: depends on oms_kit, never the other way."""
