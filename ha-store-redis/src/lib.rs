//! Redis backends for the media-ha contracts: fenced leases, transcode jobs, sessions, events and slots.
