"""Background jobs: each runs in its own process, recorded in the catalog from queued to finished."""
