//! The reference server as the process-level tests spawn it: exactly `media-ha-server`'s
//! `main` ([`media_ha_server::run::main`]), built by cargo as a target of this package so that
//! `cargo test` always rebuilds it with the code under test.

fn main() -> std::process::ExitCode {
    media_ha_server::run::main()
}
