// The web UI in Firefox: Debian's firefox-esr driven over WebDriver BiDi by puppeteer-core (no browser download).
//
// Run by tests/e2e/test_web_firefox.py as `node ui.mjs CONFIG_JSON`; it prints one JSON document with what it saw
// on each page (geometry, times, counts, cookies, console errors, failed requests) and the test asserts on that.
// A step that throws is reported as {"error": "..."} and the next steps still run, so one failure names its step.
import puppeteer from "puppeteer-core";

const config = JSON.parse(process.argv[2]);
const out = { steps: {}, console: [], failed: [], userAgent: null };
const TIMEOUT = 20000;

function watch(page, label) {
  page.on("console", (m) => { if (m.type() === "error") out.console.push(`${label}: ${m.text()}`); });
  page.on("pageerror", (e) => out.console.push(`${label}: ${e.message || e}`));
  page.on("response", (r) => {
    // The refused sign-in of the login step answers 401 on purpose; every other failure is reported.
    if (r.status() >= 400 && !(r.status() === 401 && r.url().endsWith("/login"))) {
      out.failed.push(`${label}: ${r.status()} ${r.url()}`);
    }
  });
}

async function step(name, fn) {
  try {
    out.steps[name] = (await fn()) ?? {};
  } catch (e) {
    out.steps[name] = { error: String((e && e.stack) || e) };
  }
}

const rect = (page, selector) =>
  page.$eval(selector, (node) => {
    const r = node.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  });

// The video is ready at `at` seconds (decoded, not seeking).
const videoAt = (page, at) =>
  page.waitForFunction(
    (t) => { const v = document.getElementById("player"); return v.readyState >= 2 && !v.seeking && Math.abs(v.currentTime - t) < 0.05; },
    { timeout: TIMEOUT }, at);

// What sticks out past the right edge (innermost elements and text), so a failure says what to fix. Runs in the page.
function stickingOut() {
  const edge = document.documentElement.clientWidth + 0.5;
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n && found.length < 6; n = walker.nextNode()) {
    let box;
    if (n.nodeType === Node.TEXT_NODE) {
      const range = document.createRange();
      range.selectNodeContents(n);
      box = range.getBoundingClientRect();
    } else {
      if (Array.from(n.children).some((c) => c.getBoundingClientRect().right > edge)) continue;
      box = n.getBoundingClientRect();
    }
    if (box.right > edge) {
      const what = n.nodeType === Node.TEXT_NODE ? `text "${n.textContent.trim().slice(0, 40)}"` : `${n.tagName.toLowerCase()}.${n.className}`;
      found.push(`${what} (right ${Math.round(box.right)} px)`);
    }
  }
  return found;
}

async function signIn(page) {
  await page.goto(config.base + "/login", { waitUntil: "load" });
  await page.type("#key", config.key);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
}

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath: config.firefox,
  protocol: "webDriverBiDi",
  headless: true,
  extraPrefsFirefox: {
    // Media autoplay without a user gesture, as the Chromium tests allow it (the tests start players by script).
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
  },
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.setViewport({ width: 1200, height: 820 });
  watch(page, "desktop");
  out.userAgent = await browser.userAgent();

  await step("sign_in", async () => {
    await page.goto(config.base + "/", { waitUntil: "load" });
    const redirected = page.url();
    await page.type("#key", "not-the-key-0123456789");
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
    const alert = await page.$eval("[role=alert]", (n) => n.textContent.trim());
    await page.$eval("#key", (n) => { n.value = ""; });
    await page.type("#key", config.key);
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
    const cookies = (await page.cookies()).filter((c) => c.name === "mie_session")
      .map((c) => ({ httpOnly: c.httpOnly, sameSite: c.sameSite, expires: c.expires }));
    return { redirected, alert, landed: page.url(), cookies, scriptCookie: await page.evaluate(() => document.cookie) };
  });

  await step("library", async () => {
    await page.goto(config.base + "/", { waitUntil: "load" });
    const card = `.card[data-asset='${config.assetId}']`;
    await page.waitForSelector(card);
    await page.waitForFunction((s) => { const i = document.querySelector(s + " img"); return i && i.complete && i.naturalWidth > 0; },
      { timeout: TIMEOUT }, card);
    return {
      status: await page.$eval(card + " [data-status]", (n) => n.textContent.trim()),
      thumbnail: await page.$eval(card + " img", (i) => [i.naturalWidth, i.naturalHeight]),
      cards: await page.$$eval(".card", (n) => n.length),
      dropZone: (await page.$("#upload")) !== null,
    };
  });

  await step("overlay", async () => {
    const at = config.face.t / 1000 + 0.25;
    await page.goto(`${config.base}/assets/${config.assetId}?t=${at}`, { waitUntil: "load" });
    await videoAt(page, at);
    const selector = `.box-face[data-t='${config.face.t}']`;
    await page.waitForSelector(selector);
    const drawn = await rect(page, selector);
    const video = await rect(page, "#player");
    const natural = await page.evaluate(() => [player.videoWidth, player.videoHeight]);
    let goneBefore = null;
    if (config.face.t >= 1000) {
      await page.evaluate((t) => { player.currentTime = t; }, config.face.t / 1000 - 0.5);
      await page.waitForFunction((s) => !document.querySelector(s), { timeout: TIMEOUT }, selector);
      goneBefore = true;
    }
    const tracks = await page.$$eval("#timeline .track", (rows) => rows.map((r) => r.className));
    return { at, drawn, video, natural, goneBefore, tracks };
  });

  await step("transcript", async () => {
    const words = await page.$$("#transcript .word");
    const word = words[5];
    const start = Number(await word.evaluate((n) => n.dataset.start)) / 1000;
    await word.click();
    await videoAt(page, start);
    await page.waitForSelector("#transcript .word.current");
    const current = await page.$eval("#transcript .word.current", (n) => n.dataset.start);
    const segments = await page.$$(".track-transcript .seg");
    const segment = segments[segments.length - 1];
    const segStart = Number(await segment.evaluate((n) => n.dataset.start)) / 1000;
    await segment.click();
    await videoAt(page, segStart);
    await page.evaluate(() => { player.textTracks[0].mode = "showing"; });
    await page.waitForFunction(() => player.textTracks[0].cues && player.textTracks[0].cues.length > 0, { timeout: TIMEOUT });
    return {
      words: words.length, start, current: Number(current) / 1000, segStart,
      firstCue: await page.evaluate(() => player.textTracks[0].cues[0].text),
      firstWord: await page.$eval("#transcript .word", (n) => n.textContent),
      currentTime: await page.evaluate(() => player.currentTime),
    };
  });

  await step("tabs", async () => {
    await page.click("button[data-op=Mediainfo]");
    await page.waitForFunction(() => document.getElementById("json").textContent.includes("tracks"), { timeout: TIMEOUT });
    return { json: (await page.$eval("#json", (n) => n.textContent.length)) };
  });

  await step("image", async () => {
    await page.goto(`${config.base}/assets/${config.imageId}`, { waitUntil: "load" });
    await page.waitForFunction(() => player.complete && player.naturalWidth > 0, { timeout: TIMEOUT });
    await page.waitForSelector(".box-face");
    return {
      drawn: await rect(page, ".box-face"),
      shown: await rect(page, "#player"),
      natural: await page.evaluate(() => [player.naturalWidth, player.naturalHeight]),
    };
  });

  await step("search", async () => {
    const url = `${config.base}/search?q=${encodeURIComponent(config.search.word)}&operator=TranscribeVideo`;
    await page.goto(url, { waitUntil: "load" });
    const mark = await page.$eval("a.hit mark", (n) => n.textContent);
    const thumb = await page.$$eval("a.hit img", (imgs) => imgs.length);
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("a.hit")]);
    await videoAt(page, config.search.start);
    return { mark, thumb, landed: page.url(), currentTime: await page.evaluate(() => player.currentTime) };
  });

  await step("people", async () => {
    await page.goto(config.base + "/", { waitUntil: "load" });
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("nav a[href='/people']")]);
    const result = { landed: page.url(), cards: await page.$$eval(".card.person", (n) => n.length) };
    if (config.personId) {
      const card = `.card.person[data-person='${config.personId}']`;
      await page.waitForSelector(card + " .face.drawn");
      const frame = await rect(page, card + " .face.drawn");
      const img = await rect(page, card + " .face.drawn img");
      await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(card)]);
      result.frame = frame;
      result.img = img;
      result.person = page.url();
      result.name = await page.$eval("#person-name", (n) => n.textContent.trim());
      result.assets = await page.$$eval("#assets .card", (n) => n.map((c) => c.dataset.asset));
    }
    return result;
  });

  await step("other_pages", async () => {
    const seen = {};
    for (const path of ["/executions", "/jobs", "/workflows?name=CasVideoWorkflow", "/api/docs"]) {
      await page.goto(config.base + path, { waitUntil: "load" });
      seen[path] = await page.title();
    }
    await page.waitForSelector(".swagger-ui .info .title");
    seen.docsTitle = await page.$eval(".swagger-ui .info .title", (n) => n.textContent);
    await page.goto(config.base + "/executions", { waitUntil: "load" });
    seen.history = await page.$$eval(`#history tr[data-id] .status`, (n) => n.map((s) => s.textContent.trim()));
    return seen;
  });

  await step("phone", async () => {
    const context = await browser.createBrowserContext();
    const phone = await context.newPage();
    phone.setDefaultTimeout(TIMEOUT);
    watch(phone, "phone");
    await phone.setViewport({ width: 390, height: 844 });
    await signIn(phone);
    const overflow = {};
    const wide = {};
    for (const path of config.phonePaths) {
      await phone.goto(config.base + path, { waitUntil: "load" });
      // Against the width inside the scrollbar: Firefox's classic scrollbar takes room that Chromium's overlay
      // scrollbar does not, and content under it is out of sight all the same.
      overflow[path] = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      if (overflow[path] > 0) wide[path] = await phone.evaluate(stickingOut);
    }
    await phone.goto(`${config.base}/assets/${config.assetId}`, { waitUntil: "load" });
    const player = await rect(phone, "#player");
    const width = await phone.evaluate(() => window.innerWidth);
    await context.close();
    return { overflow, wide, player, width };
  });
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
