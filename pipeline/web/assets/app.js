// app.js -- keyboard review on the pages of `curate serve` (compiled into
// the binary).  Arrows move between cards; a accepts, d drops, r relabels
// (a class picker with type-ahead), u takes back the last decision of this
// page (the server retracts it: the label before it is current again).
// Decisions go to POST /api/decide, which records them as `curate review`
// does.  In a snapshot (`curate report`) or --read-only, only arrows work.
'use strict';
(function () {
  const decide = document.body.dataset.decide === '1';
  const status = document.getElementById('status');
  const cards = () => Array.from(document.querySelectorAll('[data-task][data-image]'));
  const classesEl = document.getElementById('classes');
  const classes = classesEl ? JSON.parse(classesEl.textContent) : [];
  const done = [];               // decisions of this page, newest last: {card, before}
  let current = 0;

  function say(text) { if (status) status.textContent = text; }

  function select(i) {
    const all = cards();
    if (!all.length) return;
    current = Math.max(0, Math.min(all.length - 1, i));
    all.forEach((c, k) => c.classList.toggle('sel', k === current));
    all[current].focus();
  }

  function columns() {
    const all = cards();
    if (all.length < 2) return 1;
    const top = all[0].offsetTop;
    const n = all.findIndex(c => c.offsetTop !== top);
    return n < 0 ? all.length : n;
  }

  // Sends one decision, retrying while a stage holds the writer lock.
  async function send(card, action, cls) {
    const q = new URLSearchParams({image: card.dataset.image, task: card.dataset.task, action});
    if (cls !== undefined && cls !== null) q.set('class', cls);
    for (;;) {
      let res, body;
      try {
        res = await fetch('/api/decide?' + q.toString(), {method: 'POST', credentials: 'same-origin'});
        body = await res.json();
      } catch (e) {
        say('not recorded: ' + e);
        return false;
      }
      if (res.ok) return true;
      if (body.busy) {
        say('waiting for the writer lock: ' + body.error);
        await new Promise(r => setTimeout(r, 2000));
        continue;
      }
      say('not recorded: ' + body.error);
      return false;
    }
  }

  function mark(card, statusText, label) {
    card.dataset.status = statusText;
    if (label !== undefined) card.dataset.label = label;
    const rev = card.querySelector('.review');
    if (rev) rev.textContent = statusText;
    const lab = card.querySelector('.label');
    if (lab && label !== undefined) lab.textContent = label || '(none)';
  }

  async function act(action, cls) {
    const card = cards()[current];
    if (!card) return;
    const before = {label: card.dataset.label, status: card.dataset.status};
    if (!(await send(card, action, cls))) return;
    done.push({card, before});
    const after = {accept: ['accepted', before.label], drop: ['dropped', ''],
                   relabel: ['relabelled', cls]}[action];
    mark(card, after[0], after[1]);
    say(action + ' image ' + card.dataset.image + (cls ? ' as ' + cls : '') + ': recorded');
    select(current + 1);
  }

  async function undo() {
    const last = done.pop();
    if (!last) { say('nothing to undo'); return; }
    // the server takes the decision back (a retraction: the label before it
    // is current again, whatever its source), so the card shows what it did
    if (!(await send(last.card, 'undo'))) { done.push(last); return; }
    mark(last.card, last.before.status, last.before.label);
    say('undone: image ' + last.card.dataset.image + ' is ' + last.before.status + ' again');
    select(cards().indexOf(last.card));
  }

  function picker() {
    const card = cards()[current];
    if (!card) return;
    const names = classes.filter(c => c.task === card.dataset.task).map(c => c.class);
    const box = document.createElement('form');
    box.className = 'picker';
    box.innerHTML = '<label>relabel as <input list="picker-classes" autocomplete="off"></label>' +
                    '<datalist id="picker-classes"></datalist> <button>ok</button>';
    const list = box.querySelector('datalist');
    names.forEach(n => { const o = document.createElement('option'); o.value = n; list.appendChild(o); });
    const input = box.querySelector('input');
    box.addEventListener('submit', e => {
      e.preventDefault();
      const v = input.value;
      // type-ahead: a unique class starting with what was typed is taken
      const pick = names.includes(v) ? v :
        names.filter(n => n.toLowerCase().startsWith(v.toLowerCase())).length === 1 ?
        names.find(n => n.toLowerCase().startsWith(v.toLowerCase())) : null;
      if (!pick) { say('no single class matches "' + v + '"'); return; }
      box.remove();
      act('relabel', pick);
    });
    box.addEventListener('keydown', e => { if (e.key === 'Escape') { box.remove(); select(current); } });
    document.body.appendChild(box);
    input.focus();
  }

  document.addEventListener('keydown', e => {
    if (e.target.closest && e.target.closest('.picker, form.filters')) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const n = columns();
    const moves = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: n, ArrowUp: -n};
    if (e.key in moves) { e.preventDefault(); select(current + moves[e.key]); return; }
    if (!decide) return;
    if (e.key === 'a') act('accept');
    else if (e.key === 'd') act('drop');
    else if (e.key === 'r') { e.preventDefault(); picker(); }
    else if (e.key === 'u') undo();
  });

  document.addEventListener('click', e => {
    const b = e.target.closest && e.target.closest('button[data-act]');
    if (!b || !decide) return;
    select(cards().indexOf(b.closest('[data-task]')));
    const a = b.dataset.act;
    if (a === 'relabel') picker(); else if (a === 'undo') undo(); else act(a);
  });

  cards().forEach((c, k) => c.addEventListener('focus', () => { current = k; }));
  if (cards().length) select(0);
})();
