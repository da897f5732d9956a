//! The transcode worker executable: reads a JSON `JobSpec` on stdin, writes JSON-line reports
//! on stdout. Started by `ha_transcode::worker::Supervisor`; see `ha_transcode::worker`.

fn main() {
    ha_transcode::worker::run_worker_main()
}
