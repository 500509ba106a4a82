"""Background tasks of a gateway process: active health probes of the
deployments, and breaker-state sync between replicas. ``Services`` starts them
once everything they watch is built, and cancels them on shutdown."""
