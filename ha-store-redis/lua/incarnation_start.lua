-- Answers the start of this Redis incarnation in µs (incarnation.lua, prepended by
-- src/scripts.rs), as a decimal string. The store caches it for lease_acquire.lua, which would
-- otherwise pay for an INFO call on every acquire.
return string.format('%.0f', incarnation_start_us())
