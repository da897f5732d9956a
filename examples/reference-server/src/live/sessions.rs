//! The session list a `SessionsStart` subscriber receives (what `GET /Sessions` answers).

use media_ha::core::User;
use serde_json::Value;

use crate::dto::{session_dto, BaseItemDto};
use crate::error::ApiResult;
use crate::routes::items::user_data;
use crate::state::AppState;

/// Every live session for an administrator; the user's own otherwise.
///
/// # Errors
/// When a store cannot be read.
pub async fn session_list(state: &AppState, user: &User) -> ApiResult<Vec<Value>> {
    let mut out = Vec::new();
    for session in state.stores.sessions.list().await? {
        if !user.is_admin && session.user_id != user.id {
            continue;
        }
        let now_playing = match &session.now_playing {
            Some(np) => match state.stores.metadata.get_item(&np.item_id).await? {
                Some(item) => {
                    let data = user_data(state, &session.user_id, &item.id).await?;
                    Some(BaseItemDto::new(&item, &state.server_id, &data))
                }
                None => None,
            },
            None => None,
        };
        out.push(session_dto(&session, &state.server_id, now_playing));
    }
    Ok(out)
}
