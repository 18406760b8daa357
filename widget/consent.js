/*
 * policysite consent widget (docs/widget.md): banner, preferences dialog, Google Consent Mode v2,
 * gated scripts and a queue of decisions for the collector.
 *
 * Readable source. widget/minify.sh minifies it with terser into consent.min.js (run it after
 * every edit; the tests check), and policysite/render/widget.py builds that: __CONFIG__ becomes
 * the site's config, every _("…") becomes S[i], the string in the visitor's language from the
 * theme's `widget` gettext catalogs (Babel's JavaScript extractor finds the same marks).
 *
 * Like a11y-dialog, it never throws and never logs: it returns early when there is nothing to
 * do, and storage, cookies and the network, the parts that can fail, are guarded where touched.
 *
 * Delivery: a decision is put in the localStorage queue first, then sent with
 * fetch(keepalive), whose status tells us whether the collector stored it (sendBeacon cannot).
 * 2xx and other 4xx remove it from the queue; 429, 5xx and network errors keep it for the next
 * page load, and a last try with navigator.sendBeacon goes out when the page is hidden. The
 * collector is idempotent on (consent_id, seq), so a decision is recorded exactly once.
 */
(C => {
  const D = document,
    W = window,
    N = navigator,
    lang = D.documentElement.lang.split("-")[0].toLowerCase(), // "EN-us" is English
    L = C.text[lang] ? lang : C.lang, // the visitor's language, else the site's default
    T = C.text[L],
    S = T.strings,
    cats = T.categories, // [[id, required, name, purpose, [[cookie, provider, purpose, lifetime], …]], …]
    gpc = !!N.globalPrivacyControl,
    // ";domain=ximgo.com" on ximgo.com and its subdomains; elsewhere (a preview) host-only.
    domain = C.domain && ("." + location.hostname).endsWith("." + C.domain) ? ";domain=" + C.domain : "",
    Q = C.cookie + "_q", // localStorage key of the decisions not yet delivered
    R = C.cookie + "_r", // and of the receipts the collector answered with (the last 20)
    failed = [], // bodies whose send failed on this page: sendBeacon tries again on pagehide
    mem = {}, // the lists store() keeps when storage is blocked
    layer = (W.dataLayer = W.dataLayer || []),
    gtag =
      W.gtag ||
      (W.gtag = function () {
        layer.push(arguments); // gtag.js reads Arguments objects, not arrays
      });
  let retry = 0, // the timer of the next try of what failed
    warned = 0, // the console hears of a refused decision once
    stored,
    cur = null, // the choice in force
    bar, // the banner
    dialog,
    boxes,
    opener;

  // Nothing outside `necessary` before a choice: Consent Mode starts with every signal denied.
  gtag("consent", "default", signals({}));
  W.policyConsent = { get, open, receipts: () => store(0, R) };
  // Reading document.cookie blocks on the browser process (1-2 ms in Chromium); the Cookie
  // Store API, where there is one (secure contexts), reads it off the main thread.
  W.cookieStore ? cookieStore.get(C.cookie).then(c => start(c ? c.value : ""), () => start()) : start();

  function start(value) {
    stored = read(value);
    cur = valid(stored) ? stored : null;
    D.readyState == "loading" ? D.addEventListener("DOMContentLoaded", init) : init();
  }

  function init() {
    if (cur) apply(cur.choices);
    else {
      embeds({});
      bar = h("div", { class: "pc pc-b", role: "region", "aria-label": _("Cookie"), lang: L },
        h("p", {},
          _("Chúng tôi dùng cookie cần thiết để trang web hoạt động và, nếu bạn đồng ý, cookie phân tích và quảng cáo. Bạn có thể đổi ý bất cứ lúc nào."),
          " ",
          h("a", { href: T.policy }, _("Chính sách bảo mật"))),
        gpc && h("p", {}, _("Cookie quảng cáo bị tắt theo tín hiệu Global Privacy Control.")),
        buttons(_("Tùy chỉnh"), open));
      // First in the tab order, or where the page marks its place (after a skip link);
      // position: fixed, so it moves no content (CLS 0).
      (D.querySelector("[data-consent-banner]") || D.body).prepend(bar);
      // WCAG 2.4.11: --pc-h on <html> is the banner's height, for the page to keep that band
      // clear (bottom padding, scroll-padding) so that nothing focused hides under it.
      new ResizeObserver(() => D.documentElement.style.setProperty("--pc-h", bar.offsetHeight + "px")).observe(bar);
    }
    // Undelivered decisions are retried here. Only a visitor who chose can have any, and the
    // first localStorage access costs milliseconds: a first visit leaves it alone.
    stored && store().forEach(send);
    D.addEventListener("click", e => {
      if (e.target.closest("[data-consent-open]")) {
        e.preventDefault();
        open();
      }
    });
    W.addEventListener("pagehide", () => failed.forEach(b => N.sendBeacon(C.url, b)));
  }

  /** The choice in force, or null while the visitor has to choose. A copy: callers cannot change it. */
  function get() {
    return cur && structuredClone(cur);
  }

  /** Open the preferences (the footer's data-consent-open control, or the API). */
  function open() {
    if (!D.body || dialog?.open) return;
    dialog || build();
    // The choice in force, not the cookie: a stale one (expired, before a re-consent version,
    // without a new category) must not come back ticked. Nothing is consented by default.
    const c = cur?.choices || {};
    boxes.forEach(b => (b.checked = b.disabled || !!c[b.name]));
    opener = D.activeElement;
    dialog.showModal();
    bar && (bar.hidden = 1); // two layers of the same choices would confuse
  }

  function build() {
    // An on/off switch per category: a checkbox, announced as a switch.
    boxes = cats.map(([id, required]) => h("input", { type: "checkbox", role: "switch", name: id, disabled: !!required }));
    dialog = h("dialog", {
        class: "pc pc-d",
        lang: L,
        "aria-label": _("Cài đặt cookie"),
        // showModal makes the page inert, but Tab would still leave for the browser's own UI.
        onkeydown: e => {
          const f = dialog.querySelectorAll("input:enabled,button,summary"),
            i = e.shiftKey ? 0 : f.length - 1; // the control Tab would leave the dialog from
          if (e.key == "Tab" && D.activeElement == f[i]) {
            e.preventDefault();
            f[f.length - 1 - i].focus();
          }
        },
        // The banner, hidden while the dialog is open, comes back if no choice was made: at
        // once on Escape (before the browser gives focus back to it), else on close.
        oncancel: show,
        // Chromium leaves focus on <body> when a modal dialog closes; give it back.
        onclose: () => {
          show();
          opener?.focus();
        }
      },
      h("h2", {}, _("Cài đặt cookie")),
      gpc && h("p", {}, _("Cookie quảng cáo bị tắt theo tín hiệu Global Privacy Control.")),
      // Each category by its name and purpose from site.toml, then its cookies: provider,
      // lifetime and purpose. The summary names the category: three "Cookie list"s would not.
      ...cats.map(([, , name, purpose, cookies], i) =>
        h("div", { class: "pc-c" },
          h("label", {}, boxes[i], name),
          h("p", {}, purpose),
          h("details", {},
            h("summary", {}, _("Danh sách cookie") + ": " + name),
            h("ul", {}, ...cookies.map(k => h("li", {}, h("code", {}, k[0]), " (" + k[1] + ", " + k[3] + "): " + k[2])))))),
      buttons(_("Lưu lựa chọn"), () => decide(Object.fromEntries(boxes.map(b => [b.name, b.checked])), "custom")),
      // The receipts prove each decision offline (docs/consent-log.md); the visitor keeps a copy.
      h("button", { class: "pc-l", onclick: () => h("a", { download: "consent-record.json", href: URL.createObjectURL(new Blob([JSON.stringify(store(0, R))], { type: "application/json" })) }).click() }, _("Tải bản ghi đồng ý của tôi")),
      h("button", { class: "pc-x", "aria-label": _("Đóng"), onclick: () => dialog.close() }, "×"));
    D.body.append(dialog);
  }

  function show() {
    bar && (bar.hidden = 0);
  }

  /** Accept and reject side by side, same weight (docs/widget.md, *Looks*); then a third button. */
  function buttons(text, onclick) {
    // With GPC, advertising stays off until the visitor turns it on in the preferences.
    const button = (text, onclick) => h("button", { onclick }, text); // in no form: no type needed
    return h("div", { class: "pc-bs" },
      button(_("Chấp nhận tất cả"), () => decide(pick(id => !(gpc && id == "advertising")), "accept_all")),
      button(_("Từ chối tất cả"), () => decide(pick(() => 0), "reject_all")),
      button(text, onclick));
  }

  /** Choices with `necessary` on and every other category as `on(id)` says. */
  function pick(on) {
    return Object.fromEntries(cats.map(([id, required]) => [id, !!required || !!on(id)]));
  }

  /** Record a decision: cookie, queue and send, then put it in force. */
  function decide(choices, action) {
    const now = Date.now(),
      before = cur?.choices || {},
      old = read() || {}, // read again: another tab may have decided since this page loaded
      c = (cur = {
        id: old.id || uuid(),
        seq: (old.seq || 0) + 1,
        version: C.version,
        choices,
        created: old.created || now,
        updated: now
      }),
      body = JSON.stringify({
        consent_id: c.id,
        seq: c.seq,
        document: C.document,
        version: C.version,
        language: L,
        choices,
        action,
        gpc,
        page: location.pathname,
        banner_sha256: C.banner // what was shown: the build's archive (docs/consent-log.md)
      });
    save(c);
    const queue = [...store(), body];
    store(queue);
    queue.forEach(send); // with any decision left over from a visit without the cookie
    const revoked = cats.map(([id]) => id).filter(id => before[id] && !choices[id]);
    apply(choices, revoked);
    bar?.remove();
    dialog?.close();
    // Focus must not fall to <body>: back to what opened the dialog if it is still there
    // (onclose), else to the page's main landmark.
    const main = D.querySelector("main");
    opener?.isConnected || (main && ((main.tabIndex = -1), main.focus()));
    // Scripts already running keep their timers and listeners; a reload stops them.
    revoked.length && C.reload && location.reload();
  }

  /** The stored choice, from the cookie `id.seq.version.necessary+!advertising….created.updated`
   * (its value, or read now). */
  function read(value = (D.cookie.split("; ").find(c => c.startsWith(C.cookie + "=")) || "=").split("=")[1]) {
    const [id, seq, version, list, created, updated] = value.split(".");
    return updated ? { id, seq: +seq, version, choices: Object.fromEntries(list.split("+").map(k => [k.replace("!", ""), k[0] != "!"])), created: parseInt(created, 36), updated: parseInt(updated, 36) } : null;
  }

  /** A choice stands until it expires, a version with reconsent supersedes it, or a category is new. */
  function valid(s) {
    return s && s.version >= C.reconsent && Date.now() - s.updated < C.days * 864e5 && cats.every(([id]) => id in s.choices);
  }

  /** Put a choice in force: Consent Mode, the pixel, gated scripts; then tell the page (at load
   * too: with the Cookie Store API, get() knows the stored choice only from that moment). */
  function apply(choices, revoked = []) {
    gtag("consent", "update", signals(choices));
    W.fbq?.("consent", choices.advertising ? "grant" : "revoke");
    forget(choices);
    embeds(choices);
    D.querySelectorAll("script[type='text/plain'][data-consent]").forEach(s => {
      if (!s.dataset.consent.split(" ").every(id => choices[id])) return; // all of "a b"
      const n = D.createElement("script");
      for (const a of s.attributes) a.name != "type" && n.setAttribute(a.name, a.value);
      n.nonce = s.nonce; // the attribute reads "" once CSP hides it; the property keeps it
      // Inserted scripts are async unless told not to; only an async attribute makes one so,
      // and the others then run in the order they are inserted: document order.
      n.async = s.hasAttribute("async");
      n.text = s.text;
      s.replaceWith(n);
    });
    emit("consent:change", { ...get(), revoked });
  }

  /** Delete the cookies site.toml declares for every refused category ("_ga_*" is a pattern),
   * wherever they may have been set: this host or a parent domain, this path or one above. */
  function forget(choices) {
    const names = D.cookie.split("; ").map(c => c.split("=")[0]),
      host = location.hostname.split("."),
      domains = host.map((_, i) => ";domain=" + host.slice(i).join(".")).slice(0, -1),
      paths = location.pathname.split("/").map((_, i, a) => a.slice(0, i + 1).join("/") || "/");
    cats.forEach(([id, , , , cookies]) =>
      choices[id] || cookies.forEach(([pattern]) => {
        const re = RegExp("^" + pattern.split("*").map(s => s.replace(/\W/g, "\\$&")).join(".*") + "$");
        names.filter(n => re.test(n)).forEach(n =>
          ["", ...domains].forEach(d => paths.forEach(p => (D.cookie = n + "=;max-age=0;path=" + p + d))));
      }));
  }

  /** <iframe data-consent="advertising" data-src="…"> loads once all its categories are
   * granted (and unloads when one is withdrawn); until then its placeholder (kept as `pc`)
   * stands before it, names the provider and offers to grant them, a decision like any other. */
  function embeds(choices) {
    D.querySelectorAll("iframe[data-consent][data-src]").forEach(f => {
      const ids = f.dataset.consent.split(" "),
        names = cats.filter(([id]) => ids.includes(id)).map(c => c[2]).join(", ");
      if ((f.hidden = !ids.every(id => choices[id]))) {
        f.src = "about:blank";
        f.before(f.pc ||= h("div", { class: "pc pc-e", lang: L },
          h("p", {}, _("Nội dung này từ {0} chỉ được tải khi bạn cho phép cookie {1}.").replace("{0}", f.dataset.provider || new URL(f.dataset.src, location).hostname).replace("{1}", names)),
          h("button", { onclick: () => decide(pick(id => ids.includes(id) || cur?.choices[id]), "custom") }, _("Cho phép cookie {1}").replace("{1}", names))));
      } else {
        f.pc?.remove();
        f.getAttribute("src") != f.dataset.src && (f.src = f.dataset.src); // src reads absolute
      }
    });
  }

  function emit(type, detail) {
    D.dispatchEvent(new CustomEvent(type, { detail }));
  }

  function signals(choices) {
    const g = id => (choices[id] ? "granted" : "denied"),
      ad = g("advertising");
    return { ad_storage: ad, ad_user_data: ad, ad_personalization: ad, analytics_storage: g("analytics") };
  }

  /** Write the choice `c` to the consent cookie (docs/widget.md, *What is stored*), for the
   * whole site when `cookie_domain` covers this host (a host-only copy would shadow it). */
  function save(c) {
    domain && (D.cookie = C.cookie + "=;max-age=0;path=/");
    D.cookie =
      C.cookie + "=" +
      [c.id, c.seq, c.version, cats.map(([id]) => (c.choices[id] ? "" : "!") + id).join("+"), c.created.toString(36), c.updated.toString(36)].join(".") +
      ";max-age=" + C.days * 86400 + ";path=/;samesite=lax" + (location.protocol == "https:" ? ";secure" : "") + domain;
  }

  /** Read the list under key `k` (the queue by default), or replace it with `q`. Storage may
   * be blocked: the list is empty then. */
  function store(q, k = Q) {
    try {
      if (!q) return JSON.parse(localStorage.getItem(k)) || [];
      q.length ? localStorage.setItem(k, JSON.stringify(q)) : localStorage.removeItem(k);
    } catch (e) {
      // Storage blocked: the page's memory holds the list while the page lives.
      if (!q) return mem[k] || [];
      mem[k] = q;
    }
  }

  function send(body) {
    fetch(C.url, { method: "POST", body, keepalive: true }).then(r => {
      if (r.status > 499 || r.status == 429) return fail(body);
      store(store().filter(b => b != body));
      if (r.status == 409) return again(body);
      r.ok
        ? r.json().then(a => a.receipt && store([...store(0, R), a.receipt].slice(-20), R), () => 0)
        : (emit("consent:error", { status: r.status, body }),
          warned++ || console.warn("consent:error", r.status));
    }, () => fail(body));
  }

  /** Keep a decision that did not arrive, and try again while the page lives (every 30 s);
   * sendBeacon makes a last try when it closes. */
  function fail(body) {
    failed.includes(body) || failed.push(body);
    retry ||= setTimeout(() => ((retry = 0), failed.splice(0).forEach(send)), 3e4);
  }

  /** 409: this seq was used for another decision (another tab, a lost cookie). The same
   * decision goes again with the next seq, so that the log holds the browser's choice. */
  function again(body) {
    const b = JSON.parse(body);
    if (cur?.id != b.consent_id) return;
    b.seq = cur.seq = Math.max(cur.seq, b.seq) + 1;
    save(cur);
    store([...store(), (body = JSON.stringify(b))]);
    send(body);
  }

  /** A random (version 4) UUID; crypto.randomUUID exists only in secure contexts. */
  function uuid() {
    return crypto.randomUUID?.() || "10000000-1000-4000-8000-100000000000".replace(/[018]/g, d => (d ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (d / 4)))).toString(16));
  }

  /** A new element: props that are element properties are set, others become attributes. */
  function h(tag, props, ...kids) {
    const e = D.createElement(tag);
    for (const k in props) k in e ? (e[k] = props[k]) : e.setAttribute(k, props[k]);
    kids.forEach(k => k && e.append(k));
    return e;
  }
})(__CONFIG__);
