// The memory manager (a dialog over the chat) and the app's in-page question dialog.
// Loaded by assistant.js. Data comes from the routes in assistant/web/memory_manager.py.
(() => {
  if (window.assistantDialog) return;
  const here = document.currentScript ? new URL(document.currentScript.src).pathname : "";
  const BASE = here.replace(/\/public\/memory_manager\.js$/, "");
  const API = `${BASE}/assistant/memories`;

  // Line icons (Lucide's outlines), so the manager matches the rest of the page.
  const PATHS = {
    library:
      '<path d="m16 6 4 14"/><path d="M12 6v14"/><path d="M8 8v12"/><path d="M4 4v16"/>',
    x: '<path d="M18 6 6 18"/><path d="m6 6 12 12"/>',
    search: '<circle cx="11" cy="11" r="8"/><path d="m21 21-4.3-4.3"/>',
    pencil:
      '<path d="M21.174 6.812a1 1 0 0 0-3.986-3.987L3.842 16.174a2 2 0 0 0-.5.83l-1.321 4.352a.5.5 0 0 0 .623.622l4.353-1.32a2 2 0 0 0 .83-.497z"/><path d="m15 5 4 4"/>',
    pin:
      '<path d="M12 17v5"/><path d="M9 10.76a2 2 0 0 1-1.11 1.79l-1.78.9A2 2 0 0 0 5 15.24V16a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-.76a2 2 0 0 0-1.11-1.79l-1.78-.9A2 2 0 0 1 15 10.76V7a1 1 0 0 1 1-1 2 2 0 0 0 0-4H8a2 2 0 0 0 0 4 1 1 0 0 1 1 1z"/>',
    pinOff:
      '<path d="M12 17v5"/><path d="M15 9.34V7a1 1 0 0 1 1-1 2 2 0 0 0 0-4H7.89"/><path d="m2 2 20 20"/><path d="M9 9v1.76a2 2 0 0 1-1.11 1.79l-1.78.9A2 2 0 0 0 5 15.24V16a1 1 0 0 0 1 1h11"/>',
    trash:
      '<path d="M3 6h18"/><path d="M19 6v14c0 1-1 2-2 2H7c-1 0-2-1-2-2V6"/><path d="M8 6V4c0-1 1-2 2-2h4c1 0 2 1 2 2v2"/><path d="M10 11v6"/><path d="M14 11v6"/>',
    undo: '<path d="M9 14 4 9l5-5"/><path d="M4 9h10.5a5.5 5.5 0 0 1 5.5 5.5a5.5 5.5 0 0 1-5.5 5.5H11"/>',
    chat: '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/>',
  };
  const icon = (name) =>
    `<svg class="asst-icon" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${PATHS[name]}</svg>`;

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "html") node.innerHTML = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false)
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  };
  const button = (label, attrs = {}, iconName = null) =>
    el("button", { type: "button", class: "asst-btn", ...attrs }, iconName ? el("span", { html: icon(iconName) }) : null, label);
  const iconButton = (label, iconName, attrs = {}) =>
    el("button", { type: "button", class: "asst-icon-btn", "aria-label": label, title: label, html: icon(iconName), ...attrs });
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many || one + "s"}`;

  // -- a modal layer: focus kept inside, Escape handled, focus given back when it closes --------
  const stack = [];
  function layer(box, { onEscape, label, top = false }) {
    const opener = document.activeElement;
    const overlay = el("div", { class: top ? "asst-overlay asst-overlay-top" : "asst-overlay" }, box);
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    if (label) box.setAttribute("aria-labelledby", label);
    const focusable = () =>
      [...box.querySelectorAll("button, input, textarea, a[href], [tabindex]:not([tabindex='-1'])")].filter(
        (n) => !n.disabled && n.offsetParent !== null,
      );
    const onKey = (event) => {
      if (stack[stack.length - 1] !== overlay) return;
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        onEscape();
      } else if (event.key === "Tab") {
        const nodes = focusable();
        if (!nodes.length) return;
        const first = nodes[0];
        const last = nodes[nodes.length - 1];
        if (event.shiftKey && document.activeElement === first) {
          event.preventDefault();
          last.focus();
        } else if (!event.shiftKey && document.activeElement === last) {
          event.preventDefault();
          first.focus();
        }
      }
    };
    overlay.addEventListener("mousedown", (event) => {
      if (event.target === overlay) onEscape();
    });
    // Focus that wanders outside (a click on the page behind, a closing dialog) comes back in.
    const onFocus = (event) => {
      if (stack[stack.length - 1] === overlay && !overlay.contains(event.target)) {
        const nodes = focusable();
        if (nodes.length) nodes[0].focus();
      }
    };
    document.addEventListener("focusin", onFocus);
    document.addEventListener("keydown", onKey, true);
    document.body.append(overlay);
    stack.push(overlay);
    return {
      overlay,
      close() {
        document.removeEventListener("keydown", onKey, true);
        document.removeEventListener("focusin", onFocus);
        overlay.remove();
        stack.splice(stack.indexOf(overlay), 1);
        if (opener && opener.focus && document.contains(opener)) opener.focus();
      },
    };
  }

  // -- the app's question dialog: a title, some text, one button per choice ---------------------
  // choose({title, text, choices: [{label, value, kind}], focus: value, escape: value}) -> Promise<value>
  // A dialog of the page (Chainlit's own) that is closing gives focus back to its opener when it goes:
  // wait until it has gone, so that focus stays in ours.
  async function othersClosed() {
    const other = () => [...document.querySelectorAll('[role="dialog"], [role="alertdialog"]')].some((n) => !n.classList.contains("asst-dialog"));
    for (let i = 0; i < 40 && other(); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 50));
  }

  async function choose({ title, text, choices, focus, escape }) {
    await othersClosed();
    return new Promise((resolve) => {
      let done = false;
      const titleId = `asst-dialog-title-${Date.now()}`;
      const finish = (value) => {
        if (done) return;
        done = true;
        handle.close();
        resolve(value);
      };
      const buttons = choices.map((choice) =>
        button(choice.label, {
          class: `asst-btn ${choice.kind === "danger" ? "asst-btn-danger" : choice.kind === "primary" ? "asst-btn-primary" : ""}`,
          "data-value": choice.value,
          onclick: () => finish(choice.value),
        }),
      );
      const box = el(
        "div",
        { class: "asst-dialog asst-question" },
        el("h2", { id: titleId, class: "asst-title" }, title),
        ...[].concat(text).map((line) => el("p", { class: "asst-text" }, line)),
        el("div", { class: "asst-actions" }, buttons),
      );
      const handle = layer(box, { onEscape: () => finish(escape), label: titleId });
      const first = buttons[choices.findIndex((c) => c.value === focus)] || buttons[0];
      first.focus();
    });
  }
  window.assistantDialog = { choose };

  // -- the memory manager -----------------------------------------------------------------------
  let open = null; // the manager's state while it is shown

  async function api(path, body) {
    let response;
    try {
      response = await fetch(`${API}${path}`, {
        method: body ? "POST" : "GET",
        credentials: "include",
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      throw new Error("The server could not be reached. Check the connection and try again.");
    }
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = {};
    }
    if (!response.ok) {
      const detail = typeof data.detail === "string" ? data.detail : "That did not work. Reload the list and try again.";
      throw new Error(detail.charAt(0).toUpperCase() + detail.slice(1));
    }
    return data;
  }

  function status(text, undoEvent = null, kind = "info") {
    if (!open) return;
    const bar = open.status;
    bar.replaceChildren();
    bar.className = `asst-status ${kind === "error" ? "asst-status-error" : ""}`;
    if (!text) return;
    bar.append(el("span", {}, text));
    if (undoEvent) {
      bar.append(
        button("Undo", {
          class: "asst-btn asst-btn-small",
          "data-testid": "memory-undo",
          onclick: async () => {
            try {
              const done = await api("/undo", { event: undoEvent });
              await reload();
              status(done.message);
            } catch (e) {
              status(e.message, null, "error");
            }
          },
        }, "undo"),
      );
    }
  }

  // A conversation link opens it in this page (the app's router follows history changes) and closes the manager.
  function goTo(event) {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    const href = event.currentTarget.getAttribute("href");
    if (open) {
      open.handle.close();
      open = null;
    }
    window.history.pushState({}, "", href);
    window.dispatchEvent(new PopStateEvent("popstate"));
  }

  async function reload() {
    if (!open) return;
    open.data = await api("");
    const query = open.search.value.trim().toLowerCase();
    if (query) open.turnHits = { query, items: (await api(`/search?q=${encodeURIComponent(query)}`)).turns };
    render();
  }

  function matches(item, query) {
    if (!query) return true;
    const hay = `${item.text} ${item.origin} ${item.thread_title || ""} ${item.source_excerpt || ""} ${item.short_id}`;
    return hay.toLowerCase().includes(query);
  }

  function memoryRow(item) {
    const row = el("li", { class: "asst-memory", "data-memory-id": item.id });
    const meta = el(
      "div",
      { class: "asst-meta" },
      el("span", {}, item.origin),
      el("span", {}, item.date),
      item.thread_id
        ? el(
            "a",
            { href: `${BASE}/thread/${item.thread_id}`, class: "asst-source", title: "Open this conversation", onclick: goTo },
            el("span", { html: icon("chat") }),
            item.thread_title,
          )
        : null,
      el("code", { class: "asst-id", title: "Memory id (for /edit and /forget)" }, item.short_id),
    );
    const text = el("p", { class: "asst-memory-text" }, item.who ? `${item.who}: ${item.text}` : item.text);
    const said = item.source_excerpt ? el("p", { class: "asst-said" }, `From your message: “${item.source_excerpt}”`) : null;
    const tools = el(
      "div",
      { class: "asst-tools" },
      item.kind === "semantic" ? iconButton("Edit", "pencil", { onclick: () => editRow(row, item) }) : null,
      iconButton(item.pinned ? "Unpin" : "Pin", item.pinned ? "pinOff" : "pin", {
        onclick: async () => {
          try {
            const done = await api(`/${item.id}/pin`, { pinned: !item.pinned });
            await reload();
            status(done.message, done.undo);
          } catch (e) {
            status(e.message, null, "error");
          }
        },
      }),
      iconButton("Forget", "trash", { onclick: () => forgetRow(row, item) }),
    );
    row.append(el("div", { class: "asst-memory-body" }, text, meta, said), tools);
    return row;
  }

  function editRow(row, item) {
    const area = el("textarea", { class: "asst-input asst-edit", rows: 3, "aria-label": "Memory text" });
    area.value = item.text;
    const save = async () => {
      try {
        const done = await api(`/${item.id}/edit`, { text: area.value });
        await reload();
        status(done.message, done.undo);
      } catch (e) {
        status(e.message, null, "error");
      }
    };
    const cancel = () => render();
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        save();
      }
    });
    row.replaceChildren(
      el(
        "div",
        { class: "asst-memory-body" },
        area,
        el(
          "div",
          { class: "asst-row-actions" },
          el("span", { class: "asst-hint" }, "Enter saves, Shift+Enter adds a line, Escape cancels. The old text is kept as history."),
          button("Cancel", { onclick: cancel }),
          button("Save", { class: "asst-btn asst-btn-primary", onclick: save }),
        ),
      ),
    );
    open.rowOpen = true;
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }

  async function forgetRow(row, item) {
    let also = "";
    try {
      also = (await api("/forget-preview", { ids: [item.id] })).also;
    } catch (e) {
      status(e.message, null, "error");
      return;
    }
    const keep = button("Keep it", { onclick: () => render() });
    const go = button("Forget it", {
      class: "asst-btn asst-btn-danger",
      onclick: async () => {
        try {
          const done = await api("/forget", { ids: [item.id] });
          await reload();
          status(done.message);
        } catch (e) {
          status(e.message, null, "error");
        }
      },
    });
    row.classList.add("asst-confirm");
    row.replaceChildren(
      el(
        "div",
        { class: "asst-memory-body" },
        el("p", { class: "asst-memory-text" }, `Forget “${item.text.length > 140 ? item.text.slice(0, 139) + "…" : item.text}”?`),
        also ? el("p", { class: "asst-hint" }, also) : null,
        el("p", { class: "asst-hint" }, "Forgetting is final: it is deleted everywhere and cannot be undone."),
        el("div", { class: "asst-row-actions" }, keep, go),
      ),
    );
    open.rowOpen = true;
    keep.focus();
  }

  function section(title, note, count, body, testid) {
    return el(
      "section",
      { class: "asst-section", "data-testid": testid },
      el("h3", { class: "asst-section-title" }, title, el("span", { class: "asst-count" }, String(count))),
      note ? el("p", { class: "asst-hint" }, note) : null,
      body,
    );
  }

  function render() {
    if (!open || !open.data) return;
    const data = open.data;
    const query = open.search.value.trim().toLowerCase();
    const pinned = data.pinned.items.filter((m) => matches(m, query));
    const facts = data.facts.items.filter((m) => matches(m, query));
    const threads = data.turns.threads.filter((t) => !query || t.title.toLowerCase().includes(query));
    const turnHits = query && open.turnHits.query === query ? open.turnHits.items : [];
    const parts = [];
    if (!data.memory_on)
      parts.push(
        el("p", { class: "asst-banner" }, "Memory is off for all chats: nothing new is remembered or recalled until you turn it on in the settings."),
      );
    const list = (items, empty) =>
      items.length ? el("ul", { class: "asst-list" }, items.map(memoryRow)) : el("p", { class: "asst-empty" }, empty);
    const none = query ? "Nothing here matches the search." : null;
    parts.push(
      section(
        "Pinned",
        "Always in my context, in every chat.",
        data.pinned.total,
        list(pinned, none || "Nothing pinned. Pin a fact below, or tell me one with /remember."),
        "memories-pinned",
      ),
      section(
        "Facts",
        data.extraction.on
          ? "Recalled when relevant. Facts are also picked up from our conversations."
          : "Recalled when relevant.",
        data.facts.total,
        list(facts, none || "No other facts yet."),
        "memories-facts",
      ),
      section(
        "Conversation turns",
        "Earlier messages, recalled when relevant. Search to find single turns; deleting a conversation forgets all of its turns.",
        data.turns.total,
        turnHits.length || threads.length
          ? el("div", {}, turnHits.length ? el("ul", { class: "asst-list", "data-testid": "matching-turns" }, turnHits.map(memoryRow)) : null, threads.length ? el(
              "ul",
              { class: "asst-list asst-threads" },
              threads.map((t) =>
                el(
                  "li",
                  { class: "asst-thread" },
                  t.thread_id
                    ? el("a", { href: `${BASE}/thread/${t.thread_id}`, class: "asst-source", onclick: goTo }, el("span", { html: icon("chat") }), t.title)
                    : el("span", {}, t.title),
                  el("span", { class: "asst-meta" }, `${plural(t.turns, "turn")} · last ${t.last}`),
                ),
              ),
            ) : null)
          : el("p", { class: "asst-empty" }, none || "No conversation turns remembered yet."),
        "memories-turns",
      ),
    );
    if (data.superseded)
      parts.push(el("p", { class: "asst-hint asst-history" }, `${plural(data.superseded, "earlier version")} of edited or replaced facts kept as history.`));
    open.body.replaceChildren(...parts);
    open.rowOpen = false;
  }

  async function openManager() {
    if (open) {
      open.search.focus();
      return;
    }
    const titleId = "asst-memories-title";
    const search = el("input", {
      type: "search",
      class: "asst-input asst-search",
      placeholder: "Search memories",
      "aria-label": "Search memories",
    });
    const body = el("div", { class: "asst-body", "aria-live": "polite" }, el("p", { class: "asst-empty" }, "Loading…"));
    const statusBar = el("div", { class: "asst-status", role: "status" });
    const close = () => {
      if (!open) return;
      open.handle.close();
      open = null;
    };
    const box = el(
      "div",
      { class: "asst-dialog asst-manager", id: "memory-manager" },
      el(
        "header",
        { class: "asst-header" },
        el("div", { class: "asst-heading" }, el("span", { html: icon("library") }), el("h2", { id: titleId, class: "asst-title" }, "Memories")),
        iconButton("Close", "x", { onclick: close }),
      ),
      el("p", { class: "asst-text asst-intro" }, "What I remember about you and where each memory came from. Edit, pin or forget any of them."),
      el("label", { class: "asst-search-wrap" }, el("span", { html: icon("search") }), search),
      body,
      statusBar,
    );
    open = { data: null, body, search, status: statusBar, turnHits: { query: "", items: [] } };
    // Escape first leaves an edit or a forget question, then closes the manager.
    const escape = () => {
      if (open && open.rowOpen) {
        render();
        search.focus();
      } else close();
    };
    open.handle = layer(box, { onEscape: escape, label: titleId, top: true });
    let pending = null;
    search.addEventListener("input", () => {
      render();
      clearTimeout(pending);
      const query = search.value.trim().toLowerCase();
      if (!query) return;
      // Turns are too many to send to the page: the server finds the ones that match, as /recall does.
      pending = setTimeout(async () => {
        try {
          const found = await api(`/search?q=${encodeURIComponent(query)}`);
          if (open && open.search.value.trim().toLowerCase() === query) {
            open.turnHits = { query, items: found.turns };
            render();
          }
        } catch (e) {
          status(e.message, null, "error");
        }
      }, 250);
    });
    search.focus();
    try {
      await reload();
    } catch (e) {
      body.replaceChildren(el("p", { class: "asst-empty" }, e.message));
    }
  }
  window.addEventListener("assistant:open-memories", openManager);
  window.assistantMemories = { open: openManager };

  // -- the button in the header: next to the other header buttons, put back if the page redraws it --
  function placeButton() {
    if (document.getElementById("memories-button") || !document.getElementById("chat-input")) return;
    const anchor = document.getElementById("new-chat-button") || document.getElementById("theme-toggle");
    const header = document.getElementById("header") || (anchor && anchor.parentElement);
    if (!header) return;
    const target = (document.getElementById("theme-toggle") || {}).parentElement || header;
    const node = iconButton("Memories", "library", { id: "memories-button", class: "asst-icon-btn asst-header-btn", onclick: openManager });
    target.insertBefore(node, target.firstChild);
  }
  new MutationObserver(placeButton).observe(document.documentElement, { childList: true, subtree: true });
  placeButton();
})();
