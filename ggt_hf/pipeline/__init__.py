"""The GGT build pipeline: configuration, stages, executors and the end-of-run report."""
