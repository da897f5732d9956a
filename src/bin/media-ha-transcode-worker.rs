//! The transcode worker as a stand-alone executable of the facade package (feature
//! `transcode`): reads a JSON `JobSpec` on stdin, writes JSON-line reports on stdout. Servers
//! that cannot re-execute themselves in worker mode point their supervisor at this binary.

fn main() {
    media_ha::transcode::worker::run_worker_main()
}
