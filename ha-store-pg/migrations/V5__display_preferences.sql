-- A user's display preferences per (id, client): the JSON document a client such as
-- jellyfin-web stores through DisplayPreferences/{id} (ha_core::DisplayPreferences). Text, not
-- jsonb: opaque here, read back byte for byte. Bounded by the application (documents per user
-- and bytes per document, checked under the user's row lock).
CREATE TABLE display_preferences (
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    prefs_id   text COLLATE "C" NOT NULL,
    client     text COLLATE "C" NOT NULL,
    prefs_json text NOT NULL,
    updated_ms bigint NOT NULL,
    PRIMARY KEY (user_id, prefs_id, client)
);
