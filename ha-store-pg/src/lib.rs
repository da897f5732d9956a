//! PostgreSQL backends for the media-ha contracts: metadata, leases, transcode jobs, sessions and events.
