//! The render node QSV uses comes from `MEDIA_HA_RENDER_NODE` (the server sets it on its
//! workers from `--render-node`). Its own test binary: it sets a process-wide variable.

use ha_transcode::worker::{qsv_status, render_node, ProbeStage, QsvStatus, RENDER_NODE_ENV};

#[test]
fn the_configured_render_node_is_the_one_probed() {
    let node = "/nonexistent/dri/renderD129";
    std::env::set_var(RENDER_NODE_ENV, node);
    assert_eq!(render_node(), std::path::Path::new(node));
    match qsv_status() {
        QsvStatus::Unavailable { stage, reason } => {
            assert_eq!(*stage, ProbeStage::RenderNode);
            assert!(reason.contains(node), "{reason}");
        }
        QsvStatus::Available => panic!("a render node that does not exist cannot be available"),
    }
    std::env::set_var(RENDER_NODE_ENV, "");
    assert_eq!(
        render_node(),
        std::path::Path::new(ha_transcode::worker::DEFAULT_RENDER_NODE),
        "empty means the default"
    );
}
