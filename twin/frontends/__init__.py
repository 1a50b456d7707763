"""Front ends: the ways people and programs drive the core (CLI tools, TUI, runners)."""
