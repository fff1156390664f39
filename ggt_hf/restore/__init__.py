"""The restore layer: restorer specs, the restorers they build, and the provenance of restored outputs."""
