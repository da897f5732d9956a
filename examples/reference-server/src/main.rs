//! `media-ha-server`: the reference server (`media-ha-server --help`). Everything is in the
//! library; see [`media_ha_server::run`].

fn main() -> std::process::ExitCode {
    media_ha_server::run::main()
}
