//! Media pipeline of media-ha: probe, playback decision, isolated transcode worker (software and Intel QSV), segment-exact HLS.
