() => {
  // Keyboard shortcuts of the Augment & Curate workbench, run once when the page loads (Gradio's
  // Blocks js=). Gradio has none built in, so keys click the (possibly hidden) buttons by id.
  const keys = {a: 'accept-one', r: 'reject-one', u: 'undo-one', ArrowRight: 'next-variant',
                ArrowLeft: 'prev-variant', PageDown: 'next-page', PageUp: 'prev-page'};
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    const tab = document.querySelector('#tab-augment');
    if (!tab || tab.offsetParent === null) return;   // only on the Augment & Curate step
    if (e.key === '?') { document.querySelector('#hotkeys-help')?.scrollIntoView({block: 'center'}); return; }
    const id = keys[e.key];
    const el = id && (document.querySelector('#' + id + ' button') || document.querySelector('#' + id));
    if (el) { e.preventDefault(); el.click(); }
  });
}
