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
