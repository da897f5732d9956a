// The official TypeScript SDK (@jellyfin/sdk 1.0, unchanged, from npm) against a running
// reference server, as an app built on it would use it. Run by tests/server_sdk_client.rs:
//   node flow.mjs   with MEDIA_HA_BASE (http://127.0.0.1:PORT), MEDIA_HA_USER, MEDIA_HA_PW
// Every step checks what it got; the first failed check throws (exit status 1, the reason on
// stderr). On success the last stdout line is a JSON summary the Rust test reads.
import assert from 'node:assert/strict';
import { Jellyfin, RecommendedServerInfoScore } from '@jellyfin/sdk';
import { getLibraryApi } from '@jellyfin/sdk/lib/utils/api/library-api.js';
import { getMediaInfoApi } from '@jellyfin/sdk/lib/utils/api/media-info-api.js';
import { getSessionApi } from '@jellyfin/sdk/lib/utils/api/session-api.js';
import { getUserApi } from '@jellyfin/sdk/lib/utils/api/user-api.js';
import { getUserDataApi } from '@jellyfin/sdk/lib/utils/api/user-data-api.js';

const base = process.env.MEDIA_HA_BASE;
const user = process.env.MEDIA_HA_USER;
const pw = process.env.MEDIA_HA_PW;
assert.ok(base && user && pw, 'MEDIA_HA_BASE, MEDIA_HA_USER and MEDIA_HA_PW are required');

const summary = {};
const jellyfin = new Jellyfin({
  clientInfo: { name: 'media-ha sdk test', version: '1.0.0' },
  deviceInfo: { name: 'node', id: 'media-ha-sdk-test' },
});

// Discovery: the SDK grades every address candidate of what a person typed; ours must come out
// as the best, graded GOOD or better (GREAT needs the SDK's own API version, 13.0.0, which no
// 10.x server reports: that is the SDK's VersionOutdatedIssue and nothing else).
const candidates = await jellyfin.discovery.getRecommendedServerCandidates(base);
const best = jellyfin.discovery.findBestServer(candidates);
assert.ok(best, `no server found among the candidates of ${base}`);
const issues = best.issues.map((i) => i.constructor.name);
summary.discovery = { address: best.address, score: best.score, issues };
assert.ok(best.score >= RecommendedServerInfoScore.GOOD, `graded ${best.score}: ${issues}`);
assert.deepEqual(issues.filter((i) => i !== 'VersionOutdatedIssue'), [], 'only the SDK-version note');
assert.equal(best.systemInfo.ProductName, 'Jellyfin Server');

// Sign in.
const api = jellyfin.createApi(best.address);
const auth = await api.authenticateUserByName(user, pw);
const userId = auth.data.User.Id;
const token = api.accessToken;
assert.ok(userId && token, 'signed in');

// Browse with list parameters as the SDK sends them: repeated keys.
const library = getLibraryApi(api);
const all = await library.getItems({
  userId,
  recursive: true,
  includeItemTypes: ['Movie', 'Video'],
  sortBy: ['SortName'],
  fields: ['MediaSources'],
});
const names = all.data.Items.map((i) => i.Name);
summary.browse = names;
assert.deepEqual(names, ['Alpha', 'Beta'], 'both films, by name');
assert.ok(all.data.Items.every((i) => i.MediaSources?.length > 0), 'fields=MediaSources honoured');
const [alpha, beta] = all.data.Items;
const byIds = await library.getItems({ userId, ids: [alpha.Id, beta.Id] });
assert.equal(byIds.data.Items.length, 2, 'ids=a&ids=b: both');

// Item detail with its media sources and streams.
const detail = (await library.getItem({ itemId: beta.Id, userId })).data;
const streams = detail.MediaSources?.[0]?.MediaStreams ?? [];
assert.ok(streams.some((s) => s.Type === 'Video'), `a video stream: ${JSON.stringify(streams)}`);
assert.ok(streams.some((s) => s.Type === 'Audio'), 'an audio stream');

// PlaybackInfo for a device that only takes H.264 over HLS: a transcode, its master playlist.
const playSessionId = `sdk-${Date.now()}`;
const info = (await getMediaInfoApi(api).getPostedPlaybackInfo({
  itemId: beta.Id,
  userId,
  playbackInfoDto: {
    UserId: userId,
    DeviceProfile: {
      DirectPlayProfiles: [],
      TranscodingProfiles: [{
        Container: 'ts', Type: 'Video', VideoCodec: 'h264', AudioCodec: 'aac',
        Protocol: 'hls', Context: 'Streaming',
      }],
    },
  },
})).data;
const source = info.MediaSources[0];
assert.ok(source.TranscodingUrl, `a transcoding URL: ${JSON.stringify(source)}`);
const master = await api.axiosInstance.get(`${api.basePath}${source.TranscodingUrl}`, {
  headers: { Authorization: api.authorizationHeader },
  responseType: 'text',
});
assert.equal(master.status, 200);
assert.match(master.data, /^#EXTM3U/, 'an HLS master playlist');
summary.hls = source.TranscodingUrl.split('?')[0];

// Play-state reports: start, progress, stop half way (a resume point).
const sessions = getSessionApi(api);
const position = Math.round((detail.RunTimeTicks ?? 30_000_000) / 2);
const report = { ItemId: beta.Id, MediaSourceId: source.Id, PlaySessionId: info.PlaySessionId ?? playSessionId };
assert.equal((await sessions.reportPlaybackStart({ playbackStartInfo: { ...report, PositionTicks: 0 } })).status, 204);
assert.equal((await sessions.reportPlaybackProgress({ playbackProgressInfo: { ...report, PositionTicks: position } })).status, 204);
assert.equal((await sessions.reportPlaybackStopped({ playbackStopInfo: { ...report, PositionTicks: position } })).status, 204);

// The resume row has it at that position.
const resume = (await library.getResumeItems({ userId })).data.Items;
const resumed = resume.find((i) => i.Id === beta.Id);
assert.ok(resumed, `Beta in the resume row: ${JSON.stringify(resume.map((i) => i.Name))}`);
assert.equal(resumed.UserData.PlaybackPositionTicks, position);
summary.resume_ticks = position;

// Played and favourite marks, and the filters on them.
const marks = getUserDataApi(api);
assert.ok((await marks.markPlayedItem({ itemId: alpha.Id, userId })).data.Played);
assert.ok((await marks.markFavoriteItem({ itemId: beta.Id, userId })).data.IsFavorite);
const list = async (q) => (await library.getItems({ userId, recursive: true, includeItemTypes: ['Movie', 'Video'], sortBy: ['SortName'], ...q })).data.Items.map((i) => i.Name);
assert.deepEqual(await list({ isPlayed: true }), ['Alpha'], 'isPlayed=true');
assert.deepEqual(await list({ isPlayed: false }), ['Beta'], 'isPlayed=false');
assert.deepEqual(await list({ isFavorite: true }), ['Beta'], 'isFavorite=true');

// Sign out: the token no longer works.
assert.equal((await api.logout()).status, 204);
const stale = jellyfin.createApi(best.address, token);
const after = await getUserApi(stale).getCurrentUser().then((r) => r.status, (e) => e.response?.status);
assert.equal(after, 401, 'a call after sign-out');
summary.after_sign_out = after;

console.log(JSON.stringify(summary));
