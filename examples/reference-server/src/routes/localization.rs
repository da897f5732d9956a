//! `/Localization/{Cultures,Countries,ParentalRatings,Options}`: the lists jellyfin-web's
//! settings pages fill their drop-downs from (language preferences, display language).
//!
//! Why short fixed lists: this server has no metadata providers, so cultures and countries only
//! feed client preferences, and ratings are never attached to items. The lists are well-formed
//! and real (ISO 639 / ISO 3166 codes), not Jellyfin's full tables.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::state::AppState;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Localization/Cultures", get(cultures))
        .route("/Localization/Countries", get(countries))
        .route("/Localization/ParentalRatings", get(parental_ratings))
        .route("/Localization/Options", get(options))
}

/// (display name, ISO 639-1, ISO 639-2/B codes).
const CULTURES: [(&str, &str, &[&str]); 12] = [
    ("Arabic", "ar", &["ara"]),
    ("Chinese", "zh", &["chi", "zho"]),
    ("Dutch", "nl", &["dut", "nld"]),
    ("English", "en", &["eng"]),
    ("French", "fr", &["fre", "fra"]),
    ("German", "de", &["ger", "deu"]),
    ("Italian", "it", &["ita"]),
    ("Japanese", "ja", &["jpn"]),
    ("Korean", "ko", &["kor"]),
    ("Portuguese", "pt", &["por"]),
    ("Russian", "ru", &["rus"]),
    ("Spanish", "es", &["spa"]),
];

/// The name of a language by its ISO 639-1 or 639-2 code (any case), for the cultures above.
pub fn language_name(code: &str) -> Option<&'static str> {
    CULTURES
        .iter()
        .find(|(_, two, threes)| {
            two.eq_ignore_ascii_case(code) || threes.iter().any(|t| t.eq_ignore_ascii_case(code))
        })
        .map(|(name, _, _)| *name)
}

/// (display name, ISO 3166-1 alpha-2, alpha-3).
const COUNTRIES: [(&str, &str, &str); 12] = [
    ("Australia", "AU", "AUS"),
    ("Brazil", "BR", "BRA"),
    ("Canada", "CA", "CAN"),
    ("China", "CN", "CHN"),
    ("France", "FR", "FRA"),
    ("Germany", "DE", "DEU"),
    ("Italy", "IT", "ITA"),
    ("Japan", "JP", "JPN"),
    ("Netherlands", "NL", "NLD"),
    ("Spain", "ES", "ESP"),
    ("United Kingdom", "GB", "GBR"),
    ("United States", "US", "USA"),
];

async fn cultures(_caller: Caller) -> Json<Vec<Value>> {
    Json(
        CULTURES
            .iter()
            .map(|(name, two, three)| {
                json!({
                    "Name": name,
                    "DisplayName": name,
                    "TwoLetterISOLanguageName": two,
                    "ThreeLetterISOLanguageName": three[0],
                    "ThreeLetterISOLanguageNames": three,
                })
            })
            .collect(),
    )
}

async fn countries(_caller: Caller) -> Json<Vec<Value>> {
    Json(
        COUNTRIES
            .iter()
            .map(|(name, two, three)| {
                json!({
                    "Name": two,
                    "DisplayName": name,
                    "TwoLetterISORegionName": two,
                    "ThreeLetterISORegionName": three,
                })
            })
            .collect(),
    )
}

/// The US ratings with Jellyfin's scores (no item carries a rating here; clients list them
/// for parental-control settings).
async fn parental_ratings(_caller: Caller) -> Json<Vec<Value>> {
    let ratings = [
        ("G", 0),
        ("PG", 10),
        ("PG-13", 13),
        ("R", 17),
        ("NC-17", 18),
    ];
    Json(
        ratings
            .iter()
            .map(|(name, value)| json!({ "Name": name, "Value": value }))
            .collect(),
    )
}

/// The display languages offered (the web client ships its own translations).
async fn options(_caller: Caller) -> Json<Vec<Value>> {
    Json(
        CULTURES
            .iter()
            .map(|(name, two, _)| json!({ "Name": name, "Value": two }))
            .collect(),
    )
}
