// What hls.js does while a segment is not ready yet, for each way a server can answer: the
// measurement behind the server's segment wait (docs/RELIABILITY.md, "A segment request never
// outlasts the player").
//
//   tests/browser/install.sh && node tests/browser/patience.mjs [--delays 4,12] [--runs 1]
//
// A 20 s clip in 2 s MPEG-TS segments (ffmpeg CLI, cached under node_modules/.cache) is served
// by a small server in this process. Segment 5 becomes available `delay` seconds after it is
// first asked for (a takeover plus the new worker's first segment); until then the server
// answers each request for it by one policy:
//   hold-30   wait up to 30 s, then 503 (the server before issue 16.4)
//   hold-6    wait up to 6 s, then 503 + Retry-After: 1 (the default since)
//   hold-8    wait up to 8 s, then 503 + Retry-After: 1
//   503-now   503 + Retry-After: 1 at once
//   headers   200 and its headers at once, the body when ready
// hls.js runs with its defaults except a 6 s forward buffer (maxBufferLength), the "about 6 s
// buffered" of issue 16. Printed: one markdown table row per case.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { play, summarize } from './player.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const delays = arg('delays', '4,12').split(',').map(Number);
const runs = Number(arg('runs', '1'));
const policies = arg('policies', 'hold-30,hold-6,hold-8,503-now,headers').split(',');
const LATE = 5;

const media = join(here, 'node_modules', '.cache', 'patience-media');
if (!existsSync(join(media, 'index.m3u8'))) {
  mkdirSync(media, { recursive: true });
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25',
    '-t', '20', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', '-keyint_min', '50',
    '-sc_threshold', '0', '-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod',
    '-hls_segment_filename', join(media, 'seg-%03d.ts'), join(media, 'index.m3u8')]);
}

function serve(policy, delaySecs) {
  let availableAt = null;
  const server = http.createServer((req, res) => {
    const name = req.url.split('?')[0].split('/').pop();
    if (name === 'index.m3u8') {
      res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' });
      return res.end(readFileSync(join(media, name)));
    }
    const m = /^seg-(\d+)\.ts$/.exec(name);
    if (!m) { res.writeHead(404); return res.end(); }
    const body = readFileSync(join(media, name));
    const send = () => { res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': body.length }); res.end(body); };
    if (Number(m[1]) !== LATE) return send();
    if (availableAt === null) availableAt = Date.now() + delaySecs * 1000;
    const left = availableAt - Date.now();
    if (left <= 0) return send();
    const unavailable = () => { res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' }); res.end('not ready'); };
    if (policy === 'headers') {
      res.writeHead(200, { 'content-type': 'video/mp2t' });
      setTimeout(() => res.end(body), left);
      return;
    }
    const hold = policy === '503-now' ? 0 : Number(policy.split('-')[1]) * 1000;
    if (left <= hold) setTimeout(send, left); else setTimeout(unavailable, hold);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

console.log('| segment ready after | server answers | player errors (non-fatal, at s) | fatal | segment loaded after it was ready | stalls (total, longest) | frames |');
console.log('|---|---|---|---|---|---|---|');
for (const delay of delays) {
  for (const policy of policies) {
    for (let run = 0; run < runs; run++) {
      const server = await serve(policy, delay);
      const origin = `http://127.0.0.1:${server.address().port}`;
      const events = await play({ src: `${origin}/index.m3u8`, origin, maxSecs: 120,
        hlsConfig: { maxBufferLength: 6, maxMaxBufferLength: 6 } });
      server.close();
      const s = summarize(events);
      const asked = events.find((e) => e.ev === 'loading' && e.sn === LATE);
      const got = events.find((e) => e.ev === 'frag' && e.sn === LATE);
      const late = asked && got ? (got.t - asked.t - delay).toFixed(2) : 'never';
      console.log(`| ${delay} s | ${policy} | ${s.errors.length ? s.errors.join(', ') : 'none'} | ${s.fatal} | ${late} s | ${s.stall_total.toFixed(2)} s, ${s.stall_longest.toFixed(2)} s | ${s.frames ?? 'not ended'} |`);
    }
  }
}
process.exit(0);
