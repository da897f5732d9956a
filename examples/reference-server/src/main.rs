//! `media-ha-server`: the reference server (`media-ha-server --help`). Everything is in the
//! library; see [`media_ha_server::run`].

/// mimalloc, not the system's malloc: the request path allocates many small strings and the
/// glibc allocator was a fifth of a replica's CPU under load (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    media_ha_server::run::main()
}
