() => {
  // Keyboard shortcuts and instant feedback of the Augment & Curate workbench, run once when the page
  // loads (Gradio's Blocks js=). Gradio has no key bindings, so keys click the buttons by id.
  const keys = {a: 'accept-one', r: 'reject-one', u: 'undo-one', ArrowRight: 'next-variant',
                ArrowLeft: 'prev-variant', PageDown: 'next-page', PageUp: 'prev-page'};
  const decisionOf = {'accept-one': 'accepted', 'reject-one': 'rejected', 'undo-one': 'pending'};
  const mark = {pending: '•', accepted: '✓', rejected: '✗'};
  const button = (id) => document.querySelector('#' + id + ' button') || document.querySelector('#' + id);

  // A decision shows the moment it is made: the badge and the selected thumbnail change here, before
  // the server has written it; the server's reply then replaces the badge ("saved", or the error and
  // the stored state when the write failed). A reply that never comes is said too.
  const markThumb = (decision) => {
    const thumb = document.querySelector('#variant-gallery .thumbnail-item.selected');
    if (!thumb) return;
    // Only real changes are written: the observer below sees this function's own writes.
    if (!thumb.classList.contains('hg-t-' + decision)) {
      thumb.classList.remove('hg-t-accepted', 'hg-t-rejected', 'hg-t-pending');
      thumb.classList.add('hg-t-' + decision);
    }
    const cap = thumb.querySelector('.caption-label');
    const text = cap ? cap.textContent.trim() : '';
    if (Object.values(mark).includes(text[0]) && text[0] !== mark[decision]) cap.textContent = mark[decision] + text.slice(1);
  };
  // The server's badge is the truth: when it arrives (a failed write included), the selected
  // thumbnail follows it, since a gallery re-sent unchanged is not drawn again.
  new MutationObserver(() => {
    const b = document.querySelector('#variant-state .hg-vstate');
    const note = b && b.querySelector('.hg-vstate-note');
    if (b && b.dataset.vid && b.dataset.status && !(note && note.textContent === 'saving…')) markThumb(b.dataset.status);
  }).observe(document.body, {childList: true, subtree: true, characterData: false});
  const showAtOnce = (decision) => {
    const badge = document.querySelector('#variant-state .hg-vstate');
    if (!badge || !badge.dataset.vid || badge.dataset.merged === '1') return;
    badge.className = 'hg-vstate hg-s-' + decision;
    badge.dataset.status = decision;
    badge.querySelector('.hg-vstate-label').textContent = decision;
    const note = badge.querySelector('.hg-vstate-note');
    if (note) note.textContent = 'saving…';
    badge.querySelector('.hg-vstate-error')?.remove();
    markThumb(decision);
    const vid = badge.dataset.vid;
    setTimeout(() => {
      const now = document.querySelector('#variant-state .hg-vstate');
      const n = now && now.dataset.vid === vid && now.querySelector('.hg-vstate-note');
      if (n && n.textContent === 'saving…') n.textContent = '⚠ not confirmed by the server yet — check the message above';
    }, 5000);
  };
  document.addEventListener('click', (e) => {
    for (const [id, decision] of Object.entries(decisionOf)) {
      if (e.target.closest('#' + id)) { showAtOnce(decision); return; }
    }
    // A group's Accept / Reject in the review by sequence: hand the action to the hidden textbox and button.
    const act = e.target.closest('.hg-group-act');
    if (act && !act.disabled) {
      const box = document.querySelector('#group-action textarea, #group-action input');
      if (!box) return;
      box.value = act.dataset.act;
      box.dispatchEvent(new Event('input', {bubbles: true}));
      act.disabled = true;
      act.textContent = 'saving…';
      setTimeout(() => button('group-apply')?.click(), 0);
    }
  }, true);

  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    const tab = document.querySelector('#tab-augment');
    if (!tab || tab.offsetParent === null) return;   // only on the Augment & Curate step
    if (e.key === '?') { document.querySelector('#hotkeys-help')?.scrollIntoView({block: 'center'}); return; }
    const el = keys[e.key] && button(keys[e.key]);
    if (!el) return;
    e.preventDefault();
    const decision = decisionOf[keys[e.key]];
    if (!decision) { el.click(); return; }
    // Drawn first, sent next: Gradio's own handling of the click would otherwise delay the frame.
    showAtOnce(decision);
    requestAnimationFrame(() => setTimeout(() => el.click(), 0));
  });

  // The tabs refresh when the catalog changed, not on a timer (see app/common.py, Poll): a cheap
  // question every POLL_MS, and the hidden refresh button clicked only when the answer is new.
  let seen = null;
  setInterval(async () => {
    if (document.hidden) return;
    try {
      const answer = await (await fetch('hg/changes', {cache: 'no-store'})).text();
      // The first answer only sets the mark: the page's load has just filled every tab.
      if (seen !== null && answer !== seen) button('hg-poll')?.click();
      seen = answer;
    } catch (err) { /* the server is restarting: ask again next time */ }
  }, POLL_MS);
}
