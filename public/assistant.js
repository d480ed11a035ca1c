// The memory manager and the app's dialogs live in their own file (and stylesheet), loaded from here.
(() => {
  const base = document.currentScript ? new URL(document.currentScript.src).pathname.replace(/assistant\.js$/, "") : "/public/";
  const sheet = document.createElement("link");
  sheet.rel = "stylesheet";
  sheet.href = `${base}memory_manager.css`;
  document.head.append(sheet);
  const script = document.createElement("script");
  script.src = `${base}memory_manager.js`;
  document.head.append(script);
})();

// Before a thread is deleted from the sidebar, ask whether to also forget the memories that came from it.
(() => {
  const originalFetch = window.fetch.bind(window);
  // Asked in the app's own dialog (public/memory_manager.js); Escape keeps the facts.
  const askForgetMemories = async () => {
    const dialog = window.assistantDialog;
    if (!dialog) return window.confirm("Also forget the memories that came from this conversation?");
    const answer = await dialog.choose({
      title: "Also forget its memories?",
      text: [
        "The conversation and its own turns are deleted either way.",
        "Forget them too: the facts it taught me go as well. Keep the facts: I still know them.",
      ],
      choices: [
        { label: "Keep the facts", value: "keep" },
        { label: "Forget them too", value: "forget", kind: "danger" },
      ],
      focus: "keep",
      escape: "keep",
    });
    return answer === "forget";
  };
  window.fetch = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input.url;
    const method = (init.method || "GET").toUpperCase();
    const path = url.split("?")[0];
    if (method === "DELETE" && path.endsWith("/project/thread") && typeof init.body === "string") {
      let threadId = null;
      try {
        threadId = JSON.parse(init.body).threadId;
      } catch (e) {
        threadId = null;
      }
      if (threadId && (await askForgetMemories())) {
        const base = path.slice(0, -"/project/thread".length);
        const response = await originalFetch(`${base}/assistant/threads/${threadId}/forget-memories`, {
          method: "POST",
          credentials: "include",
          headers: init.headers,
        });
        if (!response.ok) {
          await (window.assistantDialog || { choose: async (q) => window.alert(q.text) }).choose({
            title: "The conversation was not deleted",
            text: "Its memories could not be forgotten, so nothing was deleted. Try again in a moment.",
            choices: [{ label: "OK", value: "ok", kind: "primary" }],
            escape: "ok",
          });
          return new Response(JSON.stringify({ detail: "memories not forgotten" }), { status: 500 });
        }
      }
    }
    return originalFetch(input, init);
  };
})();

// A very long paste would freeze the message box (it re-renders the whole text on every change), so it is
// attached as a text file instead: the app stores it as a document and answers can cite it.
(() => {
  const LONG_PASTE_CHARS = 20000;
  document.addEventListener(
    "paste",
    (event) => {
      const box = document.getElementById("chat-input");
      const upload = document.getElementById("upload-button-input");
      if (!box || !upload || event.target !== box || !event.clipboardData) return;
      const text = event.clipboardData.getData("text/plain");
      if (text.length <= LONG_PASTE_CHARS) return;
      event.preventDefault();
      event.stopPropagation();
      const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
      const file = new File([text], `pasted-text-${stamp}.txt`, { type: "text/plain" });
      const files = new DataTransfer();
      files.items.add(file);
      upload.files = files.files;
      upload.dispatchEvent(new Event("change", { bubbles: true }));
    },
    true,
  );
})();

// Deleting the conversation that is open leaves it: the page goes to a new chat (the server refuses any
// further message into a deleted thread either way).
(() => {
  const innerFetch = window.fetch.bind(window);
  window.fetch = async (input, init = {}) => {
    const response = await innerFetch(input, init);
    const url = typeof input === "string" ? input : input.url;
    const path = url.split("?")[0];
    const method = (init.method || "GET").toUpperCase();
    if (method === "DELETE" && path.endsWith("/project/thread") && response.ok && typeof init.body === "string") {
      let threadId = null;
      try {
        threadId = JSON.parse(init.body).threadId;
      } catch (e) {
        threadId = null;
      }
      if (threadId && window.location.pathname.endsWith(`/thread/${threadId}`)) {
        const home = window.location.pathname.slice(0, -`/thread/${threadId}`.length) || "/";
        window.setTimeout(() => window.location.assign(home), 600); // let "Chat deleted" show first
      }
    }
    return response;
  };
})();

// The memory state of the open chat (temporary chat, long-term memory off) as a badge at the top of the
// page, for as long as it holds; the server sends it on every chat start, resume and settings change.
(() => {
  const BADGE_ID = "assistant-memory-state";
  const show = (state) => {
    let badge = document.getElementById(BADGE_ID);
    const parts = [];
    if (state.temporary) parts.push(["temporary", "Temporary chat: nothing recalled or remembered"]);
    if (state.memoryOff) parts.push(["off", "Long-term memory off for all chats"]);
    if (!parts.length) {
      if (badge) badge.remove();
      return;
    }
    if (!badge) {
      badge = document.createElement("div");
      badge.id = BADGE_ID;
      badge.setAttribute("role", "status");
      document.body.appendChild(badge);
    }
    badge.replaceChildren(
      ...parts.map(([kind, text]) => {
        const pill = document.createElement("span");
        pill.className = `assistant-state assistant-state-${kind}`;
        pill.textContent = text;
        pill.title = "Change it in the settings next to the message box";
        return pill;
      }),
    );
  };
  window.addEventListener("message", (event) => {
    if (event.origin === window.location.origin && event.data && event.data.type === "assistant-memory-state") {
      show(event.data);
    }
  });
})();

// "/stats" then Enter sends the command in one go: Chainlit's first Enter only picks it from the menu.
// Commands that need words after them (/recall, /remember, ...) wait for those words as before.
(() => {
  const NEEDS_ARGUMENT = new Set(["recall", "remember", "edit", "forget", "private"]);
  document.addEventListener(
    "keydown",
    (event) => {
      const box = document.getElementById("chat-input");
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || !box || event.target !== box) return;
      const typed = (box.value ?? box.innerText ?? "").trim();
      const match = /^\/([A-Za-z][\w-]*)$/.exec(typed);
      if (!match || NEEDS_ARGUMENT.has(match[1].toLowerCase())) return;
      // After Chainlit has taken the command from the menu, press send; unless this Enter already sent it
      // (the menu was closed): then a new message is on the page.
      const shown = document.querySelectorAll(".step").length;
      window.setTimeout(() => {
        const send = document.getElementById("chat-submit");
        const sent = document.querySelectorAll(".step").length > shown;
        const left = (box.value ?? box.innerText ?? "").trim();
        if (send && !send.disabled && !sent && left === "") send.click();
      }, 150);
    },
    true,
  );
})();

// Enter in the rename field submits the rename, as in any other dialog.
(() => {
  document.addEventListener(
    "keydown",
    (event) => {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
      const field = event.target;
      if (!(field instanceof HTMLInputElement)) return;
      const dialog = field.closest('[role="dialog"]');
      if (!dialog || field.id === "chat-input") return;
      const buttons = [...dialog.querySelectorAll("button")].filter((b) => !b.disabled);
      const confirm = buttons.find((b) => /^(rename|save|confirm)$/i.test(b.textContent.trim()));
      if (confirm) {
        event.preventDefault();
        confirm.click();
      }
    },
    true,
  );
})();

// Chainlit's own error toasts in plain words. A thread address that is not there (unknown, deleted or another
// user's) is explained in the chat itself (assistant/web/page.py), so "Couldn't resume chat" is not shown too.
(() => {
  const PLAIN = [
    [/^Couldn't resume chat/, null],
    [/^Error fetching threads/, "The list of conversations could not be loaded. Reload the page to try again."],
    [/^Failed to load thread/, "This conversation could not be opened; it may have been deleted."],
    [/^(Unauthorized|Forbidden)\b/, "You are signed out. Sign in again to go on."],
    [/^(Internal Server Error|Bad Gateway|Service Unavailable|Gateway Timeout)\b/,
      "The assistant's server had a problem. Try again in a moment."],
    [/^Not Found\b/, "That is no longer there; it may have been deleted."],
    [/^Failed to copy/, "Could not copy to the clipboard."],
  ];
  const rewrite = (toast) => {
    const title = toast.querySelector("[data-title]") || toast;
    const text = (title.textContent || "").trim();
    for (const [pattern, plain] of PLAIN) {
      if (!pattern.test(text)) continue;
      if (plain === null) toast.style.display = "none";
      else if (text !== plain) title.textContent = plain;
      return;
    }
  };
  const look = (node) => {
    if (!(node instanceof HTMLElement)) return;
    const toasts = node.matches("[data-sonner-toast]") ? [node] : node.querySelectorAll("[data-sonner-toast]");
    toasts.forEach(rewrite);
  };
  new MutationObserver((changes) => {
    for (const change of changes) change.addedNodes.forEach(look);
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
