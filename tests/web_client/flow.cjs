// Drives the official jellyfin-web client, served by the server under test at /web/, in Debian's
// chromium through playwright-core, the way a person uses it: sign in, home rows with artwork,
// the library, an item, play it directly, lower the quality so that it is transcoded (HLS
// through hls.js), seek forward past what is buffered, stop, find it in the resume row and resume from there, mark it played, sign
// out. tests/server_web_client.rs runs it and checks what it prints.
//
//   node flow.cjs CONFIG.json
//
// CONFIG: { base, user, password, film, shots, chromium, nodeModules, directSeconds,
//           transcodeSeconds, seekSeconds, quality }
//
// It asserts little itself: it waits for what a person would wait for (each step has a time
// limit), and prints one line `RESULT {json}` with the steps, every API response (method, path,
// status), page errors, failed requests and the facts each step saw; the Rust test decides.
// Screenshots go to CONFIG.shots, one per step (and `failed-<step>.png` when a step fails).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const { chromium } = require(path.join(cfg.nodeModules, 'playwright-core'));

const origin = new URL(cfg.base).origin;
const result = {
  steps: [],
  api: [],
  pageErrors: [],
  consoleErrors: [],
  failedRequests: [],
  blocked: [],
  aborted: 0,
  reports: [],
  facts: {},
};

function apiPath(url) {
  const u = new URL(url);
  return (u.pathname + u.search).slice(0, 400);
}

/// Polls `fn` (in the page) until it returns a truthy value; that value.
async function until(page, fn, arg, timeout) {
  const handle = await page.waitForFunction(fn, arg, { timeout, polling: 250 });
  return handle.jsonValue();
}

/// The playing video element's state (installed in the page as `window.__videoState`).
function videoState() {
  const v = Array.from(document.querySelectorAll('video')).find((e) => e.currentSrc);
  if (!v) return null;
  return {
    src: v.currentSrc,
    time: v.currentTime,
    paused: v.paused,
    error: v.error ? v.error.message || String(v.error.code) : null,
  };
}

/// Shows the video OSD (it appears on mouse movement) and clicks `selector` in it.
async function osdClick(page, selector) {
  await page.mouse.move(500, 300, { steps: 4 });
  await page.mouse.move(700, 450, { steps: 8 });
  await page.locator(`${selector} >> visible=true`).first().click({ force: true, timeout: 5000 });
}

function visible(page, selector) {
  return page.locator(`${selector} >> visible=true`).first();
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'media-ha-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: cfg.chromium,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
    viewport: { width: 1280, height: 800 },
  });
  try {
    await run(ctx);
  } finally {
    await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function run(ctx) {
  // Only the server under test: the client's optional third-party scripts (the Chromecast
  // sender) are refused and listed.
  await ctx.route(
    (url) => url.origin !== origin,
    (route) => {
      result.blocked.push(route.request().url());
      return route.abort();
    },
  );
  await ctx.addInitScript(`window.__videoState = ${videoState.toString()};`);
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on('pageerror', (e) => result.pageErrors.push(String(e && e.stack ? e.stack : e).slice(0, 2000)));
  page.on('console', (m) => {
    if (m.type() === 'error') result.consoleErrors.push(m.text().slice(0, 500));
  });
  page.on('requestfailed', (r) => {
    const url = r.url();
    const error = r.failure() ? r.failure().errorText : '?';
    if (!url.startsWith(origin)) return;
    // Cancelled by the page (media range requests, hls.js segment loads on a switch, requests
    // of a page navigated away from, or answered 4xx and given up): counted, not a failure
    // of the server, whose answers are checked on their own.
    if (error === 'net::ERR_ABORTED') {
      result.aborted += 1;
      return;
    }
    result.failedRequests.push({ method: r.method(), path: apiPath(url), error });
  });
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(origin)) return;
    const p = new URL(url).pathname;
    if (r.method() === 'POST' && p.startsWith('/Sessions/Playing')) {
      let body = {};
      try {
        body = JSON.parse(r.postData() || '{}');
      } catch (e) {
        body = { unparsable: r.postData() };
      }
      result.reports.push({
        path: p,
        itemId: body.ItemId,
        positionTicks: body.PositionTicks,
        playMethod: body.PlayMethod,
        isPaused: body.IsPaused,
      });
    }
    if (!result.facts.token) {
      const auth = r.headers()['authorization'] || '';
      const m = /Token="([^"]+)"/.exec(auth);
      if (m) result.facts.token = m[1];
    }
  });
  page.on('response', (r) => {
    const url = r.url();
    if (!url.startsWith(origin)) return;
    const p = new URL(url).pathname;
    if (p === '/web' || p.startsWith('/web/')) return;
    result.api.push({
      method: r.request().method(),
      path: apiPath(url),
      status: r.status(),
      type: (r.headers()['content-type'] || '').split(';')[0],
    });
  });

  let shot = 0;
  async function step(name, timeout, fn) {
    const started = Date.now();
    const entry = { name, ok: false, ms: 0 };
    result.steps.push(entry);
    let timer;
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`step did not finish within ${timeout} ms`)), timeout);
        }),
      ]);
      entry.ok = true;
      shot += 1;
      entry.screenshot = path.join(cfg.shots, `${String(shot).padStart(2, '0')}-${name.replace(/\W+/g, '-')}.png`);
      await page.screenshot({ path: entry.screenshot });
    } catch (e) {
      entry.error = String(e && e.message ? e.message : e).split('\n').slice(0, 6).join('\n');
      entry.url = page.url();
      entry.screenshot = path.join(cfg.shots, `failed-${name.replace(/\W+/g, '-')}.png`);
      await page.screenshot({ path: entry.screenshot }).catch(() => {});
      throw e;
    } finally {
      clearTimeout(timer);
      entry.ms = Date.now() - started;
    }
  }

  const facts = result.facts;

  await step('sign in', 60000, async () => {
    await page.goto(`${cfg.base}/web/`);
    await visible(page, '#txtManualName').waitFor({ timeout: 30000 });
    await visible(page, '#txtManualName').fill(cfg.user);
    await visible(page, '#txtManualPassword').fill(cfg.password);
    await visible(page, '.manualLoginForm button[type=submit]').click();
    await page.waitForURL(/#\/home/, { timeout: 30000 });
  });

  await step('home rows with artwork', 30000, async () => {
    // A poster that was actually drawn: the lazy loader sets the background once the image
    // has loaded.
    facts.homePosters = await until(
      page,
      () => {
        const cards = Array.from(document.querySelectorAll('.card[data-type=Movie] .cardImageContainer'))
          .filter((e) => e.checkVisibility());
        const drawn = cards.filter((e) => /\/Items\/\w+\/Images\//.test(e.style.backgroundImage));
        // Every poster of the rows, not just the first one (a frame is extracted on first use).
        return cards.length > 0 && drawn.length === cards.length && drawn.map((e) => e.style.backgroundImage);
      },
      null,
      25000,
    );
    facts.homeSections = await page.evaluate(() =>
      Array.from(document.querySelectorAll('.verticalSection .sectionTitle'))
        .filter((e) => e.checkVisibility())
        .map((e) => e.textContent.trim()),
    );
  });

  await step('open the library', 30000, async () => {
    await visible(page, '.card[data-type=CollectionFolder] a.cardImageContainer').click();
    await page.waitForURL(/#\/(movies|list|tv)/, { timeout: 20000 });
    // The library page's list as drawn, once it names the film. The home page (#indexPage,
    // kept in the DOM by jellyfin-web) has Movie cards too, still visible while the page
    // changes: "a Movie card is visible" alone could be one of those, and the list read before
    // the library's cards exist came back empty on a loaded machine.
    facts.libraryItems = await until(
      page,
      (film) => {
        const names = Array.from(document.querySelectorAll('.page:not(#indexPage) .card[data-type=Movie]'))
          .filter((e) => e.checkVisibility())
          .map((e) => e.querySelector('.cardText') && e.querySelector('.cardText').textContent.trim());
        return names.includes(film) && names;
      },
      cfg.film,
      20000,
    );
  });

  await step('open the item', 30000, async () => {
    const card = page
      .locator('.card[data-type=Movie] >> visible=true')
      .filter({ hasText: cfg.film })
      .first();
    facts.itemId = await card.getAttribute('data-id');
    await card.locator('.cardText a').first().click();
    await page.waitForURL(/#\/details/, { timeout: 20000 });
    await visible(page, '.mainDetailButtons .btnPlay').waitFor({ timeout: 20000 });
    facts.itemTitle = await visible(page, '.itemName, h1, h3.itemName').textContent().catch(() => null);
  });

  await step('play direct', 90000, async () => {
    await visible(page, '.mainDetailButtons .btnPlay').click();
    await page.waitForURL(/#\/video/, { timeout: 20000 });
    facts.direct = await until(
      page,
      ([seconds]) => {
        const s = window.__videoState();
        return s && !s.paused && s.time >= seconds && s;
      },
      [cfg.directSeconds],
      80000,
    );
  });

  await step('lower the quality: transcoded', 120000, async () => {
    const before = facts.direct.time;
    const master = page.waitForResponse((r) => /\/master\.m3u8/.test(r.url()), { timeout: 30000 });
    await osdClick(page, '.btnVideoOsdSettings');
    await visible(page, '.actionSheet button:has-text("Quality")').click();
    await visible(page, `.actionSheet button[data-id="${cfg.quality}"]`).click();
    const m = await master;
    facts.masterStatus = m.status();
    // The transcoded stream plays through MediaSource (a blob: URL) from where direct play was.
    const start = await until(
      page,
      () => {
        const s = window.__videoState();
        return s && s.src.startsWith('blob:') && !s.paused && s.time > 0 && s;
      },
      null,
      60000,
    );
    facts.transcodeStart = start;
    facts.transcoded = await until(
      page,
      ([from, seconds]) => {
        const s = window.__videoState();
        return s && s.src.startsWith('blob:') && s.time >= from + seconds && s;
      },
      [start.time, cfg.transcodeSeconds],
      80000,
    );
    facts.switchedAt = before;
  });

  await step('seek forward in the transcode', 90000, async () => {
    // What the OSD's position slider does on release: set the element's time, here past what
    // hls.js has buffered, so the segments there are requested (and transcoded) afresh.
    const from = facts.transcoded.time;
    const target = from + cfg.seekSeconds;
    await page.evaluate((t) => {
      const v = Array.from(document.querySelectorAll('video')).find((e) => e.currentSrc);
      v.currentTime = t;
    }, target);
    facts.seek = { from, target };
    // Playing on from the target: 2 s past it, not paused, still the transcoded stream.
    facts.seeked = await until(
      page,
      ([t]) => {
        const s = window.__videoState();
        return s && s.src.startsWith('blob:') && !s.paused && s.time >= t + 2 && s;
      },
      [target],
      80000,
    );
  });

  await step('stop', 30000, async () => {
    const stopped = page.waitForRequest(
      (r) => r.method() === 'POST' && /\/Sessions\/Playing\/Stopped/.test(r.url()),
      { timeout: 20000 },
    );
    await osdClick(page, '.headerBackButton');
    const req = await stopped;
    facts.stoppedTicks = JSON.parse(req.postData() || '{}').PositionTicks;
    await page.waitForURL(/#\/details/, { timeout: 20000 });
  });

  await step('resume row shows the position', 30000, async () => {
    await visible(page, '.headerHomeButton').click();
    await page.waitForURL(/#\/home/, { timeout: 20000 });
    const card = `.card[data-id="${facts.itemId}"]`;
    facts.resumeRow = await until(
      page,
      ([card]) => {
        const section = Array.from(document.querySelectorAll('.verticalSection')).find(
          (s) => s.checkVisibility() && s.querySelector(card) && s.querySelector('.itemProgressBarForeground'),
        );
        if (!section) return false;
        const bar = section.querySelector(`${card} .itemProgressBarForeground`);
        return (
          bar && {
            title: (section.querySelector('.sectionTitle') || {}).textContent,
            progress: bar.style.width,
          }
        );
      },
      [card],
      25000,
    );
  });

  await step('resume from it', 90000, async () => {
    const started = page.waitForRequest(
      (r) => r.method() === 'POST' && new URL(r.url()).pathname === '/Sessions/Playing',
      { timeout: 30000 },
    );
    const card = page
      .locator('.verticalSection >> visible=true')
      .filter({ has: page.locator('.itemProgressBarForeground') })
      .locator(`.card[data-id="${facts.itemId}"]`)
      .first();
    await card.hover();
    await card.locator('button[data-action="resume"]').first().click({ force: true });
    const req = await started;
    facts.resumedTicks = JSON.parse(req.postData() || '{}').PositionTicks;
    await page.waitForURL(/#\/video/, { timeout: 20000 });
    facts.resumed = await until(
      page,
      () => {
        const s = window.__videoState();
        return s && !s.paused && s.time > 0 && s;
      },
      null,
      60000,
    );
    const stopped = page.waitForRequest(
      (r) => r.method() === 'POST' && /\/Sessions\/Playing\/Stopped/.test(r.url()),
      { timeout: 20000 },
    );
    await osdClick(page, '.headerBackButton');
    await stopped;
  });

  await step('mark played', 30000, async () => {
    await page.goto(`${cfg.base}/web/#/details?id=${facts.itemId}`);
    const button = visible(page, '.mainDetailButtons .btnPlaystate');
    await button.waitFor({ timeout: 20000 });
    const marked = page.waitForResponse(
      (r) => r.request().method() === 'POST' && /PlayedItems\//i.test(r.url()),
      { timeout: 20000 },
    );
    await button.click();
    facts.markStatus = (await marked).status();
    await visible(page, '.mainDetailButtons .btnPlaystate.playstatebutton-played').waitFor({ timeout: 20000 });
  });

  await step('sign out', 30000, async () => {
    const logout = page.waitForResponse((r) => /\/Sessions\/Logout/i.test(r.url()), { timeout: 20000 });
    await visible(page, '.headerUserButton').click();
    // Not the navigation drawer's copy (off screen until the drawer opens).
    await visible(page, '.btnLogout:not(.navMenuOption)').click();
    facts.logoutStatus = (await logout).status();
    await visible(page, '#txtManualName').waitFor({ timeout: 20000 });
  });
}

// A wait armed before an action and abandoned when the action failed must not end the run.
process.on('unhandledRejection', () => {});

main()
  .catch((e) => {
    result.error = String(e && e.message ? e.message : e).split('\n').slice(0, 6).join('\n');
  })
  .finally(() => {
    // Exit once the result is out: nothing the page left behind keeps the process alive.
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
  });
