"""Drives a media-ha reference server with a real Jellyfin client library.

Why a real client: our own tests send what we think Jellyfin clients send. This script uses
`jellyfin-apiclient-python` (the library behind Jellyfin for Kodi and jellyfin-mpv-shim, pinned
in requirements.txt) exactly as an application does -- connect, sign in, browse, ask for
playback info, report playback -- so whatever it really sends (lower-case paths, its own header
layout, its JSON key casing) reaches the server. tests/server_jellyfin_client.rs runs it with
the project's virtualenv and then checks the effects through the HTTP API.

Usage: drive.py BASE_URL USER PASSWORD

Prints one line `RESULT {json}` on stdout with what the client saw; exits 1 (after a
`RESULT {"error": ...}` line) when a step fails. The library's own logging goes to stderr.
"""

import json
import logging
import sys
import traceback

# Identifies this client in /Sessions; the Rust test looks for these values.
APP_NAME = "media-ha drive.py"
APP_VERSION = "1.0.0"
DEVICE_NAME = "drive-py"
DEVICE_ID = "drive-py-device"


def emit(result):
    print("RESULT " + json.dumps(result, sort_keys=True), flush=True)


def quiet_library_logging():
    """The library prints its log records to stdout at import; keep stdout for the result."""
    for name in ("Jellyfin", "JELLYFIN"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.setLevel(logging.WARNING)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)


class StepFailed(Exception):
    pass


def check(condition, what):
    if not condition:
        raise StepFailed(what)


def drive(base, user, password):
    from jellyfin_apiclient_python import JellyfinClient
    from jellyfin_apiclient_python.connection_manager import CONNECTION_STATE

    quiet_library_logging()
    out = {}
    client = JellyfinClient()
    client.config.app(APP_NAME, APP_VERSION, DEVICE_NAME, DEVICE_ID)
    client.config.data["auth.ssl"] = False

    # Connect: GET system/info/public (lower case, as the library spells it).
    state = client.auth.connect_to_address(base)
    out["connect_state"] = state["State"].name
    check(state["State"] == CONNECTION_STATE.ServerSignIn, "connect: %r" % state)
    out["server_name"] = state["Servers"][0]["Name"]

    # Sign in: POST Users/AuthenticateByName with {"username", "Pw"}.
    auth = client.auth.login(base, user, password)
    check(auth, "login returned nothing (see stderr)")
    out["user_id"] = auth["User"]["Id"]
    out["server_id"] = auth["ServerId"]
    out["access_token"] = auth["AccessToken"]
    api = client.jellyfin

    info = api.get_system_info_new()
    out["system_info_id"] = info["Id"]

    me = api.get_user()
    out["me_name"] = me["Name"]

    # Browse: the views, then every movie below the first one, one item per page.
    views = api.get_views()
    out["views"] = [v["Name"] for v in views["Items"]]
    out["views_total"] = views["TotalRecordCount"]
    root = views["Items"][0]["Id"]
    pages = []
    names = []
    total = None
    start = 0
    while total is None or start < total:
        page = api.get_user_items(
            parent_id=root,
            recursive=True,
            include_item_types="Movie",
            sort_by="SortName",
            sort_order="Ascending",
            start_index=start,
            limit=1,
            fields="MediaSources,Path",
            enable_total_record_count=True,
        )
        total = page["TotalRecordCount"]
        pages.append({"StartIndex": page["StartIndex"], "Count": len(page["Items"])})
        check(page["Items"], "page at %d is empty" % start)
        names.extend(i["Name"] for i in page["Items"])
        start += len(page["Items"])
        check(len(pages) <= 10, "paging does not end")
    out["movie_pages"] = pages
    out["movie_names"] = names
    out["movies_total"] = total

    found = api.search_media_items(term="alp", media="Movie")
    out["search_names"] = [i["Name"] for i in found["Items"]]
    check(found["Items"], "search found nothing")
    alpha = found["Items"][0]["Id"]
    out["alpha_id"] = alpha

    item = api.get_item(alpha)
    out["item_type"] = item["Type"]
    out["item_runtime_ticks"] = item["RunTimeTicks"]
    out["item_user_data_before"] = item["UserData"]

    # Playback info: POST Items/{id}/PlaybackInfo with the client's body.
    play = api.get_play_info(alpha)
    source = play["MediaSources"][0]
    out["play_session_id"] = play["PlaySessionId"]
    out["source_id"] = source["Id"]
    out["supports_direct_play"] = source["SupportsDirectPlay"]
    out["supports_direct_stream"] = source["SupportsDirectStream"]

    # The URL the library hands a player (ApiKey in the query), fetched like a player would.
    import requests

    url = api.video_url(alpha, media_source_id=source["Id"])
    resp = requests.get(url, headers={"Range": "bytes=0-99"}, timeout=30)
    out["stream_status"] = resp.status_code
    out["stream_bytes"] = len(resp.content)

    # Report playback: start, progress (paused at the middle), stop a bit later.
    runtime = item["RunTimeTicks"]
    report = {
        "ItemId": alpha,
        "MediaSourceId": source["Id"],
        "PlaySessionId": play["PlaySessionId"],
        "PlayMethod": "DirectPlay",
        "CanSeek": True,
        "PositionTicks": 0,
    }
    api.session_playing(report)
    progress = dict(report, PositionTicks=runtime // 3, IsPaused=True, EventName="pause")
    api.session_progress(progress)
    sessions = api.get_sessions()
    mine = [s for s in sessions if s.get("DeviceId") == DEVICE_ID]
    check(mine, "own session missing from /Sessions: %r" % sessions)
    out["session_client"] = mine[0]["Client"]
    out["session_now_playing"] = (mine[0].get("NowPlayingItem") or {}).get("Id")
    out["session_position"] = mine[0]["PlayState"].get("PositionTicks")
    out["session_paused"] = mine[0]["PlayState"].get("IsPaused")

    resume = api.get_resume_items()
    out["resume_ids"] = [i["Id"] for i in resume["Items"]]

    stopped_at = runtime // 2
    api.session_stop(dict(report, PositionTicks=stopped_at))
    out["stopped_at"] = stopped_at
    after = api.get_item(alpha)
    out["item_user_data_after"] = after["UserData"]

    # Mark the other movie played.
    beta = [n for n in names if n != item["Name"]]
    check(beta, "only one movie")
    beta_item = api.search_media_items(term=beta[0], media="Movie")["Items"][0]
    out["beta_id"] = beta_item["Id"]
    played = api.item_played(beta_item["Id"], True)
    out["beta_played"] = played["Played"]

    # Listings filtered on the user's marks (Filters=IsPlayed, IsUnplayed, IsFavorite).
    def movies(filters):
        page = api.get_user_items(
            recursive=True,
            include_item_types="Movie",
            sort_by="SortName",
            filters=filters,
            enable_total_record_count=True,
        )
        check(page["TotalRecordCount"] == len(page["Items"]), "total of %s" % filters)
        return [i["Name"] for i in page["Items"]]

    out["played_names"] = movies("IsPlayed")
    out["unplayed_names"] = movies("IsUnplayed")
    api.favorite(alpha)
    out["favorite_names"] = movies("IsFavorite")
    return out


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import jellyfin_apiclient_python  # noqa: F401
    except ImportError as e:
        emit({"error": "jellyfin-apiclient-python is not installed in %s: %s (run scripts/install-deps.sh)" % (sys.executable, e)})
        return 1
    try:
        emit(drive(argv[1], argv[2], argv[3]))
        return 0
    except Exception as e:  # report any failure as a result the test prints
        emit({"error": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()})
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
