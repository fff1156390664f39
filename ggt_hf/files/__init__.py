"""Files and folders: crash-safe writes, safe walking, output-folder rules, locks, metadata and config files."""
