// hls.js (default settings unless told) in headless Debian chromium, driven by playwright-core.
//
// Why a page of our own on the server's origin: the player page and hls.js are served by
// playwright's request interception under `<origin>/__player/`, so every playlist and segment
// request is a same-origin request to the real server (or load balancer), with no CORS and
// nothing added to the server for tests.
//
// `play(options)` resolves with the player's events, in order, each with `t` (seconds since the
// page started): `loading`/`frag` (sn, ttfb and load ms), `error` (details, fatal, HTTP code),
// `stall`/`resume` (the <video> element waiting mid-play, and for how long), `ended` (decoded
// and dropped frames). CLI: `node player.mjs '<json options>'` prints them as JSON lines.
//
// options: { src, origin, chromium = "/usr/bin/chromium", hlsConfig = {}, maxSecs = 120,
//            headers = {} (sent with every hls.js request), onEvent(e) }

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

function pageHtml(src, hlsConfig, headers) {
  return `<!doctype html><html><body><video id=v muted playsinline></video>
<script src="/__player/hls.js"></script><script>
const t0 = performance.now();
const now = () => (performance.now() - t0) / 1000;
const log = (e) => { e.t = +now().toFixed(3); console.log('EV ' + JSON.stringify(e)); };
const v = document.getElementById('v');
const headers = ${JSON.stringify(headers)};
const config = Object.assign(${JSON.stringify(hlsConfig)}, {
  xhrSetup: (xhr) => { for (const [k, val] of Object.entries(headers)) xhr.setRequestHeader(k, val); },
});
const hls = new Hls(config);
hls.on(Hls.Events.ERROR, (_, d) => log({ ev: 'error', fatal: d.fatal, details: d.details,
  code: d.response && d.response.code, sn: d.frag && d.frag.sn }));
hls.on(Hls.Events.FRAG_LOADING, (_, d) => log({ ev: 'loading', sn: d.frag.sn }));
hls.on(Hls.Events.FRAG_LOADED, (_, d) => { const l = d.frag.stats.loading;
  log({ ev: 'frag', sn: d.frag.sn, ttfb: Math.round(l.first - l.start), load: Math.round(l.end - l.start) }); });
let stallAt = null;
v.addEventListener('waiting', () => { if (v.currentTime > 0.1 && stallAt === null) { stallAt = now(); log({ ev: 'stall', pos: v.currentTime }); } });
v.addEventListener('playing', () => { if (stallAt !== null) { log({ ev: 'resume', stalled: +(now() - stallAt).toFixed(3), pos: v.currentTime }); stallAt = null; } });
v.addEventListener('ended', () => { const q = v.getVideoPlaybackQuality();
  log({ ev: 'ended', frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, pos: v.currentTime }); });
hls.on(Hls.Events.MANIFEST_PARSED, () => { v.play().catch((e) => log({ ev: 'playfail', msg: String(e) })); });
hls.loadSource(${JSON.stringify(src)});
hls.attachMedia(v);
</script></body></html>`;
}

export async function play(options) {
  const { src, origin, hlsConfig = {}, headers = {}, maxSecs = 120, onEvent = () => {} } = options;
  const hlsSource = readFileSync(require.resolve('hls.js/dist/hls.min.js'), 'utf8');
  const browser = await chromium.launch({
    executablePath: options.chromium || '/usr/bin/chromium',
    args: ['--autoplay-policy=no-user-gesture-required', '--no-sandbox'],
  });
  const events = [];
  try {
    const page = await browser.newPage();
    await page.route(`${origin}/__player/**`, (route) => {
      if (route.request().url().endsWith('/hls.js')) {
        return route.fulfill({ body: hlsSource, contentType: 'application/javascript' });
      }
      return route.fulfill({ body: pageHtml(src, hlsConfig, headers), contentType: 'text/html' });
    });
    let finish;
    const finished = new Promise((resolve) => { finish = resolve; });
    page.on('console', (m) => {
      const text = m.text();
      if (!text.startsWith('EV ')) return;
      const e = JSON.parse(text.slice(3));
      events.push(e);
      onEvent(e);
      if (e.ev === 'ended' || (e.ev === 'error' && e.fatal)) finish();
    });
    await page.goto(`${origin}/__player/index.html`);
    let timer;
    await Promise.race([finished, new Promise((resolve) => { timer = setTimeout(resolve, maxSecs * 1000); })]);
    clearTimeout(timer);
  } finally {
    await browser.close();
  }
  return events;
}

/// The figures of one play: errors (non-fatal and fatal, with what), stalls, frames.
export function summarize(events) {
  const errors = events.filter((e) => e.ev === 'error');
  const stalls = events.filter((e) => e.ev === 'resume').map((e) => e.stalled);
  const end = events.find((e) => e.ev === 'ended');
  const loaded = events.filter((e) => e.ev === 'frag').map((e) => e.sn);
  return {
    ended: !!end,
    frames: end ? end.frames : null,
    dropped: end ? end.dropped : null,
    errors: errors.map((e) => `${e.details}${e.code ? '/' + e.code : ''}${e.fatal ? ' FATAL' : ''}@${e.t}s`),
    fatal: errors.filter((e) => e.fatal).length,
    stalls: stalls.length,
    stall_total: +stalls.reduce((a, b) => a + b, 0).toFixed(3),
    stall_longest: stalls.length ? Math.max(...stalls) : 0,
    fragments_loaded: loaded,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = JSON.parse(process.argv[2]);
  options.onEvent = (e) => process.stdout.write(JSON.stringify(e) + '\n');
  const events = await play(options);
  process.stdout.write(JSON.stringify({ summary: summarize(events) }) + '\n');
  process.exit(0);
}
