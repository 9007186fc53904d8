// serve_test.mjs -- `curate serve` in headless Chromium (Debian's chromium,
// driven by puppeteer-core; no browser download).
//
// browser-1: the overview renders its charts (SVG bars with one row per class).
// browser-2: the gallery's cards are the first page of the flagged rows, in
//            score order (the oracle: the flagged view read with sqlite3),
//            and their thumbnails load as images.
// browser-3: keyboard review: r + a class name relabels the selected image
//            (labels table: a review label of that class, flag relabelled),
//            u undoes it (a retraction: the label before, with its source,
//            is current again, and the flag pending), a accepts the next one.
// browser-4: `curate report`'s snapshot opens from file://: the overview's
//            chart, the first flags with their thumbnails, no controls.
// browser-5: clicking an off-diagonal confusion cell (the curated head's)
//            shows the test images behind it: the predictions rows of that
//            cell (sqlite3), as many as the cell counts, thumbnails loaded.
// With CURATE_SCREENSHOTS=1 it also writes docs/serve-*.jpg.
//
// Arguments, as every CTest test gets them: the shared data folder, the
// curate binary, a scratch folder.  Exits 77 (skipped) with a message when
// chromium, puppeteer-core or ../shared is missing.
import {execFileSync, spawn} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const [shared, curate, scratch] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const tar = path.join(shared || '', 'data/clothing/images.tar');

function skip(why) {
  console.log('browser test skipped: ' + why);
  process.exit(77);
}
if (!fs.existsSync(chromium)) skip(`${chromium} is not installed (apt-get install chromium; scripts/setup.sh does)`);
if (!fs.existsSync(tar)) skip(`${tar} is absent (../shared holds the clothing photos)`);
let puppeteer;
try {
  puppeteer = (await import('puppeteer-core')).default;
} catch {
  skip('puppeteer-core is not installed in tests/browser (scripts/setup.sh runs npm ci there)');
}

let failures = 0, checks = 0;
function check(cond, what) {
  checks++;
  if (!cond) { failures++; console.log('FAIL ' + what); } else console.log('ok   ' + what);
}

fs.rmSync(scratch, {recursive: true, force: true});
fs.mkdirSync(scratch, {recursive: true});
const db = path.join(scratch, 'curate.db');
const run = (...args) => execFileSync(curate, ['--db', db, '--config', path.join(scratch, 'curate.json'), '--quiet', ...args],
                                      {cwd: scratch, stdio: ['ignore', 'pipe', 'inherit']}).toString();
const sql = q => execFileSync('sqlite3', [db, q]).toString().trim();

run('init');
run('ingest', tar, '--labels', path.join(shared, 'data/clothing/labels.csv'), '--group-column', 'sender_id');
run('run');

const server = spawn(curate, ['--db', db, '--config', path.join(scratch, 'curate.json'), 'serve', '--port', '0'],
                     {cwd: scratch, stdio: ['ignore', 'pipe', 'inherit']});
const url = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', d => {
    out += d;
    const m = out.match(/http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{64}/);
    if (m) resolve(m[0]);
  });
  server.on('exit', code => reject(new Error('curate serve exited ' + code)));
  setTimeout(() => reject(new Error('no URL from curate serve in 20 s')), 20000);
});
const base = url.replace(/\/\?token=.*/, '');
const shots = process.env.CURATE_SCREENSHOTS === '1' ? path.join(here, '../../docs') : null;

const browser = await puppeteer.launch({executablePath: chromium, headless: true,
                                       args: ['--no-sandbox', '--disable-gpu']});
try {
  const page = await browser.newPage();
  await page.setViewport({width: 1280, height: 900});

  // browser-1: the overview and its charts
  await page.goto(url, {waitUntil: 'networkidle0'});
  const bars = await page.$$eval('svg.chart.bars', s => s.length);
  const classes = Number(sql("SELECT count(DISTINCT class) FROM class_balance"));
  const rows = await page.$$eval('svg.chart.bars text[text-anchor="end"]', t => t.length);
  check(bars >= 1, 'the overview shows the images-per-class bar chart');
  check(rows === classes, `the bar chart has one row per class (${rows} of ${classes})`);
  check((await page.$$eval('svg.chart rect.bar', r => r.filter(x => x.getBBox().width > 0).length)) > 0,
        'the bars have width');
  if (shots) await page.screenshot({path: path.join(shots, 'serve-overview.jpg'), quality: 70, fullPage: true});

  // browser-2: the gallery is the first page of the flagged rows
  await page.goto(base + '/gallery', {waitUntil: 'networkidle0'});
  const shown = await page.$$eval('figure.thumb[data-image]', f => f.map(x => x.dataset.image));
  const want = sql('SELECT image_id FROM flagged ORDER BY ifnull(score, 1e308), flag_id LIMIT 100').split('\n');
  check(shown.length > 0 && shown.join(',') === want.join(','),
        `the gallery shows the first ${want.length} flagged rows in score order (${shown.length} cards)`);
  const loaded = await page.$$eval('figure.thumb img', im => im.slice(0, 10).filter(i => i.complete && i.naturalWidth > 0).length);
  check(loaded === Math.min(10, shown.length), `the first thumbnails are loaded images (${loaded})`);
  if (shots) await page.screenshot({path: path.join(shots, 'serve-gallery.jpg'), quality: 70});

  // browser-3: relabel by keyboard, undo, accept, on the mislabel flags (the
  // audit's flags, e.g. dark or near_duplicate, suggest no class)
  await page.goto(base + '/gallery?reason=aum', {waitUntil: 'networkidle0'});
  const mislabelled = await page.$$eval('figure.thumb[data-image]', f => f.map(x => x.dataset.image));
  check(mislabelled.length > 0, `the gallery filtered to aum flags shows ${mislabelled.length} cards`);
  const first = mislabelled[0];
  const target = await page.$eval('figure.thumb .suggested', s => s.textContent);
  const before = sql(`SELECT class || '|' || source FROM current_labels WHERE image_id = ${first}`);
  await page.keyboard.press('r');
  await page.waitForSelector('.picker input');
  await page.keyboard.type(target);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /recorded/.test(document.getElementById('status').textContent));
  const last = sql(`SELECT c.name || '|' || l.source FROM labels l JOIN classes c ON c.id = l.class_id
                    WHERE l.image_id = ${first} ORDER BY l.id DESC LIMIT 1`);
  check(last === `${target}|review`, `r relabels image ${first} as ${target} (labels: ${last})`);
  check(sql(`SELECT group_concat(DISTINCT review_status) FROM flagged WHERE image_id = ${first}`) === 'relabelled',
        'its flag is relabelled');
  await page.keyboard.press('u');
  await page.waitForFunction(() => /undone/.test(document.getElementById('status').textContent));
  check(sql(`SELECT group_concat(DISTINCT review_status) FROM flagged WHERE image_id = ${first}`) === 'pending',
        'u puts its flag back to pending');
  const after = sql(`SELECT class || '|' || source FROM current_labels WHERE image_id = ${first}`);
  check(after === before, `u makes the label before current again with its source (${after}, was ${before})`);
  check(sql(`SELECT count(*) FROM label_retractions r JOIN labels l ON l.id = r.label_id
             WHERE l.image_id = ${first}`) === '1', 'u wrote one retraction, and the relabel stays in labels');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('a');
  await page.waitForFunction(() => /accept image|not recorded/.test(document.getElementById('status').textContent));
  console.log('status: ' + await page.$eval('#status', s => s.textContent));
  check(sql(`SELECT group_concat(DISTINCT review_status) FROM flagged WHERE image_id = ${mislabelled[1]}`) === 'accepted',
        `a accepts the next image (${mislabelled[1]})`);
  if (shots) {
    await page.goto(base + '/image/' + first, {waitUntil: 'networkidle0'});
    await page.screenshot({path: path.join(shots, 'serve-image.jpg'), quality: 70, fullPage: true});
    await page.goto(base + '/confusion', {waitUntil: 'networkidle0'});
    await page.screenshot({path: path.join(shots, 'serve-confusion.jpg'), quality: 70});
  }

  // browser-5: a click on an off-diagonal cell of the curated head's matrix
  await page.goto(base + '/confusion', {waitUntil: 'networkidle0'});
  const cells = await page.$$eval('.confusion[data-head="curated"] a.cell', as => as.map(a => ({
    t: a.dataset.true, p: a.dataset.pred, title: a.querySelector('title').textContent})));
  const off = cells.filter(c => c.t !== c.p).sort((a, b) => Number(b.title.split(': ').pop()) -
                                                           Number(a.title.split(': ').pop()))[0];
  check(off !== undefined, `the curated matrix links ${cells.length} cells, some off the diagonal`);
  if (off) {
    await Promise.all([page.waitForNavigation({waitUntil: 'networkidle0'}),
                       page.click(`.confusion[data-head="curated"] a.cell[data-true="${off.t}"][data-pred="${off.p}"]`)]);
    const cellShown = await page.$$eval('figure.thumb[data-image]', f => f.map(x => x.dataset.image));
    const cellWant = sql(`SELECT p.image_id FROM predictions p
        JOIN classes t ON t.id = p.true_class_id JOIN classes c ON c.id = p.predicted_class_id
        WHERE p.run_id = (SELECT max(id) FROM runs WHERE stage = 'train' AND status = 'complete')
        AND p.head = 'curated' AND p.split = 'test' AND t.idx = ${off.t} AND c.idx = ${off.p}
        ORDER BY p.confidence DESC, p.image_id`).split('\n');
    const count = Number(off.title.split(': ').pop());
    check(cellShown.join(',') === cellWant.join(',') && cellShown.length === count,
          `the cell ${off.title} shows its ${count} test images, the predictions rows (${cellShown.length} shown)`);
    await page.evaluate(() => Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null))));
    check((await page.$$eval('figure.thumb img', im => im.filter(i => i.naturalWidth > 0).length)) === cellShown.length,
          'their thumbnails load');
    if (shots) await page.screenshot({path: path.join(shots, 'serve-cell.jpg'), quality: 70});
  }

  // browser-4: the snapshot of `curate report` read from file://
  run('report', '--out', path.join(scratch, 'snap'), '--limit', '50');
  await page.goto('file://' + path.join(scratch, 'snap/index.html'), {waitUntil: 'load'});
  check((await page.$$eval('svg.chart.bars', s => s.length)) >= 1, 'the snapshot overview renders from file://');
  await page.goto('file://' + path.join(scratch, 'snap/gallery-1.html'), {waitUntil: 'load'});
  const snapCards = await page.$$eval('figure.thumb[data-image]', f => f.map(x => x.dataset.image));
  const snapWant = sql('SELECT image_id FROM flagged ORDER BY ifnull(score, 1e308), flag_id LIMIT 50').split('\n');
  check(snapCards.join(',') === snapWant.join(','), `the snapshot gallery holds the first 50 flags (${snapCards.length})`);
  await page.evaluate(() => Promise.all(Array.from(document.images).slice(0, 10).map(i => i.decode().catch(() => null))));
  check((await page.$$eval('figure.thumb img', im => im.slice(0, 10).filter(i => i.naturalWidth > 0).length)) === 10,
        'its thumbnails load from the folder');
  check((await page.$$eval('button, [data-decide]', b => b.length)) === 0, 'it has no decision controls');
} finally {
  await browser.close();
  server.kill('SIGINT');
}
console.log(`${checks - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
