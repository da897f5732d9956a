//! Playback decision: can this client play this file as is, or must we remux or transcode?
//!
//! The client describes itself with Jellyfin's `DeviceProfile` JSON ([`DeviceProfile`], read
//! leniently); the file is described by its stored [`MediaProbe`](crate::probe::MediaProbe).
//! [`decide`] returns a [`PlaybackDecision`]: the cheapest [`PlayMethod`] that works, the
//! Jellyfin [`TranscodeReason`]s, and for a remux or transcode a [`TranscodeTarget`] saying
//! which streams to copy and what to encode. Clients that send no profile get
//! [`DeviceProfile::web_browser`].
//!
//! Why pure: the decision runs on every play request on any replica, must give the same answer
//! everywhere (the output profile is part of the shared job key), and has many rules; so it is
//! plain data in, plain data out, tested table by table without files.
//!
//! | file | what |
//! |---|---|
//! | `profile.rs` | [`DeviceProfile`] and its parts, Jellyfin's JSON shape |
//! | `lenient.rs` | serde helpers: comma lists, numbers in strings, unknown enum values |
//! | `names.rs` | container and codec aliases (`m4v` = `mp4`, `h265` = `hevc`) |
//! | `condition.rs` | evaluating `Conditions` against a probe |
//! | `reason.rs` | [`TranscodeReason`] |
//! | `decide.rs` | [`decide`] and its result types |
//! | `builtin.rs` | [`DeviceProfile::web_browser`], the default |

mod builtin;
mod condition;
mod decide;
pub(crate) mod lenient;
pub(crate) mod names;
mod profile;
mod reason;

pub use builtin::default_transcoding_profile;
pub use condition::reason_for;
pub use decide::{
    decide, DecideOptions, PlayMethod, PlaybackDecision, SubtitleDelivery, TranscodeTarget,
};
pub use lenient::NameList;
pub use profile::{
    CodecProfile, CodecType, ConditionProperty, ConditionType, ContainerProfile, DeviceProfile,
    DirectPlayProfile, EncodingContext, MediaKind, ProfileCondition, SubtitleMethod,
    SubtitleProfile, TranscodingProfile,
};
pub use reason::TranscodeReason;
