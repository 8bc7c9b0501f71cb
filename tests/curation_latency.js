// Key-to-panel latency of a curation decision, measured inside the page (tests and bench/ load it).
// hgArm(want) waits for the next key press; the promise it leaves in window.hgResult resolves to
// {dom: ms until the decision badge's element says `want`, panel: ms until the frame showing it is
// about to be painted, confirmed: ms until the server's reply says "saved"}, all counted from the
// key event's own timestamp.
() => {
  window.hgArm = (want) => {
    window.hgResult = new Promise((resolve) => {
      let t0 = null, dom = null, shown = null;
      const badge = () => document.querySelector('#variant-state .hg-vstate');
      window.addEventListener('keydown', (e) => { t0 = e.timeStamp; }, {capture: true, once: true});
      const watch = new MutationObserver(() => {
        if (t0 !== null && dom === null && badge()?.dataset.status === want) dom = performance.now();
      });
      watch.observe(document.querySelector('#variant-state'), {subtree: true, childList: true, attributes: true});
      const tick = () => {
        const now = performance.now();
        const b = badge();
        if (t0 !== null && shown === null && b && b.dataset.status === want) shown = now;
        const note = b && b.querySelector('.hg-vstate-note');
        const done = shown !== null && b && b.dataset.status === want && note && note.textContent === 'saved';
        if (done || (t0 !== null && now - t0 > 60000)) {
          watch.disconnect();
          const ms = (t) => (t === null ? null : t - t0);
          resolve({dom: ms(dom), panel: ms(shown), confirmed: done ? now - t0 : null});
        } else {
          requestAnimationFrame(tick);
        }
      };
      requestAnimationFrame(tick);
    });
  };
}
