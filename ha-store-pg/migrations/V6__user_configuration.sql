-- A user's configuration (ha_core::UserConfiguration): the JSON document the server keeps for
-- Jellyfin's UserConfiguration, one per user, deleted with the user. Text, not jsonb: opaque
-- here, read back byte for byte; its size is bounded by the application.
CREATE TABLE user_configuration (
    user_id     text COLLATE "C" PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    config_json text NOT NULL,
    updated_ms  bigint NOT NULL
);
